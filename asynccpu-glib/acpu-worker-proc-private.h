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

#include "acpu-launcher.h"
#include "acpu-worker-exit.h"

G_BEGIN_DECLS

/* One live worker process, seen from the pool: it spawns the process, does
 * the handshake, sends requests and cancels, reads and checks replies, kills
 * it, and tells when it is gone. It knows nothing of queues.
 *
 * Threads. Everything here runs on the I/O thread (acpu-io-private.h),
 * which alone spawns (PR_SET_PDEATHSIG follows the thread that forked) and
 * reads the channel, except what the pool's direct path uses to run a task
 * on an idle worker without the I/O thread (acpu-pool-direct.c):
 * acpu_worker_proc_send_now(), has_task() and get_fd() from a caller's
 * thread, and claim_reply() from a caller's main context. A value that
 * comes in a memfd of ACPU_WIRE_DEFER_SIZE bytes or more is mapped and
 * checked on a short-lived thread of its own, which touches only that
 * message; the handle holds a reference meanwhile and reads no further on
 * that channel until the I/O thread has delivered it.
 *
 * Locks. `out_lock` guards the output side (taken inside send(),
 * send_now(), cancel(), flush(), close()); `in_lock` guards the input side
 * (taken by the I/O thread's reads and inside claim_reply()). Lock order,
 * the same as in acpu-pool-private.h:
 *
 *   in_lock  →  the pool's core->lock (inside a claim function)  →  out_lock
 *
 * The I/O thread's callbacks (ready, reply, log, exited) run with in_lock
 * held: they may take core->lock and send, never read this channel. */

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
  /* Progress of request @id, which the worker coalesces: @fraction is in
   * [0, 1], @text UTF-8 of at most ACPU_WIRE_MAX_PROGRESS_TEXT bytes. May
   * be NULL: progress is then dropped. */
  void (*progress) (ACpuWorkerProc *proc,
                    guint64         id,
                    double          fraction,
                    const char     *text,
                    gpointer        user_data);
  /* A partial value of request @id (transfer none), within the window
   * (ACPU_WIRE_PARTIAL_WINDOW): whoever consumes it, now or later, on any
   * thread, gives the credit back with acpu_worker_proc_ack(). May be NULL:
   * partial values are then acknowledged and dropped at once. */
  void (*partial)  (ACpuWorkerProc *proc,
                    guint64         id,
                    GVariant       *value,
                    gpointer        user_data);
} ACpuWorkerProcCallbacks;

ACpuWorkerProc *acpu_worker_proc_new          (const char * const            *argv,
                                               guint64                        max_size,
                                               guint                          handshake_timeout_ms,
                                               const ACpuWorkerProcCallbacks *callbacks,
                                               gpointer                       user_data);
ACpuWorkerProc *acpu_worker_proc_ref          (ACpuWorkerProc                *proc);
void            acpu_worker_proc_unref        (ACpuWorkerProc                *proc);
void            acpu_worker_proc_set_priority (ACpuWorkerProc                *proc,
                                               int                            priority);
void            acpu_worker_proc_set_memory_limit (ACpuWorkerProc            *proc,
                                                   guint64                    bytes);
void            acpu_worker_proc_set_launcher (ACpuWorkerProc                *proc,
                                               ACpuLauncher                  *launcher);
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
/* A caller's claim on a reply (acpu_worker_proc_claim_reply()): called with
 * in_lock held; TRUE when the caller owns the request, and then the reply is
 * its. */
typedef gboolean (*ACpuWorkerProcClaimFunc) (gpointer user_data);

ACpuWorkerProcReply acpu_worker_proc_claim_reply (ACpuWorkerProc          *proc,
                                                  guint64                  id,
                                                  ACpuWorkerProcClaimFunc  claim,
                                                  gpointer                 claim_data,
                                                  GVariant               **value,
                                                  GError                 **error);
void            acpu_worker_proc_cancel       (ACpuWorkerProc                *proc,
                                               guint64                        id);
void            acpu_worker_proc_ack          (ACpuWorkerProc                *proc,
                                               guint64                        id,
                                               guint                          count,
                                               guint64                        bytes);
void            acpu_worker_proc_flush        (ACpuWorkerProc                *proc);
void            acpu_worker_proc_close        (ACpuWorkerProc                *proc);
void            acpu_worker_proc_kill         (ACpuWorkerProc                *proc,
                                               const GError                  *reason);
GPid            acpu_worker_proc_get_pid      (ACpuWorkerProc                *proc);
gboolean        acpu_worker_proc_is_ready     (ACpuWorkerProc                *proc);
gboolean        acpu_worker_proc_is_started   (ACpuWorkerProc                *proc);
gboolean        acpu_worker_proc_was_killed_from_outside (ACpuWorkerProc     *proc);
ACpuWorkerExit *acpu_worker_proc_get_exit     (ACpuWorkerProc                *proc,
                                               const char                    *task_name);
gboolean        acpu_worker_proc_has_task     (ACpuWorkerProc                *proc,
                                               const char                    *name);
char          **acpu_worker_proc_dup_task_names (ACpuWorkerProc              *proc);
GHashTable     *acpu_worker_proc_dup_task_table (ACpuWorkerProc              *proc);
gboolean        acpu_worker_proc_get_task_types (ACpuWorkerProc              *proc,
                                                 const char                  *name,
                                                 const char                 **args_type,
                                                 const char                 **result_type);
const char     *acpu_worker_proc_get_program  (ACpuWorkerProc                *proc);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ACpuWorkerProc, acpu_worker_proc_unref)

G_END_DECLS
