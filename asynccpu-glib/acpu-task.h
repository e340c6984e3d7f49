/* acpu-task.h
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

/**
 * ACpuTaskState:
 * @ACPU_TASK_STATE_QUEUED: the task waits for a worker. Since: 0.1
 * @ACPU_TASK_STATE_RUNNING: a worker runs the task. Since: 0.1
 * @ACPU_TASK_STATE_SUCCEEDED: the task returned a value. Since: 0.1
 * @ACPU_TASK_STATE_FAILED: the task failed: its function set an error, its
 *   worker died, the pool could not run it. Since: 0.1
 * @ACPU_TASK_STATE_CANCELLED: the task was cancelled. Since: 0.1
 *
 * Where a [class@ACpu.Task] is in its life. It only moves forward, and the
 * last three states are final.
 *
 * Since: 0.1
 */
typedef enum /*< underscore_name=acpu_task_state >*/
{
  ACPU_TASK_STATE_QUEUED,
  ACPU_TASK_STATE_RUNNING,
  ACPU_TASK_STATE_SUCCEEDED,
  ACPU_TASK_STATE_FAILED,
  ACPU_TASK_STATE_CANCELLED,
} ACpuTaskState;

#define ACPU_TYPE_TASK (acpu_task_get_type ())

ACPU_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (ACpuTask, acpu_task, ACPU, TASK, GObject)

ACPU_AVAILABLE_IN_ALL
const char      *acpu_task_get_name          (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
ACpuTaskState    acpu_task_get_state         (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
double           acpu_task_get_progress      (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
const char      *acpu_task_get_status_text   (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
int              acpu_task_get_worker_pid    (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
int              acpu_task_get_priority      (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
gint64           acpu_task_get_queued_time   (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
gint64           acpu_task_get_started_time  (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
gint64           acpu_task_get_finished_time (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
gboolean         acpu_task_is_finished       (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
void             acpu_task_cancel            (ACpuTask             *task);
ACPU_AVAILABLE_IN_ALL
GVariant        *acpu_task_get_result        (ACpuTask             *task,
                                              GError              **error) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
ACpuWorkerExit  *acpu_task_get_worker_exit   (ACpuTask             *task) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
void             acpu_task_wait_async        (ACpuTask             *task,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
ACPU_AVAILABLE_IN_ALL
GVariant        *acpu_task_wait_finish       (ACpuTask             *task,
                                              GAsyncResult         *result,
                                              GError              **error) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
