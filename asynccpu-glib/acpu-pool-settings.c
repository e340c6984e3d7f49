/* acpu-pool-settings.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The pool's settings: a getter and a setter for each property a caller
 * may change (max-workers, the time limits, the queue's and the workers'
 * bounds, worker-priority). Each is stored atomically in the core, where
 * the I/O thread reads it; a setter that changes what the I/O thread would
 * do now has it look again, and notifies the property. Any thread may call
 * them [caller]. The GObject and its property table are in
 * acpu-process-task-pool.c.
 */

#include "config.h"

#include "acpu-enum-types.h"
#include "acpu-error.h"
#include "acpu-pool-private.h"
#include "acpu-pool-props-private.h"
#include "acpu-process-task-pool.h"
#include "acpu-wire-private.h"

/**
 * acpu_process_task_pool_get_max_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:max-workers].
 *
 * Any thread may call it.
 *
 * Returns: the largest number of workers at once
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_max_workers (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->max_workers);
}

/**
 * acpu_process_task_pool_set_max_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @max_workers: the largest number of workers at once, or 0 for the
 *   number of processors
 *
 * Sets [property@ACpu.ProcessTaskPool:max-workers]. Raising it lets queued
 * tasks start at once; lowering it does not stop workers that are busy.
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_max_workers (ACpuProcessTaskPool *pool,
                                        guint                max_workers)
{
  ACpuPoolCore *core;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (max_workers <= G_MAXINT);

  if (max_workers == 0)
    max_workers = MAX (1, g_get_num_processors ());

  core = pool->core;
  if ((guint) g_atomic_int_exchange (&core->max_workers, max_workers) == max_workers)
    return;

  acpu_process_task_pool_wake (pool);
  g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_MAX_WORKERS]);
}

/**
 * acpu_process_task_pool_get_cancel_tasks_when_shutdown:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown].
 *
 * Any thread may call it.
 *
 * Returns: whether a shutdown cancels the tasks left
 *
 * Since: 0.1
 */
gboolean
acpu_process_task_pool_get_cancel_tasks_when_shutdown (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), FALSE);

  return g_atomic_int_get (&pool->core->cancel_tasks_when_shutdown);
}

/**
 * acpu_process_task_pool_set_cancel_tasks_when_shutdown:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @cancel_tasks_when_shutdown: whether a shutdown cancels the tasks left
 *
 * Sets [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_cancel_tasks_when_shutdown (ACpuProcessTaskPool *pool,
                                                       gboolean             cancel_tasks_when_shutdown)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));

  cancel_tasks_when_shutdown = !!cancel_tasks_when_shutdown;
  if (g_atomic_int_exchange (&pool->core->cancel_tasks_when_shutdown,
                             cancel_tasks_when_shutdown) != cancel_tasks_when_shutdown)
    g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_CANCEL_TASKS_WHEN_SHUTDOWN]);
}

/**
 * acpu_process_task_pool_get_cancel_grace_period:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:cancel-grace-period].
 *
 * Any thread may call it.
 *
 * Returns: the grace period in milliseconds
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_cancel_grace_period (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->grace_ms);
}

/**
 * acpu_process_task_pool_set_cancel_grace_period:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @msec: the grace period in milliseconds
 *
 * Sets [property@ACpu.ProcessTaskPool:cancel-grace-period].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_cancel_grace_period (ACpuProcessTaskPool *pool,
                                                guint                msec)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (msec <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->grace_ms, msec) != msec)
    g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_CANCEL_GRACE_PERIOD]);
}

/**
 * acpu_process_task_pool_get_handshake_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:handshake-timeout].
 *
 * Any thread may call it.
 *
 * Returns: the handshake timeout in milliseconds
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_handshake_timeout (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->handshake_ms);
}

/**
 * acpu_process_task_pool_set_handshake_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @msec: the timeout in milliseconds, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:handshake-timeout].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_handshake_timeout (ACpuProcessTaskPool *pool,
                                              guint                msec)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (msec <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->handshake_ms, msec) != msec)
    g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_HANDSHAKE_TIMEOUT]);
}

/**
 * acpu_process_task_pool_get_task_types:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @task_name: a task name
 * @args_type: (out) (optional) (nullable) (transfer full): the GVariant type
 *   string the task's arguments must have, or `NULL` for any
 * @result_type: (out) (optional) (nullable) (transfer full): the GVariant
 *   type string of the task's result, or `NULL` for any
 *
 * Tells whether the pool's workers have a task @task_name and which types
 * it declared with [method@ACpu.Worker.set_task_types], for a user
 * interface or an introspection tool. The pool learns them from a worker's
 * handshake: before the first worker has started (run a task first, or
 * set [property@ACpu.ProcessTaskPool:min-workers]) this returns %FALSE, as
 * it does for a name the workers do not have.
 *
 * Any thread may call it.
 *
 * Returns: %TRUE when the workers have the task
 *
 * Since: 0.1
 */
gboolean
acpu_process_task_pool_get_task_types (ACpuProcessTaskPool  *pool,
                                       const char           *task_name,
                                       char                **args_type,
                                       char                **result_type)
{
  char **types = NULL;
  gboolean found;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), FALSE);
  g_return_val_if_fail (task_name != NULL, FALSE);

  acpu_core_lock (pool->core);
  if (pool->core->task_types != NULL)
    types = g_strdupv (g_hash_table_lookup (pool->core->task_types, task_name));
  acpu_core_unlock (pool->core);

  found = types != NULL;
  if (args_type != NULL)
    *args_type = found && types[0][0] != '\0' ? g_strdup (types[0]) : NULL;
  if (result_type != NULL)
    *result_type = found && types[1][0] != '\0' ? g_strdup (types[1]) : NULL;
  g_strfreev (types);
  return found;
}

/**
 * acpu_process_task_pool_get_max_message_size:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:max-message-size].
 *
 * Any thread may call it.
 *
 * Returns: the largest message in bytes
 *
 * Since: 0.1
 */
guint64
acpu_process_task_pool_get_max_message_size (ACpuProcessTaskPool *pool)
{
  guint64 size;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  acpu_core_lock (pool->core);
  size = pool->core->max_size;
  acpu_core_unlock (pool->core);
  return size;
}

/**
 * acpu_process_task_pool_set_max_message_size:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @max_message_size: the largest message in bytes
 *
 * Sets [property@ACpu.ProcessTaskPool:max-message-size].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_max_message_size (ACpuProcessTaskPool *pool,
                                             guint64              max_message_size)
{
  gboolean changed;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (max_message_size >= 1024);
  g_return_if_fail (max_message_size <= G_MAXUINT32 - ACPU_WIRE_HEADER_SIZE);

  acpu_core_lock (pool->core);
  changed = pool->core->max_size != max_message_size;
  pool->core->max_size = max_message_size;
  acpu_core_unlock (pool->core);

  if (changed)
    g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_MAX_MESSAGE_SIZE]);
}

/**
 * acpu_process_task_pool_get_task_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:task-timeout].
 *
 * Any thread may call it.
 *
 * Returns: the timeout in milliseconds, or 0
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_task_timeout (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->task_timeout_ms);
}

/**
 * acpu_process_task_pool_set_task_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @msec: the timeout in milliseconds, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:task-timeout].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_task_timeout (ACpuProcessTaskPool *pool,
                                         guint                msec)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (msec <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->task_timeout_ms, msec) == msec)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_TASK_TIMEOUT]);
}

/**
 * acpu_process_task_pool_get_max_queued:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:max-queued].
 *
 * Any thread may call it.
 *
 * Returns: the bound, or 0
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_max_queued (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->max_queued);
}

/**
 * acpu_process_task_pool_set_max_queued:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @max_queued: the bound, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:max-queued].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_max_queued (ACpuProcessTaskPool *pool,
                                       guint                max_queued)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (max_queued <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->max_queued, max_queued) == max_queued)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_MAX_QUEUED]);
}

/**
 * acpu_process_task_pool_get_min_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:min-workers].
 *
 * Any thread may call it.
 *
 * Returns: the number of workers kept started
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_min_workers (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->min_workers);
}

/**
 * acpu_process_task_pool_set_min_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @min_workers: the number of workers to keep started
 *
 * Sets [property@ACpu.ProcessTaskPool:min-workers].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_min_workers (ACpuProcessTaskPool *pool,
                                        guint                min_workers)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (min_workers <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->min_workers, min_workers) == min_workers)
    return;

  acpu_process_task_pool_wake (pool);
  g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_MIN_WORKERS]);
}

/**
 * acpu_process_task_pool_get_idle_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:idle-timeout].
 *
 * Any thread may call it.
 *
 * Returns: the idle timeout in milliseconds, or 0
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_idle_timeout (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->idle_timeout_ms);
}

/**
 * acpu_process_task_pool_set_idle_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @msec: the idle timeout in milliseconds, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:idle-timeout].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_idle_timeout (ACpuProcessTaskPool *pool,
                                         guint                msec)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (msec <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->idle_timeout_ms, msec) == msec)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_IDLE_TIMEOUT]);
}

/**
 * acpu_process_task_pool_get_max_tasks_per_worker:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:max-tasks-per-worker].
 *
 * Any thread may call it.
 *
 * Returns: the limit, or 0
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_max_tasks_per_worker (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->max_tasks_per_worker);
}

/**
 * acpu_process_task_pool_set_max_tasks_per_worker:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @max_tasks: the limit, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:max-tasks-per-worker].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_max_tasks_per_worker (ACpuProcessTaskPool *pool,
                                                 guint                max_tasks)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (max_tasks <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->max_tasks_per_worker, max_tasks) == max_tasks)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_MAX_TASKS_PER_WORKER]);
}

/**
 * acpu_process_task_pool_get_worker_memory_limit:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:worker-memory-limit].
 *
 * Any thread may call it.
 *
 * Returns: the limit in bytes, or 0
 *
 * Since: 0.1
 */
guint64
acpu_process_task_pool_get_worker_memory_limit (ACpuProcessTaskPool *pool)
{
  guint64 limit;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  acpu_core_lock (pool->core);
  limit = pool->core->memory_limit;
  acpu_core_unlock (pool->core);
  return limit;
}

/**
 * acpu_process_task_pool_set_worker_memory_limit:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @bytes: the limit in bytes, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:worker-memory-limit].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_worker_memory_limit (ACpuProcessTaskPool *pool,
                                                guint64              bytes)
{
  gboolean changed;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));

  acpu_core_lock (pool->core);
  changed = pool->core->memory_limit != bytes;
  pool->core->memory_limit = bytes;
  acpu_core_unlock (pool->core);

  if (changed)
    g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_WORKER_MEMORY_LIMIT]);
}

/**
 * acpu_process_task_pool_get_worker_priority:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:worker-priority].
 *
 * Any thread may call it.
 *
 * Returns: the CPU priority of new workers
 *
 * Since: 0.1
 */
ACpuWorkerPriority
acpu_process_task_pool_get_worker_priority (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), ACPU_WORKER_PRIORITY_NORMAL);

  return g_atomic_int_get (&pool->core->worker_priority);
}

/**
 * acpu_process_task_pool_set_worker_priority:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @priority: the CPU priority of workers started from now on
 *
 * Sets [property@ACpu.ProcessTaskPool:worker-priority].
 *
 * Any thread may call it; the notification, if the value changed, is
 * emitted in the calling thread.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_worker_priority (ACpuProcessTaskPool *pool,
                                            ACpuWorkerPriority   priority)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (priority <= ACPU_WORKER_PRIORITY_IDLE);

  if ((ACpuWorkerPriority) g_atomic_int_exchange (&pool->core->worker_priority, priority) == priority)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), acpu_pool_props[PROP_WORKER_PRIORITY]);
}
