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
#include "acpu-worker-exit.h"

G_BEGIN_DECLS

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

G_END_DECLS
