/* acpu-task-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-task-private.h"
#endif

#include <gio/gio.h>

#include "acpu-worker-proc-private.h"

G_BEGIN_DECLS

/* A task handle's feed: what the I/O thread [io] hears about a job that an
 * ACpuTask watches — it runs, its progress, its partial values — kept under
 * the feed's own lock (a leaf: nothing else is taken while it is held but a
 * GMainContext's, inside g_source_set_ready_time()) until the task's
 * context [context] takes it, once per iteration at most. The job and the
 * handle each hold a reference. */
typedef struct _ACpuTaskFeed ACpuTaskFeed;

ACpuTaskFeed *acpu_task_feed_ref      (ACpuTaskFeed   *feed);
void          acpu_task_feed_unref    (ACpuTaskFeed   *feed);
/* [io]: the job is first in its worker's line: it runs. */
void          acpu_task_feed_started  (ACpuTaskFeed   *feed,
                                       ACpuWorkerProc *proc,
                                       guint64         id);
/* [io]: the latest progress; earlier ones not yet taken are dropped. */
void          acpu_task_feed_progress (ACpuTaskFeed   *feed,
                                       double          fraction,
                                       const char     *text);
/* [io]: a partial value, to acknowledge to @proc when the task's context
 * has handled it; FALSE when the handle is done (the caller acknowledges
 * it then). */
gboolean      acpu_task_feed_partial  (ACpuTaskFeed   *feed,
                                       ACpuWorkerProc *proc,
                                       guint64         id,
                                       GVariant       *value);

G_END_DECLS
