/* acpu-error-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-error-private.h"
#endif

#include <glib.h>

G_BEGIN_DECLS

/* Error domains a worker names by a string, turned back into quarks here.
 * Quarks are never freed, so new ones are rationed twice: each worker may
 * make at most ACPU_ERROR_MAX_NEW_DOMAINS_PER_WORKER (its own budget, which
 * it cannot take from another worker), and the process at most
 * ACPU_ERROR_MAX_NEW_DOMAINS in all. */
#define ACPU_ERROR_MAX_NEW_DOMAINS_PER_WORKER 16
#define ACPU_ERROR_MAX_NEW_DOMAINS            4096

GError *acpu_error_new_remote (guint      *budget,
                               const char *domain,
                               gint32      code,
                               const char *message);

G_END_DECLS
