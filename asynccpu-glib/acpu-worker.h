/* acpu-worker.h
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

G_BEGIN_DECLS

/**
 * ACpuTaskFunc:
 * @args: the task's arguments, as the caller passed them to
 *   [method@ACpu.ProcessTaskPool.run_async] (`()` when it passed `NULL`)
 * @cancellable: (nullable): cancelled when the caller cancels the task or the
 *   pool shuts down with [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown]
 * @user_data: (closure): the data given to [method@ACpu.Worker.register]
 * @error: return location for a #GError
 *
 * A task function, run in a worker process on its main thread.
 *
 * The function returns the task's result, or sets @error and returns `NULL`.
 * The error's domain (by its quark's name), code and message reach the caller.
 * A function that returns `NULL` without setting @error fails the task with
 * %ACPU_ERROR_FAILED. A floating result is sunk.
 *
 * Returns: (transfer full) (nullable): the result
 *
 * Since: 0.1
 */
typedef GVariant *(*ACpuTaskFunc) (GVariant      *args,
                                   GCancellable  *cancellable,
                                   gpointer       user_data,
                                   GError       **error);

#define ACPU_TYPE_WORKER (acpu_worker_get_type ())

ACPU_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (ACpuWorker, acpu_worker, ACPU, WORKER, GObject)

/**
 * ACpuAsyncTaskFunc:
 * @worker: the [class@ACpu.Worker] running the task
 * @args: the task's arguments, as the caller passed them to
 *   [method@ACpu.ProcessTaskPool.run_async] (`()` when it passed `NULL`)
 * @cancellable: (nullable): cancelled when the caller cancels the task or the
 *   pool shuts down with [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown]
 * @user_data: (closure): the data given to [method@ACpu.Worker.register_async]
 *
 * An asynchronous task function, started in a worker process on its main
 * thread. It ends the task, now or later, with
 * [method@ACpu.Worker.return_value], [method@ACpu.Worker.return_gerror] or
 * [method@ACpu.Worker.return_error]. Keep a reference to @args or
 * @cancellable to use them after returning.
 *
 * Since: 0.1
 */
typedef void (*ACpuAsyncTaskFunc) (ACpuWorker    *worker,
                                   GVariant      *args,
                                   GCancellable  *cancellable,
                                   gpointer       user_data);

ACPU_AVAILABLE_IN_ALL
ACpuWorker  *acpu_worker_new                (void) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
void         acpu_worker_register           (ACpuWorker     *worker,
                                             const char     *name,
                                             ACpuTaskFunc    func,
                                             gpointer        user_data,
                                             GDestroyNotify  user_data_free);
ACPU_AVAILABLE_IN_ALL
void         acpu_worker_register_async     (ACpuWorker        *worker,
                                             const char        *name,
                                             ACpuAsyncTaskFunc  func,
                                             gpointer           user_data,
                                             GDestroyNotify     user_data_free);
ACPU_AVAILABLE_IN_ALL
void         acpu_worker_set_task_types     (ACpuWorker     *worker,
                                             const char     *name,
                                             const char     *args_type,
                                             const char     *result_type);
ACPU_AVAILABLE_IN_ALL
void         acpu_worker_return_value       (ACpuWorker     *worker,
                                             GVariant       *value);
ACPU_AVAILABLE_IN_ALL
void         acpu_worker_return_gerror      (ACpuWorker     *worker,
                                             const GError   *error);
ACPU_AVAILABLE_IN_ALL
void         acpu_worker_return_error       (ACpuWorker     *worker,
                                             const char     *domain,
                                             int             code,
                                             const char     *message);
ACPU_AVAILABLE_IN_ALL
int          acpu_worker_run                (ACpuWorker     *worker);
ACPU_AVAILABLE_IN_ALL
gboolean     acpu_worker_is_worker_process  (void);
ACPU_AVAILABLE_IN_ALL
const char  *acpu_worker_get_current_task   (ACpuWorker     *worker);
ACPU_AVAILABLE_IN_ALL
void         acpu_worker_set_task_error     (ACpuWorker     *worker,
                                             const char     *domain,
                                             int             code,
                                             const char     *message);
ACPU_AVAILABLE_IN_ALL
ACpuWorker  *acpu_worker_get_running        (void);
ACPU_AVAILABLE_IN_ALL
void         acpu_worker_report_progress    (ACpuWorker     *worker,
                                             double          fraction,
                                             const char     *text);
ACPU_AVAILABLE_IN_ALL
gboolean     acpu_worker_send_partial       (ACpuWorker     *worker,
                                             GVariant       *value,
                                             GError        **error);

G_END_DECLS
