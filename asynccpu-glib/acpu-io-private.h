/* acpu-io-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-io-private.h"
#endif

#include <glib.h>

G_BEGIN_DECLS

GMainContext *acpu_io_get_context    (void);
guint         acpu_io_get_generation (void);

G_END_DECLS
