/* acpu-process-task-pool.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACPU_INSIDE) && !defined(ACPU_COMPILATION)
# error "Only <asynccpu-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include "acpu-version-macros.h"
#include "acpu-launcher.h"
#include "acpu-task.h"
#include "acpu-worker-exit.h"
#include "acpu-pool-stats.h"
#include "acpu-worker-info.h"

G_BEGIN_DECLS

/**
 * ACpuWorkerPriority:
 * @ACPU_WORKER_PRIORITY_NORMAL: as the application itself
 * @ACPU_WORKER_PRIORITY_NICE: niceness +10 (`setpriority()`): the
 *   application's threads win the CPU when the cores are full
 * @ACPU_WORKER_PRIORITY_BATCH: `SCHED_BATCH` with niceness +10: CPU-bound
 *   work, never preferred for a wakeup
 * @ACPU_WORKER_PRIORITY_IDLE: `SCHED_IDLE`: runs only on CPU time nobody else
 *   wants, as tracker-miners runs its extractors
 *
 * The CPU priority of a pool's worker processes
 * ([property@ACpu.ProcessTaskPool:worker-priority]), set when each starts.
 *
 * Since: 0.1
 */
typedef enum /*< underscore_name=acpu_worker_priority >*/
{
  ACPU_WORKER_PRIORITY_NORMAL,
  ACPU_WORKER_PRIORITY_NICE,
  ACPU_WORKER_PRIORITY_BATCH,
  ACPU_WORKER_PRIORITY_IDLE,
} ACpuWorkerPriority;

#define ACPU_TYPE_PROCESS_TASK_POOL (acpu_process_task_pool_get_type ())

ACPU_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (ACpuProcessTaskPool, acpu_process_task_pool, ACPU, PROCESS_TASK_POOL, GObject)

ACPU_AVAILABLE_IN_ALL
ACpuProcessTaskPool  *acpu_process_task_pool_new                            (const char * const  *worker_argv,
                                                                             guint                max_workers) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_run_async                      (ACpuProcessTaskPool *pool,
                                                                             const char          *task_name,
                                                                             GVariant            *args,
                                                                             GCancellable        *cancellable,
                                                                             GAsyncReadyCallback  callback,
                                                                             gpointer             user_data);
ACPU_AVAILABLE_IN_ALL
ACpuTask             *acpu_process_task_pool_start                          (ACpuProcessTaskPool *pool,
                                                                             const char          *task_name,
                                                                             GVariant            *args,
                                                                             int                  io_priority,
                                                                             GCancellable        *cancellable) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
GVariant             *acpu_process_task_pool_run_finish                     (ACpuProcessTaskPool *pool,
                                                                             GAsyncResult        *result,
                                                                             GError             **error) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
ACpuWorkerExit       *acpu_process_task_pool_get_worker_exit                (ACpuProcessTaskPool *pool,
                                                                             GAsyncResult        *result) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
GVariant             *acpu_process_task_pool_run                            (ACpuProcessTaskPool *pool,
                                                                             const char          *task_name,
                                                                             GVariant            *args,
                                                                             GCancellable        *cancellable,
                                                                             GError             **error) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_shutdown_async                 (ACpuProcessTaskPool *pool,
                                                                             GCancellable        *cancellable,
                                                                             GAsyncReadyCallback  callback,
                                                                             gpointer             user_data);
ACPU_AVAILABLE_IN_ALL
gboolean              acpu_process_task_pool_shutdown_finish                (ACpuProcessTaskPool *pool,
                                                                             GAsyncResult        *result,
                                                                             GError             **error);
ACPU_AVAILABLE_IN_ALL
gboolean              acpu_process_task_pool_shutdown                       (ACpuProcessTaskPool *pool,
                                                                             GCancellable        *cancellable,
                                                                             GError             **error);

ACPU_AVAILABLE_IN_ALL
const char * const   *acpu_process_task_pool_get_worker_argv                (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_max_workers                (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_max_workers                (ACpuProcessTaskPool *pool,
                                                                             guint                max_workers);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_add_worker_source              (ACpuProcessTaskPool *pool,
                                                                             ACpuLauncher        *launcher,
                                                                             guint                capacity);
ACPU_AVAILABLE_IN_ALL
gboolean              acpu_process_task_pool_get_cancel_tasks_when_shutdown (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_cancel_tasks_when_shutdown (ACpuProcessTaskPool *pool,
                                                                             gboolean             cancel_tasks_when_shutdown);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_cancel_grace_period        (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_cancel_grace_period        (ACpuProcessTaskPool *pool,
                                                                             guint                msec);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_handshake_timeout          (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_handshake_timeout          (ACpuProcessTaskPool *pool,
                                                                             guint                msec);
ACPU_AVAILABLE_IN_ALL
gboolean              acpu_process_task_pool_get_task_types                 (ACpuProcessTaskPool  *pool,
                                                                             const char           *task_name,
                                                                             char                **args_type,
                                                                             char                **result_type);
ACPU_AVAILABLE_IN_ALL
guint64               acpu_process_task_pool_get_max_message_size           (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_max_message_size           (ACpuProcessTaskPool *pool,
                                                                             guint64              max_message_size);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_task_timeout                   (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_task_timeout                   (ACpuProcessTaskPool *pool,
                                                                             guint                msec);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_max_queued                     (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_max_queued                     (ACpuProcessTaskPool *pool,
                                                                             guint                max_queued);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_min_workers                    (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_min_workers                    (ACpuProcessTaskPool *pool,
                                                                             guint                min_workers);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_idle_timeout                   (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_idle_timeout                   (ACpuProcessTaskPool *pool,
                                                                             guint                msec);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_max_tasks_per_worker           (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_max_tasks_per_worker           (ACpuProcessTaskPool *pool,
                                                                             guint                max_tasks);
ACPU_AVAILABLE_IN_ALL
guint64               acpu_process_task_pool_get_worker_memory_limit        (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_worker_memory_limit        (ACpuProcessTaskPool *pool,
                                                                             guint64              bytes);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_n_workers                  (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_n_running                  (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
guint                 acpu_process_task_pool_get_n_queued                   (ACpuProcessTaskPool *pool);

ACPU_AVAILABLE_IN_ALL
ACpuWorkerPriority    acpu_process_task_pool_get_worker_priority            (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_set_worker_priority            (ACpuProcessTaskPool *pool,
                                                                             ACpuWorkerPriority   priority);
ACPU_AVAILABLE_IN_ALL
ACpuPoolStats        *acpu_process_task_pool_get_stats                      (ACpuProcessTaskPool *pool) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_reset_stats                    (ACpuProcessTaskPool *pool);
ACPU_AVAILABLE_IN_ALL
GListModel           *acpu_process_task_pool_get_workers                    (ACpuProcessTaskPool *pool) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
void                  acpu_process_task_pool_cancel_all                     (ACpuProcessTaskPool *pool);

G_END_DECLS
