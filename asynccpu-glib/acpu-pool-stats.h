/* acpu-pool-stats.h
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

#define ACPU_TYPE_POOL_STATS (acpu_pool_stats_get_type ())

ACPU_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (ACpuPoolStats, acpu_pool_stats, ACPU, POOL_STATS, GObject)

ACPU_AVAILABLE_IN_ALL
guint64  acpu_pool_stats_get_submitted     (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
guint64  acpu_pool_stats_get_succeeded     (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
guint64  acpu_pool_stats_get_failed        (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
guint64  acpu_pool_stats_get_cancelled     (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
guint64  acpu_pool_stats_get_worker_starts (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
guint64  acpu_pool_stats_get_worker_deaths (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
guint    acpu_pool_stats_get_n_workers     (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
guint    acpu_pool_stats_get_n_queued      (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
guint    acpu_pool_stats_get_n_running     (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
double   acpu_pool_stats_get_elapsed       (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
double   acpu_pool_stats_get_utilization   (ACpuPoolStats *stats);
ACPU_AVAILABLE_IN_ALL
double   acpu_pool_stats_get_wait_time     (ACpuPoolStats *stats,
                                            double         percentile);
ACPU_AVAILABLE_IN_ALL
double   acpu_pool_stats_get_run_time      (ACpuPoolStats *stats,
                                            double         percentile);

G_END_DECLS
