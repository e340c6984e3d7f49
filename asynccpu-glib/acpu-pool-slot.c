/* acpu-pool-slot.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A slot: one worker process as the core sees it, on the I/O thread. It
 * starts the worker (acpu_slot_spawn()), hears from its handle (ready, a
 * reply, a log record, its end: the callbacks below), keeps the jobs sent to
 * it in order (`inflight`), and closes it when it has been idle too long or
 * has run its share of tasks. Whether the worker takes requests is the
 * handle's to say; the slot only remembers what the pool decided (`closing`).
 *
 * A worker runs its requests in order. When it dies, the first job of its
 * list is the one that killed it and gets the error; the ones behind it
 * never started, and go back to the head of the queue. A job the caller has
 * had its answer for already (ABANDONED: cancelled or timed out) stays on
 * the list until the worker answers it or is killed after the grace period.
 *
 * Everything here runs on the I/O thread.
 */

#include "config.h"

#include <string.h>

#include "acpu-error.h"
#include "acpu-pool-private.h"
#include "acpu-task-private.h"
#include "acpu-wire-private.h"
#include "acpu-worker-log-private.h"

/* Grace and idle timers ----------------------------------------------------- */

/* [io]: an ABANDONED job's grace period may be over: kill the worker whose
 * task ignored its cancel, or wait for the next one to run out. */
static gboolean
slot_grace_cb (gpointer user_data)
{
  ACpuSlot *slot = user_data;
  ACpuPoolCore *core = slot->core;
  gint64 now = g_get_monotonic_time ();
  gint64 grace = (gint64) g_atomic_int_get (&core->grace_ms) * 1000;
  gint64 next = G_MAXINT64;

  ACPU_ASSERT_IO_THREAD ();
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

/* [io] */
static void
slot_clear_grace (ACpuSlot *slot)
{
  if (slot->grace_timer != NULL)
    {
      g_source_destroy (slot->grace_timer);
      g_clear_pointer (&slot->grace_timer, g_source_unref);
    }
}

/* [io]: the job with @id on @slot's in-flight list, or NULL. */
static ACpuJob *
slot_find (ACpuSlot *slot,
           guint64   id)
{
  return acpu_job_find (&slot->inflight, id);
}

/* [io]: closes idle workers above min-workers that have been idle long
 * enough. */
static gboolean
core_idle_cb (gpointer user_data)
{
  ACpuPoolCore *core = user_data;
  gint64 now = g_get_monotonic_time ();
  gint64 timeout = (gint64) g_atomic_int_get (&core->idle_timeout_ms) * 1000;
  guint min_workers = g_atomic_int_get (&core->min_workers);
  gint64 next = G_MAXINT64;
  guint alive = 0;

  ACPU_ASSERT_IO_THREAD ();

  g_clear_pointer (&core->idle_timer, g_source_unref);
  acpu_core_absorb (core);

  for (guint i = 0; i < core->slots->len; i++)
    alive += !((ACpuSlot *) g_ptr_array_index (core->slots, i))->closing;

  for (guint i = 0; i < core->slots->len && alive > min_workers && timeout > 0; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      if (slot->closing || !acpu_worker_proc_is_ready (slot->proc) || slot->idle_since == 0)
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
    acpu_core_arm_idle_timer (core, next - now);

  return G_SOURCE_REMOVE;
}

/* [io]: closes idle workers in @delay_us, unless a timer runs already. */
void
acpu_core_arm_idle_timer (ACpuPoolCore *core,
                     gint64        delay_us)
{
  if (core->idle_timer != NULL || g_atomic_int_get (&core->idle_timeout_ms) == 0)
    return;
  core->idle_timer = g_timeout_source_new (MAX (1, delay_us / 1000));
  g_source_set_callback (core->idle_timer, core_idle_cb, core, NULL);
  g_source_attach (core->idle_timer, acpu_io_get_context ());
}

/* [io]: @slot has nothing to do now. */
static void
acpu_slot_went_idle (ACpuSlot *slot)
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
    acpu_core_arm_idle_timer (core, (gint64) g_atomic_int_get (&core->idle_timeout_ms) * 1000);
}

/* The handle's callbacks ---------------------------------------------------- */

/* [io]: the worker finished its handshake. */
static void
slot_ready_cb (ACpuWorkerProc *proc,
               gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  ACpuPoolCore *core = slot->core;
  GHashTable *task_types = acpu_worker_proc_dup_task_table (proc);

  ACPU_ASSERT_IO_THREAD ();

  /* For acpu_process_task_pool_get_task_types(). */
  acpu_core_lock (core);
  g_clear_pointer (&core->task_types, g_hash_table_unref);
  core->task_types = task_types;
  acpu_core_unlock (core);

  core->n_starting--;
  core->start_failures = 0;
  acpu_source_started (slot->source);
  acpu_slot_went_idle (slot);
  acpu_core_schedule (core);
}

/* [io]: the worker answered request @id, which is RUNNING or ABANDONED on
 * its list (or DIRECT, which acpu_core_absorb() first makes RUNNING). */
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

  ACPU_ASSERT_IO_THREAD ();

  acpu_core_absorb (core);
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
  slot->n_replies++;

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

  acpu_job_return (core, job, value, error);
  acpu_job_free (job);
  acpu_slot_job_first (slot);

  idle = g_queue_is_empty (&slot->inflight);
  if (idle)
    acpu_slot_went_idle (slot);

  /* Before the result goes: the caller's next task may find this worker
   * offered. */
  acpu_core_schedule (core);

  /* Nothing more is coming from this worker: hand the results over now, not
   * one iteration of this thread's loop later. */
  if (idle)
    acpu_core_deliver (core);
}

/* [io]: logs a worker's record again here, with its pid and task, never
 * fatally (acpu-worker-log.c checks the rest). */
static void
slot_log_cb (ACpuWorkerProc *proc,
             guint64         id,
             GLogLevelFlags  log_level,
             GVariant       *fields,
             gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  ACpuJob *job = NULL;

  if (id != 0)
    {
      acpu_core_absorb (slot->core);
      job = slot_find (slot, id);
    }

  acpu_worker_log_relay (log_level, fields, acpu_worker_proc_get_pid (proc),
                         job != NULL ? job->name : NULL);
}

/* [io]: the job with @id on @slot's list, after absorbing what callers
 * sent; a worker that names a request it does not have is killed
 * (ACPU_ERROR_PROTOCOL) and NULL returned. */
static ACpuJob *
slot_find_or_kill (ACpuSlot   *slot,
                   guint64     id,
                   const char *what)
{
  ACpuJob *job;

  acpu_core_absorb (slot->core);
  job = slot_find (slot, id);
  if (job == NULL)
    {
      g_autoptr(GError) reason = NULL;

      reason = g_error_new (ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                            "worker process %d sent %s for request %" G_GUINT64_FORMAT
                            ", which it does not have",
                            (int) acpu_worker_proc_get_pid (slot->proc), what, id);
      acpu_worker_proc_kill (slot->proc, reason);
    }
  return job;
}

/* [io]: progress of request @id: for its task handle, if it has one and
 * is still RUNNING (not abandoned). */
static void
slot_progress_cb (ACpuWorkerProc *proc,
                  guint64         id,
                  double          fraction,
                  const char     *text,
                  gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  ACpuJob *job;

  ACPU_ASSERT_IO_THREAD ();

  job = slot_find_or_kill (slot, id, "progress");
  if (job != NULL && job->feed != NULL && job->state == ACPU_JOB_RUNNING)
    acpu_task_feed_progress (job->feed, fraction, text);
}

/* [io]: a partial value of request @id: to its task handle, which
 * acknowledges it once its caller's context has handled it; a job with no
 * handle, or one abandoned, acknowledges it now and drops it. */
static void
slot_partial_cb (ACpuWorkerProc *proc,
                 guint64         id,
                 GVariant       *value,
                 gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  ACpuJob *job;

  ACPU_ASSERT_IO_THREAD ();

  job = slot_find_or_kill (slot, id, "a partial value");
  if (job == NULL)
    return;
  if (job->feed == NULL || job->state != ACPU_JOB_RUNNING ||
      !acpu_task_feed_partial (job->feed, proc, id, value))
    acpu_worker_proc_ack (proc, id, 1, g_variant_get_size (value));
}

/* [io]: the job first in @slot's line now runs in the worker (a worker runs
 * its requests in order): its task handle, if any, hears so once. */
void
acpu_slot_job_first (ACpuSlot *slot)
{
  ACpuJob *job = g_queue_peek_head (&slot->inflight);

  ACPU_ASSERT_IO_THREAD ();

  if (job != NULL && job->feed != NULL && !job->feed_started && job->state == ACPU_JOB_RUNNING)
    {
      job->feed_started = TRUE;
      acpu_task_feed_started (job->feed, slot->proc, job->id);
    }
}

/* [io]: the worker is gone (or never started); @error says why, NULL when
 * it exited after we closed it. Called once, last: the slot goes with it. */
static void
slot_exited_cb (ACpuWorkerProc *proc,
                const GError   *error,
                gpointer        user_data)
{
  ACpuSlot *slot = user_data;
  ACpuPoolCore *core = slot->core;
  g_autoptr(GError) fallback = NULL;
  ACpuJob *job;

  ACPU_ASSERT_IO_THREAD ();

  acpu_core_absorb (core);
  g_ptr_array_remove_fast (core->slots, slot);
  slot->source->n_slots--;
  acpu_core_count (core, &core->n_workers, -1);
  acpu_core_stats_worker_ended (core, error != NULL);
  slot_clear_grace (slot);

  if (error == NULL && !g_queue_is_empty (&slot->inflight))
    error = fallback = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_DIED,
                                    "worker process %d exited",
                                    (int) acpu_worker_proc_get_pid (proc));

  if (!acpu_worker_proc_is_started (proc))
    {
      core->n_starting--;

      /* A worker SIGKILLed from outside while it started (the OOM killer,
       * a chaos monkey) says nothing about the program: start another. Any
       * other death before the handshake fails the task at the head of the
       * queue, and after ACPU_POOL_MAX_START_FAILURES in a row with no
       * handshake in between, the whole queue: a program that cannot start
       * is not started for ever. New tasks try again. A source that
       * cannot start while others can waits, and the tasks go to the
       * others (acpu-pool-source.c). */
      if (error != NULL && !acpu_worker_proc_was_killed_from_outside (proc) &&
          !core->cancelling_all && !acpu_source_start_failed (core, slot->source, error))
        {
          core->start_failures++;
          while ((job = g_queue_peek_head (&core->queue)) != NULL)
            {
              g_queue_unlink (&core->queue, &job->link);
              acpu_job_return (core, job, NULL, error);
              acpu_job_free (job);
              if (core->start_failures < ACPU_POOL_MAX_START_FAILURES)
                break;
            }
        }
    }

  /* The first job is the one that was running. When its worker died, the
   * facts go with its GTask (acpu_process_task_pool_get_worker_exit()). */
  if ((job = g_queue_peek_head (&slot->inflight)) != NULL)
    {
      g_queue_unlink (&slot->inflight, &job->link);
      if (job->task != NULL && g_error_matches (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED))
        g_object_set_qdata_full (G_OBJECT (job->task), acpu_worker_exit_quark (),
                                 acpu_worker_proc_get_exit (proc, job->name), g_object_unref);
      acpu_job_return_failed (core, job, error);
      acpu_job_free (job);
    }

  /* The others never started: back to the head of the queue, in order. */
  while ((job = g_queue_peek_tail (&slot->inflight)) != NULL)
    {
      g_queue_unlink (&slot->inflight, &job->link);
      if (job->state == ACPU_JOB_ABANDONED)
        {
          acpu_job_free (job);
          continue;
        }
      acpu_job_set_state (job, ACPU_JOB_QUEUED);
      job->slot = NULL;
      job->cancel_time = 0;
      acpu_core_enqueue (core, job, TRUE);
      acpu_core_count_jobs (core, 1, -1);
    }

  acpu_worker_proc_unref (slot->proc);
  g_free (slot);

  acpu_core_schedule (core);
  acpu_core_unref (core);
}

static const ACpuWorkerProcCallbacks acpu_slot_callbacks = {
  .ready = slot_ready_cb,
  .reply = slot_reply_cb,
  .log = slot_log_cb,
  .exited = slot_exited_cb,
  .progress = slot_progress_cb,
  .partial = slot_partial_cb,
};

/* [io], takes core->lock: starts one more worker, on @source. Only the
 * I/O thread spawns (PR_SET_PDEATHSIG follows the thread that forked:
 * acpu-io.c). */
void
acpu_slot_spawn (ACpuPoolCore *core,
                 ACpuSource   *source)
{
  ACpuSlot *slot = g_new0 (ACpuSlot, 1);
  guint64 max_size, memory_limit;

  ACPU_ASSERT_IO_THREAD ();

  acpu_core_lock (core);
  max_size = core->max_size;
  memory_limit = core->memory_limit;
  acpu_core_unlock (core);

  slot->core = acpu_core_ref (core);
  slot->proc = acpu_worker_proc_new ((const char * const *) core->argv, max_size,
                                     g_atomic_int_get (&core->handshake_ms),
                                     &acpu_slot_callbacks, slot);
  acpu_worker_proc_set_memory_limit (slot->proc, memory_limit);
  acpu_worker_proc_set_priority (slot->proc, g_atomic_int_get (&core->worker_priority));
  if (source->launcher != NULL)
    acpu_worker_proc_set_launcher (slot->proc, source->launcher);
  slot->source = source;
  source->n_slots++;
  g_queue_init (&slot->inflight);
  g_ptr_array_add (core->slots, slot);
  core->n_starting++;
  acpu_core_count (core, &core->n_workers, 1);
  acpu_core_stats_worker_started (core);

  acpu_worker_proc_start (slot->proc);
}


/* [io]: @job, RUNNING on @slot's list, has been answered already (cancelled
 * or timed out): it is ABANDONED; ask the worker to stop it, and give it the
 * grace period before its process group is killed. */
void
acpu_slot_abandon (ACpuSlot *slot,
                   ACpuJob  *job)
{
  ACpuPoolCore *core = slot->core;

  ACPU_ASSERT_IO_THREAD ();

  acpu_job_set_state (job, ACPU_JOB_ABANDONED);
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

