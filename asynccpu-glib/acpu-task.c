/* acpu-task.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A task handle, and its feed.
 *
 * The handle lives in the main context that was thread-default when the
 * task started [context]: every property changes and notifies there, and
 * every signal is emitted there. The I/O thread [io] never touches it; it
 * tells the feed (ACpuTaskFeed, acpu-task-private.h), a small refcounted
 * struct under a lock of its own, shared by the job and the handle:
 *
 *   [io]       started / progress / partial ──► feed (lock), ready time 0
 *   [context]  feed source dispatch: takes all of it, once per iteration,
 *              notifies; emits ::partial-value for each value in order, then
 *              acknowledges them to the worker (acpu_worker_proc_ack()),
 *              which gives the worker room for more
 *   [context]  the job's GTask returns (acpu_pool_submit()'s callback): the
 *              feed is drained first, so every partial value comes before
 *              the final state, and closed: what comes later is the I/O
 *              thread's to acknowledge and drop
 *
 * Progress is coalesced twice: the worker sends at most one report per
 * 5 ms, and the feed keeps only the latest until the context takes it, so
 * a task's property notifies at most once per main-loop iteration. Partial
 * values are never coalesced: the worker's window (ACPU_WIRE_PARTIAL_WINDOW)
 * bounds how many wait here.
 */

#include "config.h"

#include "acpu-enum-types.h"
#include "acpu-error.h"
#include "acpu-pool-private.h"
#include "acpu-task.h"
#include "acpu-task-private.h"

/* The feed ------------------------------------------------------------------ */

struct _ACpuTaskFeed
{
  gatomicrefcount  ref_count;
  GMutex           lock;
  /* Guarded by lock. */
  GSource         *source;       /* the handle's, in its context; NULL once closed */
  gboolean         pending;      /* the source was made ready for what is here */
  gboolean         started;
  GPid             pid;
  gint64           started_time;
  gboolean         progress_changed;
  double           fraction;
  char            *text;
  GQueue           partials;     /* GVariant, in the order they came */
  ACpuWorkerProc  *proc;         /* a reference: whom to acknowledge partial values to */
  guint64          id;
};

/* Any thread. */
ACpuTaskFeed *
acpu_task_feed_ref (ACpuTaskFeed *feed)
{
  g_atomic_ref_count_inc (&feed->ref_count);
  return feed;
}

/* Any thread: the partial values still held are acknowledged (nobody will
 * handle them; a worker still sending gets its room back). */
void
acpu_task_feed_unref (ACpuTaskFeed *feed)
{
  guint count = 0;
  guint64 bytes = 0;
  GVariant *value;

  if (!g_atomic_ref_count_dec (&feed->ref_count))
    return;

  while ((value = g_queue_pop_head (&feed->partials)) != NULL)
    {
      count++;
      bytes += g_variant_get_size (value);
      g_variant_unref (value);
    }
  if (feed->proc != NULL)
    {
      if (count > 0)
        acpu_worker_proc_ack (feed->proc, feed->id, count, bytes);
      acpu_worker_proc_unref (feed->proc);
    }
  g_assert (feed->source == NULL);
  g_free (feed->text);
  g_mutex_clear (&feed->lock);
  g_free (feed);
}

/* Any thread, with feed->lock held: the handle's context looks soon. */
static void
acpu_task_feed_wake_locked (ACpuTaskFeed *feed)
{
  if (!feed->pending && feed->source != NULL)
    {
      feed->pending = TRUE;
      g_source_set_ready_time (feed->source, 0);
    }
}

/* [io], takes feed->lock. */
void
acpu_task_feed_started (ACpuTaskFeed   *feed,
                        ACpuWorkerProc *proc,
                        guint64         id)
{
  g_mutex_lock (&feed->lock);
  feed->started = TRUE;
  feed->pid = acpu_worker_proc_get_pid (proc);
  feed->started_time = g_get_monotonic_time ();
  if (feed->proc == NULL)
    {
      feed->proc = acpu_worker_proc_ref (proc);
      feed->id = id;
    }
  acpu_task_feed_wake_locked (feed);
  g_mutex_unlock (&feed->lock);
}

/* [io], takes feed->lock. */
void
acpu_task_feed_progress (ACpuTaskFeed *feed,
                         double        fraction,
                         const char   *text)
{
  g_mutex_lock (&feed->lock);
  feed->progress_changed = TRUE;
  feed->fraction = fraction;
  if (g_strcmp0 (feed->text, text) != 0)
    {
      g_free (feed->text);
      feed->text = g_strdup (text);
    }
  acpu_task_feed_wake_locked (feed);
  g_mutex_unlock (&feed->lock);
}

/* [io], takes feed->lock. */
gboolean
acpu_task_feed_partial (ACpuTaskFeed   *feed,
                        ACpuWorkerProc *proc,
                        guint64         id,
                        GVariant       *value)
{
  gboolean taken = FALSE;

  g_mutex_lock (&feed->lock);
  if (feed->source != NULL)
    {
      if (feed->proc == NULL)
        {
          feed->proc = acpu_worker_proc_ref (proc);
          feed->id = id;
        }
      g_queue_push_tail (&feed->partials, g_variant_ref (value));
      acpu_task_feed_wake_locked (feed);
      taken = TRUE;
    }
  g_mutex_unlock (&feed->lock);

  return taken;
}

/* The handle ---------------------------------------------------------------- */

/**
 * ACpuTask:
 *
 * A task running in a [class@ACpu.ProcessTaskPool], started with
 * [method@ACpu.ProcessTaskPool.start]: its state, its progress and its
 * partial values, as properties and signals of a GObject, for a user
 * interface to show.
 *
 * ```c
 * g_autoptr(ACpuTask) task = acpu_process_task_pool_start (pool, "render",
 *                                                          g_variant_new ("(u)", tile),
 *                                                          G_PRIORITY_DEFAULT, NULL);
 *
 * g_object_bind_property (task, "progress", bar, "fraction", G_BINDING_SYNC_CREATE);
 * g_object_bind_property (task, "status-text", bar, "text", G_BINDING_SYNC_CREATE);
 * g_signal_connect (task, "partial-value", G_CALLBACK (on_row), self);
 * acpu_task_wait_async (task, NULL, on_done, self);
 * ```
 *
 * Everything about the handle happens in the main context that was the
 * thread-default one of the thread that started it (a GTK application's
 * main context): its properties change and notify there, its signals are
 * emitted there, and the callback of [method@ACpu.Task.wait_async] runs
 * there. So `g_object_bind_property()` to a widget just works.
 *
 * The worker's task reports progress with
 * [method@ACpu.Worker.report_progress] and sends partial values with
 * [method@ACpu.Worker.send_partial]. Progress is coalesced: at most one
 * notification of [property@ACpu.Task:progress] per main-loop iteration,
 * the latest value winning. Partial values never are: each one is a
 * [signal@ACpu.Task::partial-value], in order, all of them before the task's
 * state becomes final. A worker that makes them faster than this context
 * handles them waits for it (at most 16 values or 1 MiB of them are in
 * between), so a fast producer cannot grow the caller's memory.
 *
 * The task runs whether or not the handle is kept: dropping the last
 * reference to it does not cancel it (use [method@ACpu.Task.cancel]).
 *
 * Since: 0.1
 */

struct _ACpuTask
{
  GObject              parent_instance;

  /* [context] only, the context of the thread that started the task. */
  ACpuProcessTaskPool *pool;
  char                *name;
  int                  priority;
  ACpuTaskState        state;
  double               progress;
  char                *status_text;
  GPid                 worker_pid;
  gint64               queued_time;
  gint64               started_time;
  gint64               finished_time;
  GCancellable        *cancellable;      /* ours: acpu_task_cancel() */
  GCancellable        *user_cancellable; /* the caller's, which cancels ours */
  gulong               user_cancel_id;
  GSource             *source;           /* dispatches the feed */
  ACpuTaskFeed        *feed;
  GVariant            *result;
  GError              *error;
  ACpuWorkerExit      *exit;
  GPtrArray           *waiters;          /* GTask, from acpu_task_wait_async() */
};

G_DEFINE_FINAL_TYPE (ACpuTask, acpu_task, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_NAME,
  PROP_STATE,
  PROP_PROGRESS,
  PROP_STATUS_TEXT,
  PROP_WORKER_PID,
  PROP_PRIORITY,
  PROP_QUEUED_TIME,
  PROP_STARTED_TIME,
  PROP_FINISHED_TIME,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  SIGNAL_PARTIAL_VALUE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* The feed's source in the handle's context. It holds a reference to the
 * feed, and a weak one to the handle, which may be finalized from another
 * thread than the one dispatching. */
typedef struct
{
  GSource       source;
  ACpuTaskFeed *feed;
  GWeakRef      task;
} ACpuTaskSource;

/* [context]: takes what the feed holds and applies it: running, progress
 * (one notify at most), then each partial value, emitted in order unless
 * @drop, and acknowledged to the worker. */
static void
acpu_task_take_feed (ACpuTask *self,
                     gboolean  drop)
{
  ACpuTaskFeed *feed = self->feed;
  g_autoptr(ACpuWorkerProc) proc = NULL;
  g_autofree char *text = NULL;
  GQueue partials = G_QUEUE_INIT;
  gboolean started, progress_changed;
  double fraction;
  guint64 id, bytes = 0;
  guint count = 0;
  GPid pid;
  gint64 started_time;
  GVariant *value;

  g_mutex_lock (&feed->lock);
  if (feed->source != NULL)
    g_source_set_ready_time (feed->source, -1);
  feed->pending = FALSE;
  started = feed->started;
  pid = feed->pid;
  started_time = feed->started_time;
  progress_changed = feed->progress_changed;
  feed->progress_changed = FALSE;
  fraction = feed->fraction;
  text = g_strdup (feed->text);
  partials = feed->partials;
  g_queue_init (&feed->partials);
  proc = feed->proc != NULL ? acpu_worker_proc_ref (feed->proc) : NULL;
  id = feed->id;
  g_mutex_unlock (&feed->lock);

  g_object_freeze_notify (G_OBJECT (self));
  if (started && self->state == ACPU_TASK_STATE_QUEUED)
    {
      self->state = ACPU_TASK_STATE_RUNNING;
      self->worker_pid = pid;
      self->started_time = started_time;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKER_PID]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STARTED_TIME]);
    }
  if (progress_changed)
    {
      if (fraction != self->progress)
        {
          self->progress = fraction;
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
        }
      if (g_strcmp0 (text != NULL ? text : "", self->status_text) != 0)
        {
          g_free (self->status_text);
          self->status_text = g_strdup (text != NULL ? text : "");
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS_TEXT]);
        }
    }
  g_object_thaw_notify (G_OBJECT (self));

  while ((value = g_queue_pop_head (&partials)) != NULL)
    {
      count++;
      bytes += g_variant_get_size (value);
      /* A handler may cancel the task: none is emitted after that. */
      if (!drop && !g_cancellable_is_cancelled (self->cancellable))
        g_signal_emit (self, signals[SIGNAL_PARTIAL_VALUE], 0, value);
      g_variant_unref (value);
    }
  if (count > 0 && proc != NULL)
    acpu_worker_proc_ack (proc, id, count, bytes);
}

/* [context] */
static gboolean
acpu_task_source_dispatch (GSource     *source,
                           GSourceFunc  callback,
                           gpointer     user_data)
{
  ACpuTaskSource *self = (ACpuTaskSource *) source;
  g_autoptr(ACpuTask) task = g_weak_ref_get (&self->task);

  if (task != NULL && task->feed != NULL)
    acpu_task_take_feed (task, FALSE);
  return G_SOURCE_CONTINUE;
}

/* Any thread: the last reference to the source. */
static void
acpu_task_source_finalize (GSource *source)
{
  ACpuTaskSource *self = (ACpuTaskSource *) source;

  g_weak_ref_clear (&self->task);
  acpu_task_feed_unref (self->feed);
}

static GSourceFuncs acpu_task_source_funcs = {
  .dispatch = acpu_task_source_dispatch,
  .finalize = acpu_task_source_finalize,
};

/* [context] or the finalizing thread: the feed takes nothing more; what it
 * gets from now on the I/O thread acknowledges and drops. */
static void
acpu_task_close_feed (ACpuTask *self)
{
  if (self->feed == NULL)
    return;

  g_mutex_lock (&self->feed->lock);
  self->feed->source = NULL;
  g_mutex_unlock (&self->feed->lock);

  g_source_destroy (self->source);
  g_clear_pointer (&self->source, g_source_unref);
  g_clear_pointer (&self->feed, acpu_task_feed_unref);
}

static void
acpu_task_finalize (GObject *object)
{
  ACpuTask *self = (ACpuTask *) object;

  acpu_task_close_feed (self);
  if (self->user_cancel_id != 0)
    g_cancellable_disconnect (self->user_cancellable, self->user_cancel_id);
  g_clear_object (&self->user_cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->pool);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->status_text, g_free);
  g_clear_pointer (&self->result, g_variant_unref);
  g_clear_error (&self->error);
  g_clear_object (&self->exit);
  g_clear_pointer (&self->waiters, g_ptr_array_unref);

  G_OBJECT_CLASS (acpu_task_parent_class)->finalize (object);
}

static void
acpu_task_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  ACpuTask *self = ACPU_TASK (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_PROGRESS:
      g_value_set_double (value, self->progress);
      break;
    case PROP_STATUS_TEXT:
      g_value_set_string (value, self->status_text);
      break;
    case PROP_WORKER_PID:
      g_value_set_int (value, self->worker_pid);
      break;
    case PROP_PRIORITY:
      g_value_set_int (value, self->priority);
      break;
    case PROP_QUEUED_TIME:
      g_value_set_int64 (value, self->queued_time);
      break;
    case PROP_STARTED_TIME:
      g_value_set_int64 (value, self->started_time);
      break;
    case PROP_FINISHED_TIME:
      g_value_set_int64 (value, self->finished_time);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
acpu_task_class_init (ACpuTaskClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->finalize = acpu_task_finalize;
  object_class->get_property = acpu_task_get_property;

  /**
   * ACpuTask:name:
   *
   * The name of the task, as the worker registered it.
   *
   * Since: 0.1
   */
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);

  /**
   * ACpuTask:state:
   *
   * Where the task is: queued, running, or one of the final states. It
   * moves forward only.
   *
   * Since: 0.1
   */
  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, ACPU_TYPE_TASK_STATE,
                                              ACPU_TASK_STATE_QUEUED, flags);

  /**
   * ACpuTask:progress:
   *
   * How much of the task is done, from 0 to 1, as the task last reported
   * with [method@ACpu.Worker.report_progress]; 1 once it succeeded.
   * Notifications are coalesced: at most one per main-loop iteration.
   *
   * Since: 0.1
   */
  properties[PROP_PROGRESS] = g_param_spec_double ("progress", NULL, NULL, 0.0, 1.0, 0.0, flags);

  /**
   * ACpuTask:status-text:
   *
   * The text the task last reported with its progress; empty if none.
   *
   * Since: 0.1
   */
  properties[PROP_STATUS_TEXT] = g_param_spec_string ("status-text", NULL, NULL, "", flags);

  /**
   * ACpuTask:worker-pid:
   *
   * The process id of the worker that runs or ran the task; 0 while it is
   * queued.
   *
   * Since: 0.1
   */
  properties[PROP_WORKER_PID] = g_param_spec_int ("worker-pid", NULL, NULL, 0, G_MAXINT, 0,
                                                  flags);

  /**
   * ACpuTask:priority:
   *
   * The task's priority in the pool's queue, in GIO's `io_priority`
   * convention: lower runs first.
   *
   * Since: 0.1
   */
  properties[PROP_PRIORITY] = g_param_spec_int ("priority", NULL, NULL, G_MININT, G_MAXINT,
                                                G_PRIORITY_DEFAULT, flags);

  /**
   * ACpuTask:queued-time:
   *
   * When the task was started, in the microseconds of
   * `g_get_monotonic_time()`.
   *
   * Since: 0.1
   */
  properties[PROP_QUEUED_TIME] = g_param_spec_int64 ("queued-time", NULL, NULL, 0, G_MAXINT64, 0,
                                                     flags);

  /**
   * ACpuTask:started-time:
   *
   * When a worker began to run the task, in the microseconds of
   * `g_get_monotonic_time()`; 0 until then.
   *
   * Since: 0.1
   */
  properties[PROP_STARTED_TIME] = g_param_spec_int64 ("started-time", NULL, NULL, 0, G_MAXINT64,
                                                      0, flags);

  /**
   * ACpuTask:finished-time:
   *
   * When the task's state became final, in the microseconds of
   * `g_get_monotonic_time()`; 0 until then.
   *
   * Since: 0.1
   */
  properties[PROP_FINISHED_TIME] = g_param_spec_int64 ("finished-time", NULL, NULL, 0,
                                                       G_MAXINT64, 0, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * ACpuTask::partial-value:
   * @task: the [class@ACpu.Task]
   * @value: the partial value the task sent with
   *   [method@ACpu.Worker.send_partial]
   *
   * Emitted for each partial value of the task, in the order the task sent
   * them, all of them before the task's state becomes final. None is
   * emitted once the task is cancelled ([method@ACpu.Task.cancel], or the
   * cancellable given to [method@ACpu.ProcessTaskPool.start]).
   *
   * Since: 0.1
   */
  signals[SIGNAL_PARTIAL_VALUE] =
    g_signal_new ("partial-value", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_VARIANT);
}

static void
acpu_task_init (ACpuTask *self)
{
  self->status_text = g_strdup ("");
  self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
}

/* [context]: the state becomes final; every waiter gets the result. */
static void
acpu_task_finish (ACpuTask      *self,
                  GVariant      *value,
                  GError        *error)
{
  g_autoptr(GPtrArray) waiters = NULL;
  ACpuTaskState state;

  if (error == NULL)
    state = ACPU_TASK_STATE_SUCCEEDED;
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    state = ACPU_TASK_STATE_CANCELLED;
  else
    state = ACPU_TASK_STATE_FAILED;

  /* Everything the task said before its end comes first; the values of a
   * cancelled task are dropped (and acknowledged). One notification per
   * property for all of it. */
  g_object_freeze_notify (G_OBJECT (self));
  if (self->feed != NULL)
    acpu_task_take_feed (self, state == ACPU_TASK_STATE_CANCELLED);
  acpu_task_close_feed (self);

  self->result = value;
  self->error = error;
  self->finished_time = g_get_monotonic_time ();

  g_object_freeze_notify (G_OBJECT (self));
  self->state = state;
  if (state == ACPU_TASK_STATE_SUCCEEDED && self->progress != 1.0)
    {
      self->progress = 1.0;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FINISHED_TIME]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  g_object_thaw_notify (G_OBJECT (self));
  g_object_thaw_notify (G_OBJECT (self));

  waiters = g_steal_pointer (&self->waiters);
  self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *waiter = g_ptr_array_index (waiters, i);

      if (self->error != NULL)
        g_task_return_error (waiter, g_error_copy (self->error));
      else
        g_task_return_pointer (waiter, g_variant_ref (self->result),
                               (GDestroyNotify) g_variant_unref);
    }
}

/* [context]: the job's GTask returned. Holds the reference the run took. */
static void
acpu_task_done_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(ACpuTask) self = user_data;
  GError *error = NULL;
  GVariant *value;

  value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &error);
  self->exit = acpu_process_task_pool_get_worker_exit (ACPU_PROCESS_TASK_POOL (object), result);
  acpu_task_finish (self, value, error);
}

/* [cancel]: the caller's cancellable cancels ours. */
static void
acpu_task_user_cancelled_cb (GCancellable *cancellable,
                             gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

/**
 * acpu_process_task_pool_start:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @task_name: the name the worker registered the task under
 * @args: (nullable): the task's arguments; `NULL` passes `()`. A floating
 *   reference is sunk.
 * @io_priority: the task's place in the queue, in GIO's `io_priority`
 *   convention: lower runs first, `G_PRIORITY_DEFAULT` (0) for most
 * @cancellable: (nullable): a [class@Gio.Cancellable]; cancelling it is
 *   [method@ACpu.Task.cancel]
 *
 * Starts the task @task_name with @args in a worker process, as
 * [method@ACpu.ProcessTaskPool.run_async] does, and returns a handle that
 * tells its state, progress and partial values: see [class@ACpu.Task].
 *
 * The pool's queue is ordered by @io_priority, and first come, first
 * served within a priority: a user interface may start what is visible at
 * `G_PRIORITY_HIGH` (-100) ahead of the rest. Tasks run with
 * [method@ACpu.ProcessTaskPool.run_async] have `G_PRIORITY_DEFAULT`.
 * A running task is never stopped for one of a higher priority.
 *
 * The handle's properties notify, its signals are emitted and its wait
 * callback runs in the thread-default main context of the calling thread.
 * The task runs to its end whether or not the handle is kept.
 *
 * Returns: (transfer full): the task's handle
 *
 * Since: 0.1
 */
ACpuTask *
acpu_process_task_pool_start (ACpuProcessTaskPool *pool,
                              const char          *task_name,
                              GVariant            *args,
                              int                  io_priority,
                              GCancellable        *cancellable)
{
  ACpuTask *self;
  ACpuTaskFeed *feed;
  ACpuTaskSource *source;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);
  g_return_val_if_fail (task_name != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);

  self = g_object_new (ACPU_TYPE_TASK, NULL);
  self->pool = g_object_ref (pool);
  self->name = g_strdup (task_name);
  self->priority = io_priority;
  self->queued_time = g_get_monotonic_time ();
  self->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      self->user_cancellable = g_object_ref (cancellable);
      self->user_cancel_id = g_cancellable_connect (cancellable,
                                                    G_CALLBACK (acpu_task_user_cancelled_cb),
                                                    g_object_ref (self->cancellable),
                                                    g_object_unref);
    }

  feed = g_new0 (ACpuTaskFeed, 1);
  g_atomic_ref_count_init (&feed->ref_count);
  g_mutex_init (&feed->lock);
  g_queue_init (&feed->partials);

  source = (ACpuTaskSource *) g_source_new (&acpu_task_source_funcs, sizeof (ACpuTaskSource));
  source->feed = acpu_task_feed_ref (feed);
  g_weak_ref_init (&source->task, self);
  g_source_set_static_name ((GSource *) source, "[asynccpu-glib] task progress");
  self->source = (GSource *) source;
  feed->source = self->source;
  self->feed = feed;
  g_source_attach (self->source, g_main_context_get_thread_default ());

  acpu_pool_submit (pool, task_name, args, io_priority, feed, self->cancellable,
                    acpu_task_done_cb, g_object_ref (self));

  return self;
}

/**
 * acpu_task_get_name:
 * @task: a [class@ACpu.Task]
 *
 * Gets the name of the task.
 *
 * Returns: the task's name
 *
 * Since: 0.1
 */
const char *
acpu_task_get_name (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), NULL);
  return task->name;
}

/**
 * acpu_task_get_state:
 * @task: a [class@ACpu.Task]
 *
 * Gets where the task is: see [property@ACpu.Task:state].
 *
 * Returns: the task's state
 *
 * Since: 0.1
 */
ACpuTaskState
acpu_task_get_state (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), ACPU_TASK_STATE_FAILED);
  return task->state;
}

/**
 * acpu_task_get_progress:
 * @task: a [class@ACpu.Task]
 *
 * Gets the task's last reported progress: see [property@ACpu.Task:progress].
 *
 * Returns: a fraction from 0 to 1
 *
 * Since: 0.1
 */
double
acpu_task_get_progress (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), 0.0);
  return task->progress;
}

/**
 * acpu_task_get_status_text:
 * @task: a [class@ACpu.Task]
 *
 * Gets the text the task last reported with its progress.
 *
 * Returns: the status text, empty if none
 *
 * Since: 0.1
 */
const char *
acpu_task_get_status_text (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), NULL);
  return task->status_text;
}

/**
 * acpu_task_get_worker_pid:
 * @task: a [class@ACpu.Task]
 *
 * Gets the process id of the worker that runs or ran the task.
 *
 * Returns: the worker's pid, or 0 while the task is queued
 *
 * Since: 0.1
 */
int
acpu_task_get_worker_pid (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), 0);
  return task->worker_pid;
}

/**
 * acpu_task_get_priority:
 * @task: a [class@ACpu.Task]
 *
 * Gets the priority the task was started with.
 *
 * Returns: the task's `io_priority`
 *
 * Since: 0.1
 */
int
acpu_task_get_priority (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), 0);
  return task->priority;
}

/**
 * acpu_task_get_queued_time:
 * @task: a [class@ACpu.Task]
 *
 * Gets when the task was started: see [property@ACpu.Task:queued-time].
 *
 * Returns: monotonic time in microseconds
 *
 * Since: 0.1
 */
gint64
acpu_task_get_queued_time (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), 0);
  return task->queued_time;
}

/**
 * acpu_task_get_started_time:
 * @task: a [class@ACpu.Task]
 *
 * Gets when a worker began to run the task: see
 * [property@ACpu.Task:started-time].
 *
 * Returns: monotonic time in microseconds, or 0
 *
 * Since: 0.1
 */
gint64
acpu_task_get_started_time (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), 0);
  return task->started_time;
}

/**
 * acpu_task_get_finished_time:
 * @task: a [class@ACpu.Task]
 *
 * Gets when the task's state became final: see
 * [property@ACpu.Task:finished-time].
 *
 * Returns: monotonic time in microseconds, or 0
 *
 * Since: 0.1
 */
gint64
acpu_task_get_finished_time (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), 0);
  return task->finished_time;
}

/**
 * acpu_task_is_finished:
 * @task: a [class@ACpu.Task]
 *
 * Tells whether the task's state is final: succeeded, failed or cancelled.
 *
 * Returns: %TRUE once the task is over
 *
 * Since: 0.1
 */
gboolean
acpu_task_is_finished (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), FALSE);
  return task->state >= ACPU_TASK_STATE_SUCCEEDED;
}

/**
 * acpu_task_cancel:
 * @task: a [class@ACpu.Task]
 *
 * Cancels the task, as cancelling the cancellable of
 * [method@ACpu.ProcessTaskPool.run_async] does: a queued task never runs, a
 * running one has its worker-side cancellable cancelled (and its worker is
 * killed if it goes on past
 * [property@ACpu.ProcessTaskPool:cancel-grace-period]). The state becomes
 * %ACPU_TASK_STATE_CANCELLED in the task's context soon after, unless the
 * task was over already. Any thread may call it.
 *
 * Since: 0.1
 */
void
acpu_task_cancel (ACpuTask *task)
{
  g_return_if_fail (ACPU_IS_TASK (task));
  g_cancellable_cancel (task->cancellable);
}

/**
 * acpu_task_get_result:
 * @task: a [class@ACpu.Task]
 * @error: return location for a #GError
 *
 * Gets the result of a finished task (see [method@ACpu.Task.is_finished]),
 * as [method@ACpu.ProcessTaskPool.run_finish] would give it: for example in
 * a handler of `notify::state`.
 *
 * Returns: (transfer full): the task's result, or `NULL` with @error set
 *
 * Since: 0.1
 */
GVariant *
acpu_task_get_result (ACpuTask  *task,
                      GError   **error)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), NULL);
  g_return_val_if_fail (acpu_task_is_finished (task), NULL);

  if (task->error != NULL)
    {
      g_propagate_error (error, g_error_copy (task->error));
      return NULL;
    }
  return g_variant_ref (task->result);
}

/**
 * acpu_task_get_worker_exit:
 * @task: a [class@ACpu.Task]
 *
 * Gets how the worker ended that ran the task, when the task failed with
 * %ACPU_ERROR_WORKER_DIED: see
 * [method@ACpu.ProcessTaskPool.get_worker_exit].
 *
 * Returns: (transfer full) (nullable): the worker's end, or `NULL`
 *
 * Since: 0.1
 */
ACpuWorkerExit *
acpu_task_get_worker_exit (ACpuTask *task)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), NULL);
  return task->exit != NULL ? g_object_ref (task->exit) : NULL;
}

/* [context]: destroys a waiter's cancellable source with the waiter. */
static void
acpu_task_source_drop (GSource *source)
{
  g_source_destroy (source);
  g_source_unref (source);
}

/* [context]: a wait was cancelled before the task ended: that waiter
 * returns now; the task goes on. */
static gboolean
acpu_task_wait_cancelled_cb (GCancellable *cancellable,
                             gpointer      user_data)
{
  GTask *waiter = user_data;
  ACpuTask *self = g_task_get_source_object (waiter);
  g_autoptr(GTask) owned = NULL;
  guint index;

  if (g_ptr_array_find (self->waiters, waiter, &index))
    {
      owned = g_ptr_array_steal_index (self->waiters, index);
      g_task_return_error_if_cancelled (owned);
    }
  return G_SOURCE_REMOVE;
}

/**
 * acpu_task_wait_async:
 * @task: a [class@ACpu.Task]
 * @cancellable: (nullable): a [class@Gio.Cancellable] that cancels the
 *   wait (not the task: see [method@ACpu.Task.cancel])
 * @callback: (scope async) (closure user_data): called when the task is
 *   over
 * @user_data: data for @callback
 *
 * Waits for the end of the task; at once if it is over already. @callback
 * runs in the thread-default main context of the calling thread, after
 * every [signal@ACpu.Task::partial-value] and the last notification of
 * [property@ACpu.Task:state]; call [method@ACpu.Task.wait_finish] there.
 *
 * Since: 0.1
 */
void
acpu_task_wait_async (ACpuTask            *task,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) waiter = NULL;

  g_return_if_fail (ACPU_IS_TASK (task));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  waiter = g_task_new (task, cancellable, callback, user_data);
  g_task_set_source_tag (waiter, acpu_task_wait_async);
  g_task_set_name (waiter, "acpu_task_wait_async");
  g_task_set_check_cancellable (waiter, TRUE);

  if (acpu_task_is_finished (task))
    {
      if (task->error != NULL)
        g_task_return_error (waiter, g_error_copy (task->error));
      else
        g_task_return_pointer (waiter, g_variant_ref (task->result),
                               (GDestroyNotify) g_variant_unref);
      return;
    }
  if (cancellable != NULL)
    {
      GSource *source = g_cancellable_source_new (cancellable);

      g_source_set_callback (source, G_SOURCE_FUNC (acpu_task_wait_cancelled_cb),
                             waiter, NULL);
      g_source_set_static_name (source, "[asynccpu-glib] task wait cancelled");
      g_source_attach (source, g_main_context_get_thread_default ());
      g_task_set_task_data (waiter, source, (GDestroyNotify) acpu_task_source_drop);
    }
  g_ptr_array_add (task->waiters, g_steal_pointer (&waiter));
}

/**
 * acpu_task_wait_finish:
 * @task: a [class@ACpu.Task]
 * @result: the [iface@Gio.AsyncResult] given to the callback
 * @error: return location for a #GError
 *
 * Gets the result of the task waited for with [method@ACpu.Task.wait_async]:
 * its value, or its error as [method@ACpu.ProcessTaskPool.run_finish] gives
 * it (%G_IO_ERROR_CANCELLED for a cancelled task, or a cancelled wait).
 *
 * Returns: (transfer full): the task's result, or `NULL` with @error set
 *
 * Since: 0.1
 */
GVariant *
acpu_task_wait_finish (ACpuTask      *task,
                       GAsyncResult  *result,
                       GError       **error)
{
  g_return_val_if_fail (ACPU_IS_TASK (task), NULL);
  g_return_val_if_fail (g_task_is_valid (result, task), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, acpu_task_wait_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
