/* acpu-error.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACPU_INSIDE) && !defined(ACPU_COMPILATION)
# error "Only <asynccpu-glib.h> can be included directly."
#endif

#include <glib.h>

#include "acpu-version-macros.h"

G_BEGIN_DECLS

/**
 * ACPU_ERROR:
 *
 * The error domain of asynccpu-glib: errors in it are [enum@ACpu.Error] values.
 *
 * Since: 0.1
 */
#define ACPU_ERROR (acpu_error_quark ())

/**
 * ACpuError:
 * @ACPU_ERROR_FAILED: a failure with no more specific code; also used for a
 *   task that returned neither a value nor an error, and for an error whose
 *   domain could not be carried across from the worker. Since: 0.1
 * @ACPU_ERROR_UNKNOWN_TASK: the worker has no task registered under that
 *   name. Since: 0.1
 * @ACPU_ERROR_WORKER_DIED: the worker process running the task exited or was
 *   killed before it replied; the message names the task, the process id and
 *   the signal or exit status. Since: 0.1
 * @ACPU_ERROR_WORKER_START: a worker process could not be started, or it
 *   exited or broke before it finished the handshake. Since: 0.1
 * @ACPU_ERROR_PROTOCOL: the worker sent something that is not valid on the
 *   wire (a malformed frame, a value of the wrong type, an unsealed memfd …);
 *   that worker is killed and replaced. Since: 0.1
 * @ACPU_ERROR_CLOSED: the pool is shutting down or has been shut down and
 *   takes no new task. Since: 0.1
 * @ACPU_ERROR_INVALID_ARGUMENT: the arguments or the result cannot be sent:
 *   for example they are larger than the pool's maximum message size. Since: 0.1
 * @ACPU_ERROR_QUEUE_FULL: the pool already has
 *   [property@ACpu.ProcessTaskPool:max-queued] tasks waiting. Since: 0.1
 *
 * Error codes in the `ACPU_ERROR` domain.
 *
 * Since: 0.1
 */
typedef enum /*< underscore_name=acpu_error >*/
{
  ACPU_ERROR_FAILED,
  ACPU_ERROR_UNKNOWN_TASK,
  ACPU_ERROR_WORKER_DIED,
  ACPU_ERROR_WORKER_START,
  ACPU_ERROR_PROTOCOL,
  ACPU_ERROR_CLOSED,
  ACPU_ERROR_INVALID_ARGUMENT,
  ACPU_ERROR_QUEUE_FULL,
} ACpuError;

ACPU_AVAILABLE_IN_ALL
GQuark acpu_error_quark (void);

G_END_DECLS
