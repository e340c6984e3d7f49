/* acpu-worker-exit.h
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

#define ACPU_TYPE_WORKER_EXIT (acpu_worker_exit_get_type ())

ACPU_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (ACpuWorkerExit, acpu_worker_exit, ACPU, WORKER_EXIT, GObject)

ACPU_AVAILABLE_IN_ALL
int         acpu_worker_exit_get_pid         (ACpuWorkerExit *self);
ACPU_AVAILABLE_IN_ALL
gboolean    acpu_worker_exit_get_exited      (ACpuWorkerExit *self);
ACPU_AVAILABLE_IN_ALL
int         acpu_worker_exit_get_exit_status (ACpuWorkerExit *self);
ACPU_AVAILABLE_IN_ALL
int         acpu_worker_exit_get_signal      (ACpuWorkerExit *self);
ACPU_AVAILABLE_IN_ALL
const char *acpu_worker_exit_get_stderr_tail (ACpuWorkerExit *self);
ACPU_AVAILABLE_IN_ALL
const char *acpu_worker_exit_get_task_name   (ACpuWorkerExit *self);

G_END_DECLS
