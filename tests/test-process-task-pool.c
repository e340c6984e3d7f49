/* test-process-task-pool.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "acpu-test-util.h"

typedef struct
{
  ACpuProcessTaskPool *pool;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->pool = acpu_test_pool_new (GPOINTER_TO_UINT (data) ? GPOINTER_TO_UINT (data) : 2);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  if (f->pool != NULL)
    {
      acpu_process_task_pool_set_cancel_tasks_when_shutdown (f->pool, TRUE);
      g_assert_true (acpu_process_task_pool_shutdown (f->pool, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (acpu_process_task_pool_get_n_workers (f->pool), ==, 0);
      g_clear_object (&f->pool);
    }

  /* No worker, no zombie. */
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

static GVariant *
run (ACpuProcessTaskPool  *pool,
     const char           *name,
     GVariant             *args,
     GError              **error)
{
  return acpu_process_task_pool_run (pool, name, args, NULL, error);
}

static GPid
worker_pid (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = run (pool, "pid", NULL, &error);
  gint32 pid;

  g_assert_no_error (error);
  g_variant_get (value, "(i)", &pid);
  return pid;
}

/* 1. run_async returns at once; callbacks in the caller's context ---------- */

static void
test_run_async_returns_at_once (Fixture       *f,
                                gconstpointer  data)
{
  AcpuTestResult r = { 0 };

  g_test_summary ("run_async() returns before any worker exists, and the "
                  "callback runs later, from the caller's main context");

  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
  acpu_process_task_pool_run_async (f->pool, "echo", g_variant_new ("(s)", "hi"), NULL,
                                    acpu_test_result_cb, &r);
  /* Nothing ran yet: the callback waits for this thread's main context. */
  g_assert_cmpuint (r.n_calls, ==, 0);
  g_assert_cmpuint (acpu_process_task_pool_get_n_queued (f->pool), ==, 1);

  acpu_test_result_wait (&r);
  g_assert_no_error (r.error);
  acpu_test_assert_prints (r.value, "('hi',)");
  g_assert_true (r.thread == g_thread_self ());
  g_assert_cmpuint (r.n_calls, ==, 1);
  acpu_test_result_clear (&r);
}

typedef struct
{
  ACpuProcessTaskPool *pool;
  gboolean             use_loop;
  GThread             *callback_thread;
  char                *value;
} ThreadData;

static gpointer
thread_run_async (gpointer user_data)
{
  ThreadData *td = user_data;
  g_autoptr(GMainContext) context = g_main_context_new ();
  AcpuTestResult r = { 0 };

  g_main_context_push_thread_default (context);
  acpu_process_task_pool_run_async (td->pool, "echo", g_variant_new ("(s)", "thread"), NULL,
                                    acpu_test_result_cb, &r);
  acpu_test_result_wait (&r);
  g_main_context_pop_thread_default (context);

  g_assert_no_error (r.error);
  td->callback_thread = r.thread;
  td->value = g_variant_print (r.value, FALSE);
  acpu_test_result_clear (&r);
  return NULL;
}

static void
test_run_async_other_thread (Fixture       *f,
                             gconstpointer  data)
{
  ThreadData td = { f->pool };
  GThread *thread;

  g_test_summary ("run_async() from another thread calls back in that "
                  "thread's thread-default main context");

  thread = g_thread_new ("caller", thread_run_async, &td);
  g_thread_join (thread);
  g_assert_true (td.callback_thread == thread);
  g_assert_cmpstr (td.value, ==, "('thread',)");
  g_free (td.value);
}

static gpointer
thread_run_sync (gpointer user_data)
{
  ThreadData *td = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  value = acpu_process_task_pool_run (td->pool, "echo", g_variant_new ("(s)", "sync"), NULL, &error);
  g_assert_no_error (error);
  td->value = g_variant_print (value, FALSE);
  return NULL;
}

static void
test_run_sync (Fixture       *f,
               gconstpointer  data)
{
  ThreadData td = { f->pool };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("run() works from the main thread with no main loop, "
                  "and from a short-lived thread with no main context");

  value = acpu_process_task_pool_run (f->pool, "echo", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_type_string (value), ==, "()");

  /* A thread that ends: its worker must outlive it (spawned on the I/O thread). */
  g_thread_join (g_thread_new ("sync", thread_run_sync, &td));
  g_assert_cmpstr (td.value, ==, "('sync',)");
  g_free (td.value);

  g_usleep (50 * 1000);
  g_clear_pointer (&value, g_variant_unref);
  value = acpu_process_task_pool_run (f->pool, "echo", g_variant_new ("(s)", "again"), NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (acpu_process_task_pool_get_n_workers (f->pool), >=, 1);
}

static void
test_run_floating (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GVariant) args = g_variant_ref_sink (g_variant_new ("(i)", 5));
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A non-floating argument keeps the caller's reference; the result is not floating");

  value = run (f->pool, "echo", args, &error);
  g_assert_no_error (error);
  g_assert_false (g_variant_is_floating (value));
  g_assert_true (g_variant_equal (value, args));
}

/* 2. FIFO queue, lazy start, reuse, max-workers ----------------------------- */

typedef struct
{
  guint max_seen;
} WorkerCount;

static void
n_workers_notify_cb (GObject    *object,
                     GParamSpec *pspec,
                     gpointer    user_data)
{
  WorkerCount *count = user_data;

  count->max_seen = MAX (count->max_seen,
                         acpu_process_task_pool_get_n_workers (ACPU_PROCESS_TASK_POOL (object)));
}

static void
test_queue_lazy_reuse (Fixture       *f,
                       gconstpointer  data)
{
  AcpuTestResult r[8] = { 0 };
  g_autoptr(GHashTable) pids = g_hash_table_new (NULL, NULL);
  WorkerCount count = { 0 };

  g_test_summary ("Workers start lazily, are reused, and never more than "
                  "max-workers exist; the rest wait in the queue");

  g_signal_connect (f->pool, "notify::n-workers", G_CALLBACK (n_workers_notify_cb), &count);

  g_usleep (20 * 1000);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
  g_assert_cmpuint (acpu_process_task_pool_get_n_workers (f->pool), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    acpu_process_task_pool_run_async (f->pool, "sleep", g_variant_new ("(u)", 30), NULL,
                                      acpu_test_result_cb, &r[i]);

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      gint32 pid;

      acpu_test_result_wait (&r[i]);
      g_assert_no_error (r[i].error);
      g_variant_get (r[i].value, "(i)", &pid);
      g_hash_table_add (pids, GINT_TO_POINTER (pid));
      g_assert_cmpuint (acpu_test_count_children (), <=, 2);
      acpu_test_result_clear (&r[i]);
    }

  g_assert_cmpuint (g_hash_table_size (pids), ==, 2);
  g_assert_cmpuint (count.max_seen, ==, 2);
  g_assert_cmpuint (acpu_process_task_pool_get_n_workers (f->pool), ==, 2);
}

static void
test_queue_fifo (Fixture       *f,
                 gconstpointer  data)
{
  AcpuTestResult r[6] = { 0 };
  guint order[G_N_ELEMENTS (r)];
  guint done = 0;

  g_test_summary ("With one worker, tasks run in the order they were submitted");

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    acpu_process_task_pool_run_async (f->pool, "sleep", g_variant_new ("(u)", 5), NULL,
                                      acpu_test_result_cb, &r[i]);

  while (done < G_N_ELEMENTS (r))
    {
      g_main_context_iteration (NULL, TRUE);
      for (guint i = 0; i < G_N_ELEMENTS (r); i++)
        if (r[i].n_calls == 1 && r[i].thread != NULL)
          {
            order[done++] = i;
            r[i].thread = NULL;
          }
    }

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      g_assert_cmpuint (order[i], ==, i);
      g_assert_no_error (r[i].error);
      acpu_test_result_clear (&r[i]);
    }
}

/* Asynchronous task functions ------------------------------------------------- */

static void
test_async_task (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = acpu_test_temp_path ("later-pid");
  AcpuTestResult later = { 0 }, echo = { 0 }, cancelled = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GPid pid;

  g_test_summary ("A task registered with acpu_worker_register_async() ends when "
                  "it returns, later or at once, with a value or an error; the "
                  "next task waits for it; a cancel reaches it and keeps the worker");

  /* Returned later, from the main loop; the echo queued behind it waits. */
  acpu_process_task_pool_run_async (f->pool, "later", g_variant_new ("(suu)", path, 200, 7),
                                    NULL, acpu_test_result_cb, &later);
  acpu_process_task_pool_run_async (f->pool, "echo", g_variant_new ("(s)", "behind"),
                                    NULL, acpu_test_result_cb, &echo);
  pid = acpu_test_read_pid_file (path);
  while (echo.n_calls == 0)
    {
      g_main_context_iteration (NULL, TRUE);
      if (echo.n_calls == 1)
        g_assert_cmpuint (later.n_calls, ==, 1);
    }
  g_assert_no_error (later.error);
  acpu_test_assert_prints (later.value, "(7,)");
  g_assert_no_error (echo.error);
  acpu_test_assert_prints (echo.value, "('behind',)");

  /* Returned from inside the function. */
  value = run (f->pool, "now", g_variant_new ("(sis)", "", 0, ""), &error);
  g_assert_no_error (error);
  acpu_test_assert_prints (value, "('now',)");
  g_clear_pointer (&value, g_variant_unref);
  value = run (f->pool, "now", g_variant_new ("(sis)", "acpu-test-error-quark", 12, "Twelve"),
               &error);
  g_assert_null (value);
  g_assert_error (error, g_quark_from_string ("acpu-test-error-quark"), 12);
  g_assert_cmpstr (error->message, ==, "Twelve");
  g_clear_error (&error);

  /* Cancelled while it waits: it stops, the worker stays. */
  g_unlink (path);
  acpu_process_task_pool_set_cancel_grace_period (f->pool, 60 * 1000);
  acpu_process_task_pool_run_async (f->pool, "later", g_variant_new ("(suu)", path, 600000, 1),
                                    cancellable, acpu_test_result_cb, &cancelled);
  g_assert_cmpint (acpu_test_read_pid_file (path), ==, pid);
  g_cancellable_cancel (cancellable);
  acpu_test_result_wait (&cancelled);
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (worker_pid (f->pool), ==, pid);

  acpu_test_result_clear (&later);
  acpu_test_result_clear (&echo);
  acpu_test_result_clear (&cancelled);
}

/* 3. Errors ------------------------------------------------------------------ */

static void
test_error_unknown_task (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = run (f->pool, "no-such-task", NULL, &error);

  g_test_summary ("An unknown task name fails with ACPU_ERROR_UNKNOWN_TASK");

  g_assert_null (value);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_UNKNOWN_TASK);
  g_assert_nonnull (strstr (error->message, "no-such-task"));
  /* What the worker has, so the caller can tell what to call. */
  g_assert_nonnull (strstr (error->message, "acpu-test-worker"));
  g_assert_nonnull (strstr (error->message, "It has: "));
  g_assert_nonnull (strstr (error->message, "“echo”"));
  g_assert_null (strstr (error->message, "did you mean"));
  g_clear_error (&error);

  /* A typo: the closest name. */
  g_clear_pointer (&value, g_variant_unref);
  value = run (f->pool, "ecoh", NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_UNKNOWN_TASK);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "No task named “ecoh” in worker "));
  g_assert_nonnull (strstr (error->message, "; did you mean “echo”? It has: "));
}

static void
test_typed_tasks (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autofree char *args_type = NULL;
  g_autofree char *result_type = NULL;
  gint64 x = 0;

  g_test_summary ("A task declared with acpu_worker_set_task_types() refuses arguments "
                  "of another type before it runs, fails a result of another type, "
                  "and the caller can read the types");

  value = run (f->pool, "square", g_variant_new ("(x)", (gint64) 7), &error);
  g_assert_no_error (error);
  g_variant_get (value, "(x)", &x);
  g_assert_cmpint (x, ==, 49);
  g_clear_pointer (&value, g_variant_unref);

  value = run (f->pool, "square", g_variant_new ("(s)", "7"), &error);
  g_assert_null (value);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "Task “square” takes arguments of type (x), not (s)");
  g_clear_error (&error);

  value = run (f->pool, "square", NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "Task “square” takes arguments of type (x), not ()");
  g_clear_error (&error);

  /* (*) takes any one-member tuple; the result must be (s). */
  value = run (f->pool, "typed-echo", g_variant_new ("(s)", "fine"), &error);
  g_assert_no_error (error);
  g_clear_pointer (&value, g_variant_unref);
  value = run (f->pool, "typed-echo", g_variant_new ("(x)", (gint64) 1), &error);
  g_assert_null (value);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==,
                   "Task “typed-echo” returned a value of type (x), but it declares results "
                   "of type (s)");
  g_clear_error (&error);

  /* The types, as the workers' handshakes told them. */
  g_assert_true (acpu_process_task_pool_get_task_types (f->pool, "square", &args_type,
                                                        &result_type));
  g_assert_cmpstr (args_type, ==, "(x)");
  g_assert_cmpstr (result_type, ==, "(x)");
  g_clear_pointer (&args_type, g_free);
  g_clear_pointer (&result_type, g_free);
  g_assert_true (acpu_process_task_pool_get_task_types (f->pool, "echo", &args_type,
                                                        &result_type));
  g_assert_null (args_type);
  g_assert_null (result_type);
  g_assert_true (acpu_process_task_pool_get_task_types (f->pool, "typed-echo", NULL, NULL));
  g_assert_false (acpu_process_task_pool_get_task_types (f->pool, "no-such-task", &args_type,
                                                         NULL));
  g_assert_null (args_type);
}

static void
test_error_crosses (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A GError set in a worker arrives with its domain, code and message");

  value = run (f->pool, "error",
               g_variant_new ("(sis)", "acpu-test-domain-quark", 42, "the answer is wrong"), &error);
  g_assert_null (value);
  g_assert_error (error, g_quark_from_string ("acpu-test-domain-quark"), 42);
  g_assert_cmpstr (error->message, ==, "the answer is wrong");
  g_clear_error (&error);

  value = run (f->pool, "error",
               g_variant_new ("(sis)", g_quark_to_string (G_IO_ERROR), G_IO_ERROR_NOT_FOUND,
                              "no file"), &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "no file");
  g_clear_error (&error);

  value = run (f->pool, "null", NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "null"));
}

/* 4. Crashes fail one task ------------------------------------------------- */

static void
test_crash (Fixture       *f,
            gconstpointer  data)
{
  struct { const char *how; const char *says; } cases[] = {
    { "segv", "SIGSEGV" },
    { "abort", "SIGABRT" },
    { "exit", "status 3" },
    { "kill", "SIGKILL" },
  };

  g_test_summary ("A worker that crashes fails only its task, with "
                  "ACPU_ERROR_WORKER_DIED naming the task and the signal or "
                  "status; the next task runs on a fresh worker");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;
      GPid before = worker_pid (f->pool);

      value = run (f->pool, "crash", g_variant_new ("(s)", cases[i].how), &error);
      g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
      g_test_message ("%s: %s", cases[i].how, error->message);
      g_assert_nonnull (strstr (error->message, "“crash”"));
      g_assert_nonnull (strstr (error->message, cases[i].says));
      g_assert_cmpint (worker_pid (f->pool), !=, before);
    }
}

static void
test_crash_external_kill (Fixture       *f,
                          gconstpointer  data)
{
  g_autofree char *path = acpu_test_temp_path ("spin-pid");
  AcpuTestResult spin = { 0 }, other = { 0 };
  GPid pid;

  g_test_summary ("SIGKILL from outside fails the running task only; a "
                  "task queued behind it still runs");

  acpu_process_task_pool_run_async (f->pool, "spin", g_variant_new ("(s)", path), NULL,
                                    acpu_test_result_cb, &spin);
  acpu_process_task_pool_run_async (f->pool, "echo", g_variant_new ("(s)", "after"), NULL,
                                    acpu_test_result_cb, &other);
  pid = acpu_test_read_pid_file (path);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);

  acpu_test_result_wait (&spin);
  acpu_test_result_wait (&other);
  g_assert_error (spin.error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_nonnull (strstr (spin.error->message, "SIGKILL"));
  g_assert_no_error (other.error);
  acpu_test_assert_prints (other.value, "('after',)");
  acpu_test_result_clear (&spin);
  acpu_test_result_clear (&other);
}

static void
test_crash_worker_exit (Fixture       *f,
                        gconstpointer  data)
{
  struct { const char *task; GVariant *args; int signal; int status; const char *tail; } cases[] = {
    { "say-and-abort", g_variant_new ("(s)", "caf\xc3\xa9 is closed\nlast words"), SIGABRT, -1,
      "caf\xc3\xa9 is closed\nlast words" },
    { "crash", g_variant_new ("(s)", "exit"), 0, 3, NULL },
    { "crash", g_variant_new ("(s)", "kill"), SIGKILL, -1, NULL },
  };
  AcpuTestResult ok = { 0 };

  g_test_summary ("A task whose worker died carries the facts of its end — pid, "
                  "signal or exit status, stderr tail, task — without parsing the "
                  "message; a task that did not has none");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      AcpuTestResult r = { 0 };
      GPid pid = worker_pid (f->pool);

      acpu_process_task_pool_run_async (f->pool, cases[i].task, cases[i].args, NULL,
                                        acpu_test_result_cb, &r);
      acpu_test_result_wait (&r);
      g_assert_error (r.error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
      g_assert_nonnull (r.exit);
      g_assert_cmpint (acpu_worker_exit_get_pid (r.exit), ==, pid);
      g_assert_cmpint (acpu_worker_exit_get_signal (r.exit), ==, cases[i].signal);
      g_assert_cmpint (acpu_worker_exit_get_exit_status (r.exit), ==, cases[i].status);
      g_assert_true (acpu_worker_exit_get_exited (r.exit) == (cases[i].signal == 0));
      g_assert_cmpstr (acpu_worker_exit_get_task_name (r.exit), ==, cases[i].task);
      if (cases[i].tail != NULL)
        g_assert_cmpstr (acpu_worker_exit_get_stderr_tail (r.exit), ==, cases[i].tail);
      acpu_test_result_clear (&r);
    }

  acpu_process_task_pool_run_async (f->pool, "echo", g_variant_new ("(s)", "fine"), NULL,
                                    acpu_test_result_cb, &ok);
  acpu_test_result_wait (&ok);
  g_assert_no_error (ok.error);
  g_assert_null (ok.exit);
  acpu_test_result_clear (&ok);
}

/* 5. Cancellation ------------------------------------------------------------ */

static void
test_cancel_queued (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = acpu_test_temp_path ("queued-pid");
  AcpuTestResult first = { 0 }, queued = { 0 };

  g_test_summary ("A queued task that is cancelled completes with "
                  "G_IO_ERROR_CANCELLED at once and never runs");

  acpu_process_task_pool_run_async (f->pool, "wait-cancel", g_variant_new ("(s)", path), NULL,
                                    acpu_test_result_cb, &first);
  acpu_test_read_pid_file (path);
  g_unlink (path);
  acpu_process_task_pool_run_async (f->pool, "wait-cancel", g_variant_new ("(s)", path),
                                    cancellable, acpu_test_result_cb, &queued);
  g_cancellable_cancel (cancellable);

  /* The first one never ends by itself: the second is done before it. */
  acpu_test_result_wait (&queued);
  g_assert_error (queued.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (first.n_calls, ==, 0);

  acpu_process_task_pool_set_cancel_tasks_when_shutdown (f->pool, TRUE);
  acpu_process_task_pool_shutdown (f->pool, NULL, NULL);
  acpu_test_result_wait (&first);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  acpu_test_result_clear (&first);
  acpu_test_result_clear (&queued);
}

static void
test_cancel_cooperative (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = acpu_test_temp_path ("coop-pid");
  AcpuTestResult r = { 0 };
  GPid pid;

  g_test_summary ("Cancelling a running task completes it with "
                  "G_IO_ERROR_CANCELLED, cancels the worker's cancellable, "
                  "and a task that stops keeps its worker");

  acpu_process_task_pool_set_cancel_grace_period (f->pool, 60 * 1000);
  acpu_process_task_pool_run_async (f->pool, "wait-cancel", g_variant_new ("(s)", path),
                                    cancellable, acpu_test_result_cb, &r);
  pid = acpu_test_read_pid_file (path);
  g_cancellable_cancel (cancellable);
  acpu_test_result_wait (&r);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* The worker saw it (the task returned) and is reused. */
  g_assert_cmpint (worker_pid (f->pool), ==, pid);
  acpu_test_result_clear (&r);
}

static void
test_cancel_ignored (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = acpu_test_temp_path ("ignore-pid");
  g_autoptr(GVariant) child = NULL;
  g_autoptr(GError) error = NULL;
  AcpuTestResult r = { 0 };
  gint32 grandchild;
  GPid pid;

  g_test_summary ("A running task that ignores cancellation has its "
                  "worker's process group killed after the grace period");

  acpu_process_task_pool_set_cancel_grace_period (f->pool, 100);
  child = run (f->pool, "grandchild", NULL, &error);
  g_assert_no_error (error);
  g_variant_get (child, "(i)", &grandchild);
  g_assert_true (acpu_test_pid_alive (grandchild));

  acpu_process_task_pool_run_async (f->pool, "spin", g_variant_new ("(s)", path),
                                    cancellable, acpu_test_result_cb, &r);
  pid = acpu_test_read_pid_file (path);
  g_cancellable_cancel (cancellable);
  acpu_test_result_wait (&r);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* The spinning worker and the child it started both go. */
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (pid), 30);
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (grandchild), 30);
  g_assert_cmpint (worker_pid (f->pool), !=, pid);
  acpu_test_result_clear (&r);
}

/* 6. Shutdown ---------------------------------------------------------------- */

static void
shutdown_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (acpu_process_task_pool_shutdown_finish (ACPU_PROCESS_TASK_POOL (object),
                                                         result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

static void
test_shutdown_waits (Fixture       *f,
                     gconstpointer  data)
{
  AcpuTestResult r[5] = { 0 }, late = { 0 };
  gboolean done = FALSE;

  g_test_summary ("Shutdown without cancel-tasks-when-shutdown waits for "
                  "queued and running tasks and refuses new ones");

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    acpu_process_task_pool_run_async (f->pool, "sleep", g_variant_new ("(u)", 20), NULL,
                                      acpu_test_result_cb, &r[i]);
  acpu_process_task_pool_shutdown_async (f->pool, NULL, shutdown_cb, &done);
  acpu_process_task_pool_run_async (f->pool, "echo", NULL, NULL, acpu_test_result_cb, &late);

  while (!done)
    g_main_context_iteration (NULL, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      g_assert_cmpuint (r[i].n_calls, ==, 1);
      g_assert_no_error (r[i].error);
      acpu_test_result_clear (&r[i]);
    }
  acpu_test_result_wait (&late);
  g_assert_error (late.error, ACPU_ERROR, ACPU_ERROR_CLOSED);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
  acpu_test_result_clear (&late);
}

static void
test_shutdown_cancels (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *path = acpu_test_temp_path ("shutdown-pid");
  AcpuTestResult r[4] = { 0 };
  gboolean done = FALSE;

  g_test_summary ("Shutdown with cancel-tasks-when-shutdown cancels queued "
                  "and running tasks and kills their workers");

  acpu_process_task_pool_set_cancel_tasks_when_shutdown (f->pool, TRUE);
  acpu_process_task_pool_set_cancel_grace_period (f->pool, 60 * 1000);
  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    acpu_process_task_pool_run_async (f->pool, "spin", g_variant_new ("(s)", i == 0 ? path : ""),
                                      NULL, acpu_test_result_cb, &r[i]);
  acpu_test_read_pid_file (path);
  acpu_process_task_pool_shutdown_async (f->pool, NULL, shutdown_cb, &done);

  while (!done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      acpu_test_result_wait (&r[i]);
      g_assert_error (r[i].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      acpu_test_result_clear (&r[i]);
    }
}

/* 7. The last reference goes while tasks run -------------------------------- */

static void
test_unref_while_running (Fixture       *f,
                          gconstpointer  data)
{
  AcpuTestResult r[4] = { 0 };

  g_test_summary ("Dropping the last reference while tasks run lets them "
                  "complete, then leaves no process and no zombie");

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    acpu_process_task_pool_run_async (f->pool, "sleep", g_variant_new ("(u)", 20), NULL,
                                      acpu_test_result_cb, &r[i]);
  g_clear_object (&f->pool);

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      acpu_test_result_wait (&r[i]);
      g_assert_no_error (r[i].error);
      acpu_test_result_clear (&r[i]);
    }

  ACPU_TEST_WAIT_FOR (acpu_test_count_children () == 0, 30);
}

/* 8. The parent dies -------------------------------------------------------- */

static const char *self_path;

/* Runs in a child: a pool whose worker spins, then SIGKILL to itself. */
static int
orphan_parent_main (const char *pid_file,
                    const char *worker)
{
  const char *worker_argv[] = { worker, NULL };
  g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (worker_argv, 1);
  AcpuTestResult r = { 0 };

  acpu_process_task_pool_run_async (pool, "spin", g_variant_new ("(s)", pid_file), NULL,
                                    acpu_test_result_cb, &r);
  acpu_test_read_pid_file (pid_file);
  raise (SIGKILL);
  return 1;
}

static void
test_parent_dies (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *pid_file = acpu_test_temp_path ("orphan-pid");
  g_autoptr(GSubprocess) parent = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *worker = acpu_test_worker_path ();
  GPid pid;

  g_test_summary ("When the parent is SIGKILLed, a worker inside a tight "
                  "CPU loop exits too");

  parent = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, self_path, "--orphan-parent",
                             pid_file, worker, NULL);
  g_assert_no_error (error);
  g_subprocess_wait (parent, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_signaled (parent));
  g_assert_cmpint (g_subprocess_get_term_sig (parent), ==, SIGKILL);

  pid = acpu_test_read_pid_file (pid_file);
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (pid), 10);
}

/* 9. stdout in a task --------------------------------------------------------- */

static void
test_stdout (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GPid pid = worker_pid (f->pool);

  g_test_summary ("printf(), g_print() and write(1) in a task do not corrupt the channel");

  for (guint i = 0; i < 3; i++)
    {
      g_clear_pointer (&value, g_variant_unref);
      value = run (f->pool, "print", NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "ok");
    }
  g_assert_cmpint (worker_pid (f->pool), ==, pid);
}

/* 10. Workers that cannot start ------------------------------------------- */

static void
check_start_failure (const char *program)
{
  const char *argv[] = { program, NULL };
  g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (argv, 2);
  AcpuTestResult r[6] = { 0 };

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    acpu_process_task_pool_run_async (pool, "echo", NULL, NULL, acpu_test_result_cb, &r[i]);

  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      acpu_test_result_wait (&r[i]);
      g_assert_error (r[i].error, ACPU_ERROR, ACPU_ERROR_WORKER_START);
      g_test_message ("%s: %s", program, r[i].error->message);
      g_assert_nonnull (strstr (r[i].error->message, program));
      acpu_test_result_clear (&r[i]);
    }

  /* It gave up instead of respawning for ever. */
  ACPU_TEST_WAIT_FOR (acpu_process_task_pool_get_n_workers (pool) == 0, 30);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, NULL));
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

static void
test_start_failure (void)
{
  g_autofree char *not_exec = acpu_test_temp_path ("not-executable");

  g_test_summary ("A worker that is missing, not executable or exits before "
                  "the handshake fails tasks with ACPU_ERROR_WORKER_START naming it");

  check_start_failure ("/nonexistent/acpu-worker");

  g_file_set_contents (not_exec, "#!/bin/sh\n", -1, NULL);
  g_chmod (not_exec, 0644);
  check_start_failure (not_exec);

  check_start_failure ("/bin/true");
}

/* 11. Large payloads --------------------------------------------------------- */

static void
test_large (Fixture       *f,
            gconstpointer  data)
{
  const gsize size = 64 * 1024 * 1024;
  g_autofree guint8 *bytes = g_malloc (size);
  g_autoptr(GVariant) args = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;
  const guint8 *out;

  g_test_summary ("A 64 MiB `ay` argument and result round-trip intact");

  for (gsize i = 0; i < size; i++)
    bytes[i] = (i * 2654435761u) >> 24;
  args = g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes, size, 1));

  value = run (f->pool, "echo", args, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_type_string (value), ==, "ay");
  out = g_variant_get_fixed_array (value, &len, 1);
  g_assert_cmpuint (len, ==, size);
  g_assert_true (memcmp (out, bytes, size) == 0);
  g_clear_pointer (&value, g_variant_unref);

  /* The `ay` inside `(ay)` goes back in the memfd it came in, with its own
   * type. (Bytes in a new memfd: "bytes" below.) */
  g_clear_pointer (&args, g_variant_unref);
  args = g_variant_ref_sink (g_variant_new ("(@ay)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                                                 bytes, size / 64, 1)));
  value = run (f->pool, "first", args, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_type_string (value), ==, "ay");
  out = g_variant_get_fixed_array (value, &len, 1);
  g_assert_cmpuint (len, ==, size / 64);
  g_assert_true (memcmp (out, bytes, size / 64) == 0);
  g_clear_pointer (&value, g_variant_unref);

  /* And a large result from a small request. */
  value = run (f->pool, "bytes", g_variant_new ("(t)", (guint64) 3 * 1024 * 1024 + 7), &error);
  g_assert_no_error (error);
  out = g_variant_get_fixed_array (value, &len, 1);
  g_assert_cmpuint (len, ==, 3 * 1024 * 1024 + 7);
  for (gsize i = 0; i < len; i++)
    if (out[i] != i % 251)
      g_assert_cmpuint (out[i], ==, i % 251);
}

static void
test_max_message_size (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *bytes = g_malloc0 (8192);

  g_test_summary ("Arguments over max-message-size fail that task with "
                  "ACPU_ERROR_INVALID_ARGUMENT; a worker that sends more is killed "
                  "with ACPU_ERROR_PROTOCOL");

  acpu_process_task_pool_set_max_message_size (f->pool, 4096);
  value = run (f->pool, "echo", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes, 8192, 1),
               &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT);
  /* It names the property to raise. */
  g_assert_nonnull (strstr (error->message, "larger than max-message-size (4096 bytes): "
                                            "raise the pool's max-message-size"));
  g_clear_error (&error);

  value = run (f->pool, "bytes", g_variant_new ("(t)", (guint64) 100000), &error);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_true (error->domain == ACPU_ERROR);
  g_clear_error (&error);

  value = run (f->pool, "echo", NULL, &error);
  g_assert_no_error (error);
}

/* 12. Untrusted input ----------------------------------------------------- */

static void
test_protocol (Fixture       *f,
               gconstpointer  data)
{
  const char *cases[] = { "garbage", "huge", "wrong-type", "unknown-id", "late-types" };

  g_test_summary ("A worker that breaks the protocol fails its task with "
                  "ACPU_ERROR_PROTOCOL and is replaced; the parent is unharmed");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;
      GPid before = worker_pid (f->pool);

      value = run (f->pool, "hostile", g_variant_new ("(s)", cases[i]), &error);
      g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
      g_test_message ("%s: %s", cases[i], error->message);
      g_assert_nonnull (strstr (error->message, "“hostile”"));
      ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (before), 30);
      g_assert_cmpint (worker_pid (f->pool), !=, before);
    }
}

/* Properties ---------------------------------------------------------------- */

static void
test_properties (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (0);
  g_auto(GStrv) argv = NULL;
  guint max_workers, grace;
  gboolean cancel;

  g_test_summary ("Properties read back what was set; 0 workers means the number of CPUs");

  g_object_get (pool, "worker-argv", &argv, "max-workers", &max_workers,
                "cancel-tasks-when-shutdown", &cancel, "cancel-grace-period", &grace, NULL);
  g_assert_nonnull (argv);
  g_assert_true (g_str_has_suffix (argv[0], "acpu-test-worker"));
  g_assert_cmpuint (max_workers, ==, g_get_num_processors ());
  g_assert_false (cancel);
  g_assert_cmpuint (grace, <=, 1000);

  g_object_set (pool, "max-workers", 7, "cancel-tasks-when-shutdown", TRUE, NULL);
  g_assert_cmpuint (acpu_process_task_pool_get_max_workers (pool), ==, 7);
  g_assert_true (acpu_process_task_pool_get_cancel_tasks_when_shutdown (pool));
  g_assert_cmpuint (acpu_process_task_pool_get_n_running (pool), ==, 0);
  g_assert_cmpuint (acpu_process_task_pool_get_n_queued (pool), ==, 0);
}

static void
test_self_argv (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (NULL, 1);
  const char * const *argv = acpu_process_task_pool_get_worker_argv (pool);

  g_test_summary ("With no worker_argv, workers are this program with its arguments");

  g_assert_nonnull (argv);
  /* The running image itself, not the path of its file: that may be
   * replaced or deleted while the program runs. */
  g_assert_cmpstr (argv[0], ==, "/proc/self/exe");
}

int
main (int   argc,
      char *argv[])
{
  if (argc == 4 && g_str_equal (argv[1], "--orphan-parent"))
    return orphan_parent_main (argv[2], argv[3]);

  self_path = argv[0];
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, workers, func) \
  g_test_add (path, Fixture, GUINT_TO_POINTER (workers), fixture_setup, func, fixture_teardown)

  ADD ("/acpu/pool/run-async/returns-at-once", 2, test_run_async_returns_at_once);
  ADD ("/acpu/pool/run-async/other-thread", 2, test_run_async_other_thread);
  ADD ("/acpu/pool/run/sync", 2, test_run_sync);
  ADD ("/acpu/pool/run/floating", 2, test_run_floating);
  ADD ("/acpu/pool/queue/lazy-reuse", 2, test_queue_lazy_reuse);
  ADD ("/acpu/pool/queue/fifo", 1, test_queue_fifo);
  ADD ("/acpu/pool/async-task", 1, test_async_task);
  ADD ("/acpu/pool/error/unknown-task", 2, test_error_unknown_task);
  ADD ("/acpu/pool/typed-tasks", 2, test_typed_tasks);
  ADD ("/acpu/pool/error/crosses", 2, test_error_crosses);
  ADD ("/acpu/pool/crash/signals", 1, test_crash);
  ADD ("/acpu/pool/crash/external-kill", 1, test_crash_external_kill);
  ADD ("/acpu/pool/crash/worker-exit", 1, test_crash_worker_exit);
  ADD ("/acpu/pool/cancel/queued", 1, test_cancel_queued);
  ADD ("/acpu/pool/cancel/cooperative", 1, test_cancel_cooperative);
  ADD ("/acpu/pool/cancel/ignored", 1, test_cancel_ignored);
  ADD ("/acpu/pool/shutdown/waits", 2, test_shutdown_waits);
  ADD ("/acpu/pool/shutdown/cancels", 2, test_shutdown_cancels);
  ADD ("/acpu/pool/unref-while-running", 2, test_unref_while_running);
  ADD ("/acpu/pool/parent-dies", 1, test_parent_dies);
  ADD ("/acpu/pool/stdout", 1, test_stdout);
  ADD ("/acpu/pool/large", 1, test_large);
  ADD ("/acpu/pool/max-message-size", 1, test_max_message_size);
  ADD ("/acpu/pool/protocol", 1, test_protocol);
  g_test_add_func ("/acpu/pool/start-failure", test_start_failure);
  g_test_add_func ("/acpu/pool/properties", test_properties);
  g_test_add_func ("/acpu/pool/self-argv", test_self_argv);

  return g_test_run ();
}
