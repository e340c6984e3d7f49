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
 *   acpu-pool-settings.c      the settings' getters and setters
 *                             (acpu-pool-props-private.h)
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
 *   acpu-pool-stats.c         the counters and summaries (ACpuPoolStats),
 *                             cancel-all
 *   acpu-pool-workers.c       the worker table and the pool's worker model
 *   acpu-task.c               a task handle (ACpuTask) and its feed: what
 *                             the I/O thread hears of a job (it runs, its
 *                             progress, its partial values) for the
 *                             caller's context (acpu-task-private.h)
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
 * core->deliveries_lock is a leaf, taken with no other lock held.
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
typedef struct _ACpuSource   ACpuSource;
typedef struct _ACpuTaskFeed ACpuTaskFeed;  /* acpu-task-private.h */

/* How many queue-wait and run-time samples the stats keep, the latest
 * ones (acpu-pool-stats.c). */
#define ACPU_POOL_STATS_SAMPLES           4096

/* A ring of the latest samples, in microseconds, and the largest ever. */
typedef struct
{
  gint64 *values;               /* ACPU_POOL_STATS_SAMPLES of them, allocated when first used */
  guint   next;
  guint   len;
  gint64  max;
} ACpuSamples;

/* The pool's statistics since the last reset: all under core->lock. */
typedef struct
{
  gint64      since;            /* monotonic time of the last reset */
  guint64     submitted, succeeded, failed, cancelled;
  guint64     worker_starts, worker_deaths;
  gint64      busy_us;          /* the run time of the tasks that ended */
  ACpuSamples wait;             /* from hand-over to a worker */
  ACpuSamples run;              /* from sent to answered, of those that were */
} ACpuPoolStatsData;

/* One worker as the worker model shows it (acpu-pool-workers.c): published
 * by the I/O thread (and the direct path) under core->lock. */
typedef struct
{
  gpointer         key;         /* its slot: for identity only, never followed */
  GPid             pid;
  ACpuWorkerState  state;
  char            *task_name;   /* owned */
  guint            tasks_done;
} ACpuWorkerRecord;

#define ACPU_POOL_DEFAULT_GRACE_MS        500
#define ACPU_POOL_DEFAULT_HANDSHAKE_MS    30000
#define ACPU_POOL_DEFAULT_IDLE_TIMEOUT_MS 30000
/* Deaths before the handshake in a row that fail the whole queue. */
#define ACPU_POOL_MAX_START_FAILURES      3
/* A worker source that failed to start a worker is not tried again for
 * this long, doubled at each failure in a row up to the maximum, while
 * other sources can take the work (acpu-pool-source.c). */
#define ACPU_POOL_SOURCE_RETRY_MS         1000
#define ACPU_POOL_SOURCE_RETRY_MAX_MS     60000

/* Where workers start, and how many at most (acpu-pool-source.c). The
 * first of core->sources is the local one, whose capacity is max-workers;
 * the others come from acpu_process_task_pool_add_worker_source(): made by
 * [caller] on core->new_sources under core->lock, then [io] only. */
struct _ACpuSource
{
  ACpuLauncher *launcher;       /* NULL: here, as before launchers; frozen, read-only */
  char         *description;    /* for messages, read-only */
  guint         capacity;       /* read-only; unused for the local source */
  guint         n_slots;        /* [io]: its slots, closing ones too */
  guint         failures;       /* [io]: start failures in a row */
  gint64        retry_time;     /* [io]: monotonic; not started on before, if others can */
};

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
  int           priority;       /* GIO's io_priority, lower first; read-only after creation */
  ACpuTaskFeed *feed;           /* an ACpuTask's, or NULL; a reference, read-only
                                 * after creation (it has its own lock) */
  ACpuSlot     *slot;           /* DIRECT, RUNNING, ABANDONED: its worker; guarded like `link` */
  gint64        sent_time;      /* guarded like `link` */
  gint64        submit_time;    /* set when handed over, then read-only */
  /* [io] only, from the moment the I/O thread has the job: */
  GSource      *cancel_source;
  GSource      *timeout_source;
  gint64        cancel_time;    /* 0, or when it was abandoned (acpu_slot_abandon()) */
  gboolean      pipelined;      /* sent while its worker had others in flight */
  gboolean      feed_started;   /* the feed was told it runs (first in its worker's line) */
};

/* A worker process as the core sees it. [io] only, but for `direct_use`.
 * Whether the worker takes requests is the handle's to say
 * (acpu_worker_proc_is_ready(), acpu_worker_proc_is_started()); the slot
 * keeps what the pool decided and what it sent. */
struct _ACpuSlot
{
  ACpuPoolCore   *core;         /* a reference, read-only */
  ACpuWorkerProc *proc;         /* a reference, read-only */
  ACpuSource     *source;       /* where it started; read-only (the core owns it) */
  GQueue          inflight;     /* ACpuJob RUNNING or ABANDONED, in the order sent */
  GSource        *grace_timer;
  gint64          last_reply_time;
  guint           n_cancelling; /* ABANDONED jobs waiting for the grace period */
  guint           n_sent;
  gint64          idle_since;   /* 0 while it has work */
  gint64          direct_use;   /* under core->lock: a caller last ran a task on it itself */
  gboolean        closing;      /* closed or killed by us: takes no more work */
  gboolean        dirty;        /* requests written, not yet flushed */
  guint           n_replies;    /* answers read by the I/O thread */
  guint           n_direct_done; /* under core->lock: answers its callers read themselves */
  const char     *direct_task;  /* under core->lock: the name of the DIRECT job on it, or NULL */
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
  gint             local_off;   /* no local workers (add_worker_source (NULL, 0)) */

  /* Counters: written on the I/O thread, and by [caller] and [context] for
   * jobs on the direct path, always atomically; read anywhere. */
  gint             n_workers;
  /* The tasks queued (low 32 bits) and running (high 32 bits) in one word,
   * so a job that moves from one to the other is one atomic change and no
   * reader ever sees it in neither: acpu_core_count_jobs(),
   * acpu_core_get_n_queued(), acpu_core_get_n_running(). A job leaves both
   * under core->lock, with its outcome counted in `stats` (acpu-pool-stats.c). */
  gint64           jobs;

  /* Notifications in the pool's own context [owner]. */
  GWeakRef         pool;
  GMainContext    *owner_context;   /* read-only */
  gint             notify_pending;  /* atomic */
  gint             notify_listened; /* atomic: the pool had notify handlers at the last run_async() */
  GSource         *notify_source;   /* read-only; attached to owner_context */

  /* Results on their way to the callers' contexts (acpu-pool-delivery.c):
   * the delivery source each context has while results wait there, by
   * context. A leaf lock: taken with no other lock held. */
  GMutex           deliveries_lock;
  GHashTable      *deliveries;  /* GMainContext * → ACpuDeliverySource *, no refs */

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
  guint64          n_direct;    /* tasks sent the direct way (for tests) */
  guint64          next_id;
  gboolean         closed;
  gboolean         cancel_requested;
  gboolean         finalized;
  GPtrArray       *new_sources; /* ACpuSource, added by callers, for the I/O thread */
  GHashTable      *task_types;  /* name → GStrv { args type, result type }, "" for any:
                                 * the tasks of the worker that last finished its
                                 * handshake (acpu_worker_proc_dup_task_table()); NULL before */
  guint64          cancel_upto; /* acpu_process_task_pool_cancel_all(): jobs up to this id */
  ACpuPoolStatsData stats;      /* acpu-pool-stats.c */
  GArray          *workers;     /* ACpuWorkerRecord, published by the I/O thread when
                                 * `workers_watched`, read by [owner] */
  guint            workers_serial; /* bumped when `workers` changes */
  gint             workers_watched; /* atomic too: the pool's worker model exists */
  gint             worker_priority; /* atomic: ACpuWorkerPriority for new workers */

  /* [io] only. */
  ACpuSlot        *paused;      /* the offered worker, whose replies callers read */
  GSource         *wake_source;
  GSource         *idle_timer;
  GSource         *returns_source;
  GArray          *returns;     /* ACpuReturn, to deliver */
  GQueue           queue;       /* ACpuJob QUEUED */
  GPtrArray       *slots;
  GPtrArray       *sources;     /* ACpuSource, the local one first */
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
  GListStore   *workers;        /* [owner]: ACpuWorkerInfo, once asked for */
  guint         workers_serial; /* [owner]: of the core's table it shows */
  GSource      *workers_timer;  /* [owner]: reads CPU time and RSS */
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
void          acpu_core_enqueue           (ACpuPoolCore  *core,
                                           ACpuJob       *job,
                                           gboolean       front);
gboolean      acpu_core_shutdown_cancel_cb (GCancellable *cancellable,
                                           gpointer       user_data);

/* acpu-pool-source.c. */
/* Any thread: a source of workers, started through @launcher (nullable). */
ACpuSource   *acpu_source_new             (ACpuLauncher  *launcher,
                                           guint          capacity);
void          acpu_source_free            (ACpuSource    *source);
/* [io]: how many workers @source may have now. */
guint         acpu_source_get_capacity    (ACpuPoolCore  *core,
                                           ACpuSource    *source);
/* [io], takes core->lock: the source to start the next worker on (local
 * first), or NULL when all are full or waiting to retry. */
ACpuSource   *acpu_core_pick_source       (ACpuPoolCore  *core);
/* [io]: @source could not start a worker (@error): it waits before it is
 * tried again. Returns whether another source can take the work now. */
gboolean      acpu_source_start_failed    (ACpuPoolCore  *core,
                                           ACpuSource    *source,
                                           const GError  *error);
/* [io]: @source started a worker. */
void          acpu_source_started         (ACpuSource    *source);

/* acpu-pool-slot.c, [io]. */
void          acpu_slot_spawn             (ACpuPoolCore  *core,
                                           ACpuSource    *source);
void          acpu_slot_abandon           (ACpuSlot      *slot,
                                           ACpuJob       *job);
void          acpu_slot_job_first         (ACpuSlot      *slot);

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

/* acpu-pool-submit.c, [caller]: run_async() with a priority and an
 * ACpuTask's feed (nullable); the GTask is tagged as run_async()'s. */
void          acpu_pool_submit            (ACpuProcessTaskPool *pool,
                                           const char          *task_name,
                                           GVariant            *args,
                                           int                  io_priority,
                                           ACpuTaskFeed        *feed,
                                           GCancellable        *cancellable,
                                           GAsyncReadyCallback  callback,
                                           gpointer             user_data);

/* acpu-pool-stats.c. */
/* Any thread: changes the queued and running counts at once. */
void          acpu_core_count_jobs        (ACpuPoolCore  *core,
                                           gint           d_queued,
                                           gint           d_running);
guint         acpu_core_get_n_queued      (ACpuPoolCore  *core);
guint         acpu_core_get_n_running     (ACpuPoolCore  *core);
typedef enum
{
  ACPU_JOB_OUTCOME_SUCCEEDED,
  ACPU_JOB_OUTCOME_FAILED,
  ACPU_JOB_OUTCOME_CANCELLED,
} ACpuJobOutcome;

/* What the counters need to know of a job that ended, taken when its GTask
 * is returned and folded into the stats later, with others, under one lock
 * (acpu_core_stats_jobs_ended_locked()). */
typedef struct
{
  gint64  submit_time;          /* the job's, or 0 */
  gint64  sent_time;            /* the job's, or 0: never sent */
  gint64  end_time;             /* when it ended, if it was running */
  guint8  was_running;          /* running (or DIRECT), not queued */
  guint8  outcome;              /* ACpuJobOutcome */
} ACpuJobEnd;

/* Any thread: the facts of @job ending now, @was_running, with @error. */
void          acpu_job_end_init           (ACpuJobEnd    *end,
                                           ACpuJob       *job,
                                           gboolean       was_running,
                                           const GError  *error);
/* Any thread, with core->lock held: jobs end (their GTasks are returned):
 * the queued and running counts go down and their outcomes are counted, in
 * one critical section. @ends are read @stride bytes apart. */
void          acpu_core_stats_jobs_ended_locked (ACpuPoolCore     *core,
                                                 const ACpuJobEnd *ends,
                                                 gsize             stride,
                                                 guint             n_ends);
/* Any thread, with core->lock held: one job ends. */
void          acpu_core_stats_job_ended_locked (ACpuPoolCore *core,
                                                ACpuJob      *job,
                                                gboolean      was_running,
                                                const GError *error);
/* [io], takes core->lock: a worker starts, or ends (@died: not closed by us). */
void          acpu_core_stats_worker_started (ACpuPoolCore *core);
void          acpu_core_stats_worker_ended   (ACpuPoolCore *core,
                                              gboolean      died);
/* [io]: cancels the jobs with ids up to @upto, leaving the workers be. */
void          acpu_core_cancel_upto       (ACpuPoolCore  *core,
                                           guint64        upto);
/* Any thread, from the last acpu_core_unref(). */
void          acpu_core_clear_stats       (ACpuPoolCore  *core);

/* acpu-pool-workers.c. */
/* [io], takes core->lock when someone watches: publishes the workers' states. */
void          acpu_core_publish_workers   (ACpuPoolCore  *core);
/* Any thread, with core->lock held: the direct path changed @slot. */
void          acpu_core_publish_direct_locked (ACpuPoolCore *core,
                                               ACpuSlot     *slot);
/* [owner]: brings the pool's worker model up to date; or stops it. */
void          acpu_process_task_pool_sync_workers  (ACpuProcessTaskPool *self);
void          acpu_process_task_pool_clear_workers (ACpuProcessTaskPool *self);

/* acpu-pool-submit.c, any thread: the key of a GTask's ACpuWorkerExit. */
GQuark        acpu_worker_exit_quark      (void);

/* acpu-process-task-pool.c. */
/* [owner]: notifies the counters that changed. */
void          acpu_process_task_pool_notify_counters (ACpuProcessTaskPool *self);
/* [caller]: whether anyone listens to those notifications. */
gboolean      acpu_process_task_pool_is_watched      (ACpuProcessTaskPool *self);

G_END_DECLS
