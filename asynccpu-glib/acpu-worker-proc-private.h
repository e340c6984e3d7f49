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

#include <sys/types.h>

#include "acpu-error.h"
#include "acpu-launcher.h"
#include "acpu-wire-private.h"
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

/* The handle's insides, for its own three files only (acpu-worker-proc.c,
 * acpu-worker-proc-channel.c, acpu-worker-proc-stderr.c): the pool goes
 * through the functions above. */

struct _ACpuWorkerProc
{
  gatomicrefcount          ref_count;

  char                   **argv;
  char                    *display_name; /* argv[0] as valid UTF-8, for messages */
  char                    *program;      /* for messages: the script or program;
                                          * set once by get_program(), any thread */
  guint64                  max_size;
  guint                    handshake_timeout_ms;
  ACpuWorkerProcCallbacks  callbacks;
  gpointer                 user_data;

  GMainContext            *context;     /* the I/O thread's: every source goes there */
  GSubprocess             *subprocess;
  GPid                     pid;

  /* The output side may be used from a caller's thread too
   * (acpu_worker_proc_send_now()): out_lock guards it and the descriptor's
   * closing. Everything else is the I/O thread's. */
  GMutex                   out_lock;
  int                      fd;
  ACpuWireOut              out;
  GSource                 *write_source;
  gboolean                 closing;
  gboolean                 channel_done;
  gboolean                 out_broken;
  gboolean                 ready;        /* set once, before anyone calls send_now() */
  /* The partial values' window (ACPU_WIRE_PARTIAL_WINDOW) of the request
   * that sends them, also under out_lock: the reader adds, an ack takes. */
  guint64                  partial_id;
  guint                    partial_unacked;
  guint64                  partial_unacked_bytes;

  GSource                 *read_source;
  gboolean                 read_paused;  /* a caller waits for the reply itself */
  GSource                 *timer;
  GSource                 *stall_timer;  /* runs from a frame's first byte */
  guint64                  n_frames;     /* frames parsed here, to tell a new one */
  gsize                    stall_progress; /* bytes read since the stall timer started */
  GSource                 *stderr_source;
  int                      stderr_fd;
  GString                 *stderr_tail;
  /* Passing its stderr on to ours, never blocking (acpu_worker_proc_forward()). */
  GByteArray              *fwd_buf;      /* what fd 2 has not taken yet */
  guint64                  fwd_dropped;  /* bytes dropped since the last note */
  int                      fwd_fd;       /* our non-blocking opening of fd 2's pipe or tty */
  dev_t                    fwd_dev;      /* ... and what fd 2 was when we opened it */
  ino_t                    fwd_ino;
  GSource                 *fwd_source;  /* waits for fd 2 to take more */
  int                      fwd_source_fd;
  /* Before the magic: a UTF-8 sequence cut by the end of a read. */
  guint8                   preamble_carry[4];
  guint                    preamble_carry_len;
  guint64                  memory_limit;
  int                      priority;    /* ACpuWorkerPriority; set before start() */
  ACpuLauncher            *launcher;    /* NULL: started here; frozen, set before start() */
  gint64                   log_window_start;
  guint                    log_count;
  guint                    log_dropped;
  gint64                   log_time_us;  /* spent relaying in this window */
  guint                    new_domains;  /* error domains it may still make; atomic */
  /* The input side: the I/O thread reads under in_lock, and so does a
   * caller waiting for the reply to a request it sent itself
   * (acpu_worker_proc_claim_reply()). What that caller leaves in `in` the
   * I/O thread parses (parse_pending), and a malformed reply it took is
   * reported there (pending_error). */
  GMutex                   in_lock;
  ACpuWireIn               in;
  gint                     parse_pending;
  GError                  *pending_error;
  /* A value being mapped and checked on a thread of its own: nothing after
   * it is parsed, and the channel is not read, until it is delivered. The
   * I/O thread sets and clears it with in_lock held; claim_reply() reads it
   * under in_lock. */
  gboolean                 loading;
  GHashTable              *task_names;
  GHashTable              *task_types;  /* name → GStrv { args type, result type }, "" for
                                         * any; set before ready(), then read-only */

  GError                  *reason;      /* why it is ending, when we know better than the exit status */
  guint                    started : 1;
  guint                    magic : 1;     /* the channel's magic has come */
  guint                    awaiting_types : 1; /* a hello came that a TYPES frame follows */
  guint                    process_done : 1;
  guint                    reported : 1;
};

/* The channel's read source. Nothing iterates the I/O thread's context from
 * inside a callback, so it may recurse: then GLib leaves its descriptor in
 * the poll set around each dispatch instead of waking the context twice to
 * take it out and put it back. While a caller waits for a reply itself, it
 * asks for no input (a hang-up still comes). */
typedef struct
{
  GSource         source;
  ACpuWorkerProc *proc;
  GPollFD         pfd;
} ACpuReadSource;

extern GSourceFuncs acpu_worker_proc_read_source_funcs;

/* acpu-worker-proc.c: the handle's life. */
void  acpu_worker_proc_clear_timer     (ACpuWorkerProc  *self);
void  acpu_worker_proc_clear_source    (GSource        **source);
void  acpu_worker_proc_finish_channel  (ACpuWorkerProc  *self);
void  acpu_worker_proc_fail            (ACpuWorkerProc  *self,
                                        ACpuError        code,
                                        const char      *what);
void  acpu_worker_proc_end             (ACpuWorkerProc  *self);

/* acpu-worker-proc-channel.c: reading and writing the channel. */
void  acpu_worker_proc_read            (ACpuWorkerProc  *self,
                                        guint            max_reads);
void  acpu_worker_proc_flush_locked    (ACpuWorkerProc  *self);

/* acpu-worker-proc-stderr.c: its stderr and other output. */
char *acpu_worker_proc_escape          (const char      *data,
                                        gsize            len);
void  acpu_worker_proc_clear_stderr    (ACpuWorkerProc  *self);
void  acpu_worker_proc_clear_forward   (ACpuWorkerProc  *self);
char *acpu_worker_proc_stderr_lines    (ACpuWorkerProc  *self,
                                        const char      *sep);
char *acpu_worker_proc_stderr_tail     (ACpuWorkerProc  *self);
gboolean acpu_worker_proc_read_stderr  (ACpuWorkerProc  *self);
void  acpu_worker_proc_pass_output     (ACpuWorkerProc  *self,
                                        const void      *buf,
                                        gsize            len);
gboolean acpu_worker_proc_stderr_cb    (int              fd,
                                        GIOCondition     condition,
                                        gpointer         user_data);

G_END_DECLS
