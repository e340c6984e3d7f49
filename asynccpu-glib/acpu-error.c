/* acpu-error.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "acpu-error.h"

/**
 * acpu_error_quark:
 *
 * The error domain of asynccpu-glib.
 *
 * Returns: the quark of the `ACPU_ERROR` domain, [error@ACpu.Error]
 *
 * Since: 0.1
 */
G_DEFINE_QUARK (acpu-error-quark, acpu_error)
