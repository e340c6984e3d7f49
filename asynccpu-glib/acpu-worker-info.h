/* acpu-worker-info.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACPU_INSIDE) && !defined(ACPU_COMPILATION)
# error "Only <asynccpu-glib.h> can be included directly."
#endif

#include <glib-object.h>

#include "acpu-version-macros.h"

G_BEGIN_DECLS

/**
 * ACpuWorkerState:
 * @ACPU_WORKER_STATE_STARTING: the process is starting: no handshake yet
 * @ACPU_WORKER_STATE_IDLE: ready, with no task
 * @ACPU_WORKER_STATE_BUSY: running a task
 * @ACPU_WORKER_STATE_CLOSING: closed or killed by the pool: it takes no more work
 *
 * What a worker process of a pool is doing, as
 * [property@ACpu.WorkerInfo:state] shows it.
 *
 * Since: 0.1
 */
typedef enum /*< underscore_name=acpu_worker_state >*/
{
  ACPU_WORKER_STATE_STARTING,
  ACPU_WORKER_STATE_IDLE,
  ACPU_WORKER_STATE_BUSY,
  ACPU_WORKER_STATE_CLOSING,
} ACpuWorkerState;

#define ACPU_TYPE_WORKER_INFO (acpu_worker_info_get_type ())

ACPU_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (ACpuWorkerInfo, acpu_worker_info, ACPU, WORKER_INFO, GObject)

ACPU_AVAILABLE_IN_ALL
GPid             acpu_worker_info_get_pid        (ACpuWorkerInfo *info);
ACPU_AVAILABLE_IN_ALL
ACpuWorkerState  acpu_worker_info_get_state      (ACpuWorkerInfo *info);
ACPU_AVAILABLE_IN_ALL
const char      *acpu_worker_info_get_task_name  (ACpuWorkerInfo *info);
ACPU_AVAILABLE_IN_ALL
guint            acpu_worker_info_get_tasks_done (ACpuWorkerInfo *info);
ACPU_AVAILABLE_IN_ALL
double           acpu_worker_info_get_cpu_time   (ACpuWorkerInfo *info);
ACPU_AVAILABLE_IN_ALL
guint64          acpu_worker_info_get_rss        (ACpuWorkerInfo *info);

G_END_DECLS
