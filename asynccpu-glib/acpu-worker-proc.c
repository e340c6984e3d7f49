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
 * Each worker leads a process group of its own, so that killing the group
 * kills whatever its tasks started too, and has no controlling terminal; it
 * stays in the pool's session, so that the kernel schedules it within the
 * application's group (acpu_worker_proc_child_setup()). The group is killed
 * whenever the worker ends, however it ends; and the worker is told
 * (PR_SET_PDEATHSIG) to die with the I/O thread, which lives as long as the
 * process (ACpuWorker then takes its group along, acpu-worker-control.c).
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
 *
 * The handle is three files, sharing the struct and what they call of each
 * other through acpu-worker-proc-private.h: this one (the handle's life:
 * making it, starting the process, its end and the report of it),
 * acpu-worker-proc-channel.c (reading, checking and delivering what the
 * worker sends; writing requests; a caller's claim on a reply) and
 * acpu-worker-proc-stderr.c (its stderr: the tail, forwarding to ours,
 * escaping what it wrote).
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
#include <sys/ioctl.h>
#include <sys/mman.h>
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
void
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
void
acpu_worker_proc_clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
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
void
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
void
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
void
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
  pid_t  *pid_cell;     /* shared with the parent (MAP_SHARED), or NULL */
} ACpuChildSetup;

/* In the child, between fork and exec, on the spawning thread's behalf:
 * async-signal-safe calls only. */
static void
acpu_worker_proc_child_setup (gpointer user_data)
{
  const ACpuChildSetup *setup = user_data;

  if (setup->pid_cell != NULL)
    *setup->pid_cell = getpid ();

  /* A process group of its own whose id is its pid, for kill (-pid), and no
   * controlling terminal: a task can neither open /dev/tty nor push input
   * into the user's terminal with TIOCSTI. Not a session of its own
   * (setsid ()): with the kernel's autogroups, each new session is a
   * scheduling group of its own, which weighs as much as the whole
   * application, so the workers' priority below would count only among
   * themselves, and a GUI's thread would wait for them. In the pool's
   * session they share its group, as its threads do. TIOCNOTTY from a
   * process that does not lead its session only lets go of the terminal. */
  setpgid (0, 0);
  {
    /* O_NONBLOCK: a serial line without carrier would block the open. */
    int tty = open ("/dev/tty", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (tty >= 0)
      {
        ioctl (tty, TIOCNOTTY);
        close (tty);
      }
  }
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
  ACpuChildSetup setup = { getpid (), self->memory_limit, self->priority, SIGKILL, NULL };
  pid_t child_pid = 0;
  void *pid_cell;
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
  /* The child says its pid in a page shared with us: a GSubprocess's
   * identifier is NULL once GLib has reaped the process, which may be
   * before spawnv() returns when a launcher exits at once, and the pid
   * names the worker in errors and its process group for kill (-pid). */
  pid_cell = mmap (NULL, sizeof (pid_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  setup.pid_cell = pid_cell != MAP_FAILED ? pid_cell : NULL;
  /* The launcher calls it synchronously, in the child, during spawnv(). */
  g_subprocess_launcher_set_child_setup (launcher, acpu_worker_proc_child_setup, &setup, NULL);

  self->subprocess = g_subprocess_launcher_spawnv (launcher,
                                                   (const char * const *) (launch_argv != NULL
                                                                             ? launch_argv
                                                                             : self->argv),
                                                   &error);
  /* Drops our copies of the child's end, so its death is an end of stream. */
  g_clear_object (&launcher);
  if (setup.pid_cell != NULL)
    {
      child_pid = *setup.pid_cell;
      munmap (pid_cell, sizeof (pid_t));
    }

  if (self->subprocess == NULL)
    {
      close (fds[0]);
      g_prefix_error (&error, "Could not start worker “%s”: ", self->display_name);
      error->domain = ACPU_ERROR;
      error->code = ACPU_ERROR_WORKER_START;
      goto failed;
    }

  self->pid = child_pid;
  if (g_subprocess_get_identifier (self->subprocess) != NULL)
    self->pid = g_ascii_strtoll (g_subprocess_get_identifier (self->subprocess), NULL, 10);
  self->fd = fds[0];
  g_unix_set_fd_nonblocking (self->fd, TRUE, NULL);

  /* The pool speaks first: an empty ACK, which any worker ignores, tells a
   * worker whose input ends later that a pool was there (an input that ends
   * before any frame is a program run by hand, acpu-worker-channel.c). */
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

  self->read_source = g_source_new (&acpu_worker_proc_read_source_funcs, sizeof (ACpuReadSource));
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
