/* acpu-worker-proc.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A worker process, from birth to death, as the pool sees it.
 *
 *   start ──► STARTING ──hello──► READY ──close──► CLOSING
 *                │                  │                 │
 *                └──────────────────┴─────────────────┴──► gone: exited()
 *
 * A worker is gone when two things have happened: the channel is finished
 * (end of stream, a read error, a protocol error, or we closed it) and the
 * process has exited (GSubprocess reaps it and tells us). Either can come
 * first. When the process exits first, what it wrote before dying is still
 * read and delivered, so a reply sent just before a crash is not lost. Only
 * then does exited() run, once, with a GError that says what happened.
 *
 * Each worker is the leader of its own process group, so killing it kills
 * whatever its task started too; and it is told (PR_SET_PDEATHSIG) to die
 * with the I/O thread, which lives as long as the process.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gio/gunixinputstream.h>

#include "acpu-checks-private.h"
#include "acpu-error.h"
#include "acpu-error-private.h"
#include "acpu-wire-private.h"
#include "acpu-worker-exit-private.h"
#include "acpu-worker-proc-private.h"

/* How long a worker may take to exit once its channel is finished. */
#define EXIT_TIMEOUT_MS 2000
/* How much of a worker's stderr is kept for the message when it dies. */
#define STDERR_TAIL_BYTES 2048
#define STDERR_TAIL_LINES 5
/* Log records a worker may send per second; the rest are counted and dropped. */
#define MAX_LOGS_PER_SECOND 2000

struct _ACpuWorkerProc
{
  gatomicrefcount          ref_count;

  char                   **argv;
  guint64                  max_size;
  guint                    handshake_timeout_ms;
  ACpuWorkerProcCallbacks  callbacks;
  gpointer                 user_data;

  GMainContext            *context;     /* the I/O thread's: every source goes there */
  GSubprocess             *subprocess;
  GPid                     pid;

  /* The output side may be used from a caller's thread too
   * (acpu_worker_proc_send_now()): out_lock guards it and the descriptor's
   * closing. Everything else is the I/O thread's. */
  GMutex                   out_lock;
  int                      fd;
  ACpuWireOut              out;
  GSource                 *write_source;
  gboolean                 closing;
  gboolean                 channel_done;
  gboolean                 out_broken;
  gboolean                 ready;        /* set once, before anyone calls send_now() */

  GSource                 *read_source;
  gboolean                 read_paused;  /* a caller waits for the reply itself */
  GSource                 *timer;
  GSource                 *stall_timer;
  GSource                 *stderr_source;
  int                      stderr_fd;
  GString                 *stderr_tail;
  guint64                  memory_limit;
  gint64                   log_window_start;
  guint                    log_count;
  guint                    log_dropped;
  guint                    new_domains;  /* error domains it may still make; atomic */
  /* The input side: the I/O thread reads under in_lock, and so does a
   * caller waiting for the reply to a request it sent itself
   * (acpu_worker_proc_claim_reply()). What that caller leaves in `in` the
   * I/O thread parses (parse_pending), and a malformed reply it took is
   * reported there (pending_error). */
  GMutex                   in_lock;
  ACpuWireIn               in;
  gint                     parse_pending;
  GError                  *pending_error;
  GHashTable              *task_names;

  GError                  *reason;      /* why it is ending, when we know better than the exit status */
  guint                    started : 1;
  guint                    magic : 1;     /* the channel's magic has come */
  guint                    process_done : 1;
  guint                    reported : 1;
};

static void acpu_worker_proc_finish_channel (ACpuWorkerProc *self);
static void acpu_worker_proc_flush_locked   (ACpuWorkerProc *self);

ACpuWorkerProc *
acpu_worker_proc_new (const char * const            *argv,
                      guint64                        max_size,
                      guint                          handshake_timeout_ms,
                      const ACpuWorkerProcCallbacks *callbacks,
                      gpointer                       user_data)
{
  ACpuWorkerProc *self = g_new0 (ACpuWorkerProc, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->argv = g_strdupv ((char **) argv);
  self->max_size = max_size;
  self->handshake_timeout_ms = handshake_timeout_ms;
  self->new_domains = ACPU_ERROR_MAX_NEW_DOMAINS_PER_WORKER;
  self->callbacks = *callbacks;
  self->user_data = user_data;
  self->context = g_main_context_ref_thread_default ();
  g_mutex_init (&self->out_lock);
  g_mutex_init (&self->in_lock);
  self->fd = -1;
  self->stderr_fd = -1;
  self->stderr_tail = g_string_new (NULL);
  acpu_wire_in_init (&self->in, ACPU_WIRE_READER_POOL, max_size);
  acpu_wire_out_init (&self->out, FALSE);

  return self;
}

ACpuWorkerProc *
acpu_worker_proc_ref (ACpuWorkerProc *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

static void
acpu_worker_proc_clear_timer (ACpuWorkerProc *self)
{
  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }
}

static void
acpu_worker_proc_set_timer (ACpuWorkerProc *self,
                            guint           msec,
                            GSourceFunc     func)
{
  acpu_worker_proc_clear_timer (self);
  self->timer = g_timeout_source_new (msec);
  g_source_set_callback (self->timer, func, self, NULL);
  g_source_attach (self->timer, self->context);
}

static void
acpu_worker_proc_clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* Stops reading the worker's stderr. */
static void
acpu_worker_proc_clear_stderr (ACpuWorkerProc *self)
{
  acpu_worker_proc_clear_source (&self->stderr_source);
  if (self->stderr_fd >= 0)
    {
      close (self->stderr_fd);
      self->stderr_fd = -1;
    }
}

static void
acpu_worker_proc_clear_sources (ACpuWorkerProc *self)
{
  acpu_worker_proc_clear_source (&self->stall_timer);
  if (self->read_source != NULL)
    {
      g_source_destroy (self->read_source);
      g_clear_pointer (&self->read_source, g_source_unref);
    }
  g_mutex_lock (&self->out_lock);
  acpu_worker_proc_clear_source (&self->write_source);
  g_mutex_unlock (&self->out_lock);
}

void
acpu_worker_proc_unref (ACpuWorkerProc *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  acpu_worker_proc_clear_sources (self);
  acpu_worker_proc_clear_timer (self);
  acpu_worker_proc_clear_stderr (self);
  if (self->fd >= 0)
    close (self->fd);
  g_string_free (self->stderr_tail, TRUE);
  acpu_wire_in_clear (&self->in);
  acpu_wire_out_clear (&self->out);
  g_clear_pointer (&self->task_names, g_hash_table_unref);
  g_clear_error (&self->reason);
  g_clear_object (&self->subprocess);
  g_clear_error (&self->pending_error);
  g_main_context_unref (self->context);
  g_mutex_clear (&self->out_lock);
  g_mutex_clear (&self->in_lock);
  g_strfreev (self->argv);
  g_free (self);
}

GPid
acpu_worker_proc_get_pid (ACpuWorkerProc *self)
{
  return self->pid;
}

gboolean
acpu_worker_proc_is_ready (ACpuWorkerProc *self)
{
  return self->ready && !self->closing && !self->channel_done && !self->process_done;
}

/* [io]: whether the worker finished its handshake, even if it is ending
 * now. */
gboolean
acpu_worker_proc_is_started (ACpuWorkerProc *self)
{
  return self->ready;
}

/* Whether it died of a SIGKILL that we did not send for a reason of ours. */
gboolean
acpu_worker_proc_was_killed_from_outside (ACpuWorkerProc *self)
{
  return self->process_done && self->subprocess != NULL && self->reason == NULL &&
         g_subprocess_get_if_signaled (self->subprocess) &&
         g_subprocess_get_term_sig (self->subprocess) == SIGKILL;
}

gboolean
acpu_worker_proc_has_task (ACpuWorkerProc *self,
                           const char     *name)
{
  return self->task_names != NULL && g_hash_table_contains (self->task_names, name);
}

/* Ending ------------------------------------------------------------------- */

static void
acpu_worker_proc_set_reason (ACpuWorkerProc *self,
                             const GError   *reason)
{
  if (self->reason == NULL && reason != NULL)
    self->reason = g_error_copy (reason);
}

static void
acpu_worker_proc_signal_group (ACpuWorkerProc *self,
                               int             signum)
{
  if (self->pid <= 0 || self->process_done)
    return;
  /* The group first: the task's own children go too. */
  kill (-self->pid, signum);
  kill (self->pid, signum);
}

static char *
acpu_worker_proc_describe_status (ACpuWorkerProc *self)
{
  if (self->subprocess == NULL)
    return g_strdup ("could not be started");

  if (g_subprocess_get_if_signaled (self->subprocess))
    {
      int sig = g_subprocess_get_term_sig (self->subprocess);
      const char *abbrev = sigabbrev_np (sig);

      return g_strdup_printf ("was killed by signal %d (SIG%s, %s)", sig,
                              abbrev ? abbrev : "?", g_strsignal (sig));
    }

  if (g_subprocess_get_if_exited (self->subprocess))
    return g_strdup_printf ("exited with status %d", g_subprocess_get_exit_status (self->subprocess));

  return g_strdup ("ended");
}

/* [io]: the last lines the worker wrote to stderr, joined by @sep, or ""
 * when there are none: escaped, they are bytes (NULs included) and what
 * they go into is UTF-8. */
static char *
acpu_worker_proc_stderr_lines (ACpuWorkerProc *self,
                               const char     *sep)
{
  g_autofree char *text = g_utf8_make_valid (self->stderr_tail->str, self->stderr_tail->len);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr(GPtrArray) kept = g_ptr_array_new ();

  for (gint i = (gint) g_strv_length (lines) - 1; i >= 0 && kept->len < STDERR_TAIL_LINES; i--)
    {
      g_strstrip (lines[i]);
      if (*lines[i] != '\0')
        g_ptr_array_insert (kept, 0, lines[i]);
    }
  g_ptr_array_add (kept, NULL);
  return g_strjoinv (sep, (char **) kept->pdata);
}

/* [io]: the stderr tail for the message when the worker dies. */
static char *
acpu_worker_proc_stderr_tail (ACpuWorkerProc *self)
{
  g_autofree char *joined = acpu_worker_proc_stderr_lines (self, " | ");

  if (*joined == '\0')
    return g_strdup ("");
  return g_strdup_printf ("; its stderr ended with: “%s”", joined);
}

/* [io], once the process is done: the facts of its end, for a caller that
 * wants them without parsing a message (ACpuWorkerExit). NULL when it never
 * started. */
ACpuWorkerExit *
acpu_worker_proc_get_exit (ACpuWorkerProc *self,
                           const char     *task_name)
{
  g_autofree char *lines = NULL;
  int signal = 0, status = -1;

  if (self->subprocess == NULL || !self->process_done)
    return NULL;

  if (g_subprocess_get_if_signaled (self->subprocess))
    signal = g_subprocess_get_term_sig (self->subprocess);
  else if (g_subprocess_get_if_exited (self->subprocess))
    status = g_subprocess_get_exit_status (self->subprocess);

  lines = acpu_worker_proc_stderr_lines (self, "\n");
  return acpu_worker_exit_new ((int) self->pid, signal, status, lines, task_name);
}

static gboolean acpu_worker_proc_read_stderr (ACpuWorkerProc *self);
static void     acpu_worker_proc_pass_output (ACpuWorkerProc *self,
                                              const void     *buf,
                                              gsize           len);

/* Both halves are done: say so, once. */
static void
acpu_worker_proc_maybe_report (ACpuWorkerProc *self)
{
  g_autoptr(GError) error = NULL;

  if (self->reported || !self->channel_done || !self->process_done)
    return;

  self->reported = TRUE;
  acpu_worker_proc_clear_timer (self);

  if (self->reason != NULL)
    error = g_error_copy (self->reason);
  else if (!(self->closing && g_subprocess_get_successful (self->subprocess)))
    {
      g_autofree char *status = acpu_worker_proc_describe_status (self);
      g_autofree char *tail = NULL;
      g_autofree char *limit = NULL;

      /* What it said before it died. */
      while (self->stderr_fd >= 0 && acpu_worker_proc_read_stderr (self))
        ;
      tail = acpu_worker_proc_stderr_tail (self);

      if (self->memory_limit > 0 && g_subprocess_get_if_signaled (self->subprocess))
        limit = g_strdup_printf (" (its memory limit is %" G_GUINT64_FORMAT " bytes: it may have "
                                 "run out)", self->memory_limit);

      if (self->ready)
        error = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_DIED,
                             "worker process %d (%s) %s%s%s", (int) self->pid, self->argv[0],
                             status, limit ? limit : "", tail);
      else
        error = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_START,
                             "worker process %d (%s) %s before the handshake%s%s",
                             (int) self->pid, self->argv[0], status, limit ? limit : "", tail);
    }

  acpu_worker_proc_clear_stderr (self);
  self->callbacks.exited (self, error, self->user_data);
}

static gboolean
acpu_worker_proc_exit_timeout_cb (gpointer user_data)
{
  ACpuWorkerProc *self = user_data;

  g_clear_pointer (&self->timer, g_source_unref);
  acpu_worker_proc_signal_group (self, SIGKILL);
  return G_SOURCE_REMOVE;
}

/* No more reading or writing. */
static void
acpu_worker_proc_finish_channel (ACpuWorkerProc *self)
{
  if (self->channel_done)
    return;

  acpu_worker_proc_clear_sources (self);
  g_mutex_lock (&self->out_lock);
  self->channel_done = TRUE;
  /* Shut down, not closed: a caller may still poll the descriptor
   * (acpu_worker_proc_claim_reply()); it is closed with the last reference. */
  if (self->fd >= 0)
    shutdown (self->fd, SHUT_RDWR);
  g_mutex_unlock (&self->out_lock);

  if (!self->process_done)
    acpu_worker_proc_set_timer (self, EXIT_TIMEOUT_MS, acpu_worker_proc_exit_timeout_cb);

  acpu_worker_proc_maybe_report (self);
}

/* Ends the worker now; @reason (nullable) is what the pool will be told. */
void
acpu_worker_proc_kill (ACpuWorkerProc *self,
                       const GError   *reason)
{
  acpu_worker_proc_set_reason (self, reason);
  acpu_worker_proc_signal_group (self, SIGKILL);
  acpu_worker_proc_finish_channel (self);
}

static void
acpu_worker_proc_fail (ACpuWorkerProc *self,
                       ACpuError       code,
                       const char     *what)
{
  g_autoptr(GError) error = NULL;

  error = g_error_new (ACPU_ERROR, code, "worker process %d (%s) was killed: %s",
                       (int) self->pid, self->argv[0], what);
  acpu_worker_proc_kill (self, error);
}

/* Closes the channel after what is queued has gone: the worker sees the end
 * of its input and exits. */
void
acpu_worker_proc_close (ACpuWorkerProc *self)
{
  if (self->closing || self->channel_done)
    return;

  g_mutex_lock (&self->out_lock);
  self->closing = TRUE;
  acpu_worker_proc_flush_locked (self);
  if (acpu_wire_out_pending (&self->out) == 0 && self->fd >= 0)
    shutdown (self->fd, SHUT_WR);
  g_mutex_unlock (&self->out_lock);
  acpu_worker_proc_set_timer (self, EXIT_TIMEOUT_MS, acpu_worker_proc_exit_timeout_cb);
}

/* Reading ------------------------------------------------------------------ */

static void
acpu_worker_proc_handle_hello (ACpuWorkerProc  *self,
                               ACpuWireMessage *msg)
{
  if (self->ready)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, "it sent a second hello");
      return;
    }

  if (msg->version != ACPU_WIRE_VERSION)
    {
      g_autofree char *what = g_strdup_printf ("it speaks protocol version %u, not %u",
                                               msg->version, ACPU_WIRE_VERSION);
      acpu_worker_proc_fail (self, ACPU_ERROR_WORKER_START, what);
      return;
    }

  self->ready = TRUE;
  self->out.can_pass_fds = (msg->flags & ACPU_WIRE_HELLO_CAN_RECEIVE_FDS) != 0;
  self->task_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; msg->names[i] != NULL; i++)
    g_hash_table_add (self->task_names, g_strdup (msg->names[i]));
  acpu_worker_proc_clear_timer (self);

  self->callbacks.ready (self, self->user_data);
}

/* Delivers one message. */
static void
acpu_worker_proc_handle (ACpuWorkerProc  *self,
                         ACpuWireMessage *msg)
{
  if (msg->type == ACPU_WIRE_HELLO)
    {
      acpu_worker_proc_handle_hello (self, msg);
      return;
    }

  if (!self->ready)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_WORKER_START, "it sent a message before the handshake");
      return;
    }

  switch (msg->type)
    {
    case ACPU_WIRE_RESULT:
      self->callbacks.reply (self, msg->id, msg->value, NULL, self->user_data);
      break;

    case ACPU_WIRE_ERROR:
      {
        g_autoptr(GError) error = acpu_error_new_remote (&self->new_domains, msg->domain,
                                                         msg->code, msg->message);
        self->callbacks.reply (self, msg->id, NULL, error, self->user_data);
      }
      break;

    case ACPU_WIRE_LOG:
      {
        gint64 now = g_get_monotonic_time ();

        /* A worker that floods the log costs us little: count and drop. */
        if (now - self->log_window_start >= G_USEC_PER_SEC)
          {
            if (self->log_dropped > 0)
              g_warning ("Dropped %u log records from worker process %d (%s): more than %d a second",
                         self->log_dropped, (int) self->pid, self->argv[0], MAX_LOGS_PER_SECOND);
            self->log_window_start = now;
            self->log_count = 0;
            self->log_dropped = 0;
          }
        if (self->log_count++ < MAX_LOGS_PER_SECOND)
          self->callbacks.log (self, msg->id, msg->log_level, msg->fields, self->user_data);
        else
          self->log_dropped++;
      }
      break;

    case ACPU_WIRE_HELLO:
    case ACPU_WIRE_REQUEST:
    case ACPU_WIRE_CANCEL:
    default:
      g_assert_not_reached ();
    }
}

static gboolean
acpu_worker_proc_stall_cb (gpointer user_data)
{
  ACpuWorkerProc *self = user_data;
  g_autofree char *what = g_strdup_printf ("it stopped for %u ms in the middle of a frame",
                                           self->handshake_timeout_ms);

  g_clear_pointer (&self->stall_timer, g_source_unref);
  acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, what);
  return G_SOURCE_REMOVE;
}

/* A frame begun and not finished may only wait so long for the rest: a
 * worker writes a frame in one go. */
static void
acpu_worker_proc_watch_stall (ACpuWorkerProc *self)
{
  acpu_worker_proc_clear_source (&self->stall_timer);
  if (self->channel_done || self->handshake_timeout_ms == 0 ||
      self->in.buf->len == self->in.head)
    return;

  self->stall_timer = g_timeout_source_new (self->handshake_timeout_ms);
  g_source_set_callback (self->stall_timer, acpu_worker_proc_stall_cb, self, NULL);
  g_source_attach (self->stall_timer, self->context);
}

/* Delivers the messages `in` holds. Returns FALSE when the channel failed. */
static gboolean
acpu_worker_proc_parse (ACpuWorkerProc *self)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage msg;

  while (!self->channel_done && acpu_wire_in_next (&self->in, &msg, &error))
    {
      acpu_worker_proc_handle (self, &msg);
      acpu_wire_message_clear (&msg);
    }

  if (error != NULL && !self->channel_done)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, error->message);
      return FALSE;
    }
  return TRUE;
}

/* Reads what is there, up to a bound, and delivers it. Called with in_lock
 * held. */
static void
acpu_worker_proc_read_locked (ACpuWorkerProc *self,
                              guint           max_reads)
{
  /* What a caller waiting for a reply read and left to us. */
  if (self->pending_error != NULL)
    {
      g_autoptr(GError) error = g_steal_pointer (&self->pending_error);

      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, error->message);
      return;
    }
  if (g_atomic_int_compare_and_exchange (&self->parse_pending, 1, 0) &&
      !acpu_worker_proc_parse (self))
    return;

  for (guint i = 0; i < max_reads && !self->channel_done; i++)
    {
      g_autoptr(GError) error = NULL;
      gssize n;

      n = acpu_wire_in_read (&self->in, self->fd, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (i > 0 || self->stall_timer == NULL)
            acpu_worker_proc_watch_stall (self);
          return;
        }
      if (n < 0 && error->domain == ACPU_ERROR)
        {
          acpu_worker_proc_fail (self, error->code, error->message);
          return;
        }
      if (n < 0)
        {
          /* ECONNRESET and the like: the worker went away with requests
           * unread. Its exit status tells the rest; what it sent before
           * still counts. */
          g_clear_error (&error);
          n = 0;
        }

      /* What the worker's runtime printed to stdout before the channel was
       * its own is output, not protocol. */
      if (!self->magic)
        {
          g_autoptr(GByteArray) skipped = g_byte_array_new ();

          self->magic = acpu_wire_in_find_magic (&self->in, skipped, &error);
          acpu_worker_proc_pass_output (self, skipped->data, skipped->len);
          if (error != NULL)
            {
              acpu_worker_proc_fail (self, ACPU_ERROR_WORKER_START, error->message);
              return;
            }
          if (!self->magic && n > 0)
            continue;
        }

      if (!acpu_worker_proc_parse (self))
        return;

      if (n <= 0)
        {
          acpu_worker_proc_finish_channel (self);
          return;
        }
    }
}

static void
acpu_worker_proc_read (ACpuWorkerProc *self,
                       guint           max_reads)
{
  g_autoptr(ACpuWorkerProc) hold = acpu_worker_proc_ref (self);

  g_mutex_lock (&self->in_lock);
  acpu_worker_proc_read_locked (self, max_reads);
  g_mutex_unlock (&self->in_lock);
}

/* The channel's read source. Nothing iterates the I/O thread's context from
 * inside a callback, so it may recurse: then GLib leaves its descriptor in
 * the poll set around each dispatch instead of waking the context twice to
 * take it out and put it back. While a caller waits for a reply itself, it
 * asks for no input (a hang-up still comes). */
typedef struct
{
  GSource         source;
  ACpuWorkerProc *proc;
  GPollFD         pfd;
} ACpuReadSource;

static gboolean
acpu_worker_proc_read_prepare (GSource *source,
                               gint    *timeout)
{
  ACpuReadSource *self = (ACpuReadSource *) source;

  self->pfd.events = self->proc->read_paused ? 0 : G_IO_IN;
  *timeout = -1;
  return g_atomic_int_get (&self->proc->parse_pending) != 0;
}

static gboolean
acpu_worker_proc_read_check (GSource *source)
{
  ACpuReadSource *self = (ACpuReadSource *) source;

  return self->pfd.revents != 0 || g_atomic_int_get (&self->proc->parse_pending) != 0;
}

static gboolean
acpu_worker_proc_read_dispatch (GSource     *source,
                                GSourceFunc  callback,
                                gpointer     user_data)
{
  acpu_worker_proc_read (((ACpuReadSource *) source)->proc, 16);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs read_source_funcs = {
  .prepare = acpu_worker_proc_read_prepare,
  .check = acpu_worker_proc_read_check,
  .dispatch = acpu_worker_proc_read_dispatch,
};

static gboolean
acpu_worker_proc_write_cb (int          fd,
                           GIOCondition condition,
                           gpointer     user_data)
{
  ACpuWorkerProc *self = user_data;

  acpu_worker_proc_flush (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
acpu_worker_proc_handshake_timeout_cb (gpointer user_data)
{
  ACpuWorkerProc *self = user_data;
  g_autofree char *what = g_strdup_printf ("it did not finish the handshake within %u ms",
                                           self->handshake_timeout_ms);

  g_clear_pointer (&self->timer, g_source_unref);
  acpu_worker_proc_fail (self, ACPU_ERROR_WORKER_START, what);
  return G_SOURCE_REMOVE;
}

static void
acpu_worker_proc_wait_cb (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(ACpuWorkerProc) self = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (object), result, NULL);

  /* What it wrote before it died still counts. */
  if (!self->channel_done)
    acpu_worker_proc_read (self, 1024);

  self->process_done = TRUE;
  acpu_worker_proc_clear_timer (self);
  /* Its children may still hold the channel open: do not wait for them. */
  acpu_worker_proc_signal_group (self, SIGKILL);
  acpu_worker_proc_finish_channel (self);
  acpu_worker_proc_maybe_report (self);
}

/* Writing ------------------------------------------------------------------ */

/* Called with out_lock held. */
static void
acpu_worker_proc_flush_locked (ACpuWorkerProc *self)
{
  g_autoptr(GError) error = NULL;

  if (self->channel_done || self->out_broken)
    return;

  if (!acpu_wire_out_flush (&self->out, self->fd, &error))
    {
      /* The worker is going away; its end of stream or exit will tell. */
      self->out_broken = TRUE;
      g_byte_array_set_size (self->out.buf, 0);
      self->out.head = 0;
    }

  if (acpu_wire_out_pending (&self->out) > 0)
    {
      if (self->write_source == NULL)
        {
          self->write_source = g_unix_fd_source_new (self->fd, G_IO_OUT);
          g_source_set_callback (self->write_source, G_SOURCE_FUNC (acpu_worker_proc_write_cb),
                                 self, NULL);
          g_source_attach (self->write_source, self->context);
        }
    }
  else
    {
      acpu_worker_proc_clear_source (&self->write_source);
      if (self->closing)
        shutdown (self->fd, SHUT_WR);
    }
}

void
acpu_worker_proc_flush (ACpuWorkerProc *self)
{
  g_mutex_lock (&self->out_lock);
  acpu_worker_proc_flush_locked (self);
  g_mutex_unlock (&self->out_lock);
}

gboolean
acpu_worker_proc_send (ACpuWorkerProc  *self,
                       guint64          id,
                       const char      *name,
                       GVariant        *args,
                       GError         **error)
{
  gboolean ok;

  g_return_val_if_fail (acpu_worker_proc_is_ready (self), FALSE);

  g_mutex_lock (&self->out_lock);
  ok = acpu_wire_out_request (&self->out, id, name, args, self->max_size, error);
  g_mutex_unlock (&self->out_lock);

  return ok;
}

/* Sends a small request and writes it out now, from any thread, when
 * nothing else waits to be written. Returns FALSE, with nothing sent, when it
 * cannot: the channel is busy or ending, or the request is large (it would be
 * copied into a memfd on the caller's thread) or does not encode. */
gboolean
acpu_worker_proc_send_now (ACpuWorkerProc *self,
                           guint64         id,
                           const char     *name,
                           GVariant       *args)
{
  gboolean sent = FALSE;

  g_mutex_lock (&self->out_lock);
  if (self->ready && !self->closing && !self->channel_done && !self->out_broken &&
      acpu_wire_out_pending (&self->out) == 0 &&
      g_variant_get_size (args) < self->out.memfd_threshold &&
      acpu_wire_out_request (&self->out, id, name, args, self->max_size, NULL))
    {
      acpu_worker_proc_flush_locked (self);
      sent = TRUE;
    }
  g_mutex_unlock (&self->out_lock);

  return sent;
}

void
acpu_worker_proc_cancel (ACpuWorkerProc *self,
                         guint64         id)
{
  g_mutex_lock (&self->out_lock);
  if (!self->channel_done && !self->closing)
    {
      acpu_wire_out_cancel (&self->out, id);
      acpu_worker_proc_flush_locked (self);
    }
  g_mutex_unlock (&self->out_lock);
}


/* Waiting for a reply from another thread ----------------------------------- */

/* The I/O thread stops reading the channel while a caller may be waiting for
 * a reply itself (the pool offers this worker), so that the reply wakes that
 * caller and not the I/O thread too. A hang-up still wakes it. */
void
acpu_worker_proc_pause_reading (ACpuWorkerProc *self,
                                gboolean        paused)
{
  self->read_paused = paused;
}

int
acpu_worker_proc_get_fd (ACpuWorkerProc *self)
{
  return self->fd;
}

/* [context] (a caller's), takes the input lock if it is free, and then
 * core->lock inside @claim: reads what the channel has and takes the reply
 * to request @id if that is exactly what came, whole and inline, and the
 * caller wins the claim (@value or @error is set: TAKEN). @claim runs with
 * the input lock held, after the reply was read and decoded and before it
 * is consumed; it settles who owns the request (acpu-pool-direct.c). When it
 * says no, the frame stays unread for the I/O thread, so nothing that came
 * after it can overtake it.
 *
 * Anything else — the I/O thread reading this channel now, a log record, a
 * partial frame, a value in a memfd (mapping it may take milliseconds), the
 * end of the stream, a malformed reply, a lost claim — is OTHER and left to
 * the I/O thread: what was read is marked for it to parse (parse_pending)
 * and its context is woken. NONE: nothing has come yet. */
ACpuWorkerProcReply
acpu_worker_proc_claim_reply (ACpuWorkerProc          *self,
                              guint64                  id,
                              ACpuWorkerProcClaimFunc  claim,
                              gpointer                 claim_data,
                              GVariant               **value,
                              GError                 **error)
{
  g_autoptr(GError) read_error = NULL;
  ACpuWorkerProcReply reply = ACPU_WORKER_PROC_REPLY_OTHER;
  ACpuWireMessage msg;
  guint type, flags;
  guint64 frame_id;
  gsize frame, head;
  gssize n;

  ACPU_ASSERT_NOT_IO_THREAD ();

  /* Held: the I/O thread is reading this channel, so it has the reply. */
  if (!g_mutex_trylock (&self->in_lock))
    return ACPU_WORKER_PROC_REPLY_OTHER;

  if (self->channel_done || self->pending_error != NULL)
    goto out;

  n = acpu_wire_in_read (&self->in, self->fd, &read_error);
  if (n < 0 && g_error_matches (read_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) &&
      self->in.buf->len == self->in.head)
    {
      reply = ACPU_WORKER_PROC_REPLY_NONE;
      goto out;
    }

  if (n <= 0 || !acpu_wire_in_peek (&self->in, &type, &flags, &frame_id, &frame) ||
      (type != ACPU_WIRE_RESULT && type != ACPU_WIRE_ERROR) || frame_id != id ||
      frame != self->in.buf->len - self->in.head ||
      (flags & ACPU_WIRE_FLAG_MEMFD) || !g_queue_is_empty (&self->in.fds))
    goto leave_to_io;

  /* An inline frame with no descriptors: decoding it only moves `head`
   * (the body is copied out), so putting `head` back un-reads it. */
  head = self->in.head;
  if (!acpu_wire_in_next (&self->in, &msg, &read_error))
    {
      self->pending_error = g_steal_pointer (&read_error);
      goto leave_to_io;
    }

  if (!claim (claim_data))
    {
      acpu_wire_message_clear (&msg);
      self->in.head = head;
      goto leave_to_io;
    }

  if (msg.type == ACPU_WIRE_RESULT)
    *value = g_variant_ref (msg.value);
  else
    *error = acpu_error_new_remote (&self->new_domains, msg.domain, msg.code, msg.message);
  acpu_wire_message_clear (&msg);
  reply = ACPU_WORKER_PROC_REPLY_TAKEN;
  goto out;

leave_to_io:
  g_atomic_int_set (&self->parse_pending, 1);
  g_main_context_wakeup (self->context);
out:
  g_mutex_unlock (&self->in_lock);
  return reply;
}

/* Stderr ------------------------------------------------------------------- */

/* Passes output of the worker on to our stderr, keeping the tail. */
static void
acpu_worker_proc_pass_output (ACpuWorkerProc *self,
                              const void     *buf,
                              gsize           len)
{
  if (len == 0)
    return;
  if (write (2, buf, len) < 0)
    {
      /* Nowhere to pass it on; the tail is still kept. */
    }
  g_string_append_len (self->stderr_tail, buf, len);
  if (self->stderr_tail->len > STDERR_TAIL_BYTES)
    g_string_erase (self->stderr_tail, 0, self->stderr_tail->len - STDERR_TAIL_BYTES);
}

/* Passes what the worker wrote to stderr on to ours, keeping the tail.
 * Returns FALSE when there is nothing more for now. */
static gboolean
acpu_worker_proc_read_stderr (ACpuWorkerProc *self)
{
  char buf[16 * 1024];
  gssize n;

  do
    n = read (self->stderr_fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);

  if (n < 0 && errno == EAGAIN)
    return FALSE;
  if (n <= 0)
    {
      acpu_worker_proc_clear_stderr (self);
      return FALSE;
    }

  acpu_worker_proc_pass_output (self, buf, n);
  return TRUE;
}

static gboolean
acpu_worker_proc_stderr_cb (int          fd,
                            GIOCondition condition,
                            gpointer     user_data)
{
  ACpuWorkerProc *self = user_data;

  for (guint i = 0; i < 4 && self->stderr_fd >= 0; i++)
    if (!acpu_worker_proc_read_stderr (self))
      break;
  return G_SOURCE_CONTINUE;
}

/* Starting ----------------------------------------------------------------- */

void
acpu_worker_proc_set_memory_limit (ACpuWorkerProc *self,
                                   guint64         bytes)
{
  self->memory_limit = bytes;
}

typedef struct
{
  pid_t   parent;
  guint64 memory_limit;
} ACpuChildSetup;

static void
acpu_worker_proc_child_setup (gpointer user_data)
{
  const ACpuChildSetup *setup = user_data;

  /* Async-signal-safe calls only. */
  setpgid (0, 0);
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != setup->parent)
    _exit (127);
  if (setup->memory_limit > 0)
    {
      struct rlimit limit = { setup->memory_limit, setup->memory_limit };
      setrlimit (RLIMIT_AS, &limit);
    }
}

static gboolean
acpu_worker_proc_spawn_failed_cb (gpointer user_data)
{
  ACpuWorkerProc *self = user_data;

  g_clear_pointer (&self->timer, g_source_unref);
  self->process_done = TRUE;
  acpu_worker_proc_maybe_report (self);
  return G_SOURCE_REMOVE;
}

/* Spawns the process. Always asynchronous in its outcome: a failure to start
 * is reported through exited() from the main loop, like any other. */
void
acpu_worker_proc_start (ACpuWorkerProc *self)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *max_size = NULL;
  ACpuChildSetup setup = { getpid (), self->memory_limit };
  int fds[2];

  g_return_if_fail (!self->started);
  self->started = TRUE;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    {
      int errsv = errno;
      error = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_START,
                           "Could not start worker “%s”: socketpair: %s",
                           self->argv[0], g_strerror (errsv));
      goto failed;
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  max_size = g_strdup_printf ("%" G_GUINT64_FORMAT, self->max_size);
  g_subprocess_launcher_setenv (launcher, "ACPU_WORKER", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "ACPU_MAX_MESSAGE_SIZE", max_size, TRUE);
  g_subprocess_launcher_take_stdin_fd (launcher, fds[1]);
  g_subprocess_launcher_take_stdout_fd (launcher, fcntl (fds[1], F_DUPFD_CLOEXEC, 3));
  /* The launcher calls it synchronously, in the child, during spawnv(). */
  g_subprocess_launcher_set_child_setup (launcher, acpu_worker_proc_child_setup, &setup, NULL);

  self->subprocess = g_subprocess_launcher_spawnv (launcher, (const char * const *) self->argv,
                                                   &error);
  /* Drops our copies of the child's end, so its death is an end of stream. */
  g_clear_object (&launcher);

  if (self->subprocess == NULL)
    {
      close (fds[0]);
      g_prefix_error (&error, "Could not start worker “%s”: ", self->argv[0]);
      error->domain = ACPU_ERROR;
      error->code = ACPU_ERROR_WORKER_START;
      goto failed;
    }

  /* NULL when the process has already exited and been reaped. */
  if (g_subprocess_get_identifier (self->subprocess) != NULL)
    self->pid = g_ascii_strtoll (g_subprocess_get_identifier (self->subprocess), NULL, 10);
  self->fd = fds[0];
  g_unix_set_fd_nonblocking (self->fd, TRUE, NULL);

  /* Its stderr: passed on to ours, the tail kept for when it dies. */
  self->stderr_fd = fcntl (g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (
                             g_subprocess_get_stderr_pipe (self->subprocess))),
                           F_DUPFD_CLOEXEC, 3);
  if (self->stderr_fd >= 0)
    {
      g_unix_set_fd_nonblocking (self->stderr_fd, TRUE, NULL);
      self->stderr_source = g_unix_fd_source_new (self->stderr_fd, G_IO_IN);
      g_source_set_callback (self->stderr_source, G_SOURCE_FUNC (acpu_worker_proc_stderr_cb),
                             self, NULL);
      g_source_attach (self->stderr_source, self->context);
    }
  g_input_stream_close (g_subprocess_get_stderr_pipe (self->subprocess), NULL, NULL);

  self->read_source = g_source_new (&read_source_funcs, sizeof (ACpuReadSource));
  ((ACpuReadSource *) self->read_source)->proc = self;
  ((ACpuReadSource *) self->read_source)->pfd.fd = self->fd;
  ((ACpuReadSource *) self->read_source)->pfd.events = G_IO_IN;
  g_source_add_poll (self->read_source, &((ACpuReadSource *) self->read_source)->pfd);
  g_source_set_can_recurse (self->read_source, TRUE);
  g_source_set_static_name (self->read_source, "[asynccpu-glib] worker channel");
  g_source_attach (self->read_source, self->context);

  if (self->handshake_timeout_ms > 0)
    acpu_worker_proc_set_timer (self, self->handshake_timeout_ms,
                                acpu_worker_proc_handshake_timeout_cb);

  g_subprocess_wait_async (self->subprocess, NULL, acpu_worker_proc_wait_cb,
                           acpu_worker_proc_ref (self));
  return;

failed:
  acpu_worker_proc_set_reason (self, error);
  self->channel_done = TRUE;
  acpu_worker_proc_set_timer (self, 0, acpu_worker_proc_spawn_failed_cb);
}
