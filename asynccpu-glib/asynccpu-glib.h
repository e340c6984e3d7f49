/* asynccpu-glib.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ACPU_INSIDE
# include "acpu-version.h"
# include "acpu-version-macros.h"
# include "acpu-enum-types.h"
# include "acpu-error.h"
# include "acpu-launcher.h"
# include "acpu-process-task-pool.h"
# include "acpu-task.h"
# include "acpu-worker.h"
# include "acpu-worker-exit.h"
# include "acpu-worker-info.h"
# include "acpu-pool-stats.h"
#undef ACPU_INSIDE

G_END_DECLS
