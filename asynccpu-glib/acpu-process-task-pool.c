/* acpu-process-task-pool.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The pool: queue, scheduling, each task's life, shutdown.
 *
 * Two halves. The GObject lives in the caller's world: run_async() makes a
 * job, puts it on the `incoming` list under a short lock, and wakes the I/O
 * thread; nothing on the caller's thread ever waits for a worker. The core
 * lives on the I/O thread (acpu-io-private.h): it owns the FIFO queue and the
 * workers, and every change of a job's state happens there:
 *
 *   incoming ──► QUEUED ──► SENT (in a worker's in-flight list) ──► freed
 *                  │           │
 *                  │           └─ cancelled: returned at once, stays in the
 *                  │              list until the worker answers or is killed
 *                  └─ cancelled: returned and freed at once
 *
 * Each job's GTask is returned exactly once (job_return()), from the I/O
 * thread; GTask runs the callback in the caller's thread-default context.
 *
 * A worker runs its requests in order, and we keep a window of several in
 * flight per worker when tasks are short (the window follows a moving average
 * of the time a task takes, so a long task never waits behind another for
 * more than about WINDOW_TARGET_US). When a worker dies, the first job of its
 * list is the one that killed it and gets the error; the ones behind it never
 * started, and go back to the head of the queue.
 *
 * One short cut around the I/O thread, for a task submitted alone: when
 * nothing is queued and a worker is idle, the I/O thread offers that worker
 * (core_offer()). run_async() takes the offer, writes the request to the
 * worker itself, and the caller's own context reads the reply (reply_source),
 * so a round trip wakes two threads, as a bare ping-pong does, instead of
 * four. The job waits in `sent` meanwhile, and the I/O thread takes it over
 * (core_absorb()) the moment anything else needs it: a cancel, a time
 * limit, the worker's death, a log record, a shutdown, more work.
 *
 * The core outlives the GObject: when the last reference to the pool goes,
 * its workers are closed and the core goes with the last of them.
 */

#include "config.h"

#include <string.h>

#include "acpu-enum-types.h"
#include "acpu-error.h"
#include "acpu-io-private.h"
#include "acpu-process-task-pool.h"
#include "acpu-wire-private.h"
#include "acpu-worker-proc-private.h"

#define WINDOW_TARGET_US        2000.0
#define WINDOW_MAX              256
#define MAX_START_FAILURES      3
#define DEFAULT_GRACE_MS        500
#define DEFAULT_HANDSHAKE_MS    30000
#define DEFAULT_IDLE_TIMEOUT_MS 30000
/* How long one dispatch in a caller's main context may spend on callbacks
 * before it lets the context's other sources run. */
#define DELIVERY_BUDGET_US      500

/**
 * ACpuProcessTaskPool:
 *
 * Runs named task functions in a pool of worker processes and hands each
 * result back through the GIO async pattern.
 *
 * ```c
 * static void
 * done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
 * {
 *   g_autoptr(GError) error = NULL;
 *   g_autoptr(GVariant) value = NULL;
 *
 *   value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &error);
 *   if (value == NULL)
 *     g_printerr ("%s\n", error->message);
 *   else
 *     g_print ("%s\n", g_variant_print (value, TRUE));
 * }
 *
 * const char *argv[] = { "/usr/libexec/my-worker", NULL };
 * g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (argv, 4);
 *
 * acpu_process_task_pool_run_async (pool, "square", g_variant_new ("(x)", 7),
 *                                   NULL, done_cb, NULL);
 * ```
 *
 * The worker program registers its functions with [class@ACpu.Worker]. The
 * pool starts workers lazily, up to [property@ACpu.ProcessTaskPool:max-workers],
 * and reuses them; tasks beyond that wait in a FIFO queue.
 *
 * [method@ACpu.ProcessTaskPool.run_async] returns at once and the callback
 * runs in the thread-default main context of the thread that called it.
 * The pool does its I/O on a private thread, so it may be used from any
 * thread, and [method@ACpu.ProcessTaskPool.run] blocks without needing a
 * main loop.
 *
 * Cancelling a queued task completes it with %G_IO_ERROR_CANCELLED and it
 * never runs. Cancelling a running task completes it at once with
 * %G_IO_ERROR_CANCELLED and cancels the `GCancellable` the task function got
 * in the worker; if the task has not stopped after
 * [property@ACpu.ProcessTaskPool:cancel-grace-period], its worker's process
 * group is killed, and a new worker is started when one is needed.
 *
 * A worker that crashes fails only the task it was running, with
 * %ACPU_ERROR_WORKER_DIED; the pool goes on with a fresh worker. Workers
 * exit when the process that owns the pool dies, even in the middle of a
 * computation.
 *
 * ## Signals
 *
 * The library installs no signal handler. Workers run in process groups of
 * their own, so Ctrl-C in a terminal (`SIGINT` to the foreground process
 * group) reaches the application and not its workers. When the application
 * dies of it — or of `SIGTERM`, or even `SIGKILL` — every worker ends too: it
 * sees its channel close, and the kernel kills it (`PR_SET_PDEATHSIG`) even in
 * the middle of a computation. An application that handles `SIGTERM` with
 * `g_unix_signal_add()` should shut the pool down with
 * [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown] set, as
 * asynccpu's executor does on `SIGTERM`; when the shutdown returns, no worker
 * is left.
 *
 * ## Threads and logs
 *
 * Records a worker logs with `g_log()` are logged again in this process, from
 * the pool's I/O thread, with the fields `ACPU_WORKER_PID` and `ACPU_TASK`
 * added: a log writer function sees them as structured records. What a worker
 * writes to its standard error is passed on to this process's standard
 * error, and its last lines go into the message of %ACPU_ERROR_WORKER_DIED.
 *
 * Since: 0.1
 */

typedef struct _ACpuPoolCore ACpuPoolCore;
typedef struct _ACpuSlot     ACpuSlot;

typedef enum
{
  JOB_INCOMING,
  JOB_QUEUED,
  JOB_SENT,
} ACpuJobState;

typedef struct
{
  GList         link;           /* in incoming, queue or a slot's in-flight list */
  GTask        *task;           /* until returned */
  char         *name;
  GVariant     *args;
  guint64       id;
  ACpuJobState  state;
  ACpuSlot     *slot;
  GSource      *cancel_source;
  GSource      *timeout_source;
  gint64        sent_time;
  gint64        cancel_time;    /* 0, or when it was cancelled while sent */
  gboolean      pipelined;      /* sent while its worker had others in flight */
} ACpuJob;

struct _ACpuSlot
{
  ACpuPoolCore   *core;
  ACpuWorkerProc *proc;
  GQueue          inflight;     /* ACpuJob, in the order sent */
  GSource        *grace_timer;
  gint64          last_reply_time;
  guint           n_cancelling;
  guint           n_sent;
  gint64          idle_since;   /* 0 while it has work */
  gint64          direct_use;   /* under core->lock: a caller last ran a task on it itself */
  gboolean        ready;
  gboolean        closing;      /* closed or killed by us: takes no more work */
  gboolean        dirty;
};

struct _ACpuPoolCore
{
  gatomicrefcount  ref_count;
  char           **argv;

  /* Settings, read and written atomically. */
  guint            max_workers;
  guint            grace_ms;
  guint            handshake_ms;
  gint             cancel_tasks_when_shutdown;
  guint            task_timeout_ms;
  guint            max_queued;
  guint            min_workers;
  guint            idle_timeout_ms;
  guint            max_tasks_per_worker;
  guint64          max_size;    /* under lock */
  guint64          memory_limit; /* under lock */

  /* Counters, written on the I/O thread, read anywhere. */
  gint             n_workers;
  gint             n_running;
  gint             n_queued;

  /* For notifications in the pool's own context. */
  GWeakRef         pool;
  GMainContext    *owner_context;
  gint             notify_pending;
  gint             notify_listened; /* the pool had notify handlers at the last run_async() */
  GSource         *notify_source; /* in owner_context */

  GMutex           lock;        /* guards what follows */
  GQueue           incoming;
  GPtrArray       *shutdown_requests;
  gboolean         wake_pending; /* something other than a job wants looking at */
  gboolean         io_sleeping;  /* the I/O thread may be in poll(): wake it */
  GMainContext    *kick_context; /* a wakeup deferred to the end of a dispatch there */
  ACpuSlot        *offered;     /* an idle worker a caller may run a task on itself */
  GQueue           sent;        /* jobs callers sent to the offered worker, not yet adopted */
  gint             offer_gen;   /* changes whenever the I/O thread takes the offer back */
  guint64          next_id;
  gboolean         closed;
  gboolean         cancel_requested;
  gboolean         finalized;

  /* I/O thread only. */
  ACpuSlot        *paused;      /* the offered worker, whose replies callers read */
  GSource         *wake_source;
  GSource         *idle_timer;
  GSource         *returns_source;
  GArray          *returns;     /* ACpuReturn, to deliver */
  GQueue           queue;
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

struct _ACpuProcessTaskPool
{
  GObject       parent_instance;
  ACpuPoolCore *core;
  char        **worker_argv;
  guint         notified_workers;
  guint         notified_running;
  guint         notified_queued;
};

enum {
  PROP_0,
  PROP_WORKER_ARGV,
  PROP_MAX_WORKERS,
  PROP_CANCEL_TASKS_WHEN_SHUTDOWN,
  PROP_CANCEL_GRACE_PERIOD,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_MAX_MESSAGE_SIZE,
  PROP_TASK_TIMEOUT,
  PROP_WORKER_MEMORY_LIMIT,
  PROP_MAX_QUEUED,
  PROP_MIN_WORKERS,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_TASKS_PER_WORKER,
  PROP_N_WORKERS,
  PROP_N_RUNNING,
  PROP_N_QUEUED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (ACpuProcessTaskPool, acpu_process_task_pool, G_TYPE_OBJECT)

static void     core_schedule  (ACpuPoolCore *core);
static void     core_wake      (ACpuPoolCore *core);
static gboolean job_timeout_cb (gpointer      user_data);
static gboolean job_cancelled_cb (GCancellable *cancellable,
                                  gpointer      user_data);
static void     slot_abandon   (ACpuSlot     *slot,
                                ACpuJob      *job);
static void     core_absorb    (ACpuPoolCore *core);
static void     job_watch      (ACpuPoolCore *core,
                                ACpuJob      *job);

/* Core life ---------------------------------------------------------------- */

static ACpuPoolCore *
core_ref (ACpuPoolCore *core)
{
  g_atomic_ref_count_inc (&core->ref_count);
  return core;
}

static void
core_unref (ACpuPoolCore *core)
{
  if (!g_atomic_ref_count_dec (&core->ref_count))
    return;

  g_assert (core->slots->len == 0);
  g_assert (g_queue_is_empty (&core->queue));
  g_assert (g_queue_is_empty (&core->incoming));

  if (core->wake_source != NULL)
    {
      g_source_destroy (core->wake_source);
      g_source_unref (core->wake_source);
    }
  if (core->idle_timer != NULL)
    {
      g_source_destroy (core->idle_timer);
      g_source_unref (core->idle_timer);
    }
  g_assert (core->returns->len == 0);
  g_source_destroy (core->returns_source);
  g_source_unref (core->returns_source);
  g_array_unref (core->returns);
  g_ptr_array_unref (core->slots);
  g_ptr_array_unref (core->shutdown_requests);
  g_ptr_array_unref (core->shutdown_waiters);
  g_source_destroy (core->notify_source);
  g_source_unref (core->notify_source);
  g_weak_ref_clear (&core->pool);
  g_main_context_unref (core->owner_context);
  g_mutex_clear (&core->lock);
  g_strfreev (core->argv);
  g_free (core);
}

/* The core's own sources. They are ready when prepare() says so, not by
 * g_source_set_ready_time(), which writes to the context's wakeup descriptor
 * every time, even from the context's own thread. */
typedef struct
{
  GSource       source;
  ACpuPoolCore *core;
} ACpuCoreSource;

static GSource *
core_source_new (ACpuPoolCore *core,
                 GSourceFuncs *funcs,
                 const char   *name)
{
  GSource *source = g_source_new (funcs, sizeof (ACpuCoreSource));

  ((ACpuCoreSource *) source)->core = core;
  g_source_set_static_name (source, name);
  return source;
}

/* Notifications ------------------------------------------------------------ */

static gboolean
core_notify_cb (gpointer user_data)
{
  ACpuPoolCore *core = user_data;
  g_autoptr(ACpuProcessTaskPool) self = NULL;
  guint n;

  g_atomic_int_set (&core->notify_pending, 0);
  self = g_weak_ref_get (&core->pool);
  if (self == NULL)
    return G_SOURCE_REMOVE;

  g_object_freeze_notify (G_OBJECT (self));
  n = g_atomic_int_get (&core->n_workers);
  if (n != self->notified_workers)
    {
      self->notified_workers = n;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_WORKERS]);
    }
  n = g_atomic_int_get (&core->n_running);
  if (n != self->notified_running)
    {
      self->notified_running = n;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_RUNNING]);
    }
  n = g_atomic_int_get (&core->n_queued);
  if (n != self->notified_queued)
    {
      self->notified_queued = n;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_QUEUED]);
    }
  g_object_thaw_notify (G_OBJECT (self));

  return G_SOURCE_REMOVE;
}

static gboolean
core_notify_prepare (GSource *source,
                     gint    *timeout)
{
  *timeout = -1;
  return g_atomic_int_get (&((ACpuCoreSource *) source)->core->notify_pending) != 0;
}

static gboolean
core_notify_check (GSource *source)
{
  return g_atomic_int_get (&((ACpuCoreSource *) source)->core->notify_pending) != 0;
}

static gboolean
core_notify_dispatch (GSource     *source,
                      GSourceFunc  callback,
                      gpointer     user_data)
{
  return core_notify_cb (((ACpuCoreSource *) source)->core), G_SOURCE_CONTINUE;
}

static GSourceFuncs notify_source_funcs = {
  .prepare = core_notify_prepare,
  .check = core_notify_check,
  .dispatch = core_notify_dispatch,
};

/* The counters changed: notify in the pool's own context, coalesced. That
 * context sees it the next time it looks; it is woken for it only when
 * somebody there listens. Otherwise the notification waits for the next
 * result delivered there (or anything else that wakes it): a getter reads
 * the counters directly, so nobody reads a stale value. */
static void
core_counters_changed (ACpuPoolCore *core)
{
  if (g_atomic_int_compare_and_exchange (&core->notify_pending, 0, 1) &&
      g_atomic_int_get (&core->notify_listened) &&
      !g_main_context_is_owner (core->owner_context))
    g_main_context_wakeup (core->owner_context);
}

static void
core_count (ACpuPoolCore *core,
            gint         *counter,
            gint          delta)
{
  g_atomic_int_add (counter, delta);
  core_counters_changed (core);
}

/* Jobs --------------------------------------------------------------------- */

static void
job_free (ACpuJob *job)
{
  g_assert (job->task == NULL);
  g_assert (job->cancel_source == NULL);
  g_assert (job->timeout_source == NULL);
  g_free (job->name);
  g_variant_unref (job->args);
  g_free (job);
}

/* Delivering results ------------------------------------------------------
 *
 * A GTask returned from the I/O thread would post one idle source, and one
 * wakeup, into its caller's main context per task. Instead, results are
 * gathered while the I/O thread works and handed to each caller's context
 * in one source per batch; there each GTask is returned from its own
 * context, so GTask calls the callback at once. A dispatch stops after
 * DELIVERY_BUDGET_US and goes on in the next iteration, so the caller's
 * other sources (a frame clock, a timeout) are never held up for long. */

typedef struct
{
  GTask    *task;
  GVariant *value;
  GError   *error;
} ACpuReturn;

typedef struct
{
  GSource  source;
  GArray  *returns;   /* ACpuReturn */
  guint    next;
} ACpuDeliverySource;

static void
acpu_return_clear (ACpuReturn *ret)
{
  g_clear_object (&ret->task);
  g_clear_pointer (&ret->value, g_variant_unref);
  g_clear_error (&ret->error);
}

static gboolean
delivery_dispatch (GSource     *source,
                   GSourceFunc  callback,
                   gpointer     user_data)
{
  ACpuDeliverySource *self = (ACpuDeliverySource *) source;
  gint64 deadline = g_get_monotonic_time () + DELIVERY_BUDGET_US;

  while (self->next < self->returns->len)
    {
      ACpuReturn *ret = &g_array_index (self->returns, ACpuReturn, self->next++);
      g_autoptr(GTask) task = g_steal_pointer (&ret->task);

      if (ret->error != NULL)
        g_task_return_error (task, g_steal_pointer (&ret->error));
      else
        g_task_return_pointer (task, g_steal_pointer (&ret->value),
                               (GDestroyNotify) g_variant_unref);

      if ((self->next & 15) == 0 && self->next < self->returns->len &&
          g_get_monotonic_time () >= deadline)
        return G_SOURCE_CONTINUE;
    }

  return G_SOURCE_REMOVE;
}

static void
delivery_finalize (GSource *source)
{
  ACpuDeliverySource *self = (ACpuDeliverySource *) source;

  /* Only when the caller's context went away first: nobody is left to call. */
  for (guint i = self->next; i < self->returns->len; i++)
    acpu_return_clear (&g_array_index (self->returns, ACpuReturn, i));
  g_array_unref (self->returns);
}

static GSourceFuncs delivery_source_funcs = {
  .dispatch = delivery_dispatch,
  .finalize = delivery_finalize,
};

/* On the I/O thread, which alone gathers results: ready once a result is
 * gathered, and run after whatever gathered it. */
static gboolean
core_returns_prepare (GSource *source,
                      gint    *timeout)
{
  *timeout = -1;
  return ((ACpuCoreSource *) source)->core->returns->len > 0;
}

static gboolean
core_returns_check (GSource *source)
{
  return ((ACpuCoreSource *) source)->core->returns->len > 0;
}

/* Hands what was gathered to the callers' contexts: one source for each. */
static void
core_deliver (ACpuPoolCore *core)
{
  g_autoptr(GArray) returns = NULL;

  if (core->returns->len == 0)
    return;

  returns = g_steal_pointer (&core->returns);
  core->returns = g_array_new (FALSE, FALSE, sizeof (ACpuReturn));

  for (guint i = 0; i < returns->len; i++)
    {
      ACpuReturn *ret = &g_array_index (returns, ACpuReturn, i);
      GMainContext *context;
      ACpuDeliverySource *delivery;

      if (ret->task == NULL)
        continue;

      /* Everything for the same context, in order, goes in one source. */
      context = g_task_get_context (ret->task);
      delivery = (ACpuDeliverySource *) g_source_new (&delivery_source_funcs,
                                                      sizeof (ACpuDeliverySource));
      delivery->returns = g_array_new (FALSE, FALSE, sizeof (ACpuReturn));
      for (guint j = i; j < returns->len; j++)
        {
          ACpuReturn *other = &g_array_index (returns, ACpuReturn, j);

          if (other->task != NULL && g_task_get_context (other->task) == context)
            {
              g_array_append_val (delivery->returns, *other);
              memset (other, 0, sizeof *other);
            }
        }

      /* Once attached, the caller may run it, finish, and drop its context
       * (a blocking run() does) before we let go of the source: hold the
       * context until then. */
      g_main_context_ref (context);
      g_source_set_static_name ((GSource *) delivery, "[asynccpu-glib] results");
      g_source_set_ready_time ((GSource *) delivery, 0);
      g_source_attach ((GSource *) delivery, context);
      g_source_unref ((GSource *) delivery);
      g_main_context_unref (context);
    }

  /* The reference taken when the first result was gathered. */
  core_unref (core);
}

static gboolean
core_returns_cb (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     user_data)
{
  core_deliver (((ACpuCoreSource *) source)->core);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs returns_source_funcs = {
  .prepare = core_returns_prepare,
  .check = core_returns_check,
  .dispatch = core_returns_cb,
};

/* Returns the job's GTask (once; later calls do nothing) and leaves the job
 * for the caller to free or keep. */
static void
job_return (ACpuPoolCore *core,
            ACpuJob      *job,
            GVariant     *value,
            const GError *error)
{
  ACpuReturn ret = { 0 };

  if (job->task == NULL)
    return;

  if (job->cancel_source != NULL)
    {
      g_source_destroy (job->cancel_source);
      g_clear_pointer (&job->cancel_source, g_source_unref);
    }
  if (job->timeout_source != NULL)
    {
      g_source_destroy (job->timeout_source);
      g_clear_pointer (&job->timeout_source, g_source_unref);
    }

  if (job->state == JOB_SENT)
    core_count (core, &core->n_running, -1);
  else
    core_count (core, &core->n_queued, -1);

  ret.task = g_steal_pointer (&job->task);
  if (error != NULL)
    ret.error = g_error_copy (error);
  else
    ret.value = g_variant_ref (value);

  /* Delivered when the I/O thread is done with what it is doing now; the
   * core stays alive until then. */
  if (core->returns->len == 0)
    core_ref (core);
  g_array_append_val (core->returns, ret);
}

static void
job_return_new_error (ACpuPoolCore *core,
                      ACpuJob      *job,
                      GQuark        domain,
                      gint          code,
                      const char   *format,
                      ...) G_GNUC_PRINTF (5, 6);

static void
job_return_new_error (ACpuPoolCore *core,
                      ACpuJob      *job,
                      GQuark        domain,
                      gint          code,
                      const char   *format,
                      ...)
{
  g_autoptr(GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (domain, code, format, args);
  va_end (args);

  job_return (core, job, NULL, error);
}

static void
job_return_cancelled (ACpuPoolCore *core,
                      ACpuJob      *job)
{
  job_return_new_error (core, job, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
}

/* Fails @job with @error, naming the task. */
static void
job_return_failed (ACpuPoolCore *core,
                   ACpuJob      *job,
                   const GError *error)
{
  job_return_new_error (core, job, error->domain, error->code,
                        "Task “%s” failed: %s", job->name, error->message);
}

/* Slots: a worker process as the pool sees it ------------------------------ */

static gboolean
slot_grace_cb (gpointer user_data)
{
  ACpuSlot *slot = user_data;
  ACpuPoolCore *core = slot->core;
  gint64 now = g_get_monotonic_time ();
  gint64 grace = (gint64) g_atomic_int_get (&core->grace_ms) * 1000;
  gint64 next = G_MAXINT64;

  g_clear_pointer (&slot->grace_timer, g_source_unref);

  for (GList *l = slot->inflight.head; l != NULL; l = l->next)
    {
      ACpuJob *job = l->data;

      if (job->cancel_time == 0)
        continue;
      if (job->cancel_time + grace <= now)
        {
          /* It ignored the cancellation: kill its process group. */
          slot->closing = TRUE;
          acpu_worker_proc_kill (slot->proc, NULL);
          return G_SOURCE_REMOVE;
        }
      next = MIN (next, job->cancel_time + grace);
    }

  if (next != G_MAXINT64)
    {
      slot->grace_timer = g_timeout_source_new (MAX (1, (next - now) / 1000));
      g_source_set_callback (slot->grace_timer, slot_grace_cb, slot, NULL);
      g_source_attach (slot->grace_timer, acpu_io_get_context ());
    }

  return G_SOURCE_REMOVE;
}

static void
slot_clear_grace (ACpuSlot *slot)
{
  if (slot->grace_timer != NULL)
    {
      g_source_destroy (slot->grace_timer);
      g_clear_pointer (&slot->grace_timer, g_source_unref);
    }
}

/* The job with @id in @jobs (a worker's in-flight list, or the jobs sent by
 * callers), or NULL. */
static ACpuJob *
job_find (GQueue  *jobs,
          guint64  id)
{
  for (GList *l = jobs->head; l != NULL; l = l->next)
    if (((ACpuJob *) l->data)->id == id)
      return l->data;
  return NULL;
}

static ACpuJob *
slot_find (ACpuSlot *slot,
           guint64   id)
{
  return job_find (&slot->inflight, id);
}

static void core_arm_idle_timer (ACpuPoolCore *core, gint64 delay_us);

/* Closes idle workers above min-workers that have been idle long enough. */
static gboolean
core_idle_cb (gpointer user_data)
{
  ACpuPoolCore *core = user_data;
  gint64 now = g_get_monotonic_time ();
  gint64 timeout = (gint64) g_atomic_int_get (&core->idle_timeout_ms) * 1000;
  guint min_workers = g_atomic_int_get (&core->min_workers);
  gint64 next = G_MAXINT64;
  guint alive = 0;

  g_clear_pointer (&core->idle_timer, g_source_unref);
  core_absorb (core);

  for (guint i = 0; i < core->slots->len; i++)
    alive += !((ACpuSlot *) g_ptr_array_index (core->slots, i))->closing;

  for (guint i = 0; i < core->slots->len && alive > min_workers && timeout > 0; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (slot->closing || !slot->ready || slot->idle_since == 0)
        continue;
      if (now - slot->idle_since >= timeout)
        {
          slot->closing = TRUE;
          acpu_worker_proc_close (slot->proc);
          alive--;
        }
      else
        next = MIN (next, slot->idle_since + timeout);
    }

  if (next != G_MAXINT64 && alive > min_workers)
    core_arm_idle_timer (core, next - now);

  return G_SOURCE_REMOVE;
}

static void
core_arm_idle_timer (ACpuPoolCore *core,
                     gint64        delay_us)
{
  if (core->idle_timer != NULL || g_atomic_int_get (&core->idle_timeout_ms) == 0)
    return;
  core->idle_timer = g_timeout_source_new (MAX (1, delay_us / 1000));
  g_source_set_callback (core->idle_timer, core_idle_cb, core, NULL);
  g_source_attach (core->idle_timer, acpu_io_get_context ());
}

/* @slot has nothing to do now. */
static void
slot_went_idle (ACpuSlot *slot)
{
  ACpuPoolCore *core = slot->core;
  guint max_tasks = g_atomic_int_get (&core->max_tasks_per_worker);

  slot->idle_since = g_get_monotonic_time ();

  /* Recycled after max-tasks-per-worker, as Python's max_tasks_per_child. */
  if (max_tasks > 0 && slot->n_sent >= max_tasks && !slot->closing)
    {
      slot->closing = TRUE;
      acpu_worker_proc_close (slot->proc);
      return;
    }

  if (core->slots->len > g_atomic_int_get (&core->min_workers))
    core_arm_idle_timer (core, (gint64) g_atomic_int_get (&core->idle_timeout_ms) * 1000);
}

static void
slot_ready_cb (ACpuWorkerProc *proc,
               gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  ACpuPoolCore *core = slot->core;

  slot->ready = TRUE;
  core->n_starting--;
  core->start_failures = 0;
  slot_went_idle (slot);
  core_schedule (core);
}

static void
slot_reply_cb (ACpuWorkerProc *proc,
               guint64         id,
               GVariant       *value,
               const GError   *error,
               gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  ACpuPoolCore *core = slot->core;
  gint64 now = g_get_monotonic_time ();
  gboolean idle;
  ACpuJob *job;

  core_absorb (core);
  job = slot_find (slot, id);

  if (job == NULL)
    {
      g_autoptr(GError) reason = NULL;

      reason = g_error_new (ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                            "worker process %d answered request %" G_GUINT64_FORMAT
                            ", which it does not have", (int) acpu_worker_proc_get_pid (proc), id);
      acpu_worker_proc_kill (proc, reason);
      return;
    }

  g_queue_unlink (&slot->inflight, &job->link);

  if (job->cancel_time != 0)
    {
      if (--slot->n_cancelling == 0)
        slot_clear_grace (slot);
    }
  else if (job->pipelined || !g_queue_is_empty (&core->queue))
    {
      /* A task that ran alone with nothing waiting measures the round trip,
       * not the service time: one-at-a-time use must not shrink the window
       * a later burst will want. */
      double sample = (double) (now - MAX (job->sent_time, slot->last_reply_time));

      core->service_us = core->service_us == 0 ? sample
                                                : core->service_us + (sample - core->service_us) / 8;
    }
  slot->last_reply_time = now;

  job_return (core, job, value, error);
  job_free (job);

  idle = g_queue_is_empty (&slot->inflight);
  if (idle)
    slot_went_idle (slot);

  /* Before the result goes: the caller's next task may find this worker
   * offered. */
  core_schedule (core);

  /* Nothing more is coming from this worker: hand the results over now, not
   * one iteration of this thread's loop later. */
  if (idle)
    core_deliver (core);
}

/* Logs a worker's record again here, with its pid and task. */
static void
slot_log_cb (ACpuWorkerProc *proc,
             guint64         id,
             GLogLevelFlags  log_level,
             GVariant       *fields,
             gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  GLogField out[ACPU_WIRE_MAX_LOG_FIELDS + 3];
  g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *pid = g_strdup_printf ("%d", (int) acpu_worker_proc_get_pid (proc));
  ACpuJob *job = NULL;
  gboolean have_message = FALSE;
  GLogLevelFlags level = G_LOG_LEVEL_DEBUG;
  gsize n = 0;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (id != 0)
    {
      core_absorb (slot->core);
      job = slot_find (slot, id);
    }

  /* One level, never fatal here: a worker's g_error() is its own end. */
  if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    level = G_LOG_LEVEL_CRITICAL;
  else if (log_level & G_LOG_LEVEL_WARNING)
    level = G_LOG_LEVEL_WARNING;
  else if (log_level & G_LOG_LEVEL_MESSAGE)
    level = G_LOG_LEVEL_MESSAGE;
  else if (log_level & G_LOG_LEVEL_INFO)
    level = G_LOG_LEVEL_INFO;

  g_variant_iter_init (&iter, fields);
  while (g_variant_iter_next (&iter, "(&s@ay)", &key, &value))
    {
      gsize len;
      const char *data = g_variant_get_fixed_array (value, &len, 1);
      char *copy;

      if (g_str_has_prefix (key, "ACPU_") || n >= ACPU_WIRE_MAX_LOG_FIELDS)
        {
          g_variant_unref (value);
          continue;
        }

      copy = g_strndup (data, len);
      g_ptr_array_add (strings, copy);
      out[n].key = key;
      out[n].value = copy;
      out[n].length = memchr (data, '\0', len) ? (gssize) len : -1;
      if (strcmp (key, "MESSAGE") == 0)
        have_message = TRUE;
      n++;
      g_variant_unref (value);
    }

  if (!have_message)
    {
      out[n].key = "MESSAGE";
      out[n].value = "";
      out[n++].length = -1;
    }
  out[n].key = "ACPU_WORKER_PID";
  out[n].value = pid;
  out[n++].length = -1;
  if (job != NULL)
    {
      out[n].key = "ACPU_TASK";
      out[n].value = job->name;
      out[n++].length = -1;
    }

  g_log_structured_array (level, out, n);
}

static void
slot_exited_cb (ACpuWorkerProc *proc,
                const GError   *error,
                gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  ACpuPoolCore *core = slot->core;
  g_autoptr(GError) fallback = NULL;
  ACpuJob *job;

  core_absorb (core);
  g_ptr_array_remove_fast (core->slots, slot);
  core_count (core, &core->n_workers, -1);
  slot_clear_grace (slot);

  if (error == NULL && !g_queue_is_empty (&slot->inflight))
    error = fallback = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_DIED,
                                    "worker process %d exited",
                                    (int) acpu_worker_proc_get_pid (proc));

  if (!slot->ready)
    {
      core->n_starting--;

      /* A worker SIGKILLed from outside while it started (the OOM killer,
       * a chaos monkey) says nothing about the program: start another. Any
       * other death before the handshake fails the task at the head of the
       * queue, and after MAX_START_FAILURES in a row with no handshake in
       * between, the whole queue: a program that cannot start is not
       * started for ever. New tasks try again. */
      if (error != NULL && !acpu_worker_proc_was_killed_from_outside (proc) &&
          !core->cancelling_all)
        {
          core->start_failures++;
          while ((job = g_queue_peek_head (&core->queue)) != NULL)
            {
              g_queue_unlink (&core->queue, &job->link);
              job_return (core, job, NULL, error);
              job_free (job);
              if (core->start_failures < MAX_START_FAILURES)
                break;
            }
        }
    }

  /* The first job is the one that was running. */
  if ((job = g_queue_peek_head (&slot->inflight)) != NULL)
    {
      g_queue_unlink (&slot->inflight, &job->link);
      job_return_failed (core, job, error);
      job_free (job);
    }

  /* The others never started: back to the head of the queue, in order. */
  while ((job = g_queue_peek_tail (&slot->inflight)) != NULL)
    {
      g_queue_unlink (&slot->inflight, &job->link);
      if (job->task == NULL)
        {
          job_free (job);
          continue;
        }
      job->state = JOB_QUEUED;
      job->slot = NULL;
      job->cancel_time = 0;
      g_queue_push_head_link (&core->queue, &job->link);
      core_count (core, &core->n_running, -1);
      core_count (core, &core->n_queued, 1);
    }

  acpu_worker_proc_unref (slot->proc);
  g_free (slot);

  core_schedule (core);
  core_unref (core);
}

static const ACpuWorkerProcCallbacks slot_callbacks = {
  .ready = slot_ready_cb,
  .reply = slot_reply_cb,
  .log = slot_log_cb,
  .exited = slot_exited_cb,
};

static void
core_spawn (ACpuPoolCore *core)
{
  ACpuSlot *slot = g_new0 (ACpuSlot, 1);
  guint64 max_size, memory_limit;

  g_mutex_lock (&core->lock);
  max_size = core->max_size;
  memory_limit = core->memory_limit;
  g_mutex_unlock (&core->lock);

  slot->core = core_ref (core);
  slot->proc = acpu_worker_proc_new ((const char * const *) core->argv, max_size,
                                     g_atomic_int_get (&core->handshake_ms),
                                     &slot_callbacks, slot);
  acpu_worker_proc_set_memory_limit (slot->proc, memory_limit);
  g_queue_init (&slot->inflight);
  g_ptr_array_add (core->slots, slot);
  core->n_starting++;
  core_count (core, &core->n_workers, 1);

  acpu_worker_proc_start (slot->proc);
}

/* Scheduling --------------------------------------------------------------- */

static guint
core_window (ACpuPoolCore *core)
{
  if (core->service_us <= 0)
    return 1;
  return CLAMP ((guint) (WINDOW_TARGET_US / core->service_us), 1, WINDOW_MAX);
}

/* The ready worker with the shortest line that still has room, or NULL. */
static ACpuSlot *
core_pick_slot (ACpuPoolCore *core,
                guint         window)
{
  guint max_tasks = g_atomic_int_get (&core->max_tasks_per_worker);
  ACpuSlot *best = NULL;

  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (!slot->ready || slot->closing || !acpu_worker_proc_is_ready (slot->proc) ||
          slot->inflight.length >= window || (max_tasks > 0 && slot->n_sent >= max_tasks))
        continue;
      if (best == NULL || slot->inflight.length < best->inflight.length)
        best = slot;
      if (best->inflight.length == 0)
        break;
    }

  return best;
}

static void
core_send (ACpuPoolCore *core,
           ACpuSlot     *slot,
           ACpuJob      *job)
{
  g_autoptr(GError) error = NULL;

  g_queue_unlink (&core->queue, &job->link);

  if (!acpu_worker_proc_has_task (slot->proc, job->name))
    {
      job_return_new_error (core, job, ACPU_ERROR, ACPU_ERROR_UNKNOWN_TASK,
                            "No task named “%s” in worker %s", job->name, core->argv[0]);
      job_free (job);
      return;
    }

  if (!acpu_worker_proc_send (slot->proc, job->id, job->name, job->args, &error))
    {
      job_return_failed (core, job, error);
      job_free (job);
      return;
    }

  core_count (core, &core->n_queued, -1);
  core_count (core, &core->n_running, 1);
  job->state = JOB_SENT;
  job->slot = slot;
  job->pipelined = slot->inflight.length > 0;
  job->sent_time = g_get_monotonic_time ();
  g_queue_push_tail_link (&slot->inflight, &job->link);
  slot->dirty = TRUE;
  slot->n_sent++;
  slot->idle_since = 0;
  job_watch (core, job);
}

static void
core_close_idle (ACpuPoolCore *core)
{
  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (!slot->ready)
        {
          slot->closing = TRUE;
          acpu_worker_proc_kill (slot->proc, NULL);
        }
      else if (g_queue_is_empty (&slot->inflight))
        {
          slot->closing = TRUE;
          acpu_worker_proc_close (slot->proc);
        }
    }
}

static void
core_finish_shutdown (ACpuPoolCore *core)
{
  if (!core->shutting_down || !g_queue_is_empty (&core->queue))
    return;

  core_close_idle (core);

  if (core->slots->len > 0)
    return;

  for (guint i = 0; i < core->shutdown_waiters->len; i++)
    g_task_return_boolean (g_ptr_array_index (core->shutdown_waiters, i), TRUE);
  g_ptr_array_set_size (core->shutdown_waiters, 0);
}

/* Handing over -------------------------------------------------------------- */

/* Watches the job's cancellable and its time limit, once it is ours. */
static void
job_watch (ACpuPoolCore *core,
           ACpuJob      *job)
{
  GCancellable *cancellable = g_task_get_cancellable (job->task);

  if (cancellable != NULL && job->cancel_source == NULL)
    {
      job->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (job->cancel_source, G_SOURCE_FUNC (job_cancelled_cb), job, NULL);
      g_source_attach (job->cancel_source, acpu_io_get_context ());
    }

  if (job->state == JOB_SENT && job->timeout_source == NULL &&
      g_atomic_int_get (&core->task_timeout_ms) > 0)
    {
      job->timeout_source = g_timeout_source_new (g_atomic_int_get (&core->task_timeout_ms));
      g_source_set_callback (job->timeout_source, job_timeout_cb, job, NULL);
      g_source_attach (job->timeout_source, acpu_io_get_context ());
    }
}

/* Takes what callers handed over: jobs to queue, and jobs a caller sent to
 * the offered worker itself (core_send_offered_locked()), which join that
 * worker's in-flight list. Also takes the offer back (a caller still waiting
 * for a reply sees offer_gen change and leaves it to us), so that nobody
 * sends to a worker behind the I/O thread's back until core_offer() makes
 * one again. Every I/O-thread path that looks at a worker's in-flight list
 * or changes a worker calls this first. */
static void
core_absorb (ACpuPoolCore *core)
{
  GQueue incoming, sent;
  ACpuJob *job;

  g_mutex_lock (&core->lock);
  incoming = core->incoming;
  g_queue_init (&core->incoming);
  sent = core->sent;
  g_queue_init (&core->sent);
  g_atomic_int_inc (&core->offer_gen);
  core->offered = NULL;
  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (slot->direct_use > slot->idle_since && slot->idle_since != 0)
        slot->idle_since = slot->direct_use;
    }
  g_mutex_unlock (&core->lock);

  if (core->paused != NULL)
    {
      acpu_worker_proc_pause_reading (core->paused->proc, FALSE);
      core->paused = NULL;
    }

  while ((job = g_queue_peek_head (&sent)) != NULL)
    {
      ACpuSlot *slot = job->slot;

      g_queue_unlink (&sent, &job->link);

      /* The offered worker had nothing in flight: this is its first. */
      g_queue_push_tail_link (&slot->inflight, &job->link);
      slot->n_sent++;
      slot->idle_since = 0;
      if (core->cancelling_all || g_cancellable_is_cancelled (g_task_get_cancellable (job->task)))
        {
          job_return_cancelled (core, job);
          slot_abandon (slot, job);
        }
      else
        job_watch (core, job);
    }

  while ((job = g_queue_peek_head (&incoming)) != NULL)
    {
      g_queue_unlink (&incoming, &job->link);
      job->state = JOB_QUEUED;
      if (core->cancelling_all || g_cancellable_is_cancelled (g_task_get_cancellable (job->task)))
        {
          job_return_cancelled (core, job);
          job_free (job);
          continue;
        }
      job_watch (core, job);
      g_queue_push_tail_link (&core->queue, &job->link);
    }
}

/* Offers an idle worker to callers: the next task submitted alone goes
 * straight from the caller's thread to that worker, and its reply straight
 * back (reply_source), two sleeping threads fewer on its way. Only when
 * nothing waits in the queue, which such a task would overtake, and when
 * workers are not recycled after a number of tasks (a caller does not count
 * them). Called last in core_schedule(), after core_absorb(). */
static void
core_offer (ACpuPoolCore *core)
{
  ACpuSlot *offer = NULL;

  if (!core->shutting_down && !core->cancelling_all && g_queue_is_empty (&core->queue) &&
      g_atomic_int_get (&core->max_tasks_per_worker) == 0)
    for (guint i = 0; i < core->slots->len && offer == NULL; i++)
      {
        ACpuSlot *slot = g_ptr_array_index (core->slots, i);

        if (slot->ready && !slot->closing && acpu_worker_proc_is_ready (slot->proc) &&
            g_queue_is_empty (&slot->inflight))
          offer = slot;
      }

  if (core->paused != offer)
    {
      if (core->paused != NULL)
        acpu_worker_proc_pause_reading (core->paused->proc, FALSE);
      if (offer != NULL)
        acpu_worker_proc_pause_reading (offer->proc, TRUE);
      core->paused = offer;
    }

  g_mutex_lock (&core->lock);
  core->offered = offer;
  g_mutex_unlock (&core->lock);
}

/* From a caller's thread, with lock held: sends @job to the offered worker
 * if there is one and nothing was handed over before it. */
static gboolean
core_send_offered_locked (ACpuPoolCore *core,
                          ACpuJob      *job)
{
  ACpuSlot *slot = core->offered;

  if (slot == NULL || core->wake_pending || !g_queue_is_empty (&core->incoming) ||
      !acpu_worker_proc_has_task (slot->proc, job->name) ||
      !acpu_worker_proc_send_now (slot->proc, job->id, job->name, job->args))
    return FALSE;

  core->offered = NULL;
  job->state = JOB_SENT;
  job->slot = slot;
  job->sent_time = g_get_monotonic_time ();
  return TRUE;
}

static void
core_dispatch (ACpuPoolCore *core)
{
  guint window = core_window (core);
  guint max_workers = g_atomic_int_get (&core->max_workers);
  guint want;
  ACpuJob *job;

  core_absorb (core);

  while ((job = g_queue_peek_head (&core->queue)) != NULL)
    {
      ACpuSlot *slot = core_pick_slot (core, window);

      if (slot == NULL)
        break;
      core_send (core, slot, job);
    }

  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (slot->dirty)
        {
          slot->dirty = FALSE;
          acpu_worker_proc_flush (slot->proc);
        }
    }

  /* Start workers for what is left, lazily, up to the limit. */
  want = core->queue.length > core->n_starting ? core->queue.length - core->n_starting : 0;
  while (want-- > 0 && core->slots->len < max_workers)
    core_spawn (core);

  /* And keep min-workers ready, unless they cannot start. */
  while (!core->shutting_down && core->start_failures < MAX_START_FAILURES &&
         core->slots->len < MIN (g_atomic_int_get (&core->min_workers), max_workers))
    core_spawn (core);
}

static void
core_schedule (ACpuPoolCore *core)
{
  if (core->scheduling)
    {
      core->reschedule = TRUE;
      return;
    }

  core->scheduling = TRUE;
  do
    {
      core->reschedule = FALSE;
      core_dispatch (core);
    }
  while (core->reschedule);
  core->scheduling = FALSE;

  core_finish_shutdown (core);
  core_offer (core);
}

/* Ends every task and every worker now: shutdown with cancel. */
static void
core_cancel_all (ACpuPoolCore *core)
{
  ACpuJob *job;

  core->cancelling_all = TRUE;

  while ((job = g_queue_peek_head (&core->queue)) != NULL)
    {
      /* Links are embedded in jobs: unlink, never pop (pop frees the link). */
      g_queue_unlink (&core->queue, &job->link);
      job_return_cancelled (core, job);
      job_free (job);
    }

  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (!g_queue_is_empty (&slot->inflight) || !slot->ready)
        {
          for (GList *l = slot->inflight.head; l != NULL; l = l->next)
            job_return_cancelled (core, l->data);
          slot->closing = TRUE;
          acpu_worker_proc_kill (slot->proc, NULL);
        }
    }
}

/* @job, sent to @slot, has been answered already (cancelled or timed out):
 * ask the worker to stop it, and give it the grace period before its process
 * group is killed. */
static void
slot_abandon (ACpuSlot *slot,
              ACpuJob  *job)
{
  ACpuPoolCore *core = slot->core;

  job->cancel_time = g_get_monotonic_time ();
  slot->n_cancelling++;
  acpu_worker_proc_cancel (slot->proc, job->id);
  if (slot->grace_timer == NULL)
    {
      slot->grace_timer = g_timeout_source_new (g_atomic_int_get (&core->grace_ms));
      g_source_set_callback (slot->grace_timer, slot_grace_cb, slot, NULL);
      g_source_attach (slot->grace_timer, acpu_io_get_context ());
    }
}

static gboolean
job_cancelled_cb (GCancellable *cancellable,
                  gpointer      user_data)
{
  ACpuJob *job = user_data;
  ACpuPoolCore *core = g_task_get_task_data (job->task);

  g_clear_pointer (&job->cancel_source, g_source_unref);

  if (job->state == JOB_QUEUED)
    {
      g_queue_unlink (&core->queue, &job->link);
      job_return_cancelled (core, job);
      job_free (job);
      return G_SOURCE_REMOVE;
    }

  /* Sent: answer the caller now; the worker is asked to stop. */
  job_return_cancelled (core, job);
  slot_abandon (job->slot, job);

  return G_SOURCE_REMOVE;
}

/* The task ran past task-timeout: it fails, and is stopped like a cancel. */
static gboolean
job_timeout_cb (gpointer user_data)
{
  ACpuJob *job = user_data;
  ACpuPoolCore *core = g_task_get_task_data (job->task);

  g_clear_pointer (&job->timeout_source, g_source_unref);
  job_return_new_error (core, job, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "Task “%s” did not finish within %u ms", job->name,
                        g_atomic_int_get (&core->task_timeout_ms));
  slot_abandon (job->slot, job);

  return G_SOURCE_REMOVE;
}

/* A cancelled shutdown stops waiting for tasks: it cancels them. */
static gboolean
acpu_process_task_pool_shutdown_cancel_cb (GCancellable *cancellable,
                                           gpointer      user_data)
{
  ACpuPoolCore *core = user_data;

  if (!core->cancelling_all)
    core_cancel_all (core);
  core_schedule (core);
  return G_SOURCE_REMOVE;
}

/* Takes what callers handed over since last time. */
/* Whether callers handed anything over. Called with lock held. */
static gboolean
core_has_work_locked (ACpuPoolCore *core)
{
  return core->wake_pending || !g_queue_is_empty (&core->incoming);
}

/* Before the I/O thread polls: a caller that hands work over after this
 * point must wake it; one that does before need not, since this sees it. */
static gboolean
core_wake_prepare (GSource *source,
                   gint    *timeout)
{
  ACpuPoolCore *core = ((ACpuCoreSource *) source)->core;
  gboolean ready;

  g_mutex_lock (&core->lock);
  ready = core_has_work_locked (core);
  core->io_sleeping = !ready;
  g_mutex_unlock (&core->lock);

  *timeout = -1;
  return ready;
}

static gboolean
core_wake_check (GSource *source)
{
  ACpuPoolCore *core = ((ACpuCoreSource *) source)->core;
  gboolean ready;

  g_mutex_lock (&core->lock);
  core->io_sleeping = FALSE;
  ready = core_has_work_locked (core);
  g_mutex_unlock (&core->lock);

  return ready;
}

static gboolean
core_wake_cb (GSource     *source,
              GSourceFunc  callback,
              gpointer     user_data)
{
  ACpuPoolCore *core = user_data;
  g_autoptr(GPtrArray) requests = NULL;
  gboolean cancel, finalized;

  g_mutex_lock (&core->lock);
  requests = g_steal_pointer (&core->shutdown_requests);
  core->shutdown_requests = g_ptr_array_new_with_free_func (g_object_unref);
  cancel = core->cancel_requested;
  finalized = core->finalized;
  core->wake_pending = FALSE;
  g_mutex_unlock (&core->lock);

  core_absorb (core);

  for (guint i = 0; i < requests->len; i++)
    g_ptr_array_add (core->shutdown_waiters, g_object_ref (g_ptr_array_index (requests, i)));

  if (requests->len > 0 || finalized)
    core->shutting_down = TRUE;
  if (cancel && !core->cancelling_all)
    core_cancel_all (core);

  core_schedule (core);

  if (finalized)
    {
      /* The pool is gone; the workers still hold the core. */
      g_source_destroy (source);
      return G_SOURCE_REMOVE;
    }

  return G_SOURCE_CONTINUE;
}

static GSourceFuncs wake_source_funcs = {
  .prepare = core_wake_prepare,
  .check = core_wake_check,
  .dispatch = core_wake_cb,
};

/* Tells the I/O thread to look at incoming, with a syscall only when it may
 * be asleep: a busy I/O thread sees new work in its next prepare(). Called
 * with lock held, after the work was handed over. */
static void
core_wake (ACpuPoolCore *core)
{
  if (core->io_sleeping)
    {
      core->io_sleeping = FALSE;
      g_main_context_wakeup (acpu_io_get_context ());
    }
}

static gboolean
core_kick_cb (gpointer user_data)
{
  ACpuPoolCore *core = user_data;

  g_mutex_lock (&core->lock);
  core->kick_context = NULL;
  if (!g_queue_is_empty (&core->incoming))
    core_wake (core);
  g_mutex_unlock (&core->lock);

  return G_SOURCE_REMOVE;
}

/* Wakes the I/O thread for jobs just handed over from @context. The first
 * job wakes it at once: one task at a time is a round trip, and it should
 * not wait. When the caller is inside a dispatch of @context — a GTK handler
 * that submits a thousand tasks — the rest wait for one wakeup at the end of
 * the dispatch, so a burst costs two wakeups, not one per time the I/O
 * thread catches up and sleeps. Called with lock held. */
static void
core_wake_for (ACpuPoolCore *core,
               GMainContext *context)
{
  GSource *current, *kick;

  if (!core->io_sleeping || core->kick_context == context)
    return;

  core_wake (core);

  current = g_main_current_source ();
  if (core->kick_context != NULL || current == NULL || g_source_get_context (current) != context)
    return;

  core->kick_context = context;
  kick = g_idle_source_new ();
  g_source_set_priority (kick, G_PRIORITY_HIGH);
  g_source_set_callback (kick, core_kick_cb, core_ref (core), (GDestroyNotify) core_unref);
  g_source_set_static_name (kick, "[asynccpu-glib] submit");
  g_source_attach (kick, context);
  g_source_unref (kick);
}

/* Asks the I/O thread to look at something other than new jobs. */
static void
core_request (ACpuPoolCore *core)
{
  core->wake_pending = TRUE;
  core_wake (core);
}

static ACpuPoolCore *
core_new (ACpuProcessTaskPool *pool)
{
  ACpuPoolCore *core = g_new0 (ACpuPoolCore, 1);

  g_atomic_ref_count_init (&core->ref_count);
  g_mutex_init (&core->lock);
  g_weak_ref_init (&core->pool, pool);
  core->owner_context = g_main_context_ref_thread_default ();
  /* No reference of its own on the core: core_unref() destroys it. */
  core->notify_source = core_source_new (core, &notify_source_funcs, "[asynccpu-glib] notify");
  g_source_attach (core->notify_source, core->owner_context);
  core->max_workers = MAX (1, g_get_num_processors ());
  core->grace_ms = DEFAULT_GRACE_MS;
  core->handshake_ms = DEFAULT_HANDSHAKE_MS;
  core->idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
  core->max_size = ACPU_WIRE_DEFAULT_MAX_SIZE;
  core->slots = g_ptr_array_new ();
  core->shutdown_requests = g_ptr_array_new_with_free_func (g_object_unref);
  core->shutdown_waiters = g_ptr_array_new_with_free_func (g_object_unref);
  g_queue_init (&core->incoming);
  g_queue_init (&core->sent);
  g_queue_init (&core->queue);

  core->returns = g_array_new (FALSE, FALSE, sizeof (ACpuReturn));
  core->returns_source = core_source_new (core, &returns_source_funcs,
                                          "[asynccpu-glib] gather results");
  g_source_attach (core->returns_source, acpu_io_get_context ());

  /* The wake source holds a reference of its own until the pool is gone. */
  core->wake_source = core_source_new (core, &wake_source_funcs, "[asynccpu-glib] pool");
  g_source_set_callback (core->wake_source, NULL, core_ref (core), (GDestroyNotify) core_unref);
  g_source_attach (core->wake_source, acpu_io_get_context ());

  return core;
}

/* A reply read by the caller ------------------------------------------------ */

/* In the caller's context, for a job it sent to the offered worker: reads
 * the reply itself and returns the GTask from there, while the I/O thread
 * sleeps. Whatever else happens — the I/O thread takes the job over
 * (offer_gen changes: a time limit, a cancel, a dying worker, a shutdown),
 * or something other than the reply comes — is left to the I/O thread. */
typedef struct
{
  GSource         source;
  ACpuPoolCore   *core;
  ACpuWorkerProc *proc;
  ACpuSlot       *slot;        /* touched only while offer_gen is still gen */
  guint64         id;
  gint            gen;
  GPollFD         pfd;
  GCancellable   *cancellable;
  gulong          cancel_id;
} ACpuReplySource;

static gboolean
reply_source_prepare (GSource *source,
                      gint    *timeout)
{
  ACpuReplySource *self = (ACpuReplySource *) source;

  *timeout = -1;
  return g_atomic_int_get (&self->core->offer_gen) != self->gen;
}

static gboolean
reply_source_check (GSource *source)
{
  ACpuReplySource *self = (ACpuReplySource *) source;

  return self->pfd.revents != 0 || g_atomic_int_get (&self->core->offer_gen) != self->gen;
}

static gboolean
reply_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  ACpuReplySource *self = (ACpuReplySource *) source;
  ACpuPoolCore *core = self->core;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  ACpuWorkerProcReply reply;
  ACpuJob *job;

  if (g_atomic_int_get (&core->offer_gen) != self->gen)
    return G_SOURCE_REMOVE;

  /* Locked: the I/O thread is reading this channel, so it has the job. */
  if (!acpu_worker_proc_try_lock_input (self->proc))
    return G_SOURCE_REMOVE;

  g_mutex_lock (&core->lock);
  job = g_atomic_int_get (&core->offer_gen) == self->gen ? job_find (&core->sent, self->id)
                                                         : NULL;
  reply = job != NULL ? acpu_worker_proc_take_reply (self->proc, self->id, &value, &error)
                      : ACPU_WORKER_PROC_REPLY_OTHER;
  if (reply == ACPU_WORKER_PROC_REPLY_TAKEN)
    {
      g_queue_unlink (&core->sent, &job->link);
      g_atomic_int_add (&core->n_running, -1);
      /* The worker is idle again: offer it again, unless work came in for
       * the I/O thread meanwhile, which it must not overtake. */
      self->slot->direct_use = g_get_monotonic_time ();
      if (!core->closed && g_queue_is_empty (&core->incoming) && core->offered == NULL)
        core->offered = self->slot;
    }
  else if (reply == ACPU_WORKER_PROC_REPLY_OTHER && job != NULL)
    core_request (core);
  g_mutex_unlock (&core->lock);
  acpu_worker_proc_unlock_input (self->proc);

  if (reply == ACPU_WORKER_PROC_REPLY_NONE)
    return G_SOURCE_CONTINUE;
  if (reply == ACPU_WORKER_PROC_REPLY_OTHER)
    return G_SOURCE_REMOVE;

  core_counters_changed (core);
  if (error != NULL)
    g_task_return_error (job->task, g_steal_pointer (&error));
  else
    g_task_return_pointer (job->task, g_steal_pointer (&value), (GDestroyNotify) g_variant_unref);
  g_clear_object (&job->task);
  job_free (job);

  return G_SOURCE_REMOVE;
}

static void
reply_source_finalize (GSource *source)
{
  ACpuReplySource *self = (ACpuReplySource *) source;

  if (self->cancel_id != 0)
    g_cancellable_disconnect (self->cancellable, self->cancel_id);
  g_clear_object (&self->cancellable);
  acpu_worker_proc_unref (self->proc);
  core_unref (self->core);
}

static GSourceFuncs reply_source_funcs = {
  .prepare = reply_source_prepare,
  .check = reply_source_check,
  .dispatch = reply_source_dispatch,
  .finalize = reply_source_finalize,
};

/* A cancel goes through the I/O thread, which takes the job over. */
static void
reply_source_cancelled_cb (GCancellable *cancellable,
                           gpointer      user_data)
{
  ACpuPoolCore *core = user_data;

  g_mutex_lock (&core->lock);
  core_request (core);
  g_mutex_unlock (&core->lock);
}

/* Called with lock held, right after @job was sent to the offered worker. */
static GSource *
reply_source_new (ACpuPoolCore *core,
                  ACpuJob      *job)
{
  ACpuReplySource *self;

  self = (ACpuReplySource *) g_source_new (&reply_source_funcs, sizeof (ACpuReplySource));
  self->core = core_ref (core);
  self->proc = acpu_worker_proc_ref (job->slot->proc);
  self->slot = job->slot;
  self->id = job->id;
  self->gen = g_atomic_int_get (&core->offer_gen);
  self->pfd.fd = acpu_worker_proc_get_fd (self->proc);
  self->pfd.events = G_IO_IN;
  g_source_add_poll ((GSource *) self, &self->pfd);
  g_source_set_static_name ((GSource *) self, "[asynccpu-glib] reply");
  return (GSource *) self;
}

static void
reply_source_attach (GSource      *source,
                     GCancellable *cancellable,
                     GMainContext *context)
{
  ACpuReplySource *self = (ACpuReplySource *) source;

  if (cancellable != NULL)
    {
      self->cancellable = g_object_ref (cancellable);
      self->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (reply_source_cancelled_cb),
                                               core_ref (self->core), (GDestroyNotify) core_unref);
    }
  g_source_attach (source, context);
  g_source_unref (source);
}

/* The GObject ------------------------------------------------------------- */

/* Has the I/O thread look again, after a setting changed. */
static void
acpu_process_task_pool_wake (ACpuProcessTaskPool *self)
{
  g_mutex_lock (&self->core->lock);
  core_request (self->core);
  g_mutex_unlock (&self->core->lock);
}

/* Whether anyone listens to the notifications of the counters, for
 * core_counters_changed(). */
static gboolean
acpu_process_task_pool_is_watched (ACpuProcessTaskPool *self)
{
  static const guint props[] = { PROP_N_WORKERS, PROP_N_RUNNING, PROP_N_QUEUED };
  static gsize notify_id;

  if (g_once_init_enter (&notify_id))
    g_once_init_leave (&notify_id, g_signal_lookup ("notify", G_TYPE_OBJECT));

  if (g_signal_has_handler_pending (self, (guint) notify_id, 0, TRUE))
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    if (g_signal_has_handler_pending (self, (guint) notify_id,
                                      g_param_spec_get_name_quark (properties[props[i]]), TRUE))
      return TRUE;
  return FALSE;
}

/* The current program, with its arguments: how a pool with no worker_argv
 * starts workers (see acpu_worker_is_worker_process()). */
static char **
acpu_self_argv (void)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *cmdline = NULL;
  gsize len = 0;

  if (exe == NULL || g_str_has_suffix (exe, " (deleted)"))
    g_strv_builder_add (builder, "/proc/self/exe");
  else
    g_strv_builder_add (builder, exe);

  if (g_file_get_contents ("/proc/self/cmdline", &cmdline, &len, NULL) && len > 0)
    {
      const char *p = cmdline + strlen (cmdline) + 1;

      while (p < cmdline + len)
        {
          g_strv_builder_add (builder, p);
          p += strlen (p) + 1;
        }
    }

  return g_strv_builder_end (builder);
}

static void
acpu_process_task_pool_constructed (GObject *object)
{
  ACpuProcessTaskPool *self = (ACpuProcessTaskPool *) object;

  G_OBJECT_CLASS (acpu_process_task_pool_parent_class)->constructed (object);

  if (self->worker_argv != NULL && self->worker_argv[0] != NULL)
    self->core->argv = g_strdupv (self->worker_argv);
  else
    self->core->argv = acpu_self_argv ();
}

static void
acpu_process_task_pool_finalize (GObject *object)
{
  ACpuProcessTaskPool *self = (ACpuProcessTaskPool *) object;
  ACpuPoolCore *core = self->core;

  /* No task is left (each holds a reference); close the workers on the I/O
   * thread, which keeps the core until the last one is gone. */
  g_mutex_lock (&core->lock);
  core->closed = TRUE;
  core->finalized = TRUE;
  core_request (core);
  g_mutex_unlock (&core->lock);
  core_unref (core);

  g_strfreev (self->worker_argv);

  G_OBJECT_CLASS (acpu_process_task_pool_parent_class)->finalize (object);
}

static void
acpu_process_task_pool_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  ACpuProcessTaskPool *self = ACPU_PROCESS_TASK_POOL (object);

  switch (prop_id)
    {
    case PROP_WORKER_ARGV:
      g_value_set_boxed (value, self->core->argv);
      break;
    case PROP_MAX_WORKERS:
      g_value_set_uint (value, acpu_process_task_pool_get_max_workers (self));
      break;
    case PROP_CANCEL_TASKS_WHEN_SHUTDOWN:
      g_value_set_boolean (value, acpu_process_task_pool_get_cancel_tasks_when_shutdown (self));
      break;
    case PROP_CANCEL_GRACE_PERIOD:
      g_value_set_uint (value, acpu_process_task_pool_get_cancel_grace_period (self));
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint (value, acpu_process_task_pool_get_handshake_timeout (self));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint64 (value, acpu_process_task_pool_get_max_message_size (self));
      break;
    case PROP_TASK_TIMEOUT:
      g_value_set_uint (value, acpu_process_task_pool_get_task_timeout (self));
      break;
    case PROP_WORKER_MEMORY_LIMIT:
      g_value_set_uint64 (value, acpu_process_task_pool_get_worker_memory_limit (self));
      break;
    case PROP_MAX_QUEUED:
      g_value_set_uint (value, acpu_process_task_pool_get_max_queued (self));
      break;
    case PROP_MIN_WORKERS:
      g_value_set_uint (value, acpu_process_task_pool_get_min_workers (self));
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, acpu_process_task_pool_get_idle_timeout (self));
      break;
    case PROP_MAX_TASKS_PER_WORKER:
      g_value_set_uint (value, acpu_process_task_pool_get_max_tasks_per_worker (self));
      break;
    case PROP_N_WORKERS:
      g_value_set_uint (value, acpu_process_task_pool_get_n_workers (self));
      break;
    case PROP_N_RUNNING:
      g_value_set_uint (value, acpu_process_task_pool_get_n_running (self));
      break;
    case PROP_N_QUEUED:
      g_value_set_uint (value, acpu_process_task_pool_get_n_queued (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
acpu_process_task_pool_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  ACpuProcessTaskPool *self = ACPU_PROCESS_TASK_POOL (object);

  switch (prop_id)
    {
    case PROP_WORKER_ARGV:
      self->worker_argv = g_value_dup_boxed (value);
      break;
    case PROP_MAX_WORKERS:
      acpu_process_task_pool_set_max_workers (self, g_value_get_uint (value));
      break;
    case PROP_CANCEL_TASKS_WHEN_SHUTDOWN:
      acpu_process_task_pool_set_cancel_tasks_when_shutdown (self, g_value_get_boolean (value));
      break;
    case PROP_CANCEL_GRACE_PERIOD:
      acpu_process_task_pool_set_cancel_grace_period (self, g_value_get_uint (value));
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      acpu_process_task_pool_set_handshake_timeout (self, g_value_get_uint (value));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      acpu_process_task_pool_set_max_message_size (self, g_value_get_uint64 (value));
      break;
    case PROP_TASK_TIMEOUT:
      acpu_process_task_pool_set_task_timeout (self, g_value_get_uint (value));
      break;
    case PROP_WORKER_MEMORY_LIMIT:
      acpu_process_task_pool_set_worker_memory_limit (self, g_value_get_uint64 (value));
      break;
    case PROP_MAX_QUEUED:
      acpu_process_task_pool_set_max_queued (self, g_value_get_uint (value));
      break;
    case PROP_MIN_WORKERS:
      acpu_process_task_pool_set_min_workers (self, g_value_get_uint (value));
      break;
    case PROP_IDLE_TIMEOUT:
      acpu_process_task_pool_set_idle_timeout (self, g_value_get_uint (value));
      break;
    case PROP_MAX_TASKS_PER_WORKER:
      acpu_process_task_pool_set_max_tasks_per_worker (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
acpu_process_task_pool_class_init (ACpuProcessTaskPoolClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = acpu_process_task_pool_constructed;
  object_class->finalize = acpu_process_task_pool_finalize;
  object_class->get_property = acpu_process_task_pool_get_property;
  object_class->set_property = acpu_process_task_pool_set_property;

  /**
   * ACpuProcessTaskPool:worker-argv:
   *
   * The command line that starts a worker: a program that serves the pool
   * with [class@ACpu.Worker]. It may start with a launcher prefix such as
   * `bwrap …` or `systemd-run …`, since the channel is the worker's standard
   * input and output.
   *
   * When it is `NULL` or empty, workers are the current program, started
   * again with the same arguments; there
   * [func@ACpu.Worker.is_worker_process] returns %TRUE.
   *
   * Since: 0.1
   */
  properties[PROP_WORKER_ARGV] =
    g_param_spec_boxed ("worker-argv", NULL, NULL,
                        G_TYPE_STRV,
                        (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:max-workers:
   *
   * The largest number of worker processes at once. Workers start when
   * tasks need them and are reused. Setting 0 means the number of
   * processors, which is also the default; reading gives the number in
   * force.
   *
   * Since: 0.1
   */
  properties[PROP_MAX_WORKERS] =
    g_param_spec_uint ("max-workers", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:cancel-tasks-when-shutdown:
   *
   * What a shutdown does with the tasks left, as in asynccpu: when %FALSE
   * (the default) it waits for queued and running tasks to finish; when
   * %TRUE it cancels them, kills the workers running them, and returns as
   * soon as they are gone.
   *
   * Since: 0.1
   */
  properties[PROP_CANCEL_TASKS_WHEN_SHUTDOWN] =
    g_param_spec_boolean ("cancel-tasks-when-shutdown", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:cancel-grace-period:
   *
   * How long, in milliseconds, a cancelled task may go on running before its
   * worker's process group is killed. The caller is answered at once either
   * way; this only decides when the worker is given up.
   *
   * Since: 0.1
   */
  properties[PROP_CANCEL_GRACE_PERIOD] =
    g_param_spec_uint ("cancel-grace-period", NULL, NULL,
                       0, G_MAXINT, DEFAULT_GRACE_MS,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:handshake-timeout:
   *
   * How long, in milliseconds, a new worker may take to say hello before it
   * is killed and counted as failing to start; it also bounds how long a
   * worker may stop in the middle of a frame (%ACPU_ERROR_PROTOCOL). 0 waits
   * for ever. The default is 30 seconds.
   *
   * Since: 0.1
   */
  properties[PROP_HANDSHAKE_TIMEOUT] =
    g_param_spec_uint ("handshake-timeout", NULL, NULL,
                       0, G_MAXINT, DEFAULT_HANDSHAKE_MS,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:max-message-size:
   *
   * The largest message, in bytes, that crosses between the pool and a
   * worker in either direction: serialized arguments or result. Larger
   * arguments fail the task with %ACPU_ERROR_INVALID_ARGUMENT; a worker that
   * sends more is killed with %ACPU_ERROR_PROTOCOL. Applies to workers
   * started after it is set. The default is 1 GiB.
   *
   * Since: 0.1
   */
  properties[PROP_MAX_MESSAGE_SIZE] =
    g_param_spec_uint64 ("max-message-size", NULL, NULL,
                         1024, G_MAXUINT32 - ACPU_WIRE_HEADER_SIZE, ACPU_WIRE_DEFAULT_MAX_SIZE,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:task-timeout:
   *
   * How long, in milliseconds, a task may run once it is handed to a worker.
   * A task that runs longer fails with %G_IO_ERROR_TIMED_OUT and is stopped
   * like a cancelled one: its worker's cancellable is cancelled, and its
   * process group killed after the grace period. 0 (the default) means no
   * limit.
   *
   * Since: 0.1
   */
  properties[PROP_TASK_TIMEOUT] =
    g_param_spec_uint ("task-timeout", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:worker-memory-limit:
   *
   * The address-space limit (`RLIMIT_AS`), in bytes, of each worker started
   * from now on; 0 (the default) means none. A worker that dies while one is
   * set fails its task with %ACPU_ERROR_WORKER_DIED, and the message says the
   * limit may be why.
   *
   * Since: 0.1
   */
  properties[PROP_WORKER_MEMORY_LIMIT] =
    g_param_spec_uint64 ("worker-memory-limit", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:max-queued:
   *
   * The most tasks that may wait for a worker; 0 (the default) means no
   * bound. Past it, [method@ACpu.ProcessTaskPool.run_async] fails with
   * %ACPU_ERROR_QUEUE_FULL. For back-pressure, watch
   * [property@ACpu.ProcessTaskPool:n-queued] (it is notified) and submit
   * again when it drops.
   *
   * Since: 0.1
   */
  properties[PROP_MAX_QUEUED] =
    g_param_spec_uint ("max-queued", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:min-workers:
   *
   * How many workers to keep started even when there is no task, so the
   * first tasks do not wait for a process to start; never more than
   * [property@ACpu.ProcessTaskPool:max-workers]. The default is 0.
   *
   * Since: 0.1
   */
  properties[PROP_MIN_WORKERS] =
    g_param_spec_uint ("min-workers", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:idle-timeout:
   *
   * How long, in milliseconds, a worker above
   * [property@ACpu.ProcessTaskPool:min-workers] may stay idle before it is
   * closed. 0 keeps idle workers for ever. The default is 30 seconds.
   *
   * Since: 0.1
   */
  properties[PROP_IDLE_TIMEOUT] =
    g_param_spec_uint ("idle-timeout", NULL, NULL,
                       0, G_MAXINT, DEFAULT_IDLE_TIMEOUT_MS,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:max-tasks-per-worker:
   *
   * How many tasks a worker runs before it is replaced by a fresh one (as
   * Python's `max_tasks_per_child`), to bound what a leaky task function can
   * hold; 0 (the default) means no limit.
   *
   * Since: 0.1
   */
  properties[PROP_MAX_TASKS_PER_WORKER] =
    g_param_spec_uint ("max-tasks-per-worker", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:n-workers:
   *
   * The number of worker processes, including those starting. Notified in
   * the main context that was the thread default when the pool was made.
   *
   * Since: 0.1
   */
  properties[PROP_N_WORKERS] =
    g_param_spec_uint ("n-workers", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:n-running:
   *
   * The number of tasks handed to workers and not yet finished. Notified
   * like [property@ACpu.ProcessTaskPool:n-workers].
   *
   * Since: 0.1
   */
  properties[PROP_N_RUNNING] =
    g_param_spec_uint ("n-running", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:n-queued:
   *
   * The number of tasks waiting for a worker. Notified like
   * [property@ACpu.ProcessTaskPool:n-workers].
   *
   * Since: 0.1
   */
  properties[PROP_N_QUEUED] =
    g_param_spec_uint ("n-queued", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
acpu_process_task_pool_init (ACpuProcessTaskPool *self)
{
  self->core = core_new (self);
}

/**
 * acpu_process_task_pool_new:
 * @worker_argv: (array zero-terminated=1) (element-type filename) (nullable):
 *   the command line of a worker program, or `NULL` to start the current
 *   program again as its own worker
 * @max_workers: the largest number of workers at once, or 0 for the number
 *   of processors
 *
 * Creates a pool. No worker starts until a task needs one.
 *
 * Returns: (transfer full): a new [class@ACpu.ProcessTaskPool]
 *
 * Since: 0.1
 */
ACpuProcessTaskPool *
acpu_process_task_pool_new (const char * const *worker_argv,
                            guint               max_workers)
{
  return g_object_new (ACPU_TYPE_PROCESS_TASK_POOL,
                       "worker-argv", worker_argv,
                       "max-workers", max_workers,
                       NULL);
}

/**
 * acpu_process_task_pool_run_async:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @task_name: the name the worker registered the task under
 * @args: (nullable): the task's arguments; `NULL` passes `()`. A floating
 *   reference is sunk.
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async) (closure user_data): called when the task is done
 * @user_data: data for @callback
 *
 * Runs the task @task_name with @args in a worker process.
 *
 * This returns at once; it never waits for a worker. @callback runs in the
 * thread-default main context of the calling thread; call
 * [method@ACpu.ProcessTaskPool.run_finish] there to get the result.
 *
 * Called from a callback that the same main context is dispatching (a
 * GTK signal handler, an idle), the tasks submitted there are handed to the
 * pool together when that callback returns, so a burst of a thousand tasks
 * costs one wakeup of the pool's thread, not a thousand. A callback that
 * submits a task and then waits in a loop of its own for something the task
 * does should return to the main loop instead.
 *
 * Cancelling @cancellable completes the task at once with
 * %G_IO_ERROR_CANCELLED. A queued task then never runs; a running one has
 * its worker-side cancellable cancelled, and its worker is killed if it goes
 * on past [property@ACpu.ProcessTaskPool:cancel-grace-period].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_run_async (ACpuProcessTaskPool *pool,
                                  const char          *task_name,
                                  GVariant            *args,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  ACpuPoolCore *core;
  g_autoptr(GTask) task = NULL;
  GSource *reply = NULL;
  GMainContext *context;
  ACpuJob *job;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (task_name != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  core = pool->core;

  task = g_task_new (pool, cancellable, callback, user_data);
  g_task_set_source_tag (task, acpu_process_task_pool_run_async);
  g_task_set_name (task, "acpu_process_task_pool_run_async");
  g_task_set_task_data (task, core, NULL);

  job = g_new0 (ACpuJob, 1);
  job->link.data = job;
  job->name = g_strdup (task_name);
  job->args = args != NULL ? g_variant_ref_sink (args) : g_variant_ref_sink (g_variant_new ("()"));
  job->state = JOB_INCOMING;

  if (g_task_return_error_if_cancelled (task))
    {
      job_free (job);
      return;
    }

  g_atomic_int_set (&core->notify_listened, acpu_process_task_pool_is_watched (pool));

  g_mutex_lock (&core->lock);
  if (core->closed)
    {
      g_mutex_unlock (&core->lock);
      job_free (job);
      g_task_return_new_error (task, ACPU_ERROR, ACPU_ERROR_CLOSED,
                               "The pool is shut down: task “%s” was not run", task_name);
      return;
    }
  if (g_atomic_int_get (&core->max_queued) > 0 &&
      (guint) g_atomic_int_get (&core->n_queued) >= g_atomic_int_get (&core->max_queued))
    {
      g_mutex_unlock (&core->lock);
      job_free (job);
      g_task_return_new_error (task, ACPU_ERROR, ACPU_ERROR_QUEUE_FULL,
                               "The pool's queue is full (%u tasks): task “%s” was not run",
                               g_atomic_int_get (&core->max_queued), task_name);
      return;
    }
  context = g_task_get_context (task);
  job->task = g_steal_pointer (&task);
  job->id = ++core->next_id;
  if (core_send_offered_locked (core, job))
    {
      /* Sent. This thread reads the reply (reply_source), unless there is a
       * time limit to watch: then the I/O thread takes it over now. */
      g_queue_push_tail_link (&core->sent, &job->link);
      g_atomic_int_inc (&core->n_running);
      if (g_atomic_int_get (&core->task_timeout_ms) > 0)
        core_request (core);
      else
        reply = reply_source_new (core, job);
    }
  else
    {
      g_queue_push_tail_link (&core->incoming, &job->link);
      g_atomic_int_inc (&core->n_queued);
      core_wake_for (core, g_task_get_context (job->task));
    }
  g_mutex_unlock (&core->lock);

  /* Out of the lock: a cancellable already cancelled calls back at once. */
  if (reply != NULL)
    reply_source_attach (reply, cancellable, context);

  core_counters_changed (core);
}

/**
 * acpu_process_task_pool_run_finish:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a #GError
 *
 * Gets the result of a task started with
 * [method@ACpu.ProcessTaskPool.run_async].
 *
 * An error the task function set in the worker arrives with its domain,
 * code and message. The pool's own errors are in [error@ACpu.Error]:
 * %ACPU_ERROR_UNKNOWN_TASK, %ACPU_ERROR_WORKER_DIED (the message names the
 * task, the worker's pid and the signal or exit status),
 * %ACPU_ERROR_WORKER_START, %ACPU_ERROR_PROTOCOL, %ACPU_ERROR_CLOSED; a
 * cancelled task fails with %G_IO_ERROR_CANCELLED.
 *
 * Returns: (transfer full): the task's result, or `NULL` with @error set
 *
 * Since: 0.1
 */
GVariant *
acpu_process_task_pool_run_finish (ACpuProcessTaskPool  *pool,
                                   GAsyncResult         *result,
                                   GError              **error)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);
  g_return_val_if_fail (g_task_is_valid (result, pool), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, acpu_process_task_pool_run_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct
{
  GAsyncResult *result;
} ACpuSyncData;

static void
acpu_sync_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  ACpuSyncData *data = user_data;

  data->result = g_object_ref (result);
  g_main_context_wakeup (g_main_context_get_thread_default ());
}

/* Runs the main context pushed for a blocking call until @data is done. */
static void
acpu_sync_wait (GMainContext *context,
                ACpuSyncData *data)
{
  while (data->result == NULL)
    g_main_context_iteration (context, TRUE);
}

/**
 * acpu_process_task_pool_run:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @task_name: the name the worker registered the task under
 * @args: (nullable): the task's arguments; `NULL` passes `()`. A floating
 *   reference is sunk.
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a #GError
 *
 * Runs the task @task_name with @args in a worker process and waits for its
 * result. This blocks the calling thread, which may be any thread, with or
 * without a main loop; other main contexts are not iterated meanwhile.
 *
 * Returns: (transfer full): the task's result, or `NULL` with @error set
 *
 * Since: 0.1
 */
GVariant *
acpu_process_task_pool_run (ACpuProcessTaskPool  *pool,
                            const char           *task_name,
                            GVariant             *args,
                            GCancellable         *cancellable,
                            GError              **error)
{
  g_autoptr(GMainContext) context = NULL;
  ACpuSyncData data = { NULL };
  GVariant *value;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);
  g_return_val_if_fail (task_name != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  acpu_process_task_pool_run_async (pool, task_name, args, cancellable, acpu_sync_cb, &data);
  acpu_sync_wait (context, &data);
  g_main_context_pop_thread_default (context);

  value = acpu_process_task_pool_run_finish (pool, data.result, error);
  g_object_unref (data.result);
  return value;
}

/**
 * acpu_process_task_pool_shutdown_async:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @callback: (scope async) (closure user_data): called when every worker is gone
 * @user_data: data for @callback
 *
 * Shuts the pool down. From now on new tasks fail with %ACPU_ERROR_CLOSED.
 *
 * With [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown] %FALSE the
 * queued and running tasks finish first; with %TRUE they are cancelled and
 * their workers killed. Either way, when @callback runs no worker process
 * and no zombie is left. Cancelling @cancellable turns the shutdown into a
 * cancelling one, and the call then fails with %G_IO_ERROR_CANCELLED once
 * the workers are gone.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_shutdown_async (ACpuProcessTaskPool *pool,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  ACpuPoolCore *core;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  core = pool->core;
  task = g_task_new (pool, cancellable, callback, user_data);
  g_task_set_source_tag (task, acpu_process_task_pool_shutdown_async);
  g_task_set_name (task, "acpu_process_task_pool_shutdown_async");

  g_mutex_lock (&core->lock);
  core->closed = TRUE;
  if (g_atomic_int_get (&core->cancel_tasks_when_shutdown) ||
      g_cancellable_is_cancelled (cancellable))
    core->cancel_requested = TRUE;
  g_ptr_array_add (core->shutdown_requests, g_object_ref (task));
  core_request (core);
  g_mutex_unlock (&core->lock);

  if (cancellable != NULL)
    {
      GSource *source = g_cancellable_source_new (cancellable);

      g_source_set_callback (source, G_SOURCE_FUNC (acpu_process_task_pool_shutdown_cancel_cb),
                             core_ref (core), (GDestroyNotify) core_unref);
      g_source_attach (source, acpu_io_get_context ());
      g_task_set_task_data (task, source, (GDestroyNotify) g_source_destroy);
      g_source_unref (source);
    }
}

/**
 * acpu_process_task_pool_shutdown_finish:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a #GError
 *
 * Finishes [method@ACpu.ProcessTaskPool.shutdown_async].
 *
 * Returns: %TRUE when the pool is shut down, %FALSE with @error set
 *
 * Since: 0.1
 */
gboolean
acpu_process_task_pool_shutdown_finish (ACpuProcessTaskPool  *pool,
                                        GAsyncResult         *result,
                                        GError              **error)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, pool), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, acpu_process_task_pool_shutdown_async),
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * acpu_process_task_pool_shutdown:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @cancellable: (nullable): a [class@Gio.Cancellable]
 * @error: return location for a #GError
 *
 * Shuts the pool down and waits until every worker is gone, like
 * [method@ACpu.ProcessTaskPool.shutdown_async]. Do not call it from a task
 * callback of the same pool on a thread that must run that callback.
 *
 * Returns: %TRUE when the pool is shut down, %FALSE with @error set
 *
 * Since: 0.1
 */
gboolean
acpu_process_task_pool_shutdown (ACpuProcessTaskPool  *pool,
                                 GCancellable         *cancellable,
                                 GError              **error)
{
  g_autoptr(GMainContext) context = NULL;
  ACpuSyncData data = { NULL };
  gboolean ret;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  acpu_process_task_pool_shutdown_async (pool, cancellable, acpu_sync_cb, &data);
  acpu_sync_wait (context, &data);
  g_main_context_pop_thread_default (context);

  ret = acpu_process_task_pool_shutdown_finish (pool, data.result, error);
  g_object_unref (data.result);
  return ret;
}

/* Properties --------------------------------------------------------------- */

/**
 * acpu_process_task_pool_get_worker_argv:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets the command line that starts a worker; for a pool made with no
 * `worker_argv`, the current program's.
 *
 * Returns: (transfer none) (array zero-terminated=1) (element-type filename):
 *   the worker command line
 *
 * Since: 0.1
 */
const char * const *
acpu_process_task_pool_get_worker_argv (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);

  return (const char * const *) pool->core->argv;
}

/**
 * acpu_process_task_pool_get_max_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:max-workers].
 *
 * Returns: the largest number of workers at once
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_max_workers (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->max_workers);
}

/**
 * acpu_process_task_pool_set_max_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @max_workers: the largest number of workers at once, or 0 for the
 *   number of processors
 *
 * Sets [property@ACpu.ProcessTaskPool:max-workers]. Raising it lets queued
 * tasks start at once; lowering it does not stop workers that are busy.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_max_workers (ACpuProcessTaskPool *pool,
                                        guint                max_workers)
{
  ACpuPoolCore *core;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (max_workers <= G_MAXINT);

  if (max_workers == 0)
    max_workers = MAX (1, g_get_num_processors ());

  core = pool->core;
  if ((guint) g_atomic_int_exchange (&core->max_workers, max_workers) == max_workers)
    return;

  acpu_process_task_pool_wake (pool);
  g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_MAX_WORKERS]);
}

/**
 * acpu_process_task_pool_get_cancel_tasks_when_shutdown:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown].
 *
 * Returns: whether a shutdown cancels the tasks left
 *
 * Since: 0.1
 */
gboolean
acpu_process_task_pool_get_cancel_tasks_when_shutdown (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), FALSE);

  return g_atomic_int_get (&pool->core->cancel_tasks_when_shutdown);
}

/**
 * acpu_process_task_pool_set_cancel_tasks_when_shutdown:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @cancel_tasks_when_shutdown: whether a shutdown cancels the tasks left
 *
 * Sets [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_cancel_tasks_when_shutdown (ACpuProcessTaskPool *pool,
                                                       gboolean             cancel_tasks_when_shutdown)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));

  cancel_tasks_when_shutdown = !!cancel_tasks_when_shutdown;
  if (g_atomic_int_exchange (&pool->core->cancel_tasks_when_shutdown,
                             cancel_tasks_when_shutdown) != cancel_tasks_when_shutdown)
    g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_CANCEL_TASKS_WHEN_SHUTDOWN]);
}

/**
 * acpu_process_task_pool_get_cancel_grace_period:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:cancel-grace-period].
 *
 * Returns: the grace period in milliseconds
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_cancel_grace_period (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->grace_ms);
}

/**
 * acpu_process_task_pool_set_cancel_grace_period:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @msec: the grace period in milliseconds
 *
 * Sets [property@ACpu.ProcessTaskPool:cancel-grace-period].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_cancel_grace_period (ACpuProcessTaskPool *pool,
                                                guint                msec)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (msec <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->grace_ms, msec) != msec)
    g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_CANCEL_GRACE_PERIOD]);
}

/**
 * acpu_process_task_pool_get_handshake_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:handshake-timeout].
 *
 * Returns: the handshake timeout in milliseconds
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_handshake_timeout (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->handshake_ms);
}

/**
 * acpu_process_task_pool_set_handshake_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @msec: the timeout in milliseconds, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:handshake-timeout].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_handshake_timeout (ACpuProcessTaskPool *pool,
                                              guint                msec)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (msec <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->handshake_ms, msec) != msec)
    g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_HANDSHAKE_TIMEOUT]);
}

/**
 * acpu_process_task_pool_get_max_message_size:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:max-message-size].
 *
 * Returns: the largest message in bytes
 *
 * Since: 0.1
 */
guint64
acpu_process_task_pool_get_max_message_size (ACpuProcessTaskPool *pool)
{
  guint64 size;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  g_mutex_lock (&pool->core->lock);
  size = pool->core->max_size;
  g_mutex_unlock (&pool->core->lock);
  return size;
}

/**
 * acpu_process_task_pool_set_max_message_size:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @max_message_size: the largest message in bytes
 *
 * Sets [property@ACpu.ProcessTaskPool:max-message-size].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_max_message_size (ACpuProcessTaskPool *pool,
                                             guint64              max_message_size)
{
  gboolean changed;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (max_message_size >= 1024);
  g_return_if_fail (max_message_size <= G_MAXUINT32 - ACPU_WIRE_HEADER_SIZE);

  g_mutex_lock (&pool->core->lock);
  changed = pool->core->max_size != max_message_size;
  pool->core->max_size = max_message_size;
  g_mutex_unlock (&pool->core->lock);

  if (changed)
    g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_MAX_MESSAGE_SIZE]);
}

/**
 * acpu_process_task_pool_get_task_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:task-timeout].
 *
 * Returns: the timeout in milliseconds, or 0
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_task_timeout (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->task_timeout_ms);
}

/**
 * acpu_process_task_pool_set_task_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @msec: the timeout in milliseconds, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:task-timeout].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_task_timeout (ACpuProcessTaskPool *pool,
                                         guint                msec)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (msec <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->task_timeout_ms, msec) == msec)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_TASK_TIMEOUT]);
}

/**
 * acpu_process_task_pool_get_max_queued:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:max-queued].
 *
 * Returns: the bound, or 0
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_max_queued (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->max_queued);
}

/**
 * acpu_process_task_pool_set_max_queued:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @max_queued: the bound, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:max-queued].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_max_queued (ACpuProcessTaskPool *pool,
                                       guint                max_queued)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (max_queued <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->max_queued, max_queued) == max_queued)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_MAX_QUEUED]);
}

/**
 * acpu_process_task_pool_get_min_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:min-workers].
 *
 * Returns: the number of workers kept started
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_min_workers (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->min_workers);
}

/**
 * acpu_process_task_pool_set_min_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @min_workers: the number of workers to keep started
 *
 * Sets [property@ACpu.ProcessTaskPool:min-workers].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_min_workers (ACpuProcessTaskPool *pool,
                                        guint                min_workers)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (min_workers <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->min_workers, min_workers) == min_workers)
    return;

  acpu_process_task_pool_wake (pool);
  g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_MIN_WORKERS]);
}

/**
 * acpu_process_task_pool_get_idle_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:idle-timeout].
 *
 * Returns: the idle timeout in milliseconds, or 0
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_idle_timeout (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->idle_timeout_ms);
}

/**
 * acpu_process_task_pool_set_idle_timeout:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @msec: the idle timeout in milliseconds, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:idle-timeout].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_idle_timeout (ACpuProcessTaskPool *pool,
                                         guint                msec)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (msec <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->idle_timeout_ms, msec) == msec)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_IDLE_TIMEOUT]);
}

/**
 * acpu_process_task_pool_get_max_tasks_per_worker:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:max-tasks-per-worker].
 *
 * Returns: the limit, or 0
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_max_tasks_per_worker (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->max_tasks_per_worker);
}

/**
 * acpu_process_task_pool_set_max_tasks_per_worker:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @max_tasks: the limit, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:max-tasks-per-worker].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_max_tasks_per_worker (ACpuProcessTaskPool *pool,
                                                 guint                max_tasks)
{
  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (max_tasks <= G_MAXINT);

  if ((guint) g_atomic_int_exchange (&pool->core->max_tasks_per_worker, max_tasks) == max_tasks)
    return;

  g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_MAX_TASKS_PER_WORKER]);
}

/**
 * acpu_process_task_pool_get_worker_memory_limit:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:worker-memory-limit].
 *
 * Returns: the limit in bytes, or 0
 *
 * Since: 0.1
 */
guint64
acpu_process_task_pool_get_worker_memory_limit (ACpuProcessTaskPool *pool)
{
  guint64 limit;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  g_mutex_lock (&pool->core->lock);
  limit = pool->core->memory_limit;
  g_mutex_unlock (&pool->core->lock);
  return limit;
}

/**
 * acpu_process_task_pool_set_worker_memory_limit:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @bytes: the limit in bytes, or 0 for none
 *
 * Sets [property@ACpu.ProcessTaskPool:worker-memory-limit].
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_set_worker_memory_limit (ACpuProcessTaskPool *pool,
                                                guint64              bytes)
{
  gboolean changed;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));

  g_mutex_lock (&pool->core->lock);
  changed = pool->core->memory_limit != bytes;
  pool->core->memory_limit = bytes;
  g_mutex_unlock (&pool->core->lock);

  if (changed)
    g_object_notify_by_pspec (G_OBJECT (pool), properties[PROP_WORKER_MEMORY_LIMIT]);
}

/**
 * acpu_process_task_pool_get_n_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:n-workers].
 *
 * Returns: the number of worker processes
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_n_workers (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->n_workers);
}

/**
 * acpu_process_task_pool_get_n_running:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:n-running].
 *
 * Returns: the number of tasks handed to workers
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_n_running (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->n_running);
}

/**
 * acpu_process_task_pool_get_n_queued:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:n-queued].
 *
 * Returns: the number of tasks waiting for a worker
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_n_queued (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->n_queued);
}
