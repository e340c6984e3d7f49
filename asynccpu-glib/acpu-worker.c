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
 *
 * This file: the ACpuWorker object, the API task functions call, and
 * acpu_worker_run(). The rest, by job: acpu-worker-runner.c (the main
 * thread's jobs source, replies), acpu-worker-channel.c (reading and
 * writing the channel, the end of it, the log writer), acpu-worker-control.c
 * (the control thread, the process group, the parent's death) and
 * acpu-worker-stdio.c (standard input and output as the channel).
 * acpu-worker-private.h has the struct they share.
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "acpu-error.h"
#include "acpu-worker-private.h"

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

G_DEFINE_FINAL_TYPE (ACpuWorker, acpu_worker, G_TYPE_OBJECT)

/* The worker being run, for the log writer. */
ACpuWorker *acpu_worker_running;

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

void
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
  return acpu_worker_running;
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
  acpu_worker_name_self ();
  self->context = g_main_context_ref_thread_default ();
  self->loop = g_main_loop_new (self->context, FALSE);
  acpu_wire_in_init (&self->in, ACPU_WIRE_READER_WORKER, self->max_size);
  self->in.dontwait = TRUE;
  self->jobs_source = g_source_new (&acpu_worker_jobs_source_funcs, sizeof (ACpuWorkerSource));
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

  acpu_worker_running = self;
  g_log_set_writer_func (acpu_worker_log_writer, NULL, NULL);

  self->control = g_thread_new ("acpu-control", acpu_worker_control_thread, self);

  g_main_loop_run (self->loop);

  g_thread_join (self->control);
  self->control = NULL;

  g_rec_mutex_lock (&self->out_lock);
  acpu_worker_flush_locked (self);
  acpu_worker_running = NULL;
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
