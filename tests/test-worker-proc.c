/* test-worker-proc.c — the worker handle (acpu-worker-proc.c) with no pool:
 * one acpu-test-worker process, driven on the I/O thread as the pool drives
 * it, its four callbacks recorded for the test's thread to look at. The
 * handshake, a request and its reply (a value, a GError, a log record),
 * the stderr tail of a worker that crashes, a kill, a clean close, and a
 * reply taken by a caller's thread (the pool's direct path), won or lost
 * on the claim.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <poll.h>
#include <string.h>

#include "acpu-error.h"
#include "acpu-io-private.h"
#include "acpu-wire-private.h"
#include "acpu-worker-proc-private.h"
#include "acpu-test-util.h"

/* How long a test waits for something that must happen: a bound that only
 * turns a hang into a failure, not a speed requirement. */
#define PATIENCE_S 60

typedef struct
{
  guint64   id;
  GVariant *value;
  GError   *error;
} Reply;

static void
reply_free (Reply *reply)
{
  g_clear_pointer (&reply->value, g_variant_unref);
  g_clear_error (&reply->error);
  g_free (reply);
}

typedef struct
{
  guint64   id;
  guint     level;
  char     *message;
} LogRecord;

static void
log_record_free (LogRecord *record)
{
  g_free (record->message);
  g_free (record);
}

/* What the handle told: written by its callbacks on the I/O thread, read by
 * the test's thread, all under `lock`. */
typedef struct
{
  GMutex          lock;
  GCond           cond;
  ACpuWorkerProc *proc;      /* made and started on the I/O thread */
  guint           n_ready;
  GQueue          replies;   /* Reply */
  GQueue          logs;      /* LogRecord */
  guint           n_exited;
  GError         *exit_error;
} Fixture;

/* Waits (under f->lock, which it takes) until @expr holds. */
#define WAIT_UNTIL(fx, expr)                                                 \
  G_STMT_START {                                                             \
    gint64 _end = g_get_monotonic_time () + PATIENCE_S * G_USEC_PER_SEC;     \
    g_mutex_lock (&(fx)->lock);                                              \
    while (!(expr))                                                          \
      g_assert_true (g_cond_wait_until (&(fx)->cond, &(fx)->lock, _end) || (expr)); \
    g_mutex_unlock (&(fx)->lock);                                            \
  } G_STMT_END

/* Callbacks: the I/O thread, the handle's in_lock held; take f->lock. */

static void
ready_cb (ACpuWorkerProc *proc,
          gpointer        user_data)
{
  Fixture *f = user_data;

  g_assert_true (g_main_context_is_owner (acpu_io_get_context ()));
  g_mutex_lock (&f->lock);
  f->n_ready++;
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
}

static void
reply_cb (ACpuWorkerProc *proc,
          guint64         id,
          GVariant       *value,
          const GError   *error,
          gpointer        user_data)
{
  Fixture *f = user_data;
  Reply *reply = g_new0 (Reply, 1);

  g_assert_true (g_main_context_is_owner (acpu_io_get_context ()));
  g_assert_true ((value == NULL) != (error == NULL));
  reply->id = id;
  reply->value = value ? g_variant_ref (value) : NULL;
  reply->error = error ? g_error_copy (error) : NULL;
  g_mutex_lock (&f->lock);
  g_queue_push_tail (&f->replies, reply);
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
}

static void
log_cb (ACpuWorkerProc *proc,
        guint64         id,
        GLogLevelFlags  log_level,
        GVariant       *fields,
        gpointer        user_data)
{
  Fixture *f = user_data;
  LogRecord *record = g_new0 (LogRecord, 1);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  record->id = id;
  record->level = log_level;
  g_variant_iter_init (&iter, fields);
  while (g_variant_iter_next (&iter, "(&s@ay)", &key, &value))
    {
      gsize len;
      const char *bytes = g_variant_get_fixed_array (value, &len, 1);

      if (g_str_equal (key, "MESSAGE") && record->message == NULL)
        record->message = g_strndup (bytes, len);
      g_variant_unref (value);
    }
  g_mutex_lock (&f->lock);
  g_queue_push_tail (&f->logs, record);
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
}

static void
exited_cb (ACpuWorkerProc *proc,
           const GError   *error,
           gpointer        user_data)
{
  Fixture *f = user_data;

  g_assert_true (g_main_context_is_owner (acpu_io_get_context ()));
  g_mutex_lock (&f->lock);
  f->n_exited++;
  f->exit_error = error ? g_error_copy (error) : NULL;
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
}

static const ACpuWorkerProcCallbacks callbacks = { ready_cb, reply_cb, log_cb, exited_cb };

/* Running code on the I/O thread ------------------------------------------- */

typedef void (*IoFunc) (Fixture *f, gpointer data);

typedef struct
{
  Fixture  *f;
  IoFunc    func;
  gpointer  data;
  gboolean  done;
} IoCall;

/* The I/O thread: runs the call, then says it is done (takes f->lock). */
static gboolean
io_call_cb (gpointer user_data)
{
  IoCall *call = user_data;

  g_assert_true (g_main_context_is_owner (acpu_io_get_context ()));
  call->func (call->f, call->data);
  g_mutex_lock (&call->f->lock);
  call->done = TRUE;
  g_cond_broadcast (&call->f->cond);
  g_mutex_unlock (&call->f->lock);
  return G_SOURCE_REMOVE;
}

/* The test's thread: runs @func on the I/O thread and waits for it. An idle
 * source rather than g_main_context_invoke(), which would run @func right
 * here if the I/O thread, just started, did not own its context yet. */
static void
run_on_io (Fixture  *f,
           IoFunc    func,
           gpointer  data)
{
  IoCall call = { f, func, data, FALSE };
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, io_call_cb, &call, NULL);
  g_source_attach (source, acpu_io_get_context ());
  g_source_unref (source);
  WAIT_UNTIL (f, call.done);
}

static void
io_start (Fixture  *f,
          gpointer  data)
{
  g_autofree char *path = acpu_test_worker_path ();
  const char *argv[] = { path, NULL };

  f->proc = acpu_worker_proc_new (argv, ACPU_WIRE_DEFAULT_MAX_SIZE, PATIENCE_S * 1000,
                                  &callbacks, f);
  acpu_worker_proc_start (f->proc);
}

/* A request: data is a Request. */
typedef struct
{
  guint64     id;
  const char *name;
  GVariant   *args;
} Request;

static void
io_send (Fixture  *f,
         gpointer  data)
{
  g_autoptr(GError) error = NULL;
  Request *request = data;

  g_assert_true (acpu_worker_proc_send (f->proc, request->id, request->name, request->args,
                                        &error));
  g_assert_no_error (error);
  acpu_worker_proc_flush (f->proc);
}

static void
io_close (Fixture  *f,
          gpointer  data)
{
  acpu_worker_proc_close (f->proc);
}

static void
io_kill (Fixture  *f,
         gpointer  data)
{
  acpu_worker_proc_kill (f->proc, data);
}

static void
io_pause_reading (Fixture  *f,
                  gpointer  data)
{
  acpu_worker_proc_pause_reading (f->proc, GPOINTER_TO_INT (data));
}

static void
io_nothing (Fixture  *f,
            gpointer  data)
{
}

static void
io_unref (Fixture  *f,
          gpointer  data)
{
  g_clear_pointer (&f->proc, acpu_worker_proc_unref);
}

/* Fixture ------------------------------------------------------------------ */

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_mutex_init (&f->lock);
  g_cond_init (&f->cond);
  g_queue_init (&f->replies);
  g_queue_init (&f->logs);
  run_on_io (f, io_start, NULL);
  WAIT_UNTIL (f, f->n_ready == 1 || f->n_exited > 0);
  g_assert_cmpuint (f->n_exited, ==, 0);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  if (f->n_exited == 0)
    run_on_io (f, io_close, NULL);
  WAIT_UNTIL (f, f->n_exited > 0);
  g_assert_cmpuint (f->n_exited, ==, 1);
  run_on_io (f, io_unref, NULL);
  /* GSubprocess has reaped it before exited(): nothing is left. */
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
  g_queue_clear_full (&f->replies, (GDestroyNotify) reply_free);
  g_queue_clear_full (&f->logs, (GDestroyNotify) log_record_free);
  g_clear_error (&f->exit_error);
  g_cond_clear (&f->cond);
  g_mutex_clear (&f->lock);
}

/* The test's thread: sends @name with @args (floating is sunk) on the I/O
 * thread and waits for the reply to @id. */
static Reply *
request (Fixture    *f,
         guint64     id,
         const char *name,
         GVariant   *args)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (args);
  Request req = { id, name, owned };
  Reply *reply;

  run_on_io (f, io_send, &req);
  WAIT_UNTIL (f, !g_queue_is_empty (&f->replies) || f->n_exited > 0);
  g_mutex_lock (&f->lock);
  reply = g_queue_pop_head (&f->replies);
  g_mutex_unlock (&f->lock);
  g_assert_nonnull (reply);
  g_assert_cmpuint (reply->id, ==, id);
  return reply;
}

/* Tests -------------------------------------------------------------------- */

static void
test_handshake (Fixture       *f,
                gconstpointer  data)
{
  g_test_summary ("A started handle does the handshake and says ready once, on the I/O thread: "
                  "it knows the worker's pid and its tasks");
  g_assert_cmpuint (f->n_ready, ==, 1);
  g_assert_true (acpu_worker_proc_is_ready (f->proc));
  g_assert_true (acpu_worker_proc_is_started (f->proc));
  g_assert_cmpint (acpu_worker_proc_get_pid (f->proc), >, 0);
  g_assert_true (acpu_test_pid_alive (acpu_worker_proc_get_pid (f->proc)));
  g_assert_true (acpu_worker_proc_has_task (f->proc, "echo"));
  g_assert_true (acpu_worker_proc_has_task (f->proc, "say-and-abort"));
  g_assert_false (acpu_worker_proc_has_task (f->proc, "no-such-task"));
}

static void
test_request (Fixture       *f,
              gconstpointer  data)
{
  Reply *reply;
  LogRecord *record;

  g_test_summary ("A request sent on the I/O thread comes back through reply() with its id: "
                  "a value, a GError with its domain, code and message, and a log record "
                  "through log() first");

  reply = request (f, 1, "echo", g_variant_new ("(sd)", "round", 2.5));
  g_assert_no_error (reply->error);
  acpu_test_assert_prints (reply->value, "('round', 2.5)");
  reply_free (reply);

  reply = request (f, 2, "error", g_variant_new ("(sis)", "test-worker-proc-error-quark", 5,
                                                 "it failed"));
  g_assert_null (reply->value);
  g_assert_cmpstr (g_quark_to_string (reply->error->domain), ==, "test-worker-proc-error-quark");
  g_assert_cmpint (reply->error->code, ==, 5);
  g_assert_cmpstr (reply->error->message, ==, "it failed");
  reply_free (reply);

  reply = request (f, 3, "log", g_variant_new ("(s)", "logged by request 3"));
  g_assert_no_error (reply->error);
  reply_free (reply);
  g_mutex_lock (&f->lock);
  record = g_queue_pop_head (&f->logs);
  g_mutex_unlock (&f->lock);
  g_assert_nonnull (record);
  g_assert_cmpuint (record->id, ==, 3);
  g_assert_cmpuint (record->level & G_LOG_LEVEL_MASK, ==, G_LOG_LEVEL_MESSAGE);
  g_assert_cmpstr (record->message, ==, "logged by request 3");
  log_record_free (record);
  g_assert_cmpuint (f->n_exited, ==, 0);
}

static void
test_stderr_tail (Fixture       *f,
                  gconstpointer  data)
{
  Request req = { 1, "say-and-abort", NULL };
  GPid pid = acpu_worker_proc_get_pid (f->proc);
  g_autofree char *who = g_strdup_printf ("worker process %d", (int) pid);

  g_test_summary ("A worker that writes to stderr and then crashes: exited() says "
                  "WORKER_DIED with its pid, the signal, and what it wrote last");
  req.args = g_variant_ref_sink (g_variant_new ("(s)", "last words before the abort: 7f3a"));
  run_on_io (f, io_send, &req);
  g_variant_unref (req.args);
  WAIT_UNTIL (f, f->n_exited > 0);

  g_assert_error (f->exit_error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_nonnull (strstr (f->exit_error->message, who));
  g_assert_nonnull (strstr (f->exit_error->message, "SIGABRT"));
  g_assert_nonnull (strstr (f->exit_error->message, "last words before the abort: 7f3a"));
  /* The handle does not answer the request: that is the pool's job. */
  g_assert_true (g_queue_is_empty (&f->replies));
  g_assert_false (acpu_test_pid_alive (pid));
}

static void
test_kill (Fixture       *f,
           gconstpointer  data)
{
  GPid pid = acpu_worker_proc_get_pid (f->proc);

  g_test_summary ("A kill with no reason of ours: exited() says WORKER_DIED, by SIGKILL");
  run_on_io (f, io_kill, NULL);
  WAIT_UNTIL (f, f->n_exited > 0);
  g_assert_error (f->exit_error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_nonnull (strstr (f->exit_error->message, "SIGKILL"));
  g_assert_false (acpu_worker_proc_is_ready (f->proc));
  g_assert_false (acpu_test_pid_alive (pid));
}

static void
test_kill_reason (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) reason = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                                  "the test's own reason");

  g_test_summary ("A kill with a reason: exited() gives that reason, not the signal");
  run_on_io (f, io_kill, reason);
  WAIT_UNTIL (f, f->n_exited > 0);
  g_assert_error (f->exit_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpstr (f->exit_error->message, ==, "the test's own reason");
}

static void
test_close (Fixture       *f,
            gconstpointer  data)
{
  GPid pid = acpu_worker_proc_get_pid (f->proc);
  Reply *reply;

  g_test_summary ("close() after a request: the reply still comes, then the worker sees the "
                  "end of its input and exits cleanly, and exited() has no error");
  reply = request (f, 9, "echo", g_variant_new ("(u)", 9));
  reply_free (reply);
  run_on_io (f, io_close, NULL);
  WAIT_UNTIL (f, f->n_exited > 0);
  g_assert_no_error (f->exit_error);
  g_assert_false (acpu_test_pid_alive (pid));
}

/* The direct path: a reply taken by a caller's thread ------------------------ */

static gboolean
claim_yes_cb (gpointer user_data)
{
  return TRUE;
}

static gboolean
claim_no_cb (gpointer user_data)
{
  return FALSE;
}

/* The caller's thread (not the I/O thread): sends request @id and takes its
 * reply itself, as the pool's direct path does (acpu-pool-direct.c): writes
 * the request now, then polls the channel and asks for the reply, the claim
 * won (@win) or lost. Returns what the last claim_reply() said. The handle's
 * whole caller-side API is in this one function. */
static ACpuWorkerProcReply
take_reply_directly (ACpuWorkerProc  *proc,
                     guint64          id,
                     const char      *name,
                     GVariant        *args,
                     gboolean         win,
                     GVariant       **value,
                     GError         **error)
{
  gint64 end = g_get_monotonic_time () + PATIENCE_S * G_USEC_PER_SEC;
  g_autoptr(GVariant) owned = g_variant_ref_sink (args);
  ACpuWorkerProcReply got;

  g_assert_false (g_main_context_is_owner (acpu_io_get_context ()));
  g_assert_true (acpu_worker_proc_send_now (proc, id, name, owned));
  do
    {
      struct pollfd pfd = { .fd = acpu_worker_proc_get_fd (proc), .events = POLLIN };

      g_assert_cmpint (g_get_monotonic_time (), <, end);
      g_assert_cmpint (poll (&pfd, 1, 1000), >=, 0);
      got = acpu_worker_proc_claim_reply (proc, id, win ? claim_yes_cb : claim_no_cb, NULL,
                                          value, error);
    }
  while (got == ACPU_WORKER_PROC_REPLY_NONE);
  return got;
}

/* The test's thread: stops the I/O thread reading the channel (as the pool
 * does when it offers the worker), and makes sure it polls without it: the
 * no-op after the pause runs in a later iteration, whose poll no longer
 * asks for input. */
static void
pause_reading (Fixture  *f,
               gboolean  paused)
{
  run_on_io (f, io_pause_reading, GINT_TO_POINTER (paused));
  run_on_io (f, io_nothing, NULL);
}

static void
test_direct_reply (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("With the I/O thread not reading, a caller's thread writes a request and "
                  "takes its reply itself: a value and a GError, never seen by reply()");
  pause_reading (f, TRUE);

  g_assert_cmpint (take_reply_directly (f->proc, 1, "echo", g_variant_new ("(s)", "direct"), TRUE,
                                        &value, &error), ==, ACPU_WORKER_PROC_REPLY_TAKEN);
  g_assert_no_error (error);
  acpu_test_assert_prints (value, "('direct',)");
  g_clear_pointer (&value, g_variant_unref);

  g_assert_cmpint (take_reply_directly (f->proc, 2, "error",
                                        g_variant_new ("(sis)", "test-direct-error-quark", 3,
                                                       "direct failure"),
                                        TRUE, &value, &error), ==, ACPU_WORKER_PROC_REPLY_TAKEN);
  g_assert_null (value);
  g_assert_cmpstr (g_quark_to_string (error->domain), ==, "test-direct-error-quark");
  g_assert_cmpint (error->code, ==, 3);
  g_assert_cmpstr (error->message, ==, "direct failure");

  /* Nothing reached the I/O thread's side. */
  run_on_io (f, io_nothing, NULL);
  g_assert_true (g_queue_is_empty (&f->replies));
  pause_reading (f, FALSE);
}

static void
test_direct_claim_lost (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  Reply *reply;

  g_test_summary ("A caller that loses the claim leaves the reply unread: the I/O thread "
                  "delivers it through reply(), whole, even with its reading paused");
  pause_reading (f, TRUE);
  g_assert_cmpint (take_reply_directly (f->proc, 4, "echo", g_variant_new ("(s)", "lost"), FALSE,
                                        &value, &error), ==, ACPU_WORKER_PROC_REPLY_OTHER);
  g_assert_null (value);
  g_assert_no_error (error);

  WAIT_UNTIL (f, !g_queue_is_empty (&f->replies));
  reply = g_queue_pop_head (&f->replies);
  g_assert_cmpuint (reply->id, ==, 4);
  g_assert_no_error (reply->error);
  acpu_test_assert_prints (reply->value, "('lost',)");
  reply_free (reply);
  pause_reading (f, FALSE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/acpu/worker-proc/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("handshake", test_handshake);
  ADD ("request", test_request);
  ADD ("stderr-tail", test_stderr_tail);
  ADD ("kill", test_kill);
  ADD ("kill-reason", test_kill_reason);
  ADD ("close", test_close);
  ADD ("direct/reply", test_direct_reply);
  ADD ("direct/claim-lost", test_direct_claim_lost);
#undef ADD

  return g_test_run ();
}
