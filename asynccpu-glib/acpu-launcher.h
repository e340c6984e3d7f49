/* acpu-launcher.h
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

#define ACPU_TYPE_LAUNCHER (acpu_launcher_get_type ())

ACPU_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (ACpuLauncher, acpu_launcher, ACPU, LAUNCHER, GObject)

ACPU_AVAILABLE_IN_ALL
ACpuLauncher        *acpu_launcher_new               (const char * const *prefix) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
ACpuLauncher        *acpu_launcher_new_ssh           (const char         *destination,
                                                      const char * const *ssh_options) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
ACpuLauncher        *acpu_launcher_new_srun          (const char * const *srun_options) G_GNUC_WARN_UNUSED_RESULT;
ACPU_AVAILABLE_IN_ALL
ACpuLauncher        *acpu_launcher_new_bwrap_sandbox (void) G_GNUC_WARN_UNUSED_RESULT;

ACPU_AVAILABLE_IN_ALL
const char * const  *acpu_launcher_get_prefix        (ACpuLauncher       *self);
ACPU_AVAILABLE_IN_ALL
const char          *acpu_launcher_get_host          (ACpuLauncher       *self);
ACPU_AVAILABLE_IN_ALL
void                 acpu_launcher_set_host          (ACpuLauncher       *self,
                                                      const char         *host);
ACPU_AVAILABLE_IN_ALL
gboolean             acpu_launcher_get_quote_argv    (ACpuLauncher       *self);
ACPU_AVAILABLE_IN_ALL
void                 acpu_launcher_set_quote_argv    (ACpuLauncher       *self,
                                                      gboolean            quote_argv);
ACPU_AVAILABLE_IN_ALL
gboolean             acpu_launcher_get_pass_fds      (ACpuLauncher       *self);
ACPU_AVAILABLE_IN_ALL
void                 acpu_launcher_set_pass_fds      (ACpuLauncher       *self,
                                                      gboolean            pass_fds);
ACPU_AVAILABLE_IN_ALL
gboolean             acpu_launcher_get_remote        (ACpuLauncher       *self);
ACPU_AVAILABLE_IN_ALL
void                 acpu_launcher_set_remote        (ACpuLauncher       *self,
                                                      gboolean            remote);
ACPU_AVAILABLE_IN_ALL
char                *acpu_launcher_describe          (ACpuLauncher       *self) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
