/* acpu-pool-submit.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The public calls that hand work to a pool's core: run_async() and its
 * blocking twin run(), shutdown_async() and shutdown(). They run on a
 * caller's thread [caller]: they make a job or a request, hand it over
 * under core->lock, and wake the I/O thread only when it may be asleep.
 * Nothing here ever waits for a worker, but the blocking calls, which wait
 * in a main context of their own.
 */

#include "config.h"

#include "acpu-error.h"
#include "acpu-pool-private.h"
#include "acpu-task-private.h"

/* [caller], no lock (one held by another thread when the process forked
 * stays held in the child): FALSE, with @error set, in a worker whose pool
 * would start its own program again (core->chain), or in a child forked
 * after the library was used. A pool made before the fork has its workers and its
 * I/O thread in the parent; and in such a child GLib's own watch on child
 * processes (its worker thread) is gone too, so a worker started here could
 * never be seen to end: a task or a shutdown would wait for ever. */
static gboolean
acpu_pool_check_fork (ACpuPoolCore  *core,
                      GError       **error)
{
  guint generation = acpu_io_get_generation ();

  if (G_UNLIKELY (core->chain))
    {
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_FAILED,
                           "This process is a worker (ACPU_WORKER is set) and this pool would "
                           "start the same program again, whose workers would do the same: "
                           "keep the program's client code out of its workers with "
                           "acpu_worker_is_worker_process() (ACpu.Worker.is_worker_process() "
                           "in Python and GJS)");
      return FALSE;
    }

  if (G_LIKELY (generation == 0))
    return TRUE;

  if (generation != core->generation)
    g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_FAILED,
                         "This pool was made before fork(): it and its workers belong to the "
                         "parent process, and a forked child cannot use them");
  else
    g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_FAILED,
                         "This process was forked (fork() without exec) from one that had "
                         "used asynccpu-glib, and GLib cannot watch child processes in such "
                         "a process: start it with exec instead (Python's multiprocessing: "
                         "the “spawn” or “forkserver” start method)");
  return FALSE;
}

/**
 * acpu_process_task_pool_run_async:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @task_name: the name the worker registered the task under
 * @args: (nullable): the task's arguments; `NULL` passes `()`. A floating
 *   reference is sunk.
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async) (closure user_data): called when the task is done
 * @user_data: data for @callback
 *
 * Runs the task @task_name with @args in a worker process.
 *
 * This returns at once; it never waits for a worker. @callback runs in the
 * thread-default main context of the calling thread; call
 * [method@ACpu.ProcessTaskPool.run_finish] there to get the result.
 *
 * Called from a callback that the same main context is dispatching (a
 * GTK signal handler, an idle), the tasks submitted there are handed to the
 * pool together when that callback returns, so a burst of a thousand tasks
 * costs one wakeup of the pool's thread, not a thousand. A callback that
 * submits a task and then waits in a loop of its own for something the task
 * does should return to the main loop instead.
 *
 * Cancelling @cancellable completes the task at once with
 * %G_IO_ERROR_CANCELLED. A queued task then never runs; a running one has
 * its worker-side cancellable cancelled, and its worker is killed if it goes
 * on past [property@ACpu.ProcessTaskPool:cancel-grace-period].
 *
 * In a child that fork() made (without exec) after the process used this
 * library, every task fails at once with %ACPU_ERROR_FAILED: the pool's
 * workers, and GLib's watch on child processes, stayed in the parent. So do
 * the tasks of a pool that a worker made to start its own program again (a
 * program that runs its client code in its workers too).
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_run_async (ACpuProcessTaskPool *pool,
                                  const char          *task_name,
                                  GVariant            *args,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (task_name != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  acpu_pool_submit (pool, task_name, args, G_PRIORITY_DEFAULT, NULL, cancellable, callback,
                    user_data);
}

/* [caller]: run_async() for a job of @io_priority, reporting to @feed (a
 * task handle's, or NULL). A job with a feed never takes the direct path:
 * its worker's progress and partial values are read by the I/O thread. */
void
acpu_pool_submit (ACpuProcessTaskPool *pool,
                  const char          *task_name,
                  GVariant            *args,
                  int                  io_priority,
                  ACpuTaskFeed        *feed,
                  GCancellable        *cancellable,
                  GAsyncReadyCallback  callback,
                  gpointer             user_data)
{
  ACpuPoolCore *core;
  g_autoptr(GTask) task = NULL;
  GSource *reply = NULL;
  GMainContext *context;
  GError *fork_error = NULL;
  ACpuJob *job;

  core = pool->core;

  task = g_task_new (pool, cancellable, callback, user_data);
  g_task_set_source_tag (task, acpu_process_task_pool_run_async);
  g_task_set_name (task, "acpu_process_task_pool_run_async");
  g_task_set_task_data (task, core, NULL);

  if (!acpu_pool_check_fork (core, &fork_error))
    {
      g_task_return_error (task, fork_error);
      return;
    }

  job = acpu_job_new (task_name, args);
  job->priority = io_priority;
  if (feed != NULL)
    job->feed = acpu_task_feed_ref (feed);

  if (g_task_return_error_if_cancelled (task))
    {
      acpu_job_free (job);
      return;
    }

  g_atomic_int_set (&core->notify_listened, acpu_process_task_pool_is_watched (pool));

  acpu_core_lock (core);
  if (core->closed)
    {
      acpu_core_unlock (core);
      acpu_job_free (job);
      g_task_return_new_error (task, ACPU_ERROR, ACPU_ERROR_CLOSED,
                               "The pool is shut down: task “%s” was not run", task_name);
      return;
    }
  if (g_atomic_int_get (&core->max_queued) > 0 &&
      acpu_core_get_n_queued (core) >= (guint) g_atomic_int_get (&core->max_queued))
    {
      acpu_core_unlock (core);
      acpu_job_free (job);
      g_task_return_new_error (task, ACPU_ERROR, ACPU_ERROR_QUEUE_FULL,
                               "The pool's queue is full (%u tasks): task “%s” was not run",
                               g_atomic_int_get (&core->max_queued), task_name);
      return;
    }
  context = g_task_get_context (task);
  job->task = g_steal_pointer (&task);
  job->id = ++core->next_id;
  job->submit_time = g_get_monotonic_time ();
  core->stats.submitted++;
  /* Straight to an idle worker when one is offered (acpu-pool-direct.c);
   * else handed over to the I/O thread. */
  if (job->feed != NULL || !acpu_direct_send_locked (core, job, &reply))
    {
      acpu_job_set_state (job, ACPU_JOB_INCOMING);
      g_queue_push_tail_link (&core->incoming, &job->link);
      acpu_core_count_jobs (core, 1, 0);
      acpu_core_wake_for_locked (core, context);
    }
  acpu_core_unlock (core);

  /* Out of the lock: a cancellable already cancelled calls back at once. */
  if (reply != NULL)
    acpu_direct_reply_source_attach (reply, cancellable, context);

  acpu_core_counters_changed (core);
}

/**
 * acpu_process_task_pool_run_finish:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a #GError
 *
 * Gets the result of a task started with
 * [method@ACpu.ProcessTaskPool.run_async]. Call it from the callback, in
 * the thread (and main context) the task was started from.
 *
 * An error the task function set in the worker arrives with its domain,
 * code and message. The pool's own errors are in [error@ACpu.Error]:
 * %ACPU_ERROR_UNKNOWN_TASK, %ACPU_ERROR_WORKER_DIED (the message names the
 * task, the worker's pid and the signal or exit status),
 * %ACPU_ERROR_WORKER_START, %ACPU_ERROR_PROTOCOL, %ACPU_ERROR_CLOSED; a
 * cancelled task fails with %G_IO_ERROR_CANCELLED.
 *
 * Returns: (transfer full): the task's result, or `NULL` with @error set
 *
 * Since: 0.1
 */
GVariant *
acpu_process_task_pool_run_finish (ACpuProcessTaskPool  *pool,
                                   GAsyncResult         *result,
                                   GError              **error)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);
  g_return_val_if_fail (g_task_is_valid (result, pool), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, acpu_process_task_pool_run_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

G_DEFINE_QUARK (acpu-worker-exit, acpu_worker_exit)

/**
 * acpu_process_task_pool_get_worker_exit:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @result: the [iface@Gio.AsyncResult] of a task started with
 *   [method@ACpu.ProcessTaskPool.run_async]
 *
 * Gets how the worker ended that ran the task of @result, when the task
 * failed with %ACPU_ERROR_WORKER_DIED: its pid, its exit status or the
 * signal that killed it, and the last lines of its standard error — the
 * facts the error's message tells, without parsing it. Call it from the
 * task's callback, before or after
 * [method@ACpu.ProcessTaskPool.run_finish]; any thread may call it.
 *
 * Returns: (transfer full) (nullable): the worker's end, or `NULL` when the
 *   task did not fail because its worker died
 *
 * Since: 0.1
 */
ACpuWorkerExit *
acpu_process_task_pool_get_worker_exit (ACpuProcessTaskPool *pool,
                                        GAsyncResult        *result)
{
  ACpuWorkerExit *exit;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);
  g_return_val_if_fail (g_task_is_valid (result, pool), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, acpu_process_task_pool_run_async), NULL);

  exit = g_object_get_qdata (G_OBJECT (result), acpu_worker_exit_quark ());
  return exit != NULL ? g_object_ref (exit) : NULL;
}

typedef struct
{
  GAsyncResult *result;
} ACpuSyncData;

/* [caller]'s private context, for the blocking calls. */
static void
acpu_sync_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  ACpuSyncData *data = user_data;

  data->result = g_object_ref (result);
  g_main_context_wakeup (g_main_context_get_thread_default ());
}

/* [caller]: runs the main context pushed for a blocking call until @data
 * is done. */
static void
acpu_sync_wait (GMainContext *context,
                ACpuSyncData *data)
{
  while (data->result == NULL)
    g_main_context_iteration (context, TRUE);
}

/**
 * acpu_process_task_pool_run:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @task_name: the name the worker registered the task under
 * @args: (nullable): the task's arguments; `NULL` passes `()`. A floating
 *   reference is sunk.
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a #GError
 *
 * Runs the task @task_name with @args in a worker process and waits for its
 * result. This blocks the calling thread, which may be any thread, with or
 * without a main loop; other main contexts are not iterated meanwhile.
 *
 * Returns: (transfer full): the task's result, or `NULL` with @error set
 *
 * Since: 0.1
 */
GVariant *
acpu_process_task_pool_run (ACpuProcessTaskPool  *pool,
                            const char           *task_name,
                            GVariant             *args,
                            GCancellable         *cancellable,
                            GError              **error)
{
  g_autoptr(GMainContext) context = NULL;
  ACpuSyncData data = { NULL };
  GVariant *value;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);
  g_return_val_if_fail (task_name != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  acpu_process_task_pool_run_async (pool, task_name, args, cancellable, acpu_sync_cb, &data);
  acpu_sync_wait (context, &data);
  g_main_context_pop_thread_default (context);

  value = acpu_process_task_pool_run_finish (pool, data.result, error);
  g_object_unref (data.result);
  return value;
}

/**
 * acpu_process_task_pool_shutdown_async:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async) (closure user_data): called when every worker is gone
 * @user_data: data for @callback
 *
 * Shuts the pool down. From now on new tasks fail with %ACPU_ERROR_CLOSED.
 * Any thread may call it; @callback runs in that thread's thread-default
 * main context.
 *
 * With [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown] %FALSE the
 * queued and running tasks finish first; with %TRUE they are cancelled and
 * their workers killed. Either way, when @callback runs no worker process
 * and no zombie is left. Cancelling @cancellable turns the shutdown into a
 * cancelling one, and the call then fails with %G_IO_ERROR_CANCELLED once
 * the workers are gone.
 *
 * In a child that fork() made after the process used this library it
 * succeeds at once: nothing of the pool runs in that child.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_shutdown_async (ACpuProcessTaskPool *pool,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  ACpuPoolCore *core;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  core = pool->core;
  task = g_task_new (pool, cancellable, callback, user_data);
  g_task_set_source_tag (task, acpu_process_task_pool_shutdown_async);
  g_task_set_name (task, "acpu_process_task_pool_shutdown_async");

  if (acpu_io_get_generation () != 0)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  acpu_core_lock (core);
  core->closed = TRUE;
  if (g_atomic_int_get (&core->cancel_tasks_when_shutdown) ||
      g_cancellable_is_cancelled (cancellable))
    core->cancel_requested = TRUE;
  g_ptr_array_add (core->shutdown_requests, g_object_ref (task));
  acpu_core_request_locked (core);
  acpu_core_unlock (core);

  if (cancellable != NULL)
    {
      GSource *source = g_cancellable_source_new (cancellable);

      g_source_set_callback (source, G_SOURCE_FUNC (acpu_core_shutdown_cancel_cb),
                             acpu_core_ref (core), (GDestroyNotify) acpu_core_unref);
      g_source_attach (source, acpu_io_get_context ());
      g_task_set_task_data (task, source, (GDestroyNotify) g_source_destroy);
      g_source_unref (source);
    }
}

/**
 * acpu_process_task_pool_shutdown_finish:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@ACpu.ProcessTaskPool.shutdown_async], from its
 * callback.
 *
 * Returns: %TRUE when the pool is shut down, %FALSE with @error set
 *
 * Since: 0.1
 */
gboolean
acpu_process_task_pool_shutdown_finish (ACpuProcessTaskPool  *pool,
                                        GAsyncResult         *result,
                                        GError              **error)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, pool), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, acpu_process_task_pool_shutdown_async),
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * acpu_process_task_pool_shutdown:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a #GError
 *
 * Shuts the pool down and waits until every worker is gone, like
 * [method@ACpu.ProcessTaskPool.shutdown_async]. Do not call it from a task
 * callback of the same pool on a thread that must run that callback.
 *
 * Returns: %TRUE when the pool is shut down, %FALSE with @error set
 *
 * Since: 0.1
 */
gboolean
acpu_process_task_pool_shutdown (ACpuProcessTaskPool  *pool,
                                 GCancellable         *cancellable,
                                 GError              **error)
{
  g_autoptr(GMainContext) context = NULL;
  ACpuSyncData data = { NULL };
  gboolean ret;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  acpu_process_task_pool_shutdown_async (pool, cancellable, acpu_sync_cb, &data);
  acpu_sync_wait (context, &data);
  g_main_context_pop_thread_default (context);

  ret = acpu_process_task_pool_shutdown_finish (pool, data.result, error);
  g_object_unref (data.result);
  return ret;
}

