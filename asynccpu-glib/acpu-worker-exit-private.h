/* acpu-worker-exit-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-worker-exit-private.h"
#endif

#include "acpu-worker-exit.h"

G_BEGIN_DECLS

/* Any thread: the facts of a worker's end. @signal is 0 when it exited;
 * @exit_status is -1 when it did not. */
ACpuWorkerExit *acpu_worker_exit_new (int         pid,
                                      int         signal,
                                      int         exit_status,
                                      const char *stderr_tail,
                                      const char *task_name);

G_END_DECLS
