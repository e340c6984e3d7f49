/* acpu-version-macros.h
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

#ifndef _ACPU_EXTERN
# define _ACPU_EXTERN extern
#endif

#define ACPU_AVAILABLE_IN_ALL _ACPU_EXTERN
/* One macro per release that adds API, named after that release (the
 * `Since:` tags say the same): 0.1 is the first. */
#define ACPU_AVAILABLE_IN_0_1 _ACPU_EXTERN
