/* acpu-pool-stats.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* What a pool can tell about itself: its statistics (ACpuPoolStats, an
 * immutable snapshot, and the counts and samples behind it), and
 * cancel-all. The list model of its workers is in acpu-pool-workers.c.
 *
 * Consistency. Every figure of a snapshot is taken under core->lock, and
 * every change that a snapshot shows is made under it too, or in one atomic
 * step: a job enters the pool (submitted, queued or running) under the
 * lock in run_async(); it moves between queued and running in one atomic
 * change of core->jobs (both counts in one word); it leaves (queued or
 * running, and succeeded, failed or cancelled) under the lock
 * (acpu_core_stats_jobs_ended_locked()). The I/O thread notes what it
 * needs when it returns a job's GTask, and folds a whole delivery batch in
 * under one lock just before it hands the batch to the callers' contexts
 * (acpu_core_deliver()): until then the job still counts as queued or
 * running, and no callback has run yet. So in every snapshot
 *
 *   submitted == succeeded + failed + cancelled + queued + running
 *
 * and no snapshot shows a task in neither state while it moves.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "acpu-pool-private.h"

/* Counting jobs ---------------------------------------------------------------- */

#define JOBS_RUNNING_ONE ((gint64) 1 << 32)

/* Any thread: changes the queued and running counts in one atomic step. */
void
acpu_core_count_jobs (ACpuPoolCore *core,
                      gint          d_queued,
                      gint          d_running)
{
  __atomic_add_fetch (&core->jobs, (gint64) d_queued + (gint64) d_running * JOBS_RUNNING_ONE,
                      __ATOMIC_SEQ_CST);
  acpu_core_counters_changed (core);
}

/* Any thread. */
guint
acpu_core_get_n_queued (ACpuPoolCore *core)
{
  return (guint) ((guint64) __atomic_load_n (&core->jobs, __ATOMIC_SEQ_CST) & 0xffffffffu);
}

/* Any thread. */
guint
acpu_core_get_n_running (ACpuPoolCore *core)
{
  return (guint) ((guint64) __atomic_load_n (&core->jobs, __ATOMIC_SEQ_CST) >> 32);
}

/* Samples ----------------------------------------------------------------------- */

/* Any thread, with core->lock held. */
static void
acpu_samples_add (ACpuSamples *samples,
                  gint64       value)
{
  if (samples->values == NULL)
    samples->values = g_new (gint64, ACPU_POOL_STATS_SAMPLES);
  samples->values[samples->next] = value;
  samples->next = (samples->next + 1) % ACPU_POOL_STATS_SAMPLES;
  samples->len = MIN (samples->len + 1, ACPU_POOL_STATS_SAMPLES);
  samples->max = MAX (samples->max, value);
}

/* Any thread, with core->lock held: forgets every sample. */
static void
acpu_samples_reset (ACpuSamples *samples)
{
  samples->next = 0;
  samples->len = 0;
  samples->max = 0;
}

/* Any thread, with core->lock held: the samples, unsorted, in a new array. */
static GArray *
acpu_samples_copy (ACpuSamples *samples)
{
  GArray *copy = g_array_sized_new (FALSE, FALSE, sizeof (gint64), samples->len);

  if (samples->len > 0)
    g_array_append_vals (copy, samples->values, samples->len);
  return copy;
}

/* Any thread: what the counters will need of @job, which ends now with
 * @error (NULL: it succeeded). */
void
acpu_job_end_init (ACpuJobEnd   *end,
                   ACpuJob      *job,
                   gboolean      was_running,
                   const GError *error)
{
  end->submit_time = job->submit_time;
  end->sent_time = job->sent_time;
  end->was_running = was_running != FALSE;
  end->end_time = was_running && job->sent_time != 0 ? g_get_monotonic_time () : 0;
  if (error == NULL)
    end->outcome = ACPU_JOB_OUTCOME_SUCCEEDED;
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    end->outcome = ACPU_JOB_OUTCOME_CANCELLED;
  else
    end->outcome = ACPU_JOB_OUTCOME_FAILED;
}

/* Any thread, with core->lock held: jobs' GTasks are returned: they leave
 * the queued and running counts, and their outcomes are counted, in the
 * same critical section. A job's queue wait is sampled if it was sent to a
 * worker, and its run time if it also ran to an answer. The I/O thread
 * calls this once per delivery batch (acpu_core_deliver()): one lock, and
 * one change of the counts, for all the jobs of the batch. */
void
acpu_core_stats_jobs_ended_locked (ACpuPoolCore     *core,
                                   const ACpuJobEnd *ends,
                                   gsize             stride,
                                   guint             n_ends)
{
  ACpuPoolStatsData *stats = &core->stats;
  gint d_queued = 0;
  gint d_running = 0;

  ACPU_ASSERT_LOCKED (core);

  for (guint i = 0; i < n_ends; i++)
    {
      const ACpuJobEnd *end = (const ACpuJobEnd *) ((const char *) ends + i * stride);

      if (end->was_running)
        d_running--;
      else
        d_queued--;

      switch (end->outcome)
        {
        case ACPU_JOB_OUTCOME_SUCCEEDED:
          stats->succeeded++;
          break;
        case ACPU_JOB_OUTCOME_CANCELLED:
          stats->cancelled++;
          break;
        case ACPU_JOB_OUTCOME_FAILED:
        default:
          stats->failed++;
          break;
        }

      if (end->was_running && end->sent_time != 0)
        {
          if (end->submit_time != 0)
            acpu_samples_add (&stats->wait, MAX (0, end->sent_time - end->submit_time));
          if (end->outcome != ACPU_JOB_OUTCOME_CANCELLED)
            acpu_samples_add (&stats->run, MAX (0, end->end_time - end->sent_time));
          stats->busy_us += MAX (0, end->end_time - MAX (end->sent_time, stats->since));
        }
    }

  if (n_ends > 0)
    acpu_core_count_jobs (core, d_queued, d_running);
}

/* Any thread, with core->lock held: one job's GTask is returned (the direct
 * path's reply): acpu_core_stats_jobs_ended_locked() for it alone. */
void
acpu_core_stats_job_ended_locked (ACpuPoolCore *core,
                                  ACpuJob      *job,
                                  gboolean      was_running,
                                  const GError *error)
{
  ACpuJobEnd end;

  acpu_job_end_init (&end, job, was_running, error);
  acpu_core_stats_jobs_ended_locked (core, &end, sizeof end, 1);
}

/* [io], takes core->lock: a worker is being started. */
void
acpu_core_stats_worker_started (ACpuPoolCore *core)
{
  acpu_core_lock (core);
  core->stats.worker_starts++;
  acpu_core_unlock (core);
}

/* [io], takes core->lock: a worker is gone; @died when not because the pool
 * closed it (it crashed, was killed, or could not start). */
void
acpu_core_stats_worker_ended (ACpuPoolCore *core,
                              gboolean      died)
{
  if (!died)
    return;
  acpu_core_lock (core);
  core->stats.worker_deaths++;
  acpu_core_unlock (core);
}

/* Any thread, from the last acpu_core_unref(). */
void
acpu_core_clear_stats (ACpuPoolCore *core)
{
  g_clear_pointer (&core->stats.wait.values, g_free);
  g_clear_pointer (&core->stats.run.values, g_free);
  g_clear_pointer (&core->workers, g_array_unref);
}

/* Cancel all ---------------------------------------------------------------------- */

/* [io]: acpu_process_task_pool_cancel_all(): every job handed over before
 * the call (its id is at most @upto) completes with G_IO_ERROR_CANCELLED.
 * Queued ones are dropped; running ones are abandoned on their workers,
 * which are asked to stop them and killed only if they do not within the
 * grace period, as for a single cancel. Later jobs, and the pool, go on. */
void
acpu_core_cancel_upto (ACpuPoolCore *core,
                       guint64       upto)
{
  GList *l, *next;

  ACPU_ASSERT_IO_THREAD ();

  acpu_core_absorb (core);

  for (l = core->queue.head; l != NULL; l = next)
    {
      ACpuJob *job = l->data;

      next = l->next;
      if (job->id > upto)
        continue;
      g_queue_unlink (&core->queue, &job->link);
      acpu_job_return_cancelled (core, job);
      acpu_job_free (job);
    }

  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      for (l = slot->inflight.head; l != NULL; l = l->next)
        {
          ACpuJob *job = l->data;

          if (job->state == ACPU_JOB_RUNNING && job->id <= upto)
            {
              acpu_job_return_cancelled (core, job);
              acpu_slot_abandon (slot, job);
            }
        }
    }
}

/**
 * acpu_process_task_pool_cancel_all:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Cancels every task submitted to @pool before this call, queued or
 * running, as if each had its own cancellable cancelled: each completes
 * with %G_IO_ERROR_CANCELLED, a queued one never runs, and a running one
 * has its worker-side cancellable cancelled, its worker killed only if it
 * goes on past [property@ACpu.ProcessTaskPool:cancel-grace-period].
 *
 * Unlike [method@ACpu.ProcessTaskPool.shutdown_async], the pool stays
 * usable: tasks submitted after this call run as usual, on the workers
 * that are left or on new ones. A "Cancel" button of an application calls
 * this.
 *
 * Any thread may call it; it returns at once, and the callbacks run, each
 * in its own caller's context, soon after.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_cancel_all (ACpuProcessTaskPool *pool)
{
  ACpuPoolCore *core;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));

  core = pool->core;
  acpu_core_lock (core);
  core->cancel_upto = core->next_id;
  acpu_core_request_locked (core);
  acpu_core_unlock (core);
}

/* Stats ---------------------------------------------------------------------------- */

/**
 * ACpuPoolStats:
 *
 * A snapshot of a [class@ACpu.ProcessTaskPool]'s statistics, from
 * [method@ACpu.ProcessTaskPool.get_stats]: counters since the last
 * [method@ACpu.ProcessTaskPool.reset_stats] (or since the pool was made),
 * the numbers of workers, queued and running tasks at the moment it was
 * taken, summaries of how long tasks waited in the queue and ran, and how
 * busy the workers were.
 *
 * It never changes: take a new one to see new figures (a GTK application
 * does so from a timeout, or when the pool's
 * [property@ACpu.ProcessTaskPool:n-running] is notified). Its figures are
 * consistent with each other: every task is counted exactly once, so
 * `submitted == succeeded + failed + cancelled + n_queued + n_running`
 * always holds, and a task moving from the queue to a worker is never seen
 * in neither.
 *
 * Queue wait is the time from submission until the task was sent to a
 * worker; run time from then until its answer arrived (cancelled tasks do
 * not count). Percentiles are over the latest 4096 tasks; the maxima over
 * every task since the reset. Times are in seconds.
 *
 * Since: 0.1
 */
struct _ACpuPoolStats
{
  GObject  parent_instance;
  guint64  submitted, succeeded, failed, cancelled;
  guint64  worker_starts, worker_deaths;
  guint    n_workers, n_queued, n_running;
  double   elapsed;
  double   utilization;
  GArray  *wait;                /* gint64 µs, sorted */
  GArray  *run;                 /* gint64 µs, sorted */
  gint64   wait_max, run_max;
};

enum {
  STATS_PROP_0,
  STATS_PROP_SUBMITTED,
  STATS_PROP_SUCCEEDED,
  STATS_PROP_FAILED,
  STATS_PROP_CANCELLED,
  STATS_PROP_WORKER_STARTS,
  STATS_PROP_WORKER_DEATHS,
  STATS_PROP_N_WORKERS,
  STATS_PROP_N_QUEUED,
  STATS_PROP_N_RUNNING,
  STATS_PROP_ELAPSED,
  STATS_PROP_UTILIZATION,
  STATS_PROP_WAIT_P50,
  STATS_PROP_WAIT_P90,
  STATS_PROP_WAIT_P99,
  STATS_PROP_WAIT_MAX,
  STATS_PROP_RUN_P50,
  STATS_PROP_RUN_P90,
  STATS_PROP_RUN_P99,
  STATS_PROP_RUN_MAX,
  STATS_N_PROPS
};

static GParamSpec *stats_properties[STATS_N_PROPS];

G_DEFINE_FINAL_TYPE (ACpuPoolStats, acpu_pool_stats, G_TYPE_OBJECT)

/* Any thread. */
static int
acpu_pool_stats_compare (gconstpointer a,
                         gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

/* Any thread: the @percentile (0–100) of the sorted @samples, in seconds;
 * 100 is @max, of every sample. Nearest rank. */
static double
acpu_pool_stats_percentile (GArray *samples,
                            gint64  max,
                            double  percentile)
{
  guint rank;

  if (percentile >= 100)
    return max / 1e6;
  if (samples->len == 0)
    return 0;
  rank = (guint) (percentile * samples->len / 100);
  if (rank * 100.0 < percentile * samples->len)
    rank++;
  rank = CLAMP (rank, 1, samples->len);
  return g_array_index (samples, gint64, rank - 1) / 1e6;
}

/* Any thread */
static void
acpu_pool_stats_finalize (GObject *object)
{
  ACpuPoolStats *self = (ACpuPoolStats *) object;

  g_clear_pointer (&self->wait, g_array_unref);
  g_clear_pointer (&self->run, g_array_unref);

  G_OBJECT_CLASS (acpu_pool_stats_parent_class)->finalize (object);
}

/* Any thread */
static void
acpu_pool_stats_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  ACpuPoolStats *self = (ACpuPoolStats *) object;

  switch (prop_id)
    {
    case STATS_PROP_SUBMITTED:
      g_value_set_uint64 (value, self->submitted);
      break;
    case STATS_PROP_SUCCEEDED:
      g_value_set_uint64 (value, self->succeeded);
      break;
    case STATS_PROP_FAILED:
      g_value_set_uint64 (value, self->failed);
      break;
    case STATS_PROP_CANCELLED:
      g_value_set_uint64 (value, self->cancelled);
      break;
    case STATS_PROP_WORKER_STARTS:
      g_value_set_uint64 (value, self->worker_starts);
      break;
    case STATS_PROP_WORKER_DEATHS:
      g_value_set_uint64 (value, self->worker_deaths);
      break;
    case STATS_PROP_N_WORKERS:
      g_value_set_uint (value, self->n_workers);
      break;
    case STATS_PROP_N_QUEUED:
      g_value_set_uint (value, self->n_queued);
      break;
    case STATS_PROP_N_RUNNING:
      g_value_set_uint (value, self->n_running);
      break;
    case STATS_PROP_ELAPSED:
      g_value_set_double (value, self->elapsed);
      break;
    case STATS_PROP_UTILIZATION:
      g_value_set_double (value, self->utilization);
      break;
    case STATS_PROP_WAIT_P50:
      g_value_set_double (value, acpu_pool_stats_get_wait_time (self, 50));
      break;
    case STATS_PROP_WAIT_P90:
      g_value_set_double (value, acpu_pool_stats_get_wait_time (self, 90));
      break;
    case STATS_PROP_WAIT_P99:
      g_value_set_double (value, acpu_pool_stats_get_wait_time (self, 99));
      break;
    case STATS_PROP_WAIT_MAX:
      g_value_set_double (value, acpu_pool_stats_get_wait_time (self, 100));
      break;
    case STATS_PROP_RUN_P50:
      g_value_set_double (value, acpu_pool_stats_get_run_time (self, 50));
      break;
    case STATS_PROP_RUN_P90:
      g_value_set_double (value, acpu_pool_stats_get_run_time (self, 90));
      break;
    case STATS_PROP_RUN_P99:
      g_value_set_double (value, acpu_pool_stats_get_run_time (self, 99));
      break;
    case STATS_PROP_RUN_MAX:
      g_value_set_double (value, acpu_pool_stats_get_run_time (self, 100));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

#define STATS_FLAGS (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)

static void
acpu_pool_stats_class_init (ACpuPoolStatsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = acpu_pool_stats_finalize;
  object_class->get_property = acpu_pool_stats_get_property;

  /**
   * ACpuPoolStats:submitted:
   *
   * Tasks submitted since the last reset, plus those that were in the pool
   * at the reset. Tasks refused at once (a shut-down pool, a full queue)
   * are not counted.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_SUBMITTED] =
    g_param_spec_uint64 ("submitted", NULL, NULL, 0, G_MAXUINT64, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:succeeded:
   *
   * Tasks that returned a value.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_SUCCEEDED] =
    g_param_spec_uint64 ("succeeded", NULL, NULL, 0, G_MAXUINT64, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:failed:
   *
   * Tasks that failed: an error from the task, a worker that died, a time
   * limit.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_FAILED] =
    g_param_spec_uint64 ("failed", NULL, NULL, 0, G_MAXUINT64, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:cancelled:
   *
   * Tasks that completed with %G_IO_ERROR_CANCELLED.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_CANCELLED] =
    g_param_spec_uint64 ("cancelled", NULL, NULL, 0, G_MAXUINT64, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:worker-starts:
   *
   * Worker processes started.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_WORKER_STARTS] =
    g_param_spec_uint64 ("worker-starts", NULL, NULL, 0, G_MAXUINT64, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:worker-deaths:
   *
   * Worker processes that ended other than by the pool closing them when
   * idle: they crashed, exited, were killed (also by the pool, after a
   * cancelled task's grace period), or could not start.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_WORKER_DEATHS] =
    g_param_spec_uint64 ("worker-deaths", NULL, NULL, 0, G_MAXUINT64, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:n-workers:
   *
   * Worker processes when the snapshot was taken, starting ones included.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_N_WORKERS] =
    g_param_spec_uint ("n-workers", NULL, NULL, 0, G_MAXUINT, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:n-queued:
   *
   * Tasks waiting for a worker when the snapshot was taken.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_N_QUEUED] =
    g_param_spec_uint ("n-queued", NULL, NULL, 0, G_MAXUINT, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:n-running:
   *
   * Tasks handed to workers and not yet completed when the snapshot was
   * taken.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_N_RUNNING] =
    g_param_spec_uint ("n-running", NULL, NULL, 0, G_MAXUINT, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:elapsed:
   *
   * Seconds since the last reset (or since the pool was made).
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_ELAPSED] =
    g_param_spec_double ("elapsed", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:utilization:
   *
   * How busy the workers were since the last reset, from 0 to 1: the run
   * time of the tasks that completed since then, over the elapsed time
   * times [property@ACpu.ProcessTaskPool:max-workers]. A task is counted
   * when it completes.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_UTILIZATION] =
    g_param_spec_double ("utilization", NULL, NULL, 0, 1, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:wait-p50:
   *
   * The median queue wait, in seconds
   * ([method@ACpu.PoolStats.get_wait_time]).
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_WAIT_P50] =
    g_param_spec_double ("wait-p50", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:wait-p90:
   *
   * The 90th percentile of the queue wait, in seconds.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_WAIT_P90] =
    g_param_spec_double ("wait-p90", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:wait-p99:
   *
   * The 99th percentile of the queue wait, in seconds.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_WAIT_P99] =
    g_param_spec_double ("wait-p99", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:wait-max:
   *
   * The longest queue wait since the reset, in seconds.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_WAIT_MAX] =
    g_param_spec_double ("wait-max", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:run-p50:
   *
   * The median run time, in seconds ([method@ACpu.PoolStats.get_run_time]).
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_RUN_P50] =
    g_param_spec_double ("run-p50", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:run-p90:
   *
   * The 90th percentile of the run time, in seconds.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_RUN_P90] =
    g_param_spec_double ("run-p90", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:run-p99:
   *
   * The 99th percentile of the run time, in seconds.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_RUN_P99] =
    g_param_spec_double ("run-p99", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);
  /**
   * ACpuPoolStats:run-max:
   *
   * The longest run time since the reset, in seconds.
   *
   * Since: 0.1
   */
  stats_properties[STATS_PROP_RUN_MAX] =
    g_param_spec_double ("run-max", NULL, NULL, 0, G_MAXDOUBLE, 0, STATS_FLAGS);

  g_object_class_install_properties (object_class, STATS_N_PROPS, stats_properties);
}

static void
acpu_pool_stats_init (ACpuPoolStats *self)
{
}

/**
 * acpu_process_task_pool_get_stats:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Takes a snapshot of the pool's statistics (see [class@ACpu.PoolStats]).
 * It is cheap: a GTK application may take one every frame.
 *
 * Any thread may call it.
 *
 * Returns: (transfer full): the statistics now
 *
 * Since: 0.1
 */
ACpuPoolStats *
acpu_process_task_pool_get_stats (ACpuProcessTaskPool *pool)
{
  ACpuPoolCore *core;
  ACpuPoolStats *self;
  gint64 now, busy;
  guint capacity;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);

  core = pool->core;
  self = g_object_new (ACPU_TYPE_POOL_STATS, NULL);

  acpu_core_lock (core);
  now = g_get_monotonic_time ();
  self->submitted = core->stats.submitted;
  self->succeeded = core->stats.succeeded;
  self->failed = core->stats.failed;
  self->cancelled = core->stats.cancelled;
  self->worker_starts = core->stats.worker_starts;
  self->worker_deaths = core->stats.worker_deaths;
  self->n_queued = acpu_core_get_n_queued (core);
  self->n_running = acpu_core_get_n_running (core);
  self->n_workers = g_atomic_int_get (&core->n_workers);
  self->wait = acpu_samples_copy (&core->stats.wait);
  self->run = acpu_samples_copy (&core->stats.run);
  self->wait_max = core->stats.wait.max;
  self->run_max = core->stats.run.max;
  self->elapsed = (now - core->stats.since) / 1e6;
  busy = core->stats.busy_us;
  acpu_core_unlock (core);

  g_array_sort (self->wait, acpu_pool_stats_compare);
  g_array_sort (self->run, acpu_pool_stats_compare);
  capacity = MAX (1, g_atomic_int_get (&core->max_workers));
  if (self->elapsed > 0)
    self->utilization = CLAMP (busy / 1e6 / (self->elapsed * capacity), 0, 1);

  return self;
}

/**
 * acpu_process_task_pool_reset_stats:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Starts the statistics again from now: the counters restart from zero
 * (`submitted` from the tasks in the pool now), the queue-wait and run-time
 * summaries forget every task so far, and the elapsed time and utilization
 * restart.
 *
 * Any thread may call it.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_reset_stats (ACpuProcessTaskPool *pool)
{
  ACpuPoolCore *core;
  ACpuPoolStatsData *stats;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));

  core = pool->core;
  stats = &core->stats;
  acpu_core_lock (core);
  stats->since = g_get_monotonic_time ();
  stats->submitted = acpu_core_get_n_queued (core) + acpu_core_get_n_running (core);
  stats->succeeded = stats->failed = stats->cancelled = 0;
  stats->worker_starts = stats->worker_deaths = 0;
  stats->busy_us = 0;
  acpu_samples_reset (&stats->wait);
  acpu_samples_reset (&stats->run);
  acpu_core_unlock (core);
}

/**
 * acpu_pool_stats_get_submitted:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:submitted].
 *
 * Returns: the number of tasks submitted
 *
 * Since: 0.1
 */
guint64
acpu_pool_stats_get_submitted (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->submitted;
}

/**
 * acpu_pool_stats_get_succeeded:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:succeeded].
 *
 * Returns: the number of tasks that returned a value
 *
 * Since: 0.1
 */
guint64
acpu_pool_stats_get_succeeded (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->succeeded;
}

/**
 * acpu_pool_stats_get_failed:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:failed].
 *
 * Returns: the number of tasks that failed
 *
 * Since: 0.1
 */
guint64
acpu_pool_stats_get_failed (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->failed;
}

/**
 * acpu_pool_stats_get_cancelled:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:cancelled].
 *
 * Returns: the number of tasks cancelled
 *
 * Since: 0.1
 */
guint64
acpu_pool_stats_get_cancelled (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->cancelled;
}

/**
 * acpu_pool_stats_get_worker_starts:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:worker-starts].
 *
 * Returns: the number of worker processes started
 *
 * Since: 0.1
 */
guint64
acpu_pool_stats_get_worker_starts (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->worker_starts;
}

/**
 * acpu_pool_stats_get_worker_deaths:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:worker-deaths].
 *
 * Returns: the number of worker processes that died
 *
 * Since: 0.1
 */
guint64
acpu_pool_stats_get_worker_deaths (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->worker_deaths;
}

/**
 * acpu_pool_stats_get_n_workers:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:n-workers].
 *
 * Returns: the number of worker processes
 *
 * Since: 0.1
 */
guint
acpu_pool_stats_get_n_workers (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->n_workers;
}

/**
 * acpu_pool_stats_get_n_queued:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:n-queued].
 *
 * Returns: the number of tasks waiting for a worker
 *
 * Since: 0.1
 */
guint
acpu_pool_stats_get_n_queued (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->n_queued;
}

/**
 * acpu_pool_stats_get_n_running:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:n-running].
 *
 * Returns: the number of tasks running
 *
 * Since: 0.1
 */
guint
acpu_pool_stats_get_n_running (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->n_running;
}

/**
 * acpu_pool_stats_get_elapsed:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:elapsed].
 *
 * Returns: seconds since the last reset
 *
 * Since: 0.1
 */
double
acpu_pool_stats_get_elapsed (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->elapsed;
}

/**
 * acpu_pool_stats_get_utilization:
 * @stats: a [class@ACpu.PoolStats]
 *
 * Gets [property@ACpu.PoolStats:utilization].
 *
 * Returns: how busy the workers were, from 0 to 1
 *
 * Since: 0.1
 */
double
acpu_pool_stats_get_utilization (ACpuPoolStats *stats)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  return stats->utilization;
}

/**
 * acpu_pool_stats_get_wait_time:
 * @stats: a [class@ACpu.PoolStats]
 * @percentile: from 0 to 100: 50 is the median, 100 the maximum
 *
 * Gets a percentile of how long tasks waited in the queue before they were
 * sent to a worker, over the latest 4096 tasks that were (nearest rank);
 * 100 gives the longest wait of every task since the reset.
 *
 * Returns: the wait in seconds, or 0 when no task was sent yet
 *
 * Since: 0.1
 */
double
acpu_pool_stats_get_wait_time (ACpuPoolStats *stats,
                               double         percentile)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  g_return_val_if_fail (percentile >= 0 && percentile <= 100, 0);
  return acpu_pool_stats_percentile (stats->wait, stats->wait_max, percentile);
}

/**
 * acpu_pool_stats_get_run_time:
 * @stats: a [class@ACpu.PoolStats]
 * @percentile: from 0 to 100: 50 is the median, 100 the maximum
 *
 * Gets a percentile of how long tasks ran, from being sent to a worker to
 * their answer, over the latest 4096 tasks that got one (nearest rank);
 * 100 gives the longest of every task since the reset.
 *
 * Returns: the run time in seconds, or 0 when no task was answered yet
 *
 * Since: 0.1
 */
double
acpu_pool_stats_get_run_time (ACpuPoolStats *stats,
                              double         percentile)
{
  g_return_val_if_fail (ACPU_IS_POOL_STATS (stats), 0);
  g_return_val_if_fail (percentile >= 0 && percentile <= 100, 0);
  return acpu_pool_stats_percentile (stats->run, stats->run_max, percentile);
}
