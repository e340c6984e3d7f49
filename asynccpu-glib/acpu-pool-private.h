/* acpu-pool-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-pool-private.h"
#endif

#include <gio/gio.h>

#include "acpu-checks-private.h"
#include "acpu-process-task-pool.h"
#include "acpu-worker-proc-private.h"

G_BEGIN_DECLS

/* The pool's rooms, which share this header (json-glib's way):
 *
 *   acpu-process-task-pool.c  the GObject: construction, properties, the
 *                             notifications of the counters
 *   acpu-pool-submit.c        run/run_async and shutdown: handing work and
 *                             requests to the core
 *   acpu-pool-core.c          the core on the I/O thread: handing over,
 *                             the queue, scheduling, cancel, shutdown
 *   acpu-pool-slot.c          a worker as the core sees it: spawn, the
 *                             handle's callbacks, grace and idle timers
 *   acpu-pool-direct.c        the direct path: a task submitted alone goes
 *                             from the caller's thread to an idle worker,
 *                             and its reply is read in the caller's context
 *   acpu-pool-delivery.c      results back to each caller's context, and
 *                             the counters to the pool's
 *   acpu-pool-job.c           a job's states and their transitions
 *
 * Where code runs. Five kinds of execution context touch the pool:
 *
 *   [io]      the I/O thread (acpu-io-private.h), shared by every pool:
 *             the core, the slots, the handles, gathering of results;
 *   [caller]  any thread that calls the public API, under core->lock for
 *             anything shared (submit, the direct send, a wakeup);
 *   [context] a caller's thread-default main context: delivery of results,
 *             the direct path's reply source, the submit kick;
 *   [owner]   the pool creator's thread-default context: notify;
 *   [cancel]  whichever thread cancels a GCancellable: a signal handler
 *             that only asks the I/O thread to look.
 *
 * Each function below and in the .c files says which of these runs it and
 * which lock it needs; the ones that need core->lock end in `_locked`.
 *
 * Lock order (also in acpu-worker-proc-private.h):
 *
 *   handle input lock  →  core->lock  →  handle output lock
 *
 * The handle's input lock is taken inside acpu_worker_proc_read() and
 * acpu_worker_proc_claim_reply(), whose claim function takes core->lock; the
 * output lock inside acpu_worker_proc_send*(), cancel(), flush() and close(),
 * which may be called with core->lock held. Nothing takes the input lock
 * with core->lock or the output lock held.
 */

typedef struct _ACpuPoolCore ACpuPoolCore;
typedef struct _ACpuSlot     ACpuSlot;
typedef struct _ACpuJob      ACpuJob;

#define ACPU_POOL_DEFAULT_GRACE_MS        500
#define ACPU_POOL_DEFAULT_HANDSHAKE_MS    30000
#define ACPU_POOL_DEFAULT_IDLE_TIMEOUT_MS 30000
/* Deaths before the handshake in a row that fail the whole queue. */
#define ACPU_POOL_MAX_START_FAILURES      3

/* A job's life (acpu-pool-job.c has the transitions and checks them):
 *
 *   NEW ──► INCOMING ──► QUEUED ──► RUNNING ──► DONE
 *    │                     ▲  │       │  ▲ │
 *    │                     └──┼───────┘  │ └──► ABANDONED ──► DONE
 *    └──► DIRECT ─────────────┼──────────┘
 *           └──► DONE         └──► DONE
 *
 * RUNNING → QUEUED: its worker died with it not started (not the first in
 * line). DIRECT → RUNNING: the I/O thread took it over (acpu_core_absorb()).
 * DIRECT → DONE: its caller read the reply (acpu-pool-direct.c). Any state
 * but ABANDONED may go to DONE; NEW → DONE is a job refused before it was
 * handed over. */
typedef enum
{
  ACPU_JOB_NEW,        /* made by run_async(); on no list; [caller] */
  ACPU_JOB_INCOMING,   /* handed over: on core->incoming; under core->lock */
  ACPU_JOB_DIRECT,     /* sent by its caller to the offered worker: on
                        * core->sent, under core->lock; its reply source
                        * reads the reply unless the I/O thread takes over */
  ACPU_JOB_QUEUED,     /* on core->queue; [io] */
  ACPU_JOB_RUNNING,    /* on a slot's in-flight list, its GTask not yet
                        * returned; [io] */
  ACPU_JOB_ABANDONED,  /* on a slot's in-flight list, its GTask returned
                        * already (cancelled, timed out): it waits for the
                        * worker's answer or death; [io] */
  ACPU_JOB_DONE,       /* on no list, its GTask returned: freed next */
} ACpuJobState;

struct _ACpuJob
{
  GList         link;           /* in incoming, sent, queue or a slot's in-flight
                                 * list, as `state` says: owned like that list */
  ACpuJobState  state;          /* acpu_job_set_state() only; guarded like `link` */
  GTask        *task;           /* until returned: NULL in ABANDONED and DONE */
  char         *name;           /* read-only after creation */
  GVariant     *args;           /* read-only after creation */
  guint64       id;             /* set under core->lock when handed over, then read-only */
  ACpuSlot     *slot;           /* DIRECT, RUNNING, ABANDONED: its worker; guarded like `link` */
  gint64        sent_time;      /* guarded like `link` */
  /* [io] only, from the moment the I/O thread has the job: */
  GSource      *cancel_source;
  GSource      *timeout_source;
  gint64        cancel_time;    /* 0, or when it was abandoned (acpu_slot_abandon()) */
  gboolean      pipelined;      /* sent while its worker had others in flight */
};

/* A worker process as the core sees it. [io] only, but for `direct_use`.
 * Whether the worker takes requests is the handle's to say
 * (acpu_worker_proc_is_ready(), acpu_worker_proc_is_started()); the slot
 * keeps what the pool decided and what it sent. */
struct _ACpuSlot
{
  ACpuPoolCore   *core;         /* a reference, read-only */
  ACpuWorkerProc *proc;         /* a reference, read-only */
  GQueue          inflight;     /* ACpuJob RUNNING or ABANDONED, in the order sent */
  GSource        *grace_timer;
  gint64          last_reply_time;
  guint           n_cancelling; /* ABANDONED jobs waiting for the grace period */
  guint           n_sent;
  gint64          idle_since;   /* 0 while it has work */
  gint64          direct_use;   /* under core->lock: a caller last ran a task on it itself */
  gboolean        closing;      /* closed or killed by us: takes no more work */
  gboolean        dirty;        /* requests written, not yet flushed */
};

struct _ACpuPoolCore
{
  gatomicrefcount  ref_count;
  char           **argv;        /* set before the first task, then read-only */
  guint            generation;  /* acpu_io_get_generation() when made; read-only */
  gboolean         chain;       /* made in a worker, to start that worker's own program
                                 * again: refuses tasks; set before the first task */

  /* Settings: any thread, atomically. */
  guint            max_workers;
  guint            grace_ms;
  guint            handshake_ms;
  gint             cancel_tasks_when_shutdown;
  guint            task_timeout_ms;
  guint            max_queued;
  guint            min_workers;
  guint            idle_timeout_ms;
  guint            max_tasks_per_worker;

  /* Counters: written on the I/O thread, and by [caller] and [context] for
   * jobs on the direct path, always atomically; read anywhere. */
  gint             n_workers;
  gint             n_running;
  gint             n_queued;

  /* Notifications in the pool's own context [owner]. */
  GWeakRef         pool;
  GMainContext    *owner_context;   /* read-only */
  gint             notify_pending;  /* atomic */
  gint             notify_listened; /* atomic: the pool had notify handlers at the last run_async() */
  GSource         *notify_source;   /* read-only; attached to owner_context */

  /* Guarded by `lock`: take it with acpu_core_lock(), which records the
   * owner for ACPU_ASSERT_LOCKED(). */
  GMutex           lock;
  GThread         *lock_owner;  /* atomic; written only with checks on */
  guint64          max_size;
  guint64          memory_limit;
  GQueue           incoming;    /* ACpuJob INCOMING */
  GQueue           sent;        /* ACpuJob DIRECT */
  GPtrArray       *shutdown_requests;
  gboolean         wake_pending; /* something other than a job wants looking at */
  gboolean         io_sleeping;  /* the I/O thread may be in poll(): wake it */
  GMainContext    *kick_context; /* a wakeup deferred to the end of a dispatch there */
  ACpuSlot        *offered;     /* an idle worker a caller may run a task on itself */
  gint             offer_gen;   /* atomic too: changes whenever the I/O thread takes the offer back */
  guint64          next_id;
  gboolean         closed;
  gboolean         cancel_requested;
  gboolean         finalized;

  /* [io] only. */
  ACpuSlot        *paused;      /* the offered worker, whose replies callers read */
  GSource         *wake_source;
  GSource         *idle_timer;
  GSource         *returns_source;
  GArray          *returns;     /* ACpuReturn, to deliver */
  GQueue           queue;       /* ACpuJob QUEUED */
  GPtrArray       *slots;
  GPtrArray       *shutdown_waiters;
  guint            n_starting;
  guint            start_failures;
  double           service_us;
  gboolean         shutting_down;
  gboolean         cancelling_all;
  gboolean         scheduling;
  gboolean         reschedule;
};

/* The GObject (acpu-process-task-pool.c). Its fields are [caller]'s but
 * for the notified_* ones, which only the pool creator's context [owner]
 * touches. */
struct _ACpuProcessTaskPool
{
  GObject       parent_instance;
  ACpuPoolCore *core;           /* read-only */
  char        **worker_argv;    /* construct-only */
  guint         notified_workers;
  guint         notified_running;
  guint         notified_queued;
};

/* The pool's lock, with its owner recorded when checks are on. */
#ifdef ACPU_ENABLE_CHECKS
# define ACPU_ASSERT_LOCKED(core) \
  g_assert (g_atomic_pointer_get (&(core)->lock_owner) == g_thread_self ())
# define ACPU_ASSERT_UNLOCKED(core) \
  g_assert (g_atomic_pointer_get (&(core)->lock_owner) != g_thread_self ())
#else
# define ACPU_ASSERT_LOCKED(core) G_STMT_START { } G_STMT_END
# define ACPU_ASSERT_UNLOCKED(core) G_STMT_START { } G_STMT_END
#endif

/* Any thread: takes core->lock. */
static inline void
acpu_core_lock (ACpuPoolCore *core)
{
  ACPU_ASSERT_UNLOCKED (core);
  g_mutex_lock (&core->lock);
#ifdef ACPU_ENABLE_CHECKS
  g_atomic_pointer_set (&core->lock_owner, g_thread_self ());
#endif
}

/* Any thread, with core->lock held: lets it go. */
static inline void
acpu_core_unlock (ACpuPoolCore *core)
{
  ACPU_ASSERT_LOCKED (core);
#ifdef ACPU_ENABLE_CHECKS
  g_atomic_pointer_set (&core->lock_owner, NULL);
#endif
  g_mutex_unlock (&core->lock);
}

/* The core's own GSources on the I/O thread carry it. */
typedef struct
{
  GSource       source;
  ACpuPoolCore *core;
} ACpuCoreSource;

/* acpu-pool-job.c: any thread, under whatever guards the job's list. */
ACpuJob      *acpu_job_new                (const char    *name,
                                           GVariant      *args);
void          acpu_job_set_state          (ACpuJob       *job,
                                           ACpuJobState   state);
const char   *acpu_job_state_to_string    (ACpuJobState   state);
void          acpu_job_free               (ACpuJob       *job);
ACpuJob      *acpu_job_find               (GQueue        *jobs,
                                           guint64        id);

/* acpu-pool-core.c, any thread. */
ACpuPoolCore *acpu_core_new               (ACpuProcessTaskPool *pool);
ACpuPoolCore *acpu_core_ref               (ACpuPoolCore  *core);
void          acpu_core_unref             (ACpuPoolCore  *core);
GSource      *acpu_core_source_new        (ACpuPoolCore  *core,
                                           GSourceFuncs  *funcs,
                                           const char    *name);
char        **acpu_core_self_argv         (void);
gboolean      acpu_core_argv_is_self      (char               **argv);
/* acpu-pool-core.c, [caller] or [context] with core->lock held. */
void          acpu_core_wake_locked       (ACpuPoolCore  *core);
void          acpu_core_wake_for_locked   (ACpuPoolCore  *core,
                                           GMainContext  *context);
void          acpu_core_request_locked    (ACpuPoolCore  *core);
/* acpu-pool-core.c, [io]. */
void          acpu_core_absorb            (ACpuPoolCore  *core);
void          acpu_core_schedule          (ACpuPoolCore  *core);
void          acpu_core_arm_idle_timer    (ACpuPoolCore  *core,
                                           gint64         delay_us);
void          acpu_core_cancel_all        (ACpuPoolCore  *core);
gboolean      acpu_core_shutdown_cancel_cb (GCancellable *cancellable,
                                           gpointer       user_data);

/* acpu-pool-slot.c, [io]. */
void          acpu_slot_spawn             (ACpuPoolCore  *core);
void          acpu_slot_abandon           (ACpuSlot      *slot,
                                           ACpuJob       *job);

/* acpu-pool-direct.c. */
/* [io]: offers an idle worker to callers, or takes the offer back. */
void          acpu_core_offer             (ACpuPoolCore  *core);
/* [caller] with core->lock held: sends a NEW job to the offered worker;
 * *@reply is its reply source, or NULL when the I/O thread takes over. */
gboolean      acpu_direct_send_locked     (ACpuPoolCore  *core,
                                           ACpuJob       *job,
                                           GSource      **reply);
/* [caller], core->lock not held: attaches a reply source to @context. */
void          acpu_direct_reply_source_attach (GSource      *source,
                                               GCancellable *cancellable,
                                               GMainContext *context);

/* acpu-pool-delivery.c. */
/* [io]: returns the job's GTask (once) through the caller's context. */
void          acpu_job_return             (ACpuPoolCore  *core,
                                           ACpuJob       *job,
                                           GVariant      *value,
                                           const GError  *error);
void          acpu_job_return_new_error   (ACpuPoolCore  *core,
                                           ACpuJob       *job,
                                           GQuark         domain,
                                           gint           code,
                                           const char    *format,
                                           ...) G_GNUC_PRINTF (5, 6);
void          acpu_job_return_cancelled   (ACpuPoolCore  *core,
                                           ACpuJob       *job);
void          acpu_job_return_failed      (ACpuPoolCore  *core,
                                           ACpuJob       *job,
                                           const GError  *error);
/* [io]: hands what was gathered to the callers' contexts now. */
void          acpu_core_deliver           (ACpuPoolCore  *core);
/* [io]: the gathering source and its array, for acpu_core_new(). */
void          acpu_core_init_delivery     (ACpuPoolCore  *core);
void          acpu_core_clear_delivery    (ACpuPoolCore  *core);
/* Any thread: the counters changed, or change them. */
void          acpu_core_counters_changed  (ACpuPoolCore  *core);
void          acpu_core_count             (ACpuPoolCore  *core,
                                           gint          *counter,
                                           gint           delta);
/* [owner]: the notify source, for acpu_core_new(). */
GSource      *acpu_core_notify_source_new (ACpuPoolCore  *core);

/* acpu-pool-submit.c, any thread: the key of a GTask's ACpuWorkerExit. */
GQuark        acpu_worker_exit_quark      (void);

/* acpu-process-task-pool.c. */
/* [owner]: notifies the counters that changed. */
void          acpu_process_task_pool_notify_counters (ACpuProcessTaskPool *self);
/* [caller]: whether anyone listens to those notifications. */
gboolean      acpu_process_task_pool_is_watched      (ACpuProcessTaskPool *self);

G_END_DECLS
