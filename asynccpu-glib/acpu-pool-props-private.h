/* acpu-pool-props-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-pool-props-private.h"
#endif

#include <glib-object.h>

#include "acpu-process-task-pool.h"

G_BEGIN_DECLS

/* The pool's properties, shared by the GObject (acpu-process-task-pool.c)
 * and the settings' accessors that notify them (acpu-pool-settings.c). */
enum {
  PROP_0,
  PROP_WORKER_ARGV,
  PROP_MAX_WORKERS,
  PROP_CANCEL_TASKS_WHEN_SHUTDOWN,
  PROP_CANCEL_GRACE_PERIOD,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_MAX_MESSAGE_SIZE,
  PROP_TASK_TIMEOUT,
  PROP_WORKER_MEMORY_LIMIT,
  PROP_MAX_QUEUED,
  PROP_MIN_WORKERS,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_TASKS_PER_WORKER,
  PROP_N_WORKERS,
  PROP_N_RUNNING,
  PROP_N_QUEUED,
  PROP_WORKER_PRIORITY,
  N_PROPS
};

/* Set in class_init, read-only afterwards. */
extern GParamSpec *acpu_pool_props[N_PROPS];

/* [caller], takes core->lock: has the I/O thread look again, after a
 * setting changed. */
void acpu_process_task_pool_wake (ACpuProcessTaskPool *self);

G_END_DECLS
