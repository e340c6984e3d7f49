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
 * Each worker leads a session of its own (setsid()): no controlling
 * terminal, and a process group of its own, so that killing the group kills
 * whatever its tasks started too. The group is killed whenever the worker
 * ends, however it ends; and the worker is told (PR_SET_PDEATHSIG) to die
 * with the I/O thread, which lives as long as the process (ACpuWorker then
 * takes its group along, acpu-worker.c).
 *
 * Everything a worker sends is untrusted: its stderr and what it writes
 * before the channel's magic are bytes, not text, and are escaped before
 * they go into a message; forwarding its stderr to ours never blocks the
 * I/O thread, which all pools share. Nor does a huge value: one that comes
 * in a memfd of at least ACPU_WIRE_DEFER_SIZE bytes is mapped and checked
 * on a thread of its own (seconds, for a sparse 1 GiB `aay`), and until it
 * is delivered the handle neither parses nor reads anything more of that
 * worker's channel, so its messages keep their order (acpu_worker_proc_load_start()).
 *
 * Threads: everything here runs on the I/O thread unless its comment says
 * otherwise. out_lock guards the output side, in_lock the input side (see
 * the struct); the rest is the I/O thread's alone.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gio/gunixinputstream.h>

#include "acpu-checks-private.h"
#include "acpu-error.h"
#include "acpu-error-private.h"
#include "acpu-launcher-private.h"
#include "acpu-wire-private.h"
#include "acpu-worker-exit-private.h"
#include "acpu-worker-proc-private.h"

/* How long a worker may take to exit once its channel is finished. */
#define EXIT_TIMEOUT_MS 2000
/* How much of a worker's stderr is kept for the message when it dies. */
#define STDERR_TAIL_BYTES 2048
#define STDERR_TAIL_LINES 5
/* Log records a worker may send per second, and the I/O thread's time it
 * may take to relay them (all pools share that thread); past either, the
 * rest of the second's records are counted and dropped. */
#define MAX_LOGS_PER_SECOND 2000
#define MAX_LOG_US_PER_SECOND (100 * 1000)
/* How much of a worker's stderr waits for ours to take it; the rest is
 * counted, dropped and said. */
#define FORWARD_MAX_BYTES (64 * 1024)
/* A frame in progress must grow by this much, or end, within each
 * handshake-timeout period (acpu_worker_proc_watch_stall()). */
#define STALL_PROGRESS_BYTES (64 * 1024)
/* How much of what a non-worker wrote goes into the message. */
#define EXCERPT_BYTES 32

struct _ACpuWorkerProc
{
  gatomicrefcount          ref_count;

  char                   **argv;
  char                    *display_name; /* argv[0] as valid UTF-8, for messages */
  char                    *program;      /* for messages: the script or program;
                                          * set once by get_program(), any thread */
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
  /* The partial values' window (ACPU_WIRE_PARTIAL_WINDOW) of the request
   * that sends them, also under out_lock: the reader adds, an ack takes. */
  guint64                  partial_id;
  guint                    partial_unacked;
  guint64                  partial_unacked_bytes;

  GSource                 *read_source;
  gboolean                 read_paused;  /* a caller waits for the reply itself */
  GSource                 *timer;
  GSource                 *stall_timer;  /* runs from a frame's first byte */
  guint64                  n_frames;     /* frames parsed here, to tell a new one */
  gsize                    stall_progress; /* bytes read since the stall timer started */
  GSource                 *stderr_source;
  int                      stderr_fd;
  GString                 *stderr_tail;
  /* Passing its stderr on to ours, never blocking (acpu_worker_proc_forward()). */
  GByteArray              *fwd_buf;      /* what fd 2 has not taken yet */
  guint64                  fwd_dropped;  /* bytes dropped since the last note */
  int                      fwd_fd;       /* our non-blocking opening of fd 2's pipe or tty */
  dev_t                    fwd_dev;      /* ... and what fd 2 was when we opened it */
  ino_t                    fwd_ino;
  GSource                 *fwd_source;  /* waits for fd 2 to take more */
  int                      fwd_source_fd;
  /* Before the magic: a UTF-8 sequence cut by the end of a read. */
  guint8                   preamble_carry[4];
  guint                    preamble_carry_len;
  guint64                  memory_limit;
  int                      priority;    /* ACpuWorkerPriority; set before start() */
  ACpuLauncher            *launcher;    /* NULL: started here; frozen, set before start() */
  gint64                   log_window_start;
  guint                    log_count;
  guint                    log_dropped;
  gint64                   log_time_us;  /* spent relaying in this window */
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
  /* A value being mapped and checked on a thread of its own: nothing after
   * it is parsed, and the channel is not read, until it is delivered. The
   * I/O thread sets and clears it with in_lock held; claim_reply() reads it
   * under in_lock. */
  gboolean                 loading;
  GHashTable              *task_names;
  GHashTable              *task_types;  /* name → GStrv { args type, result type }, "" for
                                         * any; set before ready(), then read-only */

  GError                  *reason;      /* why it is ending, when we know better than the exit status */
  guint                    started : 1;
  guint                    magic : 1;     /* the channel's magic has come */
  guint                    awaiting_types : 1; /* a hello came that a TYPES frame follows */
  guint                    process_done : 1;
  guint                    reported : 1;
};

static void acpu_worker_proc_finish_channel (ACpuWorkerProc *self);
static void acpu_worker_proc_flush_locked   (ACpuWorkerProc *self);
static void acpu_worker_proc_poll_channel   (ACpuWorkerProc *self,
                                             gboolean        poll);
static void acpu_worker_proc_end            (ACpuWorkerProc *self);

/* Any thread, no lock. Appends @len bytes a worker wrote to @out as valid
 * UTF-8: bytes that are not UTF-8, and control characters but tab and
 * newline, become `\xNN`, so that a message built from them is valid UTF-8
 * (PyGObject and GJS refuse to convert one that is not) and cannot move a
 * terminal's cursor. */
static void
acpu_worker_proc_append_escaped (GString    *out,
                                 const char *data,
                                 gsize       len)
{
  const char *p = data;
  const char *end = data + len;

  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);

      if (c == (gunichar) -1 || c == (gunichar) -2 ||
          (c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7f && c < 0xa0))
        {
          g_string_append_printf (out, "\\x%02x", (guint) (guint8) *p);
          p++;
        }
      else
        {
          const char *next = g_utf8_next_char (p);

          g_string_append_len (out, p, next - p);
          p = next;
        }
    }
}

/* Any thread, no lock: acpu_worker_proc_append_escaped() into a new string. */
static char *
acpu_worker_proc_escape (const char *data,
                         gsize       len)
{
  GString *out = g_string_sized_new (len);

  acpu_worker_proc_append_escaped (out, data, len);
  return g_string_free (out, FALSE);
}

/* Any thread (the pool's, before it starts it). @argv is the pool's worker
 * command line; the handle keeps a copy. */
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
  /* A file name is bytes too. */
  self->display_name = acpu_worker_proc_escape (argv[0], strlen (argv[0]));
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
  self->fwd_buf = g_byte_array_new ();
  self->fwd_fd = -1;
  self->fwd_source_fd = -1;
  acpu_wire_in_init (&self->in, ACPU_WIRE_READER_POOL, max_size);
  self->in.defer_size = ACPU_WIRE_DEFER_SIZE;
  acpu_wire_out_init (&self->out, FALSE);

  return self;
}

/* Any thread. */
ACpuWorkerProc *
acpu_worker_proc_ref (ACpuWorkerProc *self)
{
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/* [io]: stops the timer of the moment: the handshake's or the exit's. */
static void
acpu_worker_proc_clear_timer (ACpuWorkerProc *self)
{
  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }
}

/* [io]: replaces the timer of the moment by @func in @msec. */
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

/* [io]: destroys *@source, if any; out_lock held when it is write_source. */
static void
acpu_worker_proc_clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* [io]: stops reading the worker's stderr. What waits to be passed on to ours
 * stays (acpu_worker_proc_clear_forward()). */
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

/* [io]: stops reading and writing the channel; takes out_lock. */
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

static void acpu_worker_proc_clear_forward (ACpuWorkerProc *self);

/* Any thread; the last reference goes on the I/O thread (or before start()):
 * its sources are destroyed here. */
void
acpu_worker_proc_unref (ACpuWorkerProc *self)
{
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  acpu_worker_proc_clear_sources (self);
  acpu_worker_proc_clear_timer (self);
  acpu_worker_proc_clear_stderr (self);
  acpu_worker_proc_clear_forward (self);
  if (self->fd >= 0)
    close (self->fd);
  g_string_free (self->stderr_tail, TRUE);
  g_byte_array_unref (self->fwd_buf);
  acpu_wire_in_clear (&self->in);
  acpu_wire_out_clear (&self->out);
  g_clear_pointer (&self->task_names, g_hash_table_unref);
  g_clear_pointer (&self->task_types, g_hash_table_unref);
  g_clear_error (&self->reason);
  g_clear_object (&self->subprocess);
  g_clear_error (&self->pending_error);
  g_main_context_unref (self->context);
  g_mutex_clear (&self->out_lock);
  g_mutex_clear (&self->in_lock);
  g_strfreev (self->argv);
  g_free (self->program);
  g_clear_object (&self->launcher);
  g_free (self->display_name);
  g_free (self);
}

/* [io]: its pid; 0 before start() or when it could not be started. */
GPid
acpu_worker_proc_get_pid (ACpuWorkerProc *self)
{
  return self->pid;
}

/* [io]: whether it takes requests: the handshake done, nothing ending. */
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

/* [io]: whether it died of a SIGKILL that we did not send for a reason of ours
 * (the OOM killer, a user). */
gboolean
acpu_worker_proc_was_killed_from_outside (ACpuWorkerProc *self)
{
  return self->process_done && self->subprocess != NULL && self->reason == NULL &&
         g_subprocess_get_if_signaled (self->subprocess) &&
         g_subprocess_get_term_sig (self->subprocess) == SIGKILL;
}

/* Any thread, once ready (task_names is set before ready() and never changes
 * after): whether the worker registered @name. */
gboolean
acpu_worker_proc_has_task (ACpuWorkerProc *self,
                           const char     *name)
{
  return self->task_names != NULL && g_hash_table_contains (self->task_names, name);
}

/* Any thread, no lock: g_ptr_array_sort()'s comparison of two strings. */
static int
acpu_worker_proc_compare_names (gconstpointer a,
                                gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Any thread, once ready (as has_task()): the names the worker registered,
 * sorted, for a message; an empty vector before the hello. Free with
 * g_strfreev(). */
char **
acpu_worker_proc_dup_task_names (ACpuWorkerProc *self)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer name;

  if (self->task_names != NULL)
    {
      g_hash_table_iter_init (&iter, self->task_names);
      while (g_hash_table_iter_next (&iter, &name, NULL))
        g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, acpu_worker_proc_compare_names);
  g_ptr_array_add (names, NULL);

  return (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

/* Any thread, once ready (as has_task()): the types task @name declared,
 * each NULL for any; FALSE when it has no task @name. The strings belong to
 * @self. */
gboolean
acpu_worker_proc_get_task_types (ACpuWorkerProc  *self,
                                 const char      *name,
                                 const char     **args_type,
                                 const char     **result_type)
{
  char **types;

  if (!acpu_worker_proc_has_task (self, name))
    return FALSE;

  types = self->task_types != NULL ? g_hash_table_lookup (self->task_types, name) : NULL;
  *args_type = types != NULL && types[0][0] != '\0' ? types[0] : NULL;
  *result_type = types != NULL && types[1][0] != '\0' ? types[1] : NULL;
  return TRUE;
}

/* Any thread, once ready (as has_task()): a new table of every task it
 * registered: name → GStrv { args type, result type }, "" for any. */
GHashTable *
acpu_worker_proc_dup_task_table (ACpuWorkerProc *self)
{
  GHashTable *table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) g_strfreev);
  GHashTableIter iter;
  gpointer name;

  if (self->task_names == NULL)
    return table;

  g_hash_table_iter_init (&iter, self->task_names);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    {
      char **types = self->task_types != NULL ? g_hash_table_lookup (self->task_types, name) : NULL;
      const char *none[] = { "", "", NULL };

      g_hash_table_insert (table, g_strdup (name),
                           g_strdupv (types != NULL ? types : (char **) none));
    }
  return table;
}

/* Any thread (argv never changes): what a message calls the worker: the
 * script for an interpreter (`python3 -u script.py` → `script.py`, `gjs -m
 * worker.js` → `worker.js`, `python3 -m pkg.mod` → `pkg.mod`), otherwise
 * the program; for the pool's own program (`/proc/self/exe`), the file it
 * runs. Valid UTF-8; computed once, kept. */
const char *
acpu_worker_proc_get_program (ACpuWorkerProc *self)
{
  g_autofree char *exe = NULL;
  g_autofree char *base = NULL;
  const char *found = NULL;
  char *program;

  program = g_atomic_pointer_get (&self->program);
  if (program != NULL)
    return program;

  if (g_strcmp0 (self->argv[0], "/proc/self/exe") == 0)
    exe = g_file_read_link ("/proc/self/exe", NULL);
  base = g_path_get_basename (exe != NULL ? exe : self->argv[0]);

  if (g_str_has_prefix (base, "python") || g_str_has_prefix (base, "gjs") ||
      g_str_has_prefix (base, "node") || g_str_has_prefix (base, "perl") ||
      g_str_has_prefix (base, "ruby") || g_str_has_prefix (base, "lua"))
    {
      for (guint i = 1; self->argv[i] != NULL && found == NULL; i++)
        {
          const char *arg = self->argv[i];

          if ((strcmp (arg, "-m") == 0 || strcmp (arg, "--module") == 0) &&
              self->argv[i + 1] != NULL && !g_str_has_prefix (base, "gjs"))
            found = self->argv[i + 1];
          else if (strcmp (arg, "-c") == 0 || strcmp (arg, "-e") == 0 ||
                   strcmp (arg, "--command") == 0)
            break;
          else if (arg[0] != '-')
            found = arg;
        }
    }

  if (found == NULL)
    found = exe != NULL ? exe : self->argv[0];
  program = acpu_worker_proc_escape (found, strlen (found));
  if (!g_atomic_pointer_compare_and_exchange (&self->program, NULL, program))
    {
      g_free (program);
      program = g_atomic_pointer_get (&self->program);
    }
  return program;
}

/* Ending ------------------------------------------------------------------- */

/* [io]: keeps the first reason given for its end: the one exited() will tell. */
static void
acpu_worker_proc_set_reason (ACpuWorkerProc *self,
                             const GError   *reason)
{
  if (self->reason == NULL && reason != NULL)
    self->reason = g_error_copy (reason);
}

/* [io]: signals the worker and its process group (whatever its tasks started).
 * Only while the process has not been reaped: afterwards its pid may be
 * another process's (acpu_worker_proc_kill_leftovers() is for then). */
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

/* [io]: right after GSubprocess has reaped the worker, whatever the reason it
 * ended (a clean exit, a crash, our SIGKILL): SIGKILLs what is left of its
 * process group, the processes its tasks started and left behind. The group
 * id cannot be given to a new process while one of these lives; when none
 * is left, this finds nobody (ESRCH). A process that left the group
 * (setsid(), setpgid()) is out of reach. */
static void
acpu_worker_proc_kill_leftovers (ACpuWorkerProc *self)
{
  if (self->pid > 0)
    kill (-self->pid, SIGKILL);
}

/* [io]: how it ended, from its wait status: "was killed by signal 9 (SIGKILL, Killed)". */
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
  g_autofree char *text = acpu_worker_proc_escape (self->stderr_tail->str, self->stderr_tail->len);
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

/* [io]: both halves are done: say so, once. The message is built from escaped
 * worker output only (valid UTF-8). */
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
                             "worker process %d (%s) %s%s%s", (int) self->pid, self->display_name,
                             status, limit ? limit : "", tail);
      else
        {
          /* What the launcher's own words leave unsaid (bwrap without namespaces). */
          g_autofree char *why = self->launcher != NULL
            ? acpu_launcher_explain_failure (self->launcher, self->stderr_tail->str) : NULL;

          error = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_START,
                               "worker process %d (%s) %s before the handshake%s%s%s",
                               (int) self->pid, self->display_name, status, limit ? limit : "",
                               why ? why : "", tail);
        }
    }

  acpu_worker_proc_clear_stderr (self);
  self->callbacks.exited (self, error, self->user_data);
}

/* [io]: the channel is finished and the process has not exited in time: kill it. */
static gboolean
acpu_worker_proc_exit_timeout_cb (gpointer user_data)
{
  ACpuWorkerProc *self = user_data;

  g_clear_pointer (&self->timer, g_source_unref);
  acpu_worker_proc_signal_group (self, SIGKILL);
  return G_SOURCE_REMOVE;
}

/* [io]: no more reading or writing; takes out_lock. */
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

/* [io]: ends the worker now; @reason (nullable) is what the pool will be told.
 * Takes out_lock. */
void
acpu_worker_proc_kill (ACpuWorkerProc *self,
                       const GError   *reason)
{
  int stop = self->launcher != NULL ? acpu_launcher_get_stop_signal (self->launcher) : SIGKILL;

  acpu_worker_proc_set_reason (self, reason);
  /* A launcher that must pass the end on (srun ends its job step on
   * SIGTERM, and leaves it running on SIGKILL) is asked first; the exit
   * timer SIGKILLs what is left. */
  if (stop != SIGKILL && self->pid > 0 && !self->process_done)
    kill (self->pid, stop);
  else
    acpu_worker_proc_signal_group (self, SIGKILL);
  acpu_worker_proc_finish_channel (self);
}

/* [io]: ends the worker for @what it did (a sentence of ours, UTF-8), telling the
 * pool @code. */
static void
acpu_worker_proc_fail (ACpuWorkerProc *self,
                       ACpuError       code,
                       const char     *what)
{
  g_autoptr(GError) error = NULL;

  error = g_error_new (ACPU_ERROR, code, "worker process %d (%s) was killed: %s",
                       (int) self->pid, self->display_name, what);
  acpu_worker_proc_kill (self, error);
}

/* [io]: closes the channel after what is queued has gone: the worker sees the end
 * of its input and exits. Takes out_lock. */
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

/* [io]: in in_lock (as every message). The hello's names come validated by the
 * wire reader: non-empty, bounded, UTF-8 (GVariant's normal form). */
static void
acpu_worker_proc_handle_hello (ACpuWorkerProc  *self,
                               ACpuWireMessage *msg)
{
  if (self->ready || self->awaiting_types)
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

  self->out.can_pass_fds = (msg->flags & ACPU_WIRE_HELLO_CAN_RECEIVE_FDS) != 0 &&
                          (self->launcher == NULL || acpu_launcher_get_pass_fds (self->launcher));
  self->task_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; msg->names[i] != NULL; i++)
    g_hash_table_add (self->task_names, g_strdup (msg->names[i]));

  /* Its task types come next: it is ready once they have. */
  if (msg->flags & ACPU_WIRE_HELLO_TYPES)
    {
      self->awaiting_types = TRUE;
      return;
    }

  self->ready = TRUE;
  acpu_worker_proc_clear_timer (self);
  self->callbacks.ready (self, self->user_data);
}

/* [io]: in in_lock. The TYPES frame a hello announced: the names and type
 * strings come validated by the wire reader; a name it did not register in
 * the hello breaks the protocol. */
static void
acpu_worker_proc_handle_types (ACpuWorkerProc  *self,
                               ACpuWireMessage *msg)
{
  GVariantIter iter;
  const char *name, *args_type, *result_type;

  if (!self->awaiting_types)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL,
                             "it sent task types not right after a hello that announced them");
      return;
    }

  self->awaiting_types = FALSE;
  self->task_types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) g_strfreev);
  g_variant_iter_init (&iter, msg->types);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &name, &args_type, &result_type))
    {
      char *types[] = { g_strdup (args_type), g_strdup (result_type), NULL };

      if (!g_hash_table_contains (self->task_names, name))
        {
          g_free (types[0]);
          g_free (types[1]);
          acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL,
                                 "it sent the types of a task it did not register");
          return;
        }
      g_hash_table_replace (self->task_types, g_strdup (name), g_strdupv (types));
      g_free (types[0]);
      g_free (types[1]);
    }

  self->ready = TRUE;
  acpu_worker_proc_clear_timer (self);
  self->callbacks.ready (self, self->user_data);
}

/* [io], in in_lock; takes out_lock. A partial value counts against the
 * window of its request (the worker starts a new window with each request):
 * a worker that sends past it, not waiting for our acks, breaks the
 * protocol and could grow our memory without bound. */
static void
acpu_worker_proc_handle_partial (ACpuWorkerProc  *self,
                                 ACpuWireMessage *msg)
{
  gsize size = g_variant_get_size (msg->value);
  gboolean over;

  g_mutex_lock (&self->out_lock);
  if (self->partial_id != msg->id)
    {
      self->partial_id = msg->id;
      self->partial_unacked = 0;
      self->partial_unacked_bytes = 0;
    }
  over = self->partial_unacked >= ACPU_WIRE_PARTIAL_WINDOW ||
         (self->partial_unacked > 0 &&
          self->partial_unacked_bytes + size > ACPU_WIRE_PARTIAL_WINDOW_BYTES);
  if (!over)
    {
      self->partial_unacked++;
      self->partial_unacked_bytes += size;
    }
  g_mutex_unlock (&self->out_lock);

  if (over)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL,
                             "it sent partial values past the window the pool acknowledged");
      return;
    }

  if (self->callbacks.partial != NULL)
    self->callbacks.partial (self, msg->id, msg->value, self->user_data);
  else
    acpu_worker_proc_ack (self, msg->id, 1, size);
}

/* [io]: delivers one message, in in_lock. Strings in it are UTF-8: the wire
 * reader loads bodies as untrusted GVariants in normal form. */
static void
acpu_worker_proc_handle (ACpuWorkerProc  *self,
                         ACpuWireMessage *msg)
{
  if (msg->type == ACPU_WIRE_HELLO)
    {
      acpu_worker_proc_handle_hello (self, msg);
      return;
    }
  if (msg->type == ACPU_WIRE_TYPES)
    {
      acpu_worker_proc_handle_types (self, msg);
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

        /* A worker that floods the log costs us little: count and drop.
         * Counting records alone is not enough where relaying one is slow
         * (a busy machine, a sanitizer, a slow log writer): then the
         * records come in slower than the limit while the I/O thread does
         * nothing else, so its time is counted too. */
        if (now - self->log_window_start >= G_USEC_PER_SEC)
          {
            if (self->log_dropped > 0)
              g_warning ("Dropped %u log records from worker process %d (%s): more than %d a "
                         "second, or more of this process's time than it may take",
                         self->log_dropped, (int) self->pid, self->display_name,
                         MAX_LOGS_PER_SECOND);
            self->log_window_start = now;
            self->log_count = 0;
            self->log_dropped = 0;
            self->log_time_us = 0;
          }
        if (self->log_count++ < MAX_LOGS_PER_SECOND && self->log_time_us < MAX_LOG_US_PER_SECOND)
          {
            self->callbacks.log (self, msg->id, msg->log_level, msg->fields, self->user_data);
            self->log_time_us += g_get_monotonic_time () - now;
          }
        else
          self->log_dropped++;
      }
      break;

    case ACPU_WIRE_PROGRESS:
      if (self->callbacks.progress != NULL)
        self->callbacks.progress (self, msg->id, msg->fraction, msg->text, self->user_data);
      break;

    case ACPU_WIRE_PARTIAL:
      acpu_worker_proc_handle_partial (self, msg);
      break;

    case ACPU_WIRE_HELLO:
    case ACPU_WIRE_TYPES:
    case ACPU_WIRE_REQUEST:
    case ACPU_WIRE_CANCEL:
    case ACPU_WIRE_ACK:
    default:
      g_assert_not_reached ();
    }
}

/* A frame has been open for the whole limit since its first byte. Takes
 * in_lock, if it can: a caller holding it (acpu_worker_proc_take_reply())
 * may just have taken the frame whole; then the I/O thread looks again
 * when it reads next. */
static gboolean
acpu_worker_proc_stall_cb (gpointer user_data)
{
  ACpuWorkerProc *self = user_data;
  g_autofree char *what = NULL;
  gboolean stalled;

  g_clear_pointer (&self->stall_timer, g_source_unref);
  if (!g_mutex_trylock (&self->in_lock))
    return G_SOURCE_REMOVE;
  stalled = self->in.buf->len != self->in.head;
  g_mutex_unlock (&self->in_lock);
  if (!stalled)
    return G_SOURCE_REMOVE;

  what = g_strdup_printf ("it stayed in the middle of a frame for %u ms, sending less than %u bytes",
                          self->handshake_timeout_ms, (guint) STALL_PROGRESS_BYTES);
  acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, what);
  return G_SOURCE_REMOVE;
}

/* [io]: in in_lock, after a read that found nothing more for now. A frame begun
 * and not finished may only wait so long for the rest (a worker writes a
 * frame in one go): the timer starts when a frame begins (@new_frame: the
 * buffer was empty, or a frame was completed, since the last look) and more
 * bytes of the same frame restart it only once they add up to
 * STALL_PROGRESS_BYTES. So a worker sending a byte at a time, each within
 * the limit, does not keep a frame open for ever, and a large frame on a
 * slow link (64 KiB per period: 2 KiB/s at the default 30 s) still comes
 * through. Before the magic the handshake timer is the bound. */
static void
acpu_worker_proc_watch_stall (ACpuWorkerProc *self,
                              gboolean        new_frame)
{
  if (self->channel_done || self->handshake_timeout_ms == 0 || !self->magic ||
      self->in.buf->len == self->in.head)
    {
      acpu_worker_proc_clear_source (&self->stall_timer);
      return;
    }
  if (self->stall_timer != NULL && !new_frame && self->stall_progress < STALL_PROGRESS_BYTES)
    return;

  self->stall_progress = 0;
  acpu_worker_proc_clear_source (&self->stall_timer);
  self->stall_timer = g_timeout_source_new (self->handshake_timeout_ms);
  g_source_set_callback (self->stall_timer, acpu_worker_proc_stall_cb, self, NULL);
  g_source_attach (self->stall_timer, self->context);
}

/* A large value on its way: mapped and checked on a thread of its own. */
typedef struct
{
  ACpuWorkerProc  *proc;      /* a reference, given up on the I/O thread */
  GMainContext    *context;   /* proc's (the I/O thread's), for the way back */
  ACpuWireMessage  msg;       /* the loading thread's, then the I/O thread's */
  guint64          max_size;
  GError          *error;     /* why the value is refused */
} ACpuWorkerProcLoad;

/* [io], in in_lock, as a message is: the value of @load is loaded and
 * checked. Delivers it, or ends the worker for it as acpu_worker_proc_parse()
 * would have, unless the channel ended meanwhile (a kill: a time limit, a
 * cancel, a shutdown), and then the value is dropped; either way reading
 * goes on where it stopped. Gives up the load's reference last, here on the
 * I/O thread, so the handle is never freed elsewhere. */
static gboolean
acpu_worker_proc_load_done_cb (gpointer user_data)
{
  ACpuWorkerProcLoad *load = user_data;
  g_autoptr(ACpuWorkerProc) self = load->proc;
  gboolean end;

  g_mutex_lock (&self->in_lock);
  self->loading = FALSE;
  if (!self->channel_done)
    {
      if (load->error != NULL)
        acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, load->error->message);
      else
        acpu_worker_proc_handle (self, &load->msg);
    }
  acpu_wire_message_clear (&load->msg);
  g_clear_error (&load->error);
  g_free (load);

  /* What came after it: the read source parses it, then reads on. */
  if (!self->channel_done)
    {
      acpu_worker_proc_poll_channel (self, TRUE);
      g_atomic_int_set (&self->parse_pending, 1);
    }
  /* The process exited meanwhile: its end waited for this. */
  end = self->process_done && !self->channel_done;
  g_mutex_unlock (&self->in_lock);

  if (end)
    acpu_worker_proc_end (self);
  return G_SOURCE_REMOVE;
}

/* The loading thread (or the I/O thread, when no thread could be made):
 * maps and checks the value, touching nothing but @load, then hands it back
 * to the I/O thread. */
static gpointer
acpu_worker_proc_load_thread (gpointer data)
{
  ACpuWorkerProcLoad *load = data;
  GSource *source;

  acpu_wire_message_load (&load->msg, load->max_size, &load->error);

  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, acpu_worker_proc_load_done_cb, load, NULL);
  g_source_set_static_name (source, "[asynccpu-glib] worker value checked");
  g_source_attach (source, load->context);
  g_source_unref (source);
  return NULL;
}

/* [io], in in_lock: @msg's value is in a memfd too large to map and check
 * here, on the thread all pools share: a thread of its own does it (a new
 * one each time: a GThreadPool's threads do not survive a fork(), and a
 * value this large makes a thread's start cheap) and
 * acpu_worker_proc_load_done_cb() delivers it. Meanwhile nothing after it
 * is parsed and the channel is not polled (a hang-up included: its end
 * waits for the value, acpu_worker_proc_end()), nor read by a caller
 * (acpu_worker_proc_claim_reply()): the worker's messages keep their order.
 * Takes @msg's contents. */
static void
acpu_worker_proc_load_start (ACpuWorkerProc  *self,
                             ACpuWireMessage *msg)
{
  ACpuWorkerProcLoad *load = g_new0 (ACpuWorkerProcLoad, 1);
  g_autoptr(GError) error = NULL;
  GThread *thread;

  load->proc = acpu_worker_proc_ref (self);
  load->context = self->context;
  load->msg = *msg;
  load->max_size = self->max_size;
  memset (msg, 0, sizeof *msg);
  msg->fd = -1;

  self->loading = TRUE;
  /* Not a stalled frame: we stopped reading. */
  acpu_worker_proc_clear_source (&self->stall_timer);
  acpu_worker_proc_poll_channel (self, FALSE);

  thread = g_thread_try_new ("acpu-check", acpu_worker_proc_load_thread, load, &error);
  if (thread != NULL)
    g_thread_unref (thread);
  else
    acpu_worker_proc_load_thread (load);
}

/* [io]: in in_lock: delivers the messages `in` holds, up to one that must
 * be loaded first (acpu_worker_proc_load_start()). Returns FALSE when the
 * channel failed. */
static gboolean
acpu_worker_proc_parse (ACpuWorkerProc *self)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage msg;

  while (!self->channel_done && !self->loading && acpu_wire_in_next (&self->in, &msg, &error))
    {
      self->n_frames++;
      /* (Before the handshake handle() refuses it without looking.) */
      if (msg.deferred && self->ready)
        acpu_worker_proc_load_start (self, &msg);
      else
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

/* [io]: in in_lock, before the magic: @skipped is what the worker wrote on its
 * channel before it, which a worker's runtime may do (start-up messages on
 * stdout): text, passed on as output. Bytes that are not text (not UTF-8, or
 * control characters but tab, newline and carriage return) mean the program
 * is not a worker at all: the start fails now, naming the program, with an
 * escaped excerpt — not at the handshake timeout, and the bytes never reach
 * our stderr. A UTF-8 sequence cut by the end of the read waits for the
 * next read (preamble_carry). Returns FALSE when the start failed; else
 * @skipped holds the text to pass on. */
static gboolean
acpu_worker_proc_check_preamble (ACpuWorkerProc *self,
                                 GByteArray     *skipped)
{
  g_autoptr(GByteArray) text = g_byte_array_sized_new (self->preamble_carry_len + skipped->len);
  const char *start, *p, *end;

  g_byte_array_append (text, self->preamble_carry, self->preamble_carry_len);
  g_byte_array_append (text, skipped->data, skipped->len);
  self->preamble_carry_len = 0;
  start = p = (const char *) text->data;
  end = start + text->len;

  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);

      /* (-2 is also GLib's answer for a NUL: not a cut sequence.) */
      if (c == (gunichar) -2 && !self->magic && end - p < 4 && (guint8) *p >= 0xc2)
        {
          /* Cut in two (at most 3 bytes): the rest comes with the next read. */
          self->preamble_carry_len = end - p;
          memcpy (self->preamble_carry, p, end - p);
          end = p;
          break;
        }
      if (c == (gunichar) -1 || c == (gunichar) -2 || c == 0x7f ||
          (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *excerpt = NULL;
          const char *from = MAX (start, p - 8);

          excerpt = acpu_worker_proc_escape (from, MIN ((gsize) (end - from), EXCERPT_BYTES));
          error = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_START,
                               "worker process %d (%s) is not an asynccpu-glib worker: before the "
                               "handshake it wrote bytes that are not text to its standard output "
                               "(“%s”)", (int) self->pid, self->display_name, excerpt);
          acpu_worker_proc_kill (self, error);
          return FALSE;
        }
      p = g_utf8_next_char (p);
    }

  g_byte_array_set_size (skipped, 0);
  g_byte_array_append (skipped, (const guint8 *) start, end - start);
  return TRUE;
}

/* In in_lock, on the I/O thread: reads what is there, up to @max_reads
 * reads, and delivers it; ends the channel on its end, on a read error and
 * on anything malformed. */
static void
acpu_worker_proc_read_locked (ACpuWorkerProc *self,
                              guint           max_reads)
{
  gboolean new_frame = self->in.buf->len == self->in.head || !self->magic;
  guint64 n_frames = self->n_frames;

  /* A value is being checked: nothing more until it is delivered. */
  if (self->loading)
    return;

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
          acpu_worker_proc_watch_stall (self, new_frame || n_frames != self->n_frames);
          return;
        }
      if (n < 0 && error->domain == ACPU_ERROR)
        {
          acpu_worker_proc_fail (self, error->code, error->message);
          return;
        }
      if (n > 0)
        self->stall_progress += n;
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
          if (!acpu_worker_proc_check_preamble (self, skipped))
            return;
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

      /* The end of the stream, if this was it, is read again afterwards. */
      if (self->loading)
        return;

      if (n <= 0)
        {
          acpu_worker_proc_finish_channel (self);
          return;
        }
    }
}

/* [io]: takes in_lock: acpu_worker_proc_read_locked(). */
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

/* The I/O thread's context, no lock: read_paused and parse_pending are
 * flags a caller sets (a stale read costs one more iteration). */
static gboolean
acpu_worker_proc_read_prepare (GSource *source,
                               gint    *timeout)
{
  ACpuReadSource *self = (ACpuReadSource *) source;

  self->pfd.events = self->proc->read_paused ? 0 : G_IO_IN;
  *timeout = -1;
  return !self->proc->loading && g_atomic_int_get (&self->proc->parse_pending) != 0;
}

/* [io]: as prepare(). */
static gboolean
acpu_worker_proc_read_check (GSource *source)
{
  ACpuReadSource *self = (ACpuReadSource *) source;

  return self->pfd.revents != 0 ||
         (!self->proc->loading && g_atomic_int_get (&self->proc->parse_pending) != 0);
}

/* Reads at most 16 times, then lets the other sources of the shared I/O
 * thread run. */
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

/* [io]: whether the read source polls the channel at all (not even for a
 * hang-up: acpu_worker_proc_load_start()). */
static void
acpu_worker_proc_poll_channel (ACpuWorkerProc *self,
                               gboolean        poll)
{
  ACpuReadSource *source = (ACpuReadSource *) self->read_source;

  if (source == NULL || g_source_is_destroyed (self->read_source))
    return;
  if (poll)
    g_source_add_poll (self->read_source, &source->pfd);
  else
    g_source_remove_poll (self->read_source, &source->pfd);
}

/* [io]: the channel takes more: writes what waits (takes out_lock). */
static gboolean
acpu_worker_proc_write_cb (int          fd,
                           GIOCondition condition,
                           gpointer     user_data)
{
  ACpuWorkerProc *self = user_data;

  acpu_worker_proc_flush (self);
  return G_SOURCE_CONTINUE;
}

/* [io]: no hello within handshake_timeout_ms of the start. */
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

/* [io]: the process has exited and been reaped, whatever the reason. */
static void
acpu_worker_proc_wait_cb (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(ACpuWorkerProc) self = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (object), result, NULL);

  /* What a launcher killed may leave elsewhere (srun's job step). */
  if (self->launcher != NULL)
    acpu_launcher_reaped (self->launcher, self->pid, g_subprocess_get_status (G_SUBPROCESS (object)));

  /* Nothing it started outlives it, and its children may hold the channel
   * open: do not wait for them. */
  acpu_worker_proc_kill_leftovers (self);
  acpu_worker_proc_end (self);
}

/* [io]: the process has exited: reads what it wrote before, then ends the
 * channel and reports. A value being checked (self->loading) comes first:
 * then this waits for it, and acpu_worker_proc_load_done_cb() calls it
 * again. */
static void
acpu_worker_proc_end (ACpuWorkerProc *self)
{
  /* What it wrote before it died still counts. */
  if (!self->channel_done)
    acpu_worker_proc_read (self, 1024);

  self->process_done = TRUE;
  acpu_worker_proc_clear_timer (self);
  if (self->loading && !self->channel_done)
    return;
  acpu_worker_proc_finish_channel (self);
  acpu_worker_proc_maybe_report (self);
}

/* Writing ------------------------------------------------------------------ */

/* Any thread, out_lock held: writes what waits, as much as the channel
 * takes; watches for room for the rest; shuts the write side once all is
 * out when closing. A write error means the worker is going away. */
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

/* Any thread; takes out_lock. */
void
acpu_worker_proc_flush (ACpuWorkerProc *self)
{
  g_mutex_lock (&self->out_lock);
  acpu_worker_proc_flush_locked (self);
  g_mutex_unlock (&self->out_lock);
}

/* Any thread; takes out_lock. Queues a request; the pool flushes. */
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

/* Any thread; takes out_lock (so it may be called with in_lock or the
 * pool's core->lock held). Gives back the window of request @id: its
 * caller consumed @count more partial values of @bytes in all. An ack for
 * a request whose window is gone (a later request sends now) still goes:
 * the worker drops it. */
void
acpu_worker_proc_ack (ACpuWorkerProc *self,
                      guint64         id,
                      guint           count,
                      guint64         bytes)
{
  g_mutex_lock (&self->out_lock);
  if (self->partial_id == id)
    {
      self->partial_unacked -= MIN (count, self->partial_unacked);
      self->partial_unacked_bytes -= MIN (bytes, self->partial_unacked_bytes);
    }
  if (!self->channel_done && !self->closing)
    {
      acpu_wire_out_ack (&self->out, id, count, bytes);
      acpu_worker_proc_flush_locked (self);
    }
  g_mutex_unlock (&self->out_lock);
}

/* Any thread; takes out_lock. Asks the worker to cancel request @id. */
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
/* The I/O thread (the pool, when it offers the worker or takes it back). */
void
acpu_worker_proc_pause_reading (ACpuWorkerProc *self,
                                gboolean        paused)
{
  self->read_paused = paused;
}

/* Any thread: the channel, to poll (it stays open until the last unref). */
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
 * partial frame, a value in a memfd (mapping it may take milliseconds), a
 * value being checked before it (self->loading), the end of the stream, a
 * malformed reply, a lost claim — is OTHER and left to the I/O thread: what was read is marked for it to parse (parse_pending)
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

  /* A value before the reply is being checked: the I/O thread delivers both. */
  if (self->channel_done || self->pending_error != NULL || self->loading)
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

/* Passing a worker's output on to our stderr. All pools share one I/O
 * thread, so this never blocks: fd 2 may be a pipe nobody reads. What fd 2
 * does not take at once waits in fwd_buf (at most FORWARD_MAX_BYTES); past
 * that, output is dropped, counted, and a line says how much once fd 2
 * takes again. O_NONBLOCK cannot be set on fd 2 itself (the flag belongs to
 * the open file description, shared with the application and whoever else
 * holds it), so a pipe or terminal is opened anew through /proc/self/fd/2,
 * non-blocking, for us alone. */

/* No lock. Writes @len bytes to @fd without SIGPIPE: a reader gone is EPIPE
 * (the signal the write raises is taken back; it is sent to this thread). */
static gssize
acpu_worker_proc_write_no_sigpipe (int         fd,
                                   const void *data,
                                   gsize       len)
{
  sigset_t pipe_set, old_set;
  gssize n;
  int errsv;

  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
  n = write (fd, data, len);
  errsv = errno;
  if (n < 0 && errsv == EPIPE && !sigismember (&old_set, SIGPIPE))
    {
      struct timespec zero = { 0, 0 };

      sigtimedwait (&pipe_set, NULL, &zero);
    }
  pthread_sigmask (SIG_SETMASK, &old_set, NULL);
  errno = errsv;
  return n;
}

/* [io]: writes what it can of @data to fd 2 at once. Returns how much was taken,
 * or -1 when fd 2 takes nothing any more (closed, no reader). */
static gssize
acpu_worker_proc_write_stderr (ACpuWorkerProc *self,
                               const guint8   *data,
                               gsize           len)
{
  struct stat st;
  gssize n;

  if (fstat (2, &st) < 0)
    return -1;

  if (S_ISREG (st.st_mode) || S_ISBLK (st.st_mode))
    {
      /* A file does not block; the offset and O_APPEND stay the application's. */
      n = write (2, data, len);
    }
  else if (S_ISSOCK (st.st_mode))
    n = send (2, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  else
    {
      /* fd 2 may have been replaced since (dup2()). */
      if (self->fwd_fd >= 0 && (self->fwd_dev != st.st_dev || self->fwd_ino != st.st_ino))
        {
          acpu_worker_proc_clear_source (&self->fwd_source);
          close (self->fwd_fd);
          self->fwd_fd = -1;
        }
      if (self->fwd_fd < 0)
        {
          self->fwd_fd = open ("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
          self->fwd_dev = st.st_dev;
          self->fwd_ino = st.st_ino;
        }
      if (self->fwd_fd >= 0)
        n = acpu_worker_proc_write_no_sigpipe (self->fwd_fd, data, len);
      else
        {
          /* No /proc, or a pipe without a reader (ENXIO): a pipe with room
           * for one page takes PIPE_BUF bytes without blocking. */
          struct pollfd pfd = { 2, POLLOUT, 0 };

          if (poll (&pfd, 1, 0) != 1)
            return 0;
          if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
            return -1;
          n = acpu_worker_proc_write_no_sigpipe (2, data, MIN (len, PIPE_BUF));
        }
    }

  if (n < 0)
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  return n;
}

static gboolean acpu_worker_proc_forward_cb (int          fd,
                                             GIOCondition condition,
                                             gpointer     user_data);

/* [io]: writes what waits in fwd_buf, then the note of what was dropped, as far as
 * fd 2 takes them; watches fd 2 for room for the rest. */
static void
acpu_worker_proc_flush_forward (ACpuWorkerProc *self)
{
  int watch_fd;

  for (;;)
    {
      gssize n;

      if (self->fwd_buf->len == 0 && self->fwd_dropped > 0)
        {
          g_autofree char *note =
            g_strdup_printf ("asynccpu-glib: worker process %d (%s): %" G_GUINT64_FORMAT
                             " bytes of its output dropped: stderr did not take them\n",
                             (int) self->pid, self->display_name, self->fwd_dropped);

          g_byte_array_append (self->fwd_buf, (const guint8 *) note, strlen (note));
          self->fwd_dropped = 0;
        }
      if (self->fwd_buf->len == 0)
        break;

      n = acpu_worker_proc_write_stderr (self, self->fwd_buf->data, self->fwd_buf->len);
      if (n < 0)
        {
          /* Nowhere to pass it on; the tail is still kept. */
          g_byte_array_set_size (self->fwd_buf, 0);
          self->fwd_dropped = 0;
          break;
        }
      if (n == 0)
        break;
      g_byte_array_remove_range (self->fwd_buf, 0, n);
    }

  watch_fd = self->fwd_fd >= 0 ? self->fwd_fd : 2;
  if (self->fwd_buf->len == 0 || watch_fd != self->fwd_source_fd)
    acpu_worker_proc_clear_source (&self->fwd_source);
  if (self->fwd_buf->len > 0 && self->fwd_source == NULL)
    {
      self->fwd_source = g_unix_fd_source_new (watch_fd, G_IO_OUT);
      self->fwd_source_fd = watch_fd;
      g_source_set_callback (self->fwd_source, G_SOURCE_FUNC (acpu_worker_proc_forward_cb),
                             self, NULL);
      g_source_attach (self->fwd_source, self->context);
    }
}

/* [io]: fd 2 takes more (or has failed: the write says which). */
static gboolean
acpu_worker_proc_forward_cb (int          fd,
                             GIOCondition condition,
                             gpointer     user_data)
{
  acpu_worker_proc_flush_forward (user_data);
  return G_SOURCE_CONTINUE;
}

/* [io]: passes @len bytes of output on to our stderr without blocking: in order
 * behind what waits, dropped (and counted) past FORWARD_MAX_BYTES, and,
 * once dropping has begun, until the note has gone. */
static void
acpu_worker_proc_forward (ACpuWorkerProc *self,
                          const guint8   *data,
                          gsize           len)
{
  gsize room;

  if (self->fwd_buf->len == 0 && self->fwd_dropped == 0)
    {
      gssize n = acpu_worker_proc_write_stderr (self, data, len);

      if (n < 0 || (gsize) n == len)
        return;
      data += n;
      len -= n;
    }

  room = self->fwd_dropped > 0 ? 0 : FORWARD_MAX_BYTES - MIN (self->fwd_buf->len, FORWARD_MAX_BYTES);
  g_byte_array_append (self->fwd_buf, data, MIN (len, room));
  self->fwd_dropped += len - MIN (len, room);
  acpu_worker_proc_flush_forward (self);
}

/* [io]: with the last reference: what still waits is dropped. */
static void
acpu_worker_proc_clear_forward (ACpuWorkerProc *self)
{
  acpu_worker_proc_clear_source (&self->fwd_source);
  if (self->fwd_fd >= 0)
    {
      close (self->fwd_fd);
      self->fwd_fd = -1;
    }
}

/* [io]: passes output of the worker (its stderr, or text it wrote before the
 * magic) on to our stderr, keeping the tail for the message if it dies. */
static void
acpu_worker_proc_pass_output (ACpuWorkerProc *self,
                              const void     *buf,
                              gsize           len)
{
  if (len == 0)
    return;
  acpu_worker_proc_forward (self, buf, len);
  g_string_append_len (self->stderr_tail, buf, len);
  if (self->stderr_tail->len > STDERR_TAIL_BYTES)
    g_string_erase (self->stderr_tail, 0, self->stderr_tail->len - STDERR_TAIL_BYTES);
}

/* [io]: passes what the worker wrote to stderr on to ours, keeping the tail.
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

/* [io]: its stderr has something: a few reads, then the other sources' turn. */
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

/* [io]: before start(): RLIMIT_AS for the process, 0 for none. */
void
acpu_worker_proc_set_memory_limit (ACpuWorkerProc *self,
                                   guint64         bytes)
{
  self->memory_limit = bytes;
}

/* The I/O thread, before start(): the CPU priority the worker starts with,
 * an ACpuWorkerPriority (0 normal, 1 nice +10, 2 SCHED_BATCH and nice +10,
 * 3 SCHED_IDLE), set in its child setup. */
void
acpu_worker_proc_set_priority (ACpuWorkerProc *self,
                               int             priority)
{
  self->priority = priority;
}

/* The I/O thread, before start(): starts the worker through @launcher
 * (frozen), whose description goes into its name in messages. */
void
acpu_worker_proc_set_launcher (ACpuWorkerProc *self,
                               ACpuLauncher   *launcher)
{
  g_autofree char *what = NULL;
  char *name;

  g_return_if_fail (!self->started && self->launcher == NULL);

  self->launcher = g_object_ref (launcher);
  what = acpu_launcher_describe (launcher);
  name = g_strdup_printf ("%s through %s", self->display_name, what);
  g_free (self->display_name);
  self->display_name = name;
}

typedef struct
{
  pid_t   parent;
  guint64 memory_limit;
  int     priority;
  int     death_signal;
} ACpuChildSetup;

/* In the child, between fork and exec, on the spawning thread's behalf:
 * async-signal-safe calls only. */
static void
acpu_worker_proc_child_setup (gpointer user_data)
{
  const ACpuChildSetup *setup = user_data;

  /* A session of its own: no controlling terminal (a task cannot open
   * /dev/tty nor push input into the user's terminal with TIOCSTI), and a
   * process group of its own whose id is its pid, for kill (-pid). */
  if (setsid () < 0)
    setpgid (0, 0);
  prctl (PR_SET_PDEATHSIG, setup->death_signal);
  if (getppid () != setup->parent)
    _exit (127);
  /* The pool's worker-priority (ACpuWorkerPriority): a GUI's own threads
   * win the CPU when the workers fill the cores. Best effort. */
  if (setup->priority == 1 || setup->priority == 2)
    setpriority (PRIO_PROCESS, 0, 10);
  if (setup->priority == 2 || setup->priority == 3)
    {
      struct sched_param param = { 0 };
      sched_setscheduler (0, setup->priority == 2 ? SCHED_BATCH : SCHED_IDLE, &param);
    }
  if (setup->memory_limit > 0)
    {
      struct rlimit limit = { setup->memory_limit, setup->memory_limit };
      setrlimit (RLIMIT_AS, &limit);
    }
}

/* [io]: from the main loop, as promised: the process could not be started. */
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
 * is reported through exited() from the main loop, like any other. The
 * I/O thread: the worker dies with the thread that spawned it
 * (PR_SET_PDEATHSIG). */
void
acpu_worker_proc_start (ACpuWorkerProc *self)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *max_size = NULL;
  ACpuChildSetup setup = { getpid (), self->memory_limit, self->priority, SIGKILL };
  g_auto(GStrv) launch_argv = NULL;
  int extra_fd = -1;
  int fds[2];

  g_return_if_fail (!self->started);
  self->started = TRUE;

  if (self->launcher != NULL)
    {
      g_autofree char *size = g_strdup_printf ("ACPU_MAX_MESSAGE_SIZE=%" G_GUINT64_FORMAT,
                                               self->max_size);
      const char * const env[] = { "ACPU_WORKER=1", size, NULL };

      launch_argv = acpu_launcher_build_argv (self->launcher, (const char * const *) self->argv,
                                              env, &extra_fd, &error);
      if (launch_argv == NULL)
        {
          g_prefix_error (&error, "Could not start worker “%s”: ", self->display_name);
          goto failed;
        }
      /* A remote worker's limits are not the local launcher's. */
      if (!acpu_launcher_limits_apply (self->launcher))
        setup.memory_limit = 0;
      setup.death_signal = acpu_launcher_get_stop_signal (self->launcher);
    }

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    {
      int errsv = errno;
      if (extra_fd >= 0)
        close (extra_fd);
      error = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_START,
                           "Could not start worker “%s”: socketpair: %s",
                           self->display_name, g_strerror (errsv));
      goto failed;
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  max_size = g_strdup_printf ("%" G_GUINT64_FORMAT, self->max_size);
  g_subprocess_launcher_setenv (launcher, "ACPU_WORKER", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "ACPU_MAX_MESSAGE_SIZE", max_size, TRUE);
  g_subprocess_launcher_take_stdin_fd (launcher, fds[1]);
  g_subprocess_launcher_take_stdout_fd (launcher, fcntl (fds[1], F_DUPFD_CLOEXEC, 3));
  if (extra_fd >= 0)
    g_subprocess_launcher_take_fd (launcher, extra_fd, 3);
  /* The launcher calls it synchronously, in the child, during spawnv(). */
  g_subprocess_launcher_set_child_setup (launcher, acpu_worker_proc_child_setup, &setup, NULL);

  self->subprocess = g_subprocess_launcher_spawnv (launcher,
                                                   (const char * const *) (launch_argv != NULL
                                                                             ? launch_argv
                                                                             : self->argv),
                                                   &error);
  /* Drops our copies of the child's end, so its death is an end of stream. */
  g_clear_object (&launcher);

  if (self->subprocess == NULL)
    {
      close (fds[0]);
      g_prefix_error (&error, "Could not start worker “%s”: ", self->display_name);
      error->domain = ACPU_ERROR;
      error->code = ACPU_ERROR_WORKER_START;
      goto failed;
    }

  /* NULL when the process has already exited and been reaped. */
  if (g_subprocess_get_identifier (self->subprocess) != NULL)
    self->pid = g_ascii_strtoll (g_subprocess_get_identifier (self->subprocess), NULL, 10);
  self->fd = fds[0];
  g_unix_set_fd_nonblocking (self->fd, TRUE, NULL);

  /* The pool speaks first: an empty ACK, which any worker ignores, tells a
   * worker whose input ends later that a pool was there (an input that ends
   * before any frame is a program run by hand, acpu-worker.c). */
  g_mutex_lock (&self->out_lock);
  acpu_wire_out_ack (&self->out, 0, 0, 0);
  acpu_worker_proc_flush_locked (self);
  g_mutex_unlock (&self->out_lock);

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
