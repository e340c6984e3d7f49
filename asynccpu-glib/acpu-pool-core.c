/* acpu-pool-core.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The core: the part of a pool that lives on the I/O thread
 * (acpu-io-private.h). It owns the FIFO queue and the workers (slots), and
 * nearly every change of a job's state happens here (acpu-pool-private.h
 * draws them all).
 *
 * Handing over. Callers never touch the queue: run_async() puts a job on
 * core->incoming under core->lock and wakes the I/O thread only when it may
 * be asleep (acpu_core_wake_locked(); a burst from one dispatch of a
 * caller's context costs one wakeup: acpu_core_wake_for_locked()). Anything
 * else a caller wants looked at — a setting, a shutdown, a cancel on the
 * direct path — sets wake_pending (acpu_core_request_locked()). The wake
 * source sees both in its prepare(), and acpu_core_absorb() takes them in.
 *
 * Scheduling. acpu_core_schedule() sends queued jobs to the ready worker
 * with the shortest line, keeping a window of several in flight per worker
 * when tasks are short: the window follows a moving average of the time a
 * task takes, so a long task never waits behind another for more than about
 * WINDOW_TARGET_US. It starts workers lazily up to max-workers, keeps
 * min-workers, finishes a shutdown once nothing is left, and last offers an
 * idle worker to the direct path (acpu-pool-direct.c).
 *
 * Cancel, time limits, shutdown. A queued job that is cancelled is returned
 * and freed at once; a running one is returned at once and ABANDONED on its
 * worker, which is asked to stop it and killed after the grace period
 * (acpu-pool-slot.c). A shutdown waits for the queue to drain (or cancels
 * everything: acpu_core_cancel_all()), closes idle workers, and answers when
 * the last one is gone.
 *
 * The core outlives the GObject: when the last reference to the pool goes,
 * its workers are closed and the core goes with the last of them.
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "acpu-error.h"
#include "acpu-pool-private.h"
#include "acpu-wire-private.h"

#define WINDOW_TARGET_US 2000.0
#define WINDOW_MAX       256

static void     job_watch        (ACpuPoolCore *core,
                                  ACpuJob      *job);
static gboolean job_timeout_cb   (gpointer      user_data);
static gboolean job_cancelled_cb (GCancellable *cancellable,
                                  gpointer      user_data);

/* Core life ---------------------------------------------------------------- */

/* Any thread. */
ACpuPoolCore *
acpu_core_ref (ACpuPoolCore *core)
{
  g_atomic_ref_count_inc (&core->ref_count);
  return core;
}

/* Any thread, core->lock not held: the last reference frees the core,
 * when no slot, job or result is left (the workers hold it till then). */
void
acpu_core_unref (ACpuPoolCore *core)
{
  if (!g_atomic_ref_count_dec (&core->ref_count))
    return;

  g_assert (core->slots->len == 0);
  g_assert (g_queue_is_empty (&core->queue));
  g_assert (g_queue_is_empty (&core->incoming));
  g_assert (g_queue_is_empty (&core->sent));

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
  acpu_core_clear_delivery (core);
  acpu_core_clear_stats (core);
  g_ptr_array_unref (core->slots);
  g_ptr_array_unref (core->sources);
  g_ptr_array_unref (core->new_sources);
  g_clear_pointer (&core->task_types, g_hash_table_unref);
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

/* Any thread: a source of the core's own (ACpuCoreSource), not attached. The
 * core's sources are ready when prepare() says so, not by
 * g_source_set_ready_time(), which writes to the context's wakeup descriptor
 * every time, even from the context's own thread. */
GSource *
acpu_core_source_new (ACpuPoolCore *core,
                      GSourceFuncs *funcs,
                      const char   *name)
{
  GSource *source = g_source_new (funcs, sizeof (ACpuCoreSource));

  ((ACpuCoreSource *) source)->core = core;
  g_source_set_static_name (source, name);
  return source;
}

/* Scheduling --------------------------------------------------------------- */

/* [io]: how many requests a worker may have in flight. */
static guint
core_window (ACpuPoolCore *core)
{
  if (core->service_us <= 0)
    return 1;
  return CLAMP ((guint) (WINDOW_TARGET_US / core->service_us), 1, WINDOW_MAX);
}

/* [io]: the ready worker with the shortest line that still has room, or
 * NULL. */
static ACpuSlot *
core_pick_slot (ACpuPoolCore *core,
                guint         window)
{
  guint max_tasks = g_atomic_int_get (&core->max_tasks_per_worker);
  ACpuSlot *best = NULL;

  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (slot->closing || !acpu_worker_proc_is_ready (slot->proc) ||
          slot->inflight.length >= window || (max_tasks > 0 && slot->n_sent >= max_tasks))
        continue;
      if (best == NULL || slot->inflight.length < best->inflight.length)
        best = slot;
      if (best->inflight.length == 0)
        break;
    }

  return best;
}

/* Any thread, no lock: the edit distance between @a and @b (insertions,
 * deletions, substitutions and swaps of neighbours, by byte), or a number
 * over @max once it is over @max. */
static guint
core_edit_distance (const char *a,
                    const char *b,
                    guint       max)
{
  gsize la = strlen (a), lb = strlen (b);
  g_autofree guint *rows = NULL;
  guint *prev2, *prev, *cur;

  if ((la > lb ? la - lb : lb - la) > max || la > 256 || lb > 256)
    return max + 1;

  rows = g_new (guint, 3 * (lb + 1));
  prev2 = rows;
  prev = rows + lb + 1;
  cur = rows + 2 * (lb + 1);
  for (gsize j = 0; j <= lb; j++)
    prev[j] = j;
  for (gsize i = 1; i <= la; i++)
    {
      guint *tmp;

      cur[0] = i;
      for (gsize j = 1; j <= lb; j++)
        {
          guint cost = a[i - 1] == b[j - 1] ? 0 : 1;

          cur[j] = MIN (MIN (prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
          if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
            cur[j] = MIN (cur[j], prev2[j - 2] + 1);
        }
      tmp = prev2;
      prev2 = prev;
      prev = cur;
      cur = tmp;
    }

  return prev[lb];
}

/* [io] (any thread once @proc is ready): what a caller who asked @proc for
 * @name, which it does not have, reads: the worker's script or program, the
 * closest name it has, and the names it has. */
static char *
core_unknown_task_message (ACpuWorkerProc *proc,
                           const char     *name)
{
  g_auto(GStrv) names = acpu_worker_proc_dup_task_names (proc);
  GString *message = g_string_new (NULL);
  const char *closest = NULL;
  guint n_names = g_strv_length (names);
  guint best = MAX (2, strlen (name) / 3);

  for (guint i = 0; i < n_names; i++)
    {
      guint d = core_edit_distance (name, names[i], best);

      if (d <= best && (closest == NULL || d < best))
        {
          closest = names[i];
          best = d;
        }
    }

  g_string_append_printf (message, "No task named “%s” in worker %s", name,
                          acpu_worker_proc_get_program (proc));
  if (closest != NULL)
    g_string_append_printf (message, "; did you mean “%s”?", closest);
  else
    g_string_append_c (message, '.');
  if (n_names == 0)
    g_string_append (message, " It registered no tasks: call acpu_worker_register() "
                     "(worker.register() in Python and JavaScript) before "
                     "running it.");
  else
    {
      g_string_append (message, " It has: ");
      for (guint i = 0; i < n_names && i < 32; i++)
        g_string_append_printf (message, "%s“%s”", i > 0 ? ", " : "", names[i]);
      if (n_names > 32)
        g_string_append_printf (message, " and %u more", n_names - 32);
      g_string_append_c (message, '.');
    }

  return g_string_free (message, FALSE);
}

/* [io]: sends the QUEUED @job, at the head of the queue, to @slot: it is
 * RUNNING there, or DONE with an error when the worker cannot take it. */
static void
core_send (ACpuPoolCore *core,
           ACpuSlot     *slot,
           ACpuJob      *job)
{
  g_autoptr(GError) error = NULL;

  ACPU_ASSERT_IO_THREAD ();
  g_assert (job->state == ACPU_JOB_QUEUED);

  g_queue_unlink (&core->queue, &job->link);

  if (!acpu_worker_proc_has_task (slot->proc, job->name))
    {
      g_autofree char *message = core_unknown_task_message (slot->proc, job->name);

      acpu_job_return_new_error (core, job, ACPU_ERROR, ACPU_ERROR_UNKNOWN_TASK, "%s", message);
      acpu_job_free (job);
      return;
    }

  if (!acpu_worker_proc_send (slot->proc, job->id, job->name, job->args, &error))
    {
      acpu_job_return_failed (core, job, error);
      acpu_job_free (job);
      return;
    }

  acpu_core_count_jobs (core, -1, 1);
  acpu_job_set_state (job, ACPU_JOB_RUNNING);
  job->slot = slot;
  job->pipelined = slot->inflight.length > 0;
  job->sent_time = g_get_monotonic_time ();
  g_queue_push_tail_link (&slot->inflight, &job->link);
  slot->dirty = TRUE;
  slot->n_sent++;
  slot->idle_since = 0;
  job_watch (core, job);
  acpu_slot_job_first (slot);
}

/* [io]: closes every idle worker and kills those still starting, for a
 * shutdown. */
static void
core_close_idle (ACpuPoolCore *core)
{
  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (!acpu_worker_proc_is_started (slot->proc))
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

/* [io]: once a shutdown has nothing left to wait for, closes the workers;
 * once they are gone, answers the shutdowns. */
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

/* [io]: watches the job's cancellable and, once it runs, its time limit. */
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

  if (job->state == ACPU_JOB_RUNNING && job->timeout_source == NULL &&
      g_atomic_int_get (&core->task_timeout_ms) > 0)
    {
      job->timeout_source = g_timeout_source_new (g_atomic_int_get (&core->task_timeout_ms));
      g_source_set_callback (job->timeout_source, job_timeout_cb, job, NULL);
      g_source_attach (job->timeout_source, acpu_io_get_context ());
    }
}

/* [io], takes core->lock: takes what callers handed over: INCOMING jobs,
 * which are QUEUED, and DIRECT jobs a caller sent to the offered worker
 * itself (acpu_direct_send_locked()), which are RUNNING on that worker's
 * in-flight list. Also takes the offer back: a caller still waiting for a
 * reply sees offer_gen change and loses the claim (acpu-pool-direct.c), so
 * nobody sends to a worker behind the I/O thread's back until
 * acpu_core_offer() makes one again. Every I/O-thread path that looks at a
 * worker's in-flight list or changes a worker calls this first. */
void
acpu_core_absorb (ACpuPoolCore *core)
{
  GQueue incoming, sent;
  ACpuJob *job;

  ACPU_ASSERT_IO_THREAD ();

  acpu_core_lock (core);
  incoming = core->incoming;
  g_queue_init (&core->incoming);
  for (GList *l = core->sent.head; l != NULL; l = l->next)
    ((ACpuJob *) l->data)->slot->direct_task = NULL;
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
  acpu_core_unlock (core);

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
      acpu_job_set_state (job, ACPU_JOB_RUNNING);
      g_queue_push_tail_link (&slot->inflight, &job->link);
      slot->n_sent++;
      slot->idle_since = 0;
      if (core->cancelling_all || g_cancellable_is_cancelled (g_task_get_cancellable (job->task)))
        {
          acpu_job_return_cancelled (core, job);
          acpu_slot_abandon (slot, job);
        }
      else
        job_watch (core, job);
    }

  while ((job = g_queue_peek_head (&incoming)) != NULL)
    {
      g_queue_unlink (&incoming, &job->link);
      if (core->cancelling_all || g_cancellable_is_cancelled (g_task_get_cancellable (job->task)))
        {
          acpu_job_return_cancelled (core, job);
          acpu_job_free (job);
          continue;
        }
      acpu_job_set_state (job, ACPU_JOB_QUEUED);
      job_watch (core, job);
      acpu_core_enqueue (core, job, FALSE);
    }
}

/* [io]: puts the QUEUED @job on core->queue by its priority, lower first:
 * behind every job of the same priority or a lower one (first in, first out
 * within a priority), or with @front, ahead of every job of its priority (a
 * job that goes back, its worker dead before it started). Jobs all of one
 * priority, the common case, cost O(1). */
void
acpu_core_enqueue (ACpuPoolCore *core,
                   ACpuJob      *job,
                   gboolean      front)
{
  GList *l;

  ACPU_ASSERT_IO_THREAD ();

  if (!front)
    {
      for (l = core->queue.tail; l != NULL && ((ACpuJob *) l->data)->priority > job->priority;
           l = l->prev)
        ;
      if (l == NULL)
        g_queue_push_head_link (&core->queue, &job->link);
      else
        g_queue_insert_after_link (&core->queue, l, &job->link);
    }
  else
    {
      for (l = core->queue.head; l != NULL && ((ACpuJob *) l->data)->priority < job->priority;
           l = l->next)
        ;
      if (l == NULL)
        g_queue_push_tail_link (&core->queue, &job->link);
      else
        g_queue_insert_before_link (&core->queue, l, &job->link);
    }
}

/* [io]: one round of scheduling: takes what was handed over, sends what
 * fits, flushes, starts workers. */
static void
core_dispatch (ACpuPoolCore *core)
{
  guint window = core_window (core);
  ACpuSource *local = g_ptr_array_index (core->sources, 0);
  ACpuSource *source;
  guint want;
  ACpuJob *job;

  acpu_core_absorb (core);

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

  /* Start workers for what is left, lazily, up to each source's limit,
   * here first (acpu-pool-source.c). */
  want = core->queue.length > core->n_starting ? core->queue.length - core->n_starting : 0;
  while (want-- > 0 && (source = acpu_core_pick_source (core)) != NULL)
    acpu_slot_spawn (core, source);

  /* And keep min-workers ready here, unless they cannot start. */
  while (!core->shutting_down && core->start_failures < ACPU_POOL_MAX_START_FAILURES &&
         local->n_slots < MIN (g_atomic_int_get (&core->min_workers),
                               acpu_source_get_capacity (core, local)))
    acpu_slot_spawn (core, local);
}

/* [io], takes core->lock: schedules until nothing changes, and last
 * offers an idle worker to the direct path. Reentrant: a call from inside
 * (a worker dying while we send) makes the running one go round again. */
void
acpu_core_schedule (ACpuPoolCore *core)
{
  ACPU_ASSERT_IO_THREAD ();

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
  acpu_core_offer (core);
  acpu_core_publish_workers (core);
}

/* [io]: ends every task and every worker now: shutdown with cancel. Queued
 * jobs are DONE; running ones ABANDONED, with their workers killed. */
void
acpu_core_cancel_all (ACpuPoolCore *core)
{
  ACpuJob *job;

  ACPU_ASSERT_IO_THREAD ();

  core->cancelling_all = TRUE;

  while ((job = g_queue_peek_head (&core->queue)) != NULL)
    {
      /* Links are embedded in jobs: unlink, never pop (pop frees the link). */
      g_queue_unlink (&core->queue, &job->link);
      acpu_job_return_cancelled (core, job);
      acpu_job_free (job);
    }

  for (guint i = 0; i < core->slots->len; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (!g_queue_is_empty (&slot->inflight) || !acpu_worker_proc_is_started (slot->proc))
        {
          for (GList *l = slot->inflight.head; l != NULL; l = l->next)
            {
              job = l->data;
              if (job->state == ACPU_JOB_RUNNING)
                {
                  acpu_job_return_cancelled (core, job);
                  acpu_job_set_state (job, ACPU_JOB_ABANDONED);
                }
            }
          slot->closing = TRUE;
          acpu_worker_proc_kill (slot->proc, NULL);
        }
    }
}

/* [io]: the caller cancelled a QUEUED or RUNNING job. */
static gboolean
job_cancelled_cb (GCancellable *cancellable,
                  gpointer      user_data)
{
  ACpuJob *job = user_data;
  ACpuPoolCore *core = g_task_get_task_data (job->task);

  ACPU_ASSERT_IO_THREAD ();

  g_clear_pointer (&job->cancel_source, g_source_unref);

  if (job->state == ACPU_JOB_QUEUED)
    {
      g_queue_unlink (&core->queue, &job->link);
      acpu_job_return_cancelled (core, job);
      acpu_job_free (job);
      return G_SOURCE_REMOVE;
    }

  /* Running: answer the caller now; the worker is asked to stop. */
  g_assert (job->state == ACPU_JOB_RUNNING);
  acpu_job_return_cancelled (core, job);
  acpu_slot_abandon (job->slot, job);

  return G_SOURCE_REMOVE;
}

/* [io]: the RUNNING job ran past task-timeout: it fails, and is stopped
 * like a cancel. */
static gboolean
job_timeout_cb (gpointer user_data)
{
  ACpuJob *job = user_data;
  ACpuPoolCore *core = g_task_get_task_data (job->task);

  ACPU_ASSERT_IO_THREAD ();
  g_assert (job->state == ACPU_JOB_RUNNING);

  g_clear_pointer (&job->timeout_source, g_source_unref);
  acpu_job_return_new_error (core, job, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                             "Task “%s” did not finish within %u ms", job->name,
                             g_atomic_int_get (&core->task_timeout_ms));
  acpu_slot_abandon (job->slot, job);

  return G_SOURCE_REMOVE;
}

/* [io]: a cancelled shutdown stops waiting for tasks: it cancels them. */
gboolean
acpu_core_shutdown_cancel_cb (GCancellable *cancellable,
                              gpointer      user_data)
{
  ACpuPoolCore *core = user_data;

  ACPU_ASSERT_IO_THREAD ();

  if (!core->cancelling_all)
    acpu_core_cancel_all (core);
  acpu_core_schedule (core);
  return G_SOURCE_REMOVE;
}

/* The wake source ------------------------------------------------------------ */

/* Any thread, with core->lock held: whether callers handed anything over. */
static gboolean
core_has_work_locked (ACpuPoolCore *core)
{
  return core->wake_pending || !g_queue_is_empty (&core->incoming);
}

/* [io], takes core->lock: before the I/O thread polls. A caller that hands
 * work over after this point must wake it; one that does before need not,
 * since this sees it. */
static gboolean
core_wake_prepare (GSource *source,
                   gint    *timeout)
{
  ACpuPoolCore *core = ((ACpuCoreSource *) source)->core;
  gboolean ready;

  acpu_core_lock (core);
  ready = core_has_work_locked (core);
  core->io_sleeping = !ready;
  acpu_core_unlock (core);

  *timeout = -1;
  return ready;
}

/* [io], takes core->lock: after the poll. */
static gboolean
core_wake_check (GSource *source)
{
  ACpuPoolCore *core = ((ACpuCoreSource *) source)->core;
  gboolean ready;

  acpu_core_lock (core);
  core->io_sleeping = FALSE;
  ready = core_has_work_locked (core);
  acpu_core_unlock (core);

  return ready;
}

/* [io], takes core->lock: takes in what callers handed over or asked for —
 * jobs, shutdowns, a cancel of everything, the pool's end — and
 * schedules. */
static gboolean
core_wake_cb (GSource     *source,
              GSourceFunc  callback,
              gpointer     user_data)
{
  ACpuPoolCore *core = user_data;
  g_autoptr(GPtrArray) requests = NULL;
  gboolean cancel, finalized;
  guint64 cancel_upto;

  ACPU_ASSERT_IO_THREAD ();

  acpu_core_lock (core);
  requests = g_steal_pointer (&core->shutdown_requests);
  core->shutdown_requests = g_ptr_array_new_with_free_func (g_object_unref);
  cancel = core->cancel_requested;
  cancel_upto = core->cancel_upto;
  core->cancel_upto = 0;
  finalized = core->finalized;
  core->wake_pending = FALSE;
  acpu_core_unlock (core);

  acpu_core_absorb (core);

  for (guint i = 0; i < requests->len; i++)
    g_ptr_array_add (core->shutdown_waiters, g_object_ref (g_ptr_array_index (requests, i)));

  if (requests->len > 0 || finalized)
    core->shutting_down = TRUE;
  if (cancel && !core->cancelling_all)
    acpu_core_cancel_all (core);
  else if (cancel_upto > 0)
    acpu_core_cancel_upto (core, cancel_upto);

  acpu_core_schedule (core);

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

/* Waking the I/O thread ------------------------------------------------------ */

/* [caller] or [context], with core->lock held, after work was handed over:
 * tells the I/O thread to look, with a syscall only when it may be asleep: a
 * busy I/O thread sees new work in its next prepare(). */
void
acpu_core_wake_locked (ACpuPoolCore *core)
{
  ACPU_ASSERT_LOCKED (core);

  if (core->io_sleeping)
    {
      core->io_sleeping = FALSE;
      g_main_context_wakeup (acpu_io_get_context ());
    }
}

/* [context], takes core->lock: the end of the dispatch that handed a burst
 * over (acpu_core_wake_for_locked()). */
static gboolean
core_kick_cb (gpointer user_data)
{
  ACpuPoolCore *core = user_data;

  acpu_core_lock (core);
  core->kick_context = NULL;
  if (!g_queue_is_empty (&core->incoming))
    acpu_core_wake_locked (core);
  acpu_core_unlock (core);

  return G_SOURCE_REMOVE;
}

/* [caller], with core->lock held: wakes the I/O thread for jobs just handed
 * over from @context. The first job wakes it at once: one task at a time is
 * a round trip, and it should not wait. When the caller is inside a dispatch
 * of @context — a GTK handler that submits a thousand tasks — the rest wait
 * for one wakeup at the end of the dispatch, so a burst costs two wakeups,
 * not one per time the I/O thread catches up and sleeps. */
void
acpu_core_wake_for_locked (ACpuPoolCore *core,
                           GMainContext *context)
{
  GSource *current, *kick;

  ACPU_ASSERT_LOCKED (core);

  if (!core->io_sleeping || core->kick_context == context)
    return;

  acpu_core_wake_locked (core);

  current = g_main_current_source ();
  if (core->kick_context != NULL || current == NULL || g_source_get_context (current) != context)
    return;

  core->kick_context = context;
  kick = g_idle_source_new ();
  g_source_set_priority (kick, G_PRIORITY_HIGH);
  g_source_set_callback (kick, core_kick_cb, acpu_core_ref (core),
                         (GDestroyNotify) acpu_core_unref);
  g_source_set_static_name (kick, "[asynccpu-glib] submit");
  g_source_attach (kick, context);
  g_source_unref (kick);
}

/* Any thread but [io], with core->lock held: asks the I/O thread to look at
 * something other than new jobs. */
void
acpu_core_request_locked (ACpuPoolCore *core)
{
  ACPU_ASSERT_LOCKED (core);

  core->wake_pending = TRUE;
  acpu_core_wake_locked (core);
}

/* Core life, again ------------------------------------------------------------ */

/* The pool creator's thread, from the pool's init: a core for @pool, whose
 * notifications go to that thread's default context. */
ACpuPoolCore *
acpu_core_new (ACpuProcessTaskPool *pool)
{
  ACpuPoolCore *core = g_new0 (ACpuPoolCore, 1);

  g_atomic_ref_count_init (&core->ref_count);
  g_mutex_init (&core->lock);
  g_weak_ref_init (&core->pool, pool);
  core->generation = acpu_io_get_generation ();
  core->owner_context = g_main_context_ref_thread_default ();
  /* No reference of its own on the core: acpu_core_unref() destroys it. */
  core->notify_source = acpu_core_notify_source_new (core);
  g_source_attach (core->notify_source, core->owner_context);
  core->max_workers = MAX (1, g_get_num_processors ());
  core->grace_ms = ACPU_POOL_DEFAULT_GRACE_MS;
  core->handshake_ms = ACPU_POOL_DEFAULT_HANDSHAKE_MS;
  core->idle_timeout_ms = ACPU_POOL_DEFAULT_IDLE_TIMEOUT_MS;
  core->max_size = ACPU_WIRE_DEFAULT_MAX_SIZE;
  core->stats.since = g_get_monotonic_time ();
  core->slots = g_ptr_array_new ();
  core->sources = g_ptr_array_new_with_free_func ((GDestroyNotify) acpu_source_free);
  g_ptr_array_add (core->sources, acpu_source_new (NULL, 0));
  core->new_sources = g_ptr_array_new_with_free_func ((GDestroyNotify) acpu_source_free);
  core->shutdown_requests = g_ptr_array_new_with_free_func (g_object_unref);
  core->shutdown_waiters = g_ptr_array_new_with_free_func (g_object_unref);
  g_queue_init (&core->incoming);
  g_queue_init (&core->sent);
  g_queue_init (&core->queue);

  acpu_core_init_delivery (core);

  /* The wake source holds a reference of its own until the pool is gone. */
  core->wake_source = acpu_core_source_new (core, &wake_source_funcs, "[asynccpu-glib] pool");
  g_source_set_callback (core->wake_source, NULL, acpu_core_ref (core),
                         (GDestroyNotify) acpu_core_unref);
  g_source_attach (core->wake_source, acpu_io_get_context ());

  return core;
}

/* Any thread: the current program, with its arguments: how a pool with no
 * worker_argv starts workers (see acpu_worker_is_worker_process()).
 *
 * The program is `/proc/self/exe`, never the path it resolves to: the worker
 * is spawned by a fork of this process (or a vfork, with the same memory), in
 * which that link is still this process's running image. So a program whose
 * file was replaced (a package upgrade) or deleted since it started gets
 * workers of its own version, not the new file's, and not ENOENT. */
char **
acpu_core_self_argv (void)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *cmdline = NULL;
  gsize len = 0;

  g_strv_builder_add (builder, "/proc/self/exe");

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

/* Any thread: whether @argv starts this very program again, with its own
 * arguments (what acpu_core_self_argv() gives, or the same file by another
 * name). */
gboolean
acpu_core_argv_is_self (char **argv)
{
  g_auto(GStrv) self = acpu_core_self_argv ();
  g_autofree char *path = NULL;
  GStatBuf st_argv, st_self;

  if (argv == NULL || argv[0] == NULL || g_strv_length (argv) != g_strv_length (self))
    return FALSE;
  for (guint i = 1; argv[i] != NULL; i++)
    if (strcmp (argv[i], self[i]) != 0)
      return FALSE;

  path = strchr (argv[0], '/') != NULL ? g_strdup (argv[0]) : g_find_program_in_path (argv[0]);
  return path != NULL && g_stat (path, &st_argv) == 0 && g_stat ("/proc/self/exe", &st_self) == 0 &&
         st_argv.st_dev == st_self.st_dev && st_argv.st_ino == st_self.st_ino;
}

