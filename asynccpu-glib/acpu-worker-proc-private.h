/* acpu-worker-proc-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-worker-proc-private.h"
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/* One live worker process, seen from the pool: it spawns the process, does
 * the handshake, sends requests and cancels, reads and checks replies, kills
 * it, and tells when it is gone. It knows nothing of queues. Everything here
 * runs on the I/O thread (acpu-io-private.h), except what a caller uses to
 * run a task on an idle worker without the I/O thread (the pool's "offer"):
 * acpu_worker_proc_send_now(), has_task(), get_fd(), and
 * take_reply() between try_lock_input() and unlock_input(). */

typedef struct _ACpuWorkerProc ACpuWorkerProc;

typedef struct
{
  /* The handshake is done: the worker takes requests. */
  void (*ready)  (ACpuWorkerProc  *proc,
                  gpointer         user_data);
  /* The answer to request @id: @value or @error (both transfer none). */
  void (*reply)  (ACpuWorkerProc  *proc,
                  guint64          id,
                  GVariant        *value,
                  const GError    *error,
                  gpointer         user_data);
  /* A log record the worker wrote while running request @id (0: none). */
  void (*log)    (ACpuWorkerProc  *proc,
                  guint64          id,
                  GLogLevelFlags   log_level,
                  GVariant        *fields,
                  gpointer         user_data);
  /* Called once, last: the process is gone (or never started). @error says
   * why in ACPU_ERROR: WORKER_START, WORKER_DIED or PROTOCOL; it is NULL
   * when the worker exited cleanly after acpu_worker_proc_close(). */
  void (*exited) (ACpuWorkerProc  *proc,
                  const GError    *error,
                  gpointer         user_data);
} ACpuWorkerProcCallbacks;

ACpuWorkerProc *acpu_worker_proc_new          (const char * const            *argv,
                                               guint64                        max_size,
                                               guint                          handshake_timeout_ms,
                                               const ACpuWorkerProcCallbacks *callbacks,
                                               gpointer                       user_data);
ACpuWorkerProc *acpu_worker_proc_ref          (ACpuWorkerProc                *proc);
void            acpu_worker_proc_unref        (ACpuWorkerProc                *proc);
void            acpu_worker_proc_set_memory_limit (ACpuWorkerProc            *proc,
                                                   guint64                    bytes);
void            acpu_worker_proc_start        (ACpuWorkerProc                *proc);
gboolean        acpu_worker_proc_send         (ACpuWorkerProc                *proc,
                                               guint64                        id,
                                               const char                    *name,
                                               GVariant                      *args,
                                               GError                       **error);
gboolean        acpu_worker_proc_send_now     (ACpuWorkerProc                *proc,
                                               guint64                        id,
                                               const char                    *name,
                                               GVariant                      *args);
typedef enum
{
  ACPU_WORKER_PROC_REPLY_NONE,   /* nothing yet */
  ACPU_WORKER_PROC_REPLY_TAKEN,  /* the reply: value or error */
  ACPU_WORKER_PROC_REPLY_OTHER,  /* something else: the I/O thread must look */
} ACpuWorkerProcReply;

void            acpu_worker_proc_pause_reading (ACpuWorkerProc               *proc,
                                                gboolean                      paused);
int             acpu_worker_proc_get_fd       (ACpuWorkerProc                *proc);
gboolean        acpu_worker_proc_try_lock_input (ACpuWorkerProc              *proc);
void            acpu_worker_proc_unlock_input (ACpuWorkerProc                *proc);
ACpuWorkerProcReply acpu_worker_proc_take_reply (ACpuWorkerProc              *proc,
                                                 guint64                      id,
                                                 GVariant                   **value,
                                                 GError                     **error);
void            acpu_worker_proc_cancel       (ACpuWorkerProc                *proc,
                                               guint64                        id);
void            acpu_worker_proc_flush        (ACpuWorkerProc                *proc);
void            acpu_worker_proc_close        (ACpuWorkerProc                *proc);
void            acpu_worker_proc_kill         (ACpuWorkerProc                *proc,
                                               const GError                  *reason);
GPid            acpu_worker_proc_get_pid      (ACpuWorkerProc                *proc);
gboolean        acpu_worker_proc_is_ready     (ACpuWorkerProc                *proc);
gboolean        acpu_worker_proc_was_killed_from_outside (ACpuWorkerProc     *proc);
gboolean        acpu_worker_proc_has_task     (ACpuWorkerProc                *proc,
                                               const char                    *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ACpuWorkerProc, acpu_worker_proc_unref)

G_END_DECLS
