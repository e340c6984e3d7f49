/* acpu-worker.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The worker side.
 *
 * Two threads. The main thread runs the tasks, one at a time in the order
 * they came, from a GSource on its main loop, so task code written in
 * JavaScript or Python runs where its interpreter wants it. While it has no
 * task to run, the same source also watches the channel, so a request wakes
 * the thread that runs it and nothing else.
 *
 * While a task runs, the control thread reads the channel instead: it queues
 * the requests that come in behind it, cancels the running task's
 * GCancellable or answers for a queued one when the pool cancels, and ends
 * the process when the pool hangs up (nobody is left to want the result, and
 * the task may be deep in a loop that never looks at its cancellable). It
 * takes over only once the tasks have been running for CONTROL_DELAY_US: a
 * timer the main thread arms when it starts a batch wakes it, so short tasks
 * never wake it at all, and a cancel or hang-up reaches a long task at most
 * that much later. The main thread kicks it back to sleep when the queue is
 * empty again. Reads are serialized by in_lock, so who reads a given byte
 * does not matter.
 *
 * Replies are batched, but never past the start of another task function:
 * the main thread writes what is pending before it runs one (and when its
 * queue is empty), so a task that crashes the worker takes only its own
 * reply with it. Answers that need no task function (an unknown task,
 * arguments of the wrong type, a cancel) wait for the next write.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "acpu-error.h"
#include "acpu-wire-private.h"
#include "acpu-worker.h"

/* How long tasks run before the control thread reads the channel for them. */
#define CONTROL_DELAY_US 1000
/* How often the control thread looks whether its parent is still the one
 * that started it (a launcher killed may leave the channel open). */
#define PARENT_POLL_MS 500
/* Progress goes out at most this often; the reports in between are
 * coalesced, the latest wins. */
#define PROGRESS_INTERVAL_US 5000

/**
 * ACpuWorker:
 *
 * The worker side of a [class@ACpu.ProcessTaskPool]: a program that registers
 * named task functions and then serves the pool that started it.
 *
 * ```c
 * static GVariant *
 * square (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
 * {
 *   gint64 x;
 *
 *   g_variant_get (args, "(x)", &x);
 *   return g_variant_new ("(x)", x * x);
 * }
 *
 * int
 * main (void)
 * {
 *   g_autoptr(ACpuWorker) worker = acpu_worker_new ();
 *
 *   acpu_worker_register (worker, "square", square, NULL, NULL);
 *   return acpu_worker_run (worker);
 * }
 * ```
 *
 * A worker talks to its pool over its standard input and output, which the
 * pool connects to a socket. [method@ACpu.Worker.run] moves the channel to
 * private descriptors first and then points standard output at standard error
 * and standard input at `/dev/null`, so `printf()` in a task cannot corrupt
 * the channel. Records the worker logs with `g_log()` and friends go to the
 * pool's process, where they are logged again with the worker's pid and the
 * task's name.
 *
 * A program can be its own worker: see
 * [func@ACpu.Worker.is_worker_process] and the `worker_argv` of
 * [ctor@ACpu.ProcessTaskPool.new].
 *
 * Since: 0.1
 */

typedef struct
{
  ACpuTaskFunc      func;
  ACpuAsyncTaskFunc async_func;
  gpointer          user_data;
  GDestroyNotify    user_data_free;
  GVariantType     *args_type;    /* declared, or NULL: any */
  GVariantType     *result_type;  /* declared, or NULL: any */
} ACpuWorkerTask;

typedef struct
{
  guint64       id;
  char         *name;
  GVariant     *args;
  int           args_fd;      /* the memfd args came in, or -1 */
  GCancellable *cancellable;
} ACpuWorkerJob;

struct _ACpuWorker
{
  GObject         parent_instance;

  GHashTable     *tasks;         /* name → ACpuWorkerTask */

  /* While running. */
  int             in_fd;
  int             out_fd;
  guint64         max_size;
  GMainContext   *context;
  GMainLoop      *loop;
  GSource        *jobs_source;
  GThread        *control;
  const char     *current_name;  /* main thread only */
  GError         *task_error;    /* main thread only: acpu_worker_set_task_error() */
  ACpuWorkerJob  *async_job;     /* main thread only: an asynchronous task not yet returned */
  gboolean        in_call;       /* main thread only: inside a task function */
  GPollFD         in_poll;       /* main thread only: in_fd in jobs_source */
  gboolean        dispatching;   /* main thread only: inside the jobs source */
  int             wake_fd;       /* eventfd: the control thread stops reading, or ends */
  int             timer_fd;      /* timerfd: the control thread starts reading */
  pid_t           parent;        /* getppid() at start-up */
  gint64          timer_armed;   /* main thread only: when timer_fd was last armed */
  /* The running task's progress, main thread only: when a PROGRESS last
   * went, and the latest report not sent yet (progress_pending). */
  gint64          progress_sent;
  gboolean        progress_pending;
  double          progress_fraction;
  char           *progress_text;

  GMutex          in_lock;       /* guards in and in_ended; taken before lock */
  ACpuWireIn      in;
  gboolean        in_ended;
  guint64         in_messages;   /* messages read so far */
  gboolean        started_by_env; /* ACPU_WORKER=1 was set: for the words on a bad channel */

  GMutex          lock;          /* guards what follows */
  GQueue          pending;       /* ACpuWorkerJob */
  ACpuWorkerJob  *current;
  gboolean        busy;          /* the main thread is running tasks: the control thread reads;
                                  * written by the main thread only, which may read it unlocked */
  gboolean        control_polling;
  gboolean        hung_up;
  int             status;
  /* The running task's partial values not yet acknowledged by the pool
   * (ACPU_WIRE_PARTIAL_WINDOW); partial_cond tells a task waiting for room. */
  guint           partial_unacked;
  guint64         partial_unacked_bytes;
  GCond           partial_cond;

  GRecMutex       out_lock;      /* guards out; taken after lock, never before */
  ACpuWireOut     out;
  gboolean        out_broken;
};

G_DEFINE_FINAL_TYPE (ACpuWorker, acpu_worker, G_TYPE_OBJECT)

typedef struct
{
  GSource     source;
  ACpuWorker *worker;
} ACpuWorkerSource;

/* The worker being run, for the log writer. */
static ACpuWorker *running_worker;

static void
acpu_worker_task_free (gpointer data)
{
  ACpuWorkerTask *task = data;

  if (task->user_data_free)
    task->user_data_free (task->user_data);
  g_clear_pointer (&task->args_type, g_variant_type_free);
  g_clear_pointer (&task->result_type, g_variant_type_free);
  g_free (task);
}

static void
acpu_worker_job_free (ACpuWorkerJob *job)
{
  g_free (job->name);
  g_clear_pointer (&job->args, g_variant_unref);
  if (job->args_fd >= 0)
    close (job->args_fd);
  g_clear_object (&job->cancellable);
  g_free (job);
}

static void
acpu_worker_finalize (GObject *object)
{
  ACpuWorker *self = (ACpuWorker *) object;

  g_clear_pointer (&self->tasks, g_hash_table_unref);
  g_clear_error (&self->task_error);
  g_queue_clear_full (&self->pending, (GDestroyNotify) acpu_worker_job_free);
  g_mutex_clear (&self->in_lock);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->partial_cond);
  g_rec_mutex_clear (&self->out_lock);
  g_free (self->progress_text);

  G_OBJECT_CLASS (acpu_worker_parent_class)->finalize (object);
}

static void
acpu_worker_class_init (ACpuWorkerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = acpu_worker_finalize;
}

static void
acpu_worker_init (ACpuWorker *self)
{
  self->tasks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, acpu_worker_task_free);
  self->in_fd = -1;
  self->out_fd = -1;
  self->wake_fd = -1;
  self->timer_fd = -1;
  self->max_size = ACPU_WIRE_DEFAULT_MAX_SIZE;
  g_mutex_init (&self->in_lock);
  g_mutex_init (&self->lock);
  g_cond_init (&self->partial_cond);
  g_rec_mutex_init (&self->out_lock);
  g_queue_init (&self->pending);
}

/**
 * acpu_worker_new:
 *
 * Creates a worker with no task registered.
 *
 * Returns: (transfer full): a new [class@ACpu.Worker]
 *
 * Since: 0.1
 */
ACpuWorker *
acpu_worker_new (void)
{
  return g_object_new (ACPU_TYPE_WORKER, NULL);
}

/* What the wire carries as a task name: non-empty UTF-8, not too long. */
static gboolean
acpu_worker_is_task_name (const char *name)
{
  return name != NULL && *name != '\0' && strlen (name) <= ACPU_WIRE_MAX_NAME_LEN &&
         g_utf8_validate (name, -1, NULL);
}

static void
acpu_worker_add_task (ACpuWorker        *worker,
                      const char        *name,
                      ACpuTaskFunc       func,
                      ACpuAsyncTaskFunc  async_func,
                      gpointer           user_data,
                      GDestroyNotify     user_data_free)
{
  ACpuWorkerTask *task = g_new0 (ACpuWorkerTask, 1);

  task->func = func;
  task->async_func = async_func;
  task->user_data = user_data;
  task->user_data_free = user_data_free;
  g_hash_table_replace (worker->tasks, g_strdup (name), task);
}

/**
 * acpu_worker_register:
 * @worker: a [class@ACpu.Worker]
 * @name: the task's name, as callers pass it to
 *   [method@ACpu.ProcessTaskPool.run_async]
 * @func: (scope notified) (closure user_data) (destroy user_data_free): the
 *   function that runs the task
 * @user_data: data for @func
 * @user_data_free: (nullable): frees @user_data when the worker is finalized
 *   or the name is registered again
 *
 * Registers @func under @name. Register every task before
 * [method@ACpu.Worker.run]; registering a name again replaces the function.
 *
 * Since: 0.1
 */
void
acpu_worker_register (ACpuWorker     *worker,
                      const char     *name,
                      ACpuTaskFunc    func,
                      gpointer        user_data,
                      GDestroyNotify  user_data_free)
{
  g_return_if_fail (ACPU_IS_WORKER (worker));
  g_return_if_fail (acpu_worker_is_task_name (name));
  g_return_if_fail (func != NULL);
  g_return_if_fail (worker->loop == NULL);

  acpu_worker_add_task (worker, name, func, NULL, user_data, user_data_free);
}

/**
 * acpu_worker_register_async:
 * @worker: a [class@ACpu.Worker]
 * @name: the task's name, as callers pass it to
 *   [method@ACpu.ProcessTaskPool.run_async]
 * @func: (scope notified) (closure user_data) (destroy user_data_free): the
 *   function that starts the task
 * @user_data: data for @func
 * @user_data_free: (nullable): frees @user_data when the worker is finalized
 *   or the name is registered again
 *
 * Registers an asynchronous task function under @name: @func starts the task
 * and returns, and the task ends when the worker's main thread calls
 * [method@ACpu.Worker.return_value] or [method@ACpu.Worker.return_error] —
 * from @func itself or later, from a callback of the main loop.
 *
 * The worker's main loop runs while the task waits, so the task can use
 * asynchronous APIs: GIO's `_async()` functions, or `await` in JavaScript
 * and Python. Tasks still run one at a time: the next one starts after this
 * one returns. Register every task before [method@ACpu.Worker.run].
 *
 * ```c
 * static void
 * later (ACpuWorker *worker, GVariant *args, GCancellable *cancellable, gpointer user_data)
 * {
 *   // … start something; its callback calls
 *   // acpu_worker_return_value (worker, g_variant_new ("(s)", "done"));
 * }
 * ```
 *
 * Since: 0.1
 */
void
acpu_worker_register_async (ACpuWorker        *worker,
                            const char        *name,
                            ACpuAsyncTaskFunc  func,
                            gpointer           user_data,
                            GDestroyNotify     user_data_free)
{
  g_return_if_fail (ACPU_IS_WORKER (worker));
  g_return_if_fail (acpu_worker_is_task_name (name));
  g_return_if_fail (func != NULL);
  g_return_if_fail (worker->loop == NULL);

  acpu_worker_add_task (worker, name, NULL, func, user_data, user_data_free);
}

/* Main thread, before run(): whether a task type string given to
 * acpu_worker_set_task_types() is acceptable: NULL, or a valid type string
 * that fits in a TYPES frame. */
static gboolean
acpu_worker_is_type_string (const char *type_string)
{
  return type_string == NULL ||
         (g_variant_type_string_is_valid (type_string) &&
          strlen (type_string) <= ACPU_WIRE_MAX_NAME_LEN);
}

/**
 * acpu_worker_set_task_types:
 * @worker: a [class@ACpu.Worker]
 * @name: the name of a task registered with [method@ACpu.Worker.register] or
 *   [method@ACpu.Worker.register_async]
 * @args_type: (nullable): the GVariant type string its arguments must have,
 *   such as `"(x)"`, or `NULL` for any
 * @result_type: (nullable): the GVariant type string its result must have,
 *   or `NULL` for any
 *
 * Declares the types of task @name's arguments and result.
 *
 * A request whose arguments are not of @args_type fails with
 * %ACPU_ERROR_INVALID_ARGUMENT before the task function runs, with a
 * message naming the task, the type it takes and the type it was given;
 * a result that is not of @result_type fails the task the same way, so the
 * function can rely on `g_variant_get (args, "(x)", …)`. Indefinite types
 * work as in g_variant_is_of_type(): `"(s*)"` takes any pair whose first
 * member is a string.
 *
 * The pool learns the types from each worker's handshake:
 * [method@ACpu.ProcessTaskPool.get_task_types] tells them to callers. Call
 * this before [method@ACpu.Worker.run]; registering the name again forgets
 * the types.
 *
 * ```c
 * acpu_worker_register (worker, "square", square, NULL, NULL);
 * acpu_worker_set_task_types (worker, "square", "(x)", "(x)");
 * ```
 *
 * Since: 0.1
 */
void
acpu_worker_set_task_types (ACpuWorker *worker,
                            const char *name,
                            const char *args_type,
                            const char *result_type)
{
  ACpuWorkerTask *task;

  g_return_if_fail (ACPU_IS_WORKER (worker));
  g_return_if_fail (name != NULL);
  g_return_if_fail (acpu_worker_is_type_string (args_type));
  g_return_if_fail (acpu_worker_is_type_string (result_type));
  g_return_if_fail (worker->loop == NULL);

  task = g_hash_table_lookup (worker->tasks, name);
  g_return_if_fail (task != NULL);

  g_clear_pointer (&task->args_type, g_variant_type_free);
  g_clear_pointer (&task->result_type, g_variant_type_free);
  if (args_type != NULL)
    task->args_type = g_variant_type_new (args_type);
  if (result_type != NULL)
    task->result_type = g_variant_type_new (result_type);
}

/* Main thread, before the hello: the declared types as a TYPES body,
 * a(sss) (floating), or NULL when no task declares any. */
static GVariant *
acpu_worker_dup_types (ACpuWorker *self)
{
  GVariantBuilder builder;
  GHashTableIter iter;
  gpointer name, value;
  gboolean any = FALSE;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sss)"));
  g_hash_table_iter_init (&iter, self->tasks);
  while (g_hash_table_iter_next (&iter, &name, &value))
    {
      ACpuWorkerTask *task = value;
      g_autofree char *args_type = NULL;
      g_autofree char *result_type = NULL;

      if (task->args_type == NULL && task->result_type == NULL)
        continue;
      if (task->args_type != NULL)
        args_type = g_variant_type_dup_string (task->args_type);
      if (task->result_type != NULL)
        result_type = g_variant_type_dup_string (task->result_type);
      g_variant_builder_add (&builder, "(sss)", name, args_type ? args_type : "",
                             result_type ? result_type : "");
      any = TRUE;
    }

  if (!any)
    {
      g_variant_builder_clear (&builder);
      return NULL;
    }
  return g_variant_builder_end (&builder);
}

/**
 * acpu_worker_is_worker_process:
 *
 * Tells whether this process was started by a [class@ACpu.ProcessTaskPool]
 * as a worker.
 *
 * This is how one program can be both the client and its own worker: when
 * the pool's `worker_argv` is `NULL` it starts the current program again
 * with the same arguments, and in that copy this function returns %TRUE. Call
 * it at the top of `main()`, after registering the tasks:
 *
 * ```c
 * if (acpu_worker_is_worker_process ())
 *   return acpu_worker_run (worker);
 * ```
 *
 * Returns: %TRUE in a worker process started by a pool
 *
 * Since: 0.1
 */
gboolean
acpu_worker_is_worker_process (void)
{
  return g_getenv ("ACPU_WORKER") != NULL;
}

/**
 * acpu_worker_get_current_task:
 * @worker: a [class@ACpu.Worker]
 *
 * Gets the name of the task running now, from the worker's main thread.
 *
 * Returns: (nullable): the name of the running task, or `NULL` between tasks
 *
 * Since: 0.1
 */
const char *
acpu_worker_get_current_task (ACpuWorker *worker)
{
  g_return_val_if_fail (ACPU_IS_WORKER (worker), NULL);

  return worker->current_name;
}

/**
 * acpu_worker_set_task_error:
 * @worker: a [class@ACpu.Worker]
 * @domain: the error domain's name, as `g_quark_to_string()` gives it
 * @code: the error code
 * @message: the error message
 *
 * Fails the task running now with this error, whatever the task function
 * returns. It is for language bindings whose callbacks cannot set a
 * `GError`: the Python and JavaScript overrides catch an exception in a task
 * function and call this. C task functions set their `error` argument
 * instead. Call it from the worker's main thread, while a task runs.
 *
 * Since: 0.1
 */
void
acpu_worker_set_task_error (ACpuWorker *worker,
                            const char *domain,
                            int         code,
                            const char *message)
{
  g_return_if_fail (ACPU_IS_WORKER (worker));
  g_return_if_fail (domain != NULL);
  g_return_if_fail (message != NULL);
  g_return_if_fail (worker->current_name != NULL);

  g_clear_error (&worker->task_error);
  worker->task_error = acpu_wire_error_new (domain, code, message);
}

static void acpu_worker_flush_locked (ACpuWorker *self);

/**
 * acpu_worker_get_running:
 *
 * Gets the worker that serves a pool in this process: the one inside
 * [method@ACpu.Worker.run]. A task function, which is given no worker,
 * reports its progress and sends partial values through it:
 *
 * ```c
 * acpu_worker_report_progress (acpu_worker_get_running (), (double) i / n, NULL);
 * ```
 *
 * Returns: (transfer none) (nullable): the running worker, or `NULL`
 *   outside [method@ACpu.Worker.run]
 *
 * Since: 0.1
 */
ACpuWorker *
acpu_worker_get_running (void)
{
  return running_worker;
}

/* Any thread: the monotonic clock at its coarse resolution (a tick, 1 to
 * 4 ms), in µs: a quarter of the cost of g_get_monotonic_time(), paid on
 * every progress report, and fine enough for PROGRESS_INTERVAL_US. */
static gint64
acpu_worker_coarse_time (void)
{
  struct timespec ts;

  if (clock_gettime (CLOCK_MONOTONIC_COARSE, &ts) != 0)
    return g_get_monotonic_time ();
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Main thread, takes out_lock: sends the running task's progress now. */
static void
acpu_worker_send_progress (ACpuWorker *self,
                           gint64      now)
{
  g_rec_mutex_lock (&self->out_lock);
  acpu_wire_out_progress (&self->out, self->current->id, self->progress_fraction,
                          self->progress_text);
  acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);
  self->progress_sent = now;
  self->progress_pending = FALSE;
}

/**
 * acpu_worker_report_progress:
 * @worker: a [class@ACpu.Worker]
 * @fraction: how much of the task is done, from 0 to 1 (clamped)
 * @text: (nullable): a short status text (UTF-8, at most 1024 bytes are
 *   sent), or `NULL` for none
 *
 * Reports the progress of the task running now, which the caller sees as
 * [property@ACpu.Task:progress] and [property@ACpu.Task:status-text].
 *
 * It is cheap enough to call in a tight loop: reports are coalesced in the
 * worker, and at most one goes to the pool every 5 ms, the latest winning;
 * a report held back goes with the next one sent, or before the task's next
 * partial value or its result. Call it from the worker's main thread while a
 * task runs (an asynchronous one too); tasks run with
 * [method@ACpu.ProcessTaskPool.run_async] may report progress as well,
 * which their caller does not see.
 *
 * Since: 0.1
 */
void
acpu_worker_report_progress (ACpuWorker *worker,
                             double      fraction,
                             const char *text)
{
  gint64 now;

  g_return_if_fail (ACPU_IS_WORKER (worker));
  g_return_if_fail (worker->current_name != NULL);

  worker->progress_fraction = fraction;
  if (g_strcmp0 (text, worker->progress_text) != 0)
    {
      g_free (worker->progress_text);
      worker->progress_text = g_strdup (text);
    }
  worker->progress_pending = TRUE;

  now = acpu_worker_coarse_time ();
  if (now - worker->progress_sent >= PROGRESS_INTERVAL_US && !worker->out_broken)
    acpu_worker_send_progress (worker, now);
}

/**
 * acpu_worker_send_partial:
 * @worker: a [class@ACpu.Worker]
 * @value: a partial value of the task running now; if it is floating, it is
 *   consumed
 * @error: return location for a #GError
 *
 * Sends a partial value of the task running now to its caller, who gets the
 * values in order, every one of them, before the task's result: the
 * [signal@ACpu.Task::partial-value] signal of its [class@ACpu.Task].
 *
 * Partial values are never dropped or merged, so a producer faster than its
 * consumer waits here: at most 16 values, and at most 1 MiB of them, may be
 * sent and not yet consumed by the caller (a larger value goes alone). This
 * blocks the worker's main thread until the caller's main context has
 * handled enough of them. Call it from the worker's main thread while a task
 * runs (an asynchronous one too).
 *
 * Returns: %TRUE when the value was sent; %FALSE with @error set when the
 *   task was cancelled while it waited (%G_IO_ERROR_CANCELLED) or the value
 *   is larger than the pool's maximum message size
 *
 * Since: 0.1
 */
gboolean
acpu_worker_send_partial (ACpuWorker  *worker,
                          GVariant    *value,
                          GError     **error)
{
  ACpuWorker *self = worker;
  g_autoptr(GVariant) owned = NULL;
  ACpuWorkerJob *job;
  gboolean cancelled;
  gsize size;

  g_return_val_if_fail (ACPU_IS_WORKER (worker), FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (worker->current_name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  owned = g_variant_ref_sink (value);
  size = g_variant_get_size (owned);
  /* Written by this thread only: no lock to read it here. */
  job = self->current;

  if (self->progress_pending)
    acpu_worker_send_progress (self, acpu_worker_coarse_time ());

  /* Room in the window: the control thread reads the pool's acks (and
   * cancels) while a task runs, and wakes us. */
  g_mutex_lock (&self->lock);
  while (!(cancelled = g_cancellable_is_cancelled (job->cancellable)) &&
         (self->partial_unacked >= ACPU_WIRE_PARTIAL_WINDOW ||
          (self->partial_unacked > 0 &&
           self->partial_unacked_bytes + size > ACPU_WIRE_PARTIAL_WINDOW_BYTES)))
    g_cond_wait (&self->partial_cond, &self->lock);
  if (!cancelled)
    {
      self->partial_unacked++;
      self->partial_unacked_bytes += size;
    }
  g_mutex_unlock (&self->lock);

  if (cancelled)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
      return FALSE;
    }

  g_rec_mutex_lock (&self->out_lock);
  if (!acpu_wire_out_partial (&self->out, job->id, owned, self->max_size, error))
    {
      g_rec_mutex_unlock (&self->out_lock);
      g_mutex_lock (&self->lock);
      self->partial_unacked--;
      self->partial_unacked_bytes -= size;
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);

  return TRUE;
}

/* Writing ------------------------------------------------------------------ */

/* Called with out_lock held. On failure the pool is gone: stop writing. */
static void
acpu_worker_flush_locked (ACpuWorker *self)
{
  g_autoptr(GError) error = NULL;

  if (self->out_broken)
    return;

  if (!acpu_wire_out_flush (&self->out, self->out_fd, &error))
    {
      self->out_broken = TRUE;
      g_byte_array_set_size (self->out.buf, 0);
      self->out.head = 0;
    }
}

static void
acpu_worker_send_error (ACpuWorker   *self,
                        guint64       id,
                        const GError *error)
{
  g_rec_mutex_lock (&self->out_lock);
  acpu_wire_out_error (&self->out, id, error);
  acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);
}

static GLogWriterOutput
acpu_worker_log_writer (GLogLevelFlags   log_level,
                        const GLogField *fields,
                        gsize            n_fields,
                        gpointer         user_data)
{
  static GPrivate in_writer;
  ACpuWorker *self = running_worker;
  guint64 id = 0;

  if (self == NULL || self->out_broken || g_private_get (&in_writer) != NULL)
    return g_log_writer_default (log_level, fields, n_fields, user_data);

  if (g_log_writer_default_would_drop (log_level, NULL) &&
      !(log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)))
    {
      const char *domain = NULL;

      for (gsize i = 0; i < n_fields; i++)
        if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
          domain = fields[i].value;
      if (g_log_writer_default_would_drop (log_level, domain))
        return G_LOG_WRITER_HANDLED;
    }

  g_private_set (&in_writer, GINT_TO_POINTER (1));

  g_mutex_lock (&self->lock);
  if (self->current != NULL)
    id = self->current->id;
  g_mutex_unlock (&self->lock);

  g_rec_mutex_lock (&self->out_lock);
  acpu_wire_out_log (&self->out, id, log_level, fields, n_fields);
  /* Fatal records must be out before the process aborts. */
  if ((log_level & G_LOG_FLAG_FATAL) || acpu_wire_out_pending (&self->out) > 64 * 1024 ||
      !self->in_call)
    acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);

  g_private_set (&in_writer, NULL);

  return G_LOG_WRITER_HANDLED;
}

/* Reading the channel ------------------------------------------------------ */

/* Called with lock held. */
static void
acpu_worker_cancel_locked (ACpuWorker *self,
                           guint64     id)
{
  if (self->current != NULL && self->current->id == id)
    {
      g_cancellable_cancel (self->current->cancellable);
      return;
    }

  for (GList *l = self->pending.head; l != NULL; l = l->next)
    {
      ACpuWorkerJob *job = l->data;

      if (job->id == id)
        {
          g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                         "Operation was cancelled");
          g_queue_delete_link (&self->pending, l);
          acpu_worker_send_error (self, id, error);
          acpu_worker_job_free (job);
          return;
        }
    }
  /* Already answered: the reply is on its way, and it is the pool's to drop. */
}

/* Called with lock held. */
static void
acpu_worker_take_message_locked (ACpuWorker      *self,
                                 ACpuWireMessage *msg)
{
  if (msg->type == ACPU_WIRE_REQUEST)
    {
      ACpuWorkerJob *job = g_new0 (ACpuWorkerJob, 1);

      job->id = msg->id;
      job->name = g_strdup (msg->name);
      job->args = g_steal_pointer (&msg->value);
      job->args_fd = msg->fd;
      msg->fd = -1;
      job->cancellable = g_cancellable_new ();
      g_queue_push_tail (&self->pending, job);
      /* The main thread runs it when it is done with what it does now, or
       * it is idle and must be woken: this came in on the control thread
       * just as the main thread went back to watching the channel. */
      if (!self->busy && !g_main_context_is_owner (self->context))
        g_main_context_wakeup (self->context);
    }
  else if (msg->type == ACPU_WIRE_CANCEL)
    {
      acpu_worker_cancel_locked (self, msg->id);
      /* A task waiting for room for a partial value stops waiting. */
      g_cond_broadcast (&self->partial_cond);
    }
  else if (msg->type == ACPU_WIRE_ACK)
    {
      /* Acks of an earlier task's values are stale: each task starts with
       * the whole window. */
      if (self->current != NULL && self->current->id == msg->id)
        {
          self->partial_unacked -= MIN (msg->ack_count, self->partial_unacked);
          self->partial_unacked_bytes -= MIN (msg->ack_bytes, self->partial_unacked_bytes);
          g_cond_broadcast (&self->partial_cond);
        }
    }
}

static void
acpu_worker_signal_control (ACpuWorker *self)
{
  guint64 one = 1;

  if (write (self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
    g_warning ("acpu-worker: could not wake the control thread: %s", g_strerror (errno));
}

/* Tells a control thread reading the channel to stop. Called with lock held. */
static void
acpu_worker_kick_control_locked (ACpuWorker *self)
{
  if (self->control_polling)
    {
      self->control_polling = FALSE;
      acpu_worker_signal_control (self);
    }
}

/* Has the control thread take over reading if the tasks starting now run
 * for CONTROL_DELAY_US. A timer armed less than a quarter of that ago still
 * fires late enough, and costs no syscall. */
static void
acpu_worker_arm_control (ACpuWorker *self)
{
  struct itimerspec when = { .it_value.tv_nsec = CONTROL_DELAY_US * 1000 };
  gint64 now = g_get_monotonic_time ();

  if (now - self->timer_armed < CONTROL_DELAY_US / 4)
    return;
  self->timer_armed = now;
  if (timerfd_settime (self->timer_fd, 0, &when, NULL) < 0)
    g_warning ("acpu-worker: could not arm the control timer: %s", g_strerror (errno));
}

/* Either thread, no lock. When this worker leads its process group (the
 * pool gives it one), kills the rest of the group — what its tasks started —
 * but not itself, so that its own exit status still says how it ended. The
 * pool does the same once it has reaped the worker; this is for when nobody
 * will (the pool's process was SIGKILLed and the worker saw its channel end
 * before its parent-death signal came). */
static void
acpu_worker_kill_group_members (void)
{
  pid_t self_pid = getpid ();
  GDir *dir;
  const char *name;

  if (getpgrp () != self_pid || (dir = g_dir_open ("/proc", 0, NULL)) == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *stat = NULL;
      const char *p;
      pid_t pid = (pid_t) g_ascii_strtoll (name, NULL, 10);
      int pgrp;

      if (pid <= 0 || pid == self_pid)
        continue;
      path = g_strdup_printf ("/proc/%s/stat", name);
      /* The field after the command, which may hold anything but ends in ')'. */
      if (!g_file_get_contents (path, &stat, NULL, NULL) || (p = strrchr (stat, ')')) == NULL)
        continue;
      if (sscanf (p + 1, " %*c %*d %d", &pgrp) == 1 && pgrp == (int) self_pid)
        kill (pid, SIGKILL);
    }
  g_dir_close (dir);
}

/* Either thread, no lock. Writes @text to stderr once, neither waiting nor
 * dying of it, for a worker on its way out: the reader may be the pool that
 * just died (a write would raise SIGPIPE and end this process before it has
 * killed its group), or a full pipe nobody reads any more. A text that
 * stderr does not take at once is lost. */
static void
acpu_worker_say (const char *text)
{
  struct pollfd pfd = { .fd = 2, .events = POLLOUT };
  sigset_t pipe_set, old_set;

  if (poll (&pfd, 1, 0) != 1 || pfd.revents != POLLOUT)
    return;
  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
  if (write (2, text, strlen (text)) < 0 && errno == EPIPE &&
      !sigismember (&old_set, SIGPIPE))
    {
      struct timespec zero = { 0, 0 };

      /* The SIGPIPE the write raised, sent to this thread: taken back. */
      sigtimedwait (&pipe_set, NULL, &zero);
    }
  pthread_sigmask (SIG_SETMASK, &old_set, NULL);
}

/* Either thread, with in_lock held (it reads in_messages). Says on stderr
 * why the channel is of no use, in words for a person who ran a worker
 * program by hand or with an inherited ACPU_WORKER=1. */
static void
acpu_worker_channel_unusable (ACpuWorker *self,
                              const char *what)
{
  const char *prgname = g_get_prgname () ? g_get_prgname () : "acpu-worker";
  g_autofree char *text = NULL;

  if (self->in_messages > 0)
    text = g_strdup_printf ("%s: %s\n", prgname, what);
  else
    text = g_strdup_printf ("%s: %s, before a single message: standard input does not speak "
                            "the asynccpu-glib protocol%s\n", prgname, what,
                            self->started_by_env ? " (ACPU_WORKER=1 inherited by a program "
                                                   "that no pool started?)" : "");
  acpu_worker_say (text);
}

/* Either thread, with in_lock held; takes lock. The pool has hung up, or
 * the channel is of no use (@what says why, or is NULL). What the tasks
 * started goes first (acpu_worker_kill_group_members()), then the words: a
 * pool that died may have taken the reader of our stderr along. A task
 * still running has nobody to report to and may never look at its
 * cancellable: end the process now. */
static void
acpu_worker_hang_up (ACpuWorker *self,
                     gboolean    ok,
                     const char *what)
{
  acpu_worker_kill_group_members ();
  if (what != NULL)
    acpu_worker_channel_unusable (self, what);
  g_mutex_lock (&self->lock);
  if (self->current != NULL)
    _exit (ok ? 0 : 1);
  self->hung_up = TRUE;
  self->status = ok ? 0 : 1;
  self->control_polling = FALSE;
  acpu_worker_signal_control (self);
  if (!g_main_context_is_owner (self->context))
    g_main_context_wakeup (self->context);
  g_mutex_unlock (&self->lock);
}

/* Main thread while it is idle, control thread while a task runs; takes
 * in_lock, then lock for each message. Reads what the channel has and takes
 * each message in it; a thread that finds nothing to read (the other was
 * first) returns at once. The end of the channel between
 * frames is the pool hanging up (exit status 0); in the middle of a frame,
 * before the pool's first frame, or bytes that are not the protocol, end the
 * worker with status 1 and a word on stderr. */
static void
acpu_worker_read_channel (ACpuWorker *self)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage msg;
  gssize n;

  g_mutex_lock (&self->in_lock);
  if (self->in_ended)
    goto out;

  n = acpu_wire_in_read (&self->in, self->in_fd, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    goto out;
  if (n <= 0)
    {
      self->in_ended = TRUE;
      if (self->in.buf->len != self->in.head)
        acpu_worker_hang_up (self, FALSE, "the channel ended in the middle of a frame");
      else if (self->in_messages == 0)
        /* A pool greets its worker first thing (an ACK for id 0, see
         * docs/protocol.md): an input that ends before any frame came is
         * an empty pipe, not a pool. */
        acpu_worker_hang_up (self, FALSE, "standard input ended");
      else
        acpu_worker_hang_up (self, TRUE, NULL);
      goto out;
    }

  while (acpu_wire_in_next (&self->in, &msg, &error))
    {
      self->in_messages++;
      g_mutex_lock (&self->lock);
      acpu_worker_take_message_locked (self, &msg);
      g_mutex_unlock (&self->lock);
      acpu_wire_message_clear (&msg);
    }

  if (error != NULL)
    {
      /* The pool speaks the protocol or nothing: stop serving. */
      self->in_ended = TRUE;
      acpu_worker_hang_up (self, FALSE, error->message);
    }

out:
  g_mutex_unlock (&self->in_lock);
}

/* Main thread -------------------------------------------------------------- */

/* Sends the job's reply and frees it. Takes @result (a full or floating
 * reference) and @error. */
static void
acpu_worker_finish_job (ACpuWorker    *self,
                        ACpuWorkerJob *job,
                        GVariant      *result,
                        GError        *error)
{
  g_autoptr(GVariant) owned = result != NULL ? g_variant_take_ref (result) : NULL;
  g_autoptr(GError) owned_error = error;
  gboolean more;

  self->current_name = NULL;

  /* A binding that cannot raise a GError from a callback said it this way. */
  if (self->task_error != NULL)
    {
      g_clear_pointer (&owned, g_variant_unref);
      g_clear_error (&owned_error);
      owned_error = g_steal_pointer (&self->task_error);
    }
  else if (owned == NULL && owned_error == NULL)
    owned_error = g_error_new (ACPU_ERROR, ACPU_ERROR_FAILED,
                               "Task “%s” returned neither a value nor an error", job->name);
  else if (owned_error != NULL &&
           g_strcmp0 (g_quark_to_string (owned_error->domain), "gjs-js-error-quark") == 0 &&
           strstr (owned_error->message, "for Return value") != NULL)
    {
      /* GJS could not make a GVariant of what a JavaScript task returned
       * ("Expected type struct for Return value but got type 'number'"):
       * say which task, and what it should return. */
      g_autofree char *gjs_message = g_steal_pointer (&owned_error->message);

      owned_error->message = g_strdup_printf ("Task “%s” must return a GLib.Variant, such as "
                                              "new GLib.Variant('(x)', [42]): %s", job->name,
                                              gjs_message);
    }
  else if (owned != NULL && owned_error == NULL)
    {
      ACpuWorkerTask *task = g_hash_table_lookup (self->tasks, job->name);

      if (task != NULL && task->result_type != NULL &&
          !g_variant_is_of_type (owned, task->result_type))
        {
          g_autofree char *expected = g_variant_type_dup_string (task->result_type);

          owned_error = g_error_new (ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT,
                                     "Task “%s” returned a value of type %s, but it declares "
                                     "results of type %s", job->name,
                                     g_variant_get_type_string (owned), expected);
          g_clear_pointer (&owned, g_variant_unref);
        }
    }

  g_mutex_lock (&self->lock);
  self->current = NULL;
  more = self->pending.length > 0;
  g_rec_mutex_lock (&self->out_lock);
  /* The last report, if it waited, goes before the answer. */
  if (self->progress_pending)
    {
      acpu_wire_out_progress (&self->out, job->id, self->progress_fraction, self->progress_text);
      self->progress_pending = FALSE;
    }
  /* Arguments returned as they came need no copy: back in their memfd. */
  if (owned != NULL &&
      !acpu_wire_out_result_reuse (&self->out, job->id, owned, job->args, &job->args_fd) &&
      !acpu_wire_out_result (&self->out, job->id, owned, self->max_size, &owned_error))
    g_prefix_error (&owned_error, "Task “%s”: ", job->name);
  if (owned_error != NULL)
    acpu_wire_out_error (&self->out, job->id, owned_error);
  if (!more || acpu_wire_out_pending (&self->out) > 256 * 1024)
    acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);
  g_mutex_unlock (&self->lock);

  acpu_worker_job_free (job);
}

/* Main thread, takes out_lock. Writes the replies batched so far, if any:
 * one write for all of them, none when there are none. */
static void
acpu_worker_flush_replies (ACpuWorker *self)
{
  g_rec_mutex_lock (&self->out_lock);
  if (acpu_wire_out_pending (&self->out) > 0)
    acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);
}

/* Runs @job; returns FALSE when it is an asynchronous task still running. */
static gboolean
acpu_worker_run_job (ACpuWorker    *self,
                     ACpuWorkerJob *job)
{
  ACpuWorkerTask *task = g_hash_table_lookup (self->tasks, job->name);
  GError *error = NULL;
  GVariant *result;

  if (task == NULL)
    {
      acpu_worker_finish_job (self, job, NULL,
                              g_error_new (ACPU_ERROR, ACPU_ERROR_UNKNOWN_TASK,
                                           "No task named “%s” in worker %s", job->name,
                                           g_get_prgname () ? g_get_prgname () : "(unknown)"));
      return TRUE;
    }

  if (task->args_type != NULL && !g_variant_is_of_type (job->args, task->args_type))
    {
      g_autofree char *expected = g_variant_type_dup_string (task->args_type);

      acpu_worker_finish_job (self, job, NULL,
                              g_error_new (ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT,
                                           "Task “%s” takes arguments of type %s, not %s",
                                           job->name, expected,
                                           g_variant_get_type_string (job->args)));
      return TRUE;
    }

  /* What the tasks before this one answered goes now, before code that may
   * crash the process runs: a crash takes only its own task with it. */
  acpu_worker_flush_replies (self);

  self->current_name = job->name;
  g_clear_error (&self->task_error);

  if (task->async_func != NULL)
    {
      self->async_job = job;
      self->in_call = TRUE;
      task->async_func (self, job->args, job->cancellable, task->user_data);
      self->in_call = FALSE;
      /* Returned already, from inside the function? */
      return self->async_job == NULL;
    }

  self->in_call = TRUE;
  result = task->func (job->args, job->cancellable, task->user_data, &error);
  self->in_call = FALSE;
  acpu_worker_finish_job (self, job, result, error);

  return TRUE;
}

/* The jobs source needs no wakeup of its own thread: it is ready when there
 * is something to do, which prepare() sees; the control thread wakes the
 * context when it hands over work while this thread may sleep. It may
 * recurse, so that GLib does not take its descriptor out of the poll set and
 * put it back (two wakeups) around every dispatch; a task that iterates the
 * main context does not start the next task (see dispatching). */
static gboolean
acpu_worker_jobs_ready (ACpuWorker *self)
{
  gboolean ready;

  if (self->dispatching || self->async_job != NULL)
    return FALSE;
  if (self->in_poll.revents != 0)
    return TRUE;

  g_mutex_lock (&self->lock);
  /* busy here: an asynchronous task returned, and the next one may start. */
  ready = self->pending.length > 0 || self->hung_up || self->busy;
  g_mutex_unlock (&self->lock);

  return ready;
}

static gboolean
acpu_worker_jobs_prepare (GSource *source,
                          gint    *timeout)
{
  ACpuWorker *self = ((ACpuWorkerSource *) source)->worker;

  /* Who reads the channel: this thread while it is idle, the control thread
   * while tasks run (busy). A hang-up is reported either way. */
  self->in_poll.events = self->busy ? 0 : G_IO_IN;
  *timeout = -1;
  return acpu_worker_jobs_ready (self);
}

static gboolean
acpu_worker_jobs_check (GSource *source)
{
  return acpu_worker_jobs_ready (((ACpuWorkerSource *) source)->worker);
}

static gboolean
acpu_worker_jobs_dispatch (GSource     *source,
                           GSourceFunc  callback,
                           gpointer     user_data)
{
  ACpuWorker *self = ((ACpuWorkerSource *) source)->worker;

  if (self->dispatching)
    return G_SOURCE_CONTINUE;
  self->dispatching = TRUE;

  if (self->in_poll.revents != 0)
    {
      self->in_poll.revents = 0;
      acpu_worker_read_channel (self);
    }

  for (;;)
    {
      ACpuWorkerJob *job;

      /* An asynchronous task is running: the next one waits for it. */
      if (self->async_job != NULL)
        break;

      g_mutex_lock (&self->lock);
      if (self->hung_up)
        {
          g_main_loop_quit (self->loop);
          g_mutex_unlock (&self->lock);
          break;
        }
      job = g_queue_pop_head (&self->pending);
      self->current = job;
      /* Each task has the whole window for its partial values. */
      self->partial_unacked = 0;
      self->partial_unacked_bytes = 0;
      self->progress_sent = 0;
      self->progress_pending = FALSE;
      if (job != NULL && !self->busy)
        {
          /* The control thread reads until the queue is empty again. */
          self->busy = TRUE;
          acpu_worker_arm_control (self);
        }
      else if (job == NULL && self->busy)
        {
          self->busy = FALSE;
          acpu_worker_kick_control_locked (self);
        }
      g_mutex_unlock (&self->lock);

      if (job == NULL)
        break;

      if (!acpu_worker_run_job (self, job))
        break;
    }

  self->dispatching = FALSE;
  return G_SOURCE_CONTINUE;
}

/* Ends the asynchronous task running now; the jobs source goes on. */
static void
acpu_worker_return (ACpuWorker *self,
                    GVariant   *value,
                    GError     *error)
{
  ACpuWorkerJob *job = g_steal_pointer (&self->async_job);

  acpu_worker_finish_job (self, job, value, error);

  /* From inside the task function the dispatch loop goes on by itself;
   * otherwise prepare() sees that the next task may start. */
  if (!self->in_call && !g_main_context_is_owner (self->context))
    g_main_context_wakeup (self->context);
}

/**
 * acpu_worker_return_value:
 * @worker: a [class@ACpu.Worker]
 * @value: the task's result; if it is floating, it is consumed
 *
 * Ends the asynchronous task running now (see
 * [method@ACpu.Worker.register_async]) with @value as its result. Call it
 * once, from the worker's main thread.
 *
 * Since: 0.1
 */
void
acpu_worker_return_value (ACpuWorker *worker,
                          GVariant   *value)
{
  g_return_if_fail (ACPU_IS_WORKER (worker));
  g_return_if_fail (value != NULL);
  g_return_if_fail (worker->async_job != NULL);

  /* The caller keeps its reference, unless it was floating. */
  acpu_worker_return (worker, g_variant_ref_sink (value), NULL);
}

/**
 * acpu_worker_return_gerror:
 * @worker: a [class@ACpu.Worker]
 * @error: the task's error
 *
 * Ends the asynchronous task running now (see
 * [method@ACpu.Worker.register_async]) with a copy of @error: its domain, by
 * the quark's name, code and message reach the caller. Call it once, from the
 * worker's main thread.
 *
 * Since: 0.1
 */
void
acpu_worker_return_gerror (ACpuWorker   *worker,
                           const GError *error)
{
  g_return_if_fail (ACPU_IS_WORKER (worker));
  g_return_if_fail (error != NULL);
  g_return_if_fail (worker->async_job != NULL);

  acpu_worker_return (worker, NULL, g_error_copy (error));
}

/**
 * acpu_worker_return_error:
 * @worker: a [class@ACpu.Worker]
 * @domain: the error domain's name, as `g_quark_to_string()` gives it
 * @code: the error code
 * @message: the error message
 *
 * Ends the asynchronous task running now (see
 * [method@ACpu.Worker.register_async]) with this error. It is
 * [method@ACpu.Worker.return_gerror] for bindings that have no `GError` at
 * hand. Call it once, from the worker's main thread.
 *
 * Since: 0.1
 */
void
acpu_worker_return_error (ACpuWorker *worker,
                          const char *domain,
                          int         code,
                          const char *message)
{
  g_return_if_fail (ACPU_IS_WORKER (worker));
  g_return_if_fail (domain != NULL);
  g_return_if_fail (message != NULL);
  g_return_if_fail (worker->async_job != NULL);

  acpu_worker_return (worker, NULL, acpu_wire_error_new (domain, code, message));
}

static GSourceFuncs jobs_source_funcs = {
  .prepare = acpu_worker_jobs_prepare,
  .check = acpu_worker_jobs_check,
  .dispatch = acpu_worker_jobs_dispatch,
};

/* Control thread ----------------------------------------------------------- */

static void
acpu_worker_drain (int fd)
{
  guint64 count;

  if (read (fd, &count, sizeof count) < 0 && errno != EAGAIN)
    g_warning ("acpu-worker: could not read a wakeup: %s", g_strerror (errno));
}

/* Control thread, no lock. The process that started this worker is gone: a
 * launcher SIGKILLed (ssh, srun, a shell), or the pool itself, while the
 * channel may still look open (a relay that keeps the pipes, a grandchild
 * that holds them). Nobody will read a result, and the task running may never
 * look at its cancellable: end now, as acpu_worker_hang_up() does for a task
 * that runs when the pool hangs up. A worker that leads its process group
 * (the pool gives it one; ssh's session does) takes the group with it, so a
 * task's children do not outlive it either. */
static void
acpu_worker_orphaned (ACpuWorker *self)
{
  g_autofree char *text = NULL;

  /* The group first: the words may go to a pipe whose reader was the
   * process that is gone, and a write that raises SIGPIPE ended this
   * process before it took its group along. */
  acpu_worker_kill_group_members ();
  text = g_strdup_printf ("%s: the process that started this worker (pid %d) is gone; exiting\n",
                          g_get_prgname () ? g_get_prgname () : "acpu-worker",
                          (int) self->parent);
  acpu_worker_say (text);
  /* And whatever a running task started since. */
  if (getpgrp () == getpid ())
    kill (0, SIGKILL);
  _exit (1);
}

/* Control thread. Sleeps on the timer until tasks have run for
 * CONTROL_DELAY_US, then reads the channel (taking in_lock) until the main
 * thread kicks it through wake_fd; takes lock to look at busy and hung_up.
 * Every PARENT_POLL_MS it also looks whether its parent changed. */
static gpointer
acpu_worker_control_thread (gpointer data)
{
  ACpuWorker *self = data;
  gboolean reading = FALSE;

  for (;;)
    {
      /* Waiting for the timer, or reading the channel for running tasks. */
      struct pollfd fds[2] = {
        { .fd = reading ? self->in_fd : self->timer_fd, .events = POLLIN },
        { .fd = self->wake_fd, .events = POLLIN },
      };
      gboolean fired = FALSE;

      while (poll (fds, G_N_ELEMENTS (fds), PARENT_POLL_MS) < 0 && errno == EINTR)
        ;

      if (getppid () != self->parent)
        acpu_worker_orphaned (self);

      if (fds[1].revents != 0)
        acpu_worker_drain (self->wake_fd);
      if (fds[0].revents != 0)
        {
          if (reading)
            acpu_worker_read_channel (self);
          else
            {
              acpu_worker_drain (self->timer_fd);
              fired = TRUE;
            }
        }

      g_mutex_lock (&self->lock);
      if (self->hung_up)
        {
          g_mutex_unlock (&self->lock);
          break;
        }
      /* Tasks have run for CONTROL_DELAY_US, and still do. */
      reading = self->busy && (reading || fired);
      self->control_polling = reading;
      g_mutex_unlock (&self->lock);
    }

  return NULL;
}

/* Start-up ----------------------------------------------------------------- */

/* Main thread, at start-up. Why descriptor @fd (0 or 1), whose fstat() is
 * @st, cannot be a pool's channel, or NULL when it can: a Unix socket (a
 * local pool, bwrap), a pipe (ssh) or, for standard output only, a terminal
 * that is not this session's controlling terminal (the pty `srun -u` gives).
 * A terminal on standard input, /dev/null, a regular file, or standard output
 * on the terminal of the session (a person's shell) is never a pool. */
static const char *
acpu_worker_channel_problem (int                fd,
                             const struct stat *st)
{
  if (isatty (fd))
    {
      if (fd == 0)
        return "standard input is a terminal";
      if (tcgetsid (fd) >= 0 && tcgetsid (fd) == getsid (0))
        return "standard output is this session's terminal";
      return NULL;
    }
  if (S_ISSOCK (st->st_mode) || S_ISFIFO (st->st_mode))
    return NULL;
  if (S_ISCHR (st->st_mode))
    return fd == 0 ? "standard input is a device (/dev/null?), not a pipe or a socket"
                   : "standard output is a device (/dev/null?), not a pipe, socket or pty";
  if (S_ISREG (st->st_mode))
    return fd == 0 ? "standard input is a file, not a pipe or a socket"
                   : "standard output is a file, not a pipe, socket or pty";
  return fd == 0 ? "standard input is not a pipe or a socket"
                 : "standard output is not a pipe, socket or pty";
}

/* Main thread, at start-up. A pty for the channel (`srun -u` gives one for
 * standard output) must pass every byte as it is: raw mode, as cfmakeraw()
 * sets it (no output processing, so no \n → \r\n; no echo; no signals). */
static gboolean
acpu_worker_make_raw (int fd)
{
  struct termios tio;

  if (!isatty (fd))
    return TRUE;
  if (tcgetattr (fd, &tio) < 0)
    return FALSE;
  cfmakeraw (&tio);
  return tcsetattr (fd, TCSANOW, &tio) == 0;
}

/* Main thread, at start-up. Moves the channel off fds 0 and 1: fd 1 goes to
 * stderr, fd 0 to /dev/null. Returns FALSE with *@problem set when standard
 * input and output cannot be a channel. */
static gboolean
acpu_worker_take_stdio (ACpuWorker  *self,
                        const char **problem)
{
  struct stat st_in, st_out, st_err;
  int null_fd, flags;

  *problem = NULL;
  if (fstat (0, &st_in) < 0 || fstat (1, &st_out) < 0)
    {
      *problem = "standard input or output is closed";
      return FALSE;
    }
  *problem = acpu_worker_channel_problem (0, &st_in);
  if (*problem == NULL)
    *problem = acpu_worker_channel_problem (1, &st_out);
  if (*problem != NULL)
    return FALSE;

  self->in_fd = fcntl (0, F_DUPFD_CLOEXEC, 3);
  if (st_in.st_dev == st_out.st_dev && st_in.st_ino == st_out.st_ino)
    self->out_fd = self->in_fd;
  else
    self->out_fd = fcntl (1, F_DUPFD_CLOEXEC, 3);
  if (self->in_fd < 0 || self->out_fd < 0)
    {
      *problem = "no descriptor left for the channel";
      return FALSE;
    }
  if (!acpu_worker_make_raw (self->out_fd))
    {
      *problem = "standard output is a terminal that cannot be put in raw mode";
      return FALSE;
    }

  /* Blocking writes: a reply waits for a pool slow to read. Reads follow a
   * poll and do not wait (ACpuWireIn.dontwait). */
  flags = fcntl (self->in_fd, F_GETFL);
  fcntl (self->in_fd, F_SETFL, flags & ~O_NONBLOCK);
  flags = fcntl (self->out_fd, F_GETFL);
  fcntl (self->out_fd, F_SETFL, flags & ~O_NONBLOCK);

  fflush (stdout);
  null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  /* A launcher may give standard error the channel's pty too: then what a
   * task prints must not go there. */
  if (fstat (2, &st_err) == 0 && st_err.st_dev == st_out.st_dev &&
      st_err.st_ino == st_out.st_ino && st_err.st_rdev == st_out.st_rdev && null_fd >= 0)
    dup2 (null_fd, 2);
  dup2 (2, 1);
  if (null_fd >= 0)
    {
      dup2 (null_fd, 0);
      close (null_fd);
    }

  return TRUE;
}

/* The signal the kernel sends when the pool dies (PR_SET_PDEATHSIG), once
 * acpu_worker_die_with_parent() has taken it over. */
#define PARENT_DEATH_SIGNAL (SIGRTMAX - 3)

/* In a signal handler, any thread: async-signal-safe calls only. The pool
 * died: end now and take the process group along (the pool gave us one), as
 * acpu_worker_orphaned() does, only at once. */
static void
acpu_worker_parent_died (int signum)
{
  if (getpgrp () == getpid ())
    kill (0, SIGKILL);
  _exit (1);
}

/* Main thread, at start-up. A local pool asks the kernel for our SIGKILL
 * when it dies (PR_SET_PDEATHSIG): that ends this process, not what its
 * tasks started. Take it over with a signal whose handler SIGKILLs the
 * whole process group, this process included. The pool's SIGKILL stands
 * until then; a death in between is seen by the control thread. */
static void
acpu_worker_die_with_parent (void)
{
  struct sigaction action = { 0 };
  int current = 0;

  if (prctl (PR_GET_PDEATHSIG, &current) < 0 || current == 0 || getpgrp () != getpid ())
    return;
  action.sa_handler = acpu_worker_parent_died;
  sigemptyset (&action.sa_mask);
  if (sigaction (PARENT_DEATH_SIGNAL, &action, NULL) == 0)
    prctl (PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL);
}

/**
 * acpu_worker_run:
 * @worker: a [class@ACpu.Worker]
 *
 * Serves the pool that started this process until it hangs up.
 *
 * Tasks run on the calling thread, which must be the program's main thread,
 * through the thread-default main context, one at a time. The function
 * returns when the pool closes the channel between tasks; when the pool goes
 * away while a task runs, the process exits at once.
 *
 * Returns: an exit status for `main()`: 0 when the pool hung up, 1 when the
 *   channel broke, 2 when this process was not started by a pool
 *
 * Since: 0.1
 */
int
acpu_worker_run (ACpuWorker *worker)
{
  g_autofree const char **names = NULL;
  ACpuWorker *self = worker;
  GVariant *types;
  gboolean can_pass_fds;
  const char *problem;
  const char *env;

  g_return_val_if_fail (ACPU_IS_WORKER (worker), 1);
  g_return_val_if_fail (worker->loop == NULL, 1);

  self->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  self->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (self->wake_fd < 0 || self->timer_fd < 0)
    {
      g_printerr ("acpu-worker: eventfd or timerfd: %s\n", g_strerror (errno));
      return 1;
    }

  if (!acpu_worker_take_stdio (self, &problem))
    {
      close (g_steal_fd (&self->wake_fd));
      close (g_steal_fd (&self->timer_fd));
      g_printerr ("%s: %s. This program is an asynccpu-glib worker here%s: an "
                  "ACpuProcessTaskPool starts it with a socket or pipes on its standard "
                  "input and output\n",
                  g_get_prgname () ? g_get_prgname () : "acpu-worker", problem,
                  g_strcmp0 (g_getenv ("ACPU_WORKER"), "1") == 0
                    ? " because ACPU_WORKER=1 is in its environment" : "");
      return 2;
    }

  env = g_getenv ("ACPU_MAX_MESSAGE_SIZE");
  if (env != NULL && g_ascii_strtoull (env, NULL, 10) > 0)
    self->max_size = g_ascii_strtoull (env, NULL, 10);
  self->started_by_env = g_strcmp0 (g_getenv ("ACPU_WORKER"), "1") == 0;
  g_unsetenv ("ACPU_WORKER");
  g_unsetenv ("ACPU_MAX_MESSAGE_SIZE");

  /* Memfds only on a local Unix socket: a relay (ssh's pipes, srun's pty)
   * would drop them. The hello tells the pool, which then sends values
   * inline too. */
  can_pass_fds = self->in_fd == self->out_fd && acpu_wire_fd_is_unix_socket (self->in_fd);
  acpu_wire_out_init (&self->out, can_pass_fds);

  self->parent = getppid ();
  acpu_worker_die_with_parent ();
  self->context = g_main_context_ref_thread_default ();
  self->loop = g_main_loop_new (self->context, FALSE);
  acpu_wire_in_init (&self->in, ACPU_WIRE_READER_WORKER, self->max_size);
  self->in.dontwait = TRUE;
  self->jobs_source = g_source_new (&jobs_source_funcs, sizeof (ACpuWorkerSource));
  ((ACpuWorkerSource *) self->jobs_source)->worker = self;
  self->in_poll.fd = self->in_fd;
  self->in_poll.events = G_IO_IN;
  g_source_add_poll (self->jobs_source, &self->in_poll);
  g_source_set_can_recurse (self->jobs_source, TRUE);
  g_source_set_name (self->jobs_source, "[asynccpu-glib] worker tasks");
  g_source_attach (self->jobs_source, self->context);

  names = (const char **) g_hash_table_get_keys_as_array (self->tasks, NULL);
  g_rec_mutex_lock (&self->out_lock);
  acpu_wire_out_magic (&self->out);
  types = acpu_worker_dup_types (self);
  acpu_wire_out_hello (&self->out, getpid (),
                       (can_pass_fds ? ACPU_WIRE_HELLO_CAN_RECEIVE_FDS : 0) |
                       (types != NULL ? ACPU_WIRE_HELLO_TYPES : 0),
                       names);
  if (types != NULL)
    acpu_wire_out_types (&self->out, types);
  acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);

  running_worker = self;
  g_log_set_writer_func (acpu_worker_log_writer, NULL, NULL);

  self->control = g_thread_new ("acpu-control", acpu_worker_control_thread, self);

  g_main_loop_run (self->loop);

  g_thread_join (self->control);
  self->control = NULL;

  g_rec_mutex_lock (&self->out_lock);
  acpu_worker_flush_locked (self);
  running_worker = NULL;
  acpu_wire_out_clear (&self->out);
  g_rec_mutex_unlock (&self->out_lock);

  g_source_destroy (self->jobs_source);
  g_clear_pointer (&self->jobs_source, g_source_unref);
  acpu_wire_in_clear (&self->in);
  self->in_ended = FALSE;
  self->in_messages = 0;
  self->busy = FALSE;
  close (g_steal_fd (&self->wake_fd));
  close (g_steal_fd (&self->timer_fd));
  self->timer_armed = 0;
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  if (self->out_fd != self->in_fd)
    close (self->out_fd);
  close (self->in_fd);
  self->in_fd = self->out_fd = -1;

  return self->status;
}
