/* acpu-worker-info-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-worker-info-private.h"
#endif

#include "acpu-worker-info.h"

G_BEGIN_DECLS

/* All [owner]: the pool's worker model makes and updates these in the pool
 * creator's context, and notifies there what changed. */
ACpuWorkerInfo *acpu_worker_info_new        (GPid             pid);
void            acpu_worker_info_update     (ACpuWorkerInfo  *info,
                                             ACpuWorkerState  state,
                                             const char      *task_name,
                                             guint            tasks_done);
/* Reads CPU time and RSS from /proc/PID/stat and statm. */
void            acpu_worker_info_read_proc  (ACpuWorkerInfo  *info);

G_END_DECLS
