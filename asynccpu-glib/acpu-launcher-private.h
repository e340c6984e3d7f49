/* acpu-launcher-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-launcher-private.h"
#endif

#include <gio/gio.h>

#include "acpu-launcher.h"

G_BEGIN_DECLS

/* What a worker handle asks of a launcher when it spawns through it. A
 * launcher is frozen (acpu_launcher_freeze()) when a pool takes it: from then
 * on it is read-only, and any thread may call these. */

/* Any thread: no more changes (the setters then refuse). */
void      acpu_launcher_freeze        (ACpuLauncher        *self);

/* Any thread, frozen: the command line that starts @worker_argv through the
 * launcher, with @worker_env (NAME=VALUE) in the worker's environment
 * however the launcher gets it there. *@extra_fd is a descriptor the child
 * must have as fd 3 (the sandbox's seccomp filter), or -1; it is the
 * caller's to close. NULL and @error (ACPU_ERROR_WORKER_START) when the
 * launcher cannot be used here (the sandbox without bwrap). */
char    **acpu_launcher_build_argv    (ACpuLauncher        *self,
                                       const char * const  *worker_argv,
                                       const char * const  *worker_env,
                                       int                 *extra_fd,
                                       GError             **error);

/* Any thread, frozen: whether the process the pool starts is the worker's
 * ancestor on this machine, whose rlimits the worker inherits (not ssh). */
gboolean  acpu_launcher_limits_apply  (ACpuLauncher        *self);

/* Any thread, frozen: the signal that ends the launcher and what it runs,
 * for a kill and as its parent-death signal: SIGKILL, but SIGTERM for srun,
 * which ends its job step on SIGTERM and leaves it running on SIGKILL. */
int       acpu_launcher_get_stop_signal (ACpuLauncher      *self);

/* Any thread, frozen: what went wrong, as "; …", for a worker that died
 * before its handshake having written @stderr_text; or NULL. */
char     *acpu_launcher_explain_failure (ACpuLauncher      *self,
                                         const char        *stderr_text);

/* [io]: @pid, a process started through the launcher, has been reaped with
 * @wait_status: cleans up what it may have left elsewhere (srun killed by a
 * signal: its job step). */
void      acpu_launcher_reaped        (ACpuLauncher        *self,
                                       GPid                 pid,
                                       int                  wait_status);

G_END_DECLS
