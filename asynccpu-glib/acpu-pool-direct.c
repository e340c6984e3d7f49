/* acpu-pool-direct.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The direct path: a task submitted alone goes from the caller's thread
 * straight to an idle worker, and its reply straight back to the caller's
 * context, so a round trip wakes two threads, as a bare ping-pong does,
 * instead of four.
 *
 * 1. Offer [io]. When nothing is queued and a worker is idle, the I/O
 *    thread offers it (core->offered) and stops reading its channel
 *    (acpu_worker_proc_pause_reading(): a hang-up still wakes it).
 * 2. Send [caller, core->lock]. run_async() finds the offer, writes the
 *    request itself (acpu_worker_proc_send_now()), takes the offer, and
 *    leaves the job DIRECT on core->sent. A reply source goes into the
 *    caller's context.
 * 3. Reply [context]. The reply source reads the channel when it is
 *    readable, and the reply is the caller's only if it wins the claim.
 *
 * The claim. Two sides may want the same reply: the caller's reply source,
 * and the I/O thread once it has taken the job over. The I/O thread takes
 * over the moment anything else needs the job or the worker — a cancel, a
 * time limit, the worker's death, a log record, a shutdown, more work — in
 * acpu_core_absorb(): under core->lock it moves every DIRECT job to its
 * worker's in-flight list (RUNNING) and bumps core->offer_gen. So exactly
 * one side owns a DIRECT job, and which one is settled under core->lock:
 * the caller owns it while offer_gen is still what it was when the job was
 * sent. The handle reads and decodes the reply under its input lock and
 * then asks the caller's claim function (reply_source_claim_cb()), which
 * takes core->lock, checks offer_gen, and on success unlinks the job from
 * core->sent (DIRECT → DONE). If the claim fails, the handle leaves the
 * frame unread for the I/O thread, still under its input lock, so no later
 * frame can overtake it. Lock order: the handle's input lock, then
 * core->lock (acpu-pool-private.h).
 *
 * Whatever is not exactly the reply — a log record, a partial frame, a
 * value in a memfd, the end of the stream — is left to the I/O thread, which
 * the caller asks to take the job over.
 */

#include "config.h"

#include "acpu-pool-private.h"

/* Offering ------------------------------------------------------------------ */

/* [io], takes core->lock: offers an idle worker to callers, or takes the
 * offer back. Only when nothing waits in the queue, which a direct task
 * would overtake, and when workers are not recycled after a number of tasks
 * (a caller does not count them). Called last in acpu_core_schedule(),
 * after acpu_core_absorb(). */
void
acpu_core_offer (ACpuPoolCore *core)
{
  ACpuSlot *offer = NULL;

  ACPU_ASSERT_IO_THREAD ();

  if (!core->shutting_down && !core->cancelling_all && g_queue_is_empty (&core->queue) &&
      g_atomic_int_get (&core->max_tasks_per_worker) == 0)
    for (guint i = 0; i < core->slots->len && offer == NULL; i++)
      {
        ACpuSlot *slot = g_ptr_array_index (core->slots, i);

        if (!slot->closing && acpu_worker_proc_is_ready (slot->proc) &&
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

  acpu_core_lock (core);
  core->offered = offer;
  acpu_core_unlock (core);
}

/* The reply source ------------------------------------------------------------ */

/* In the caller's context, for one DIRECT job. `job` and `slot` may be
 * touched only under core->lock and while offer_gen is still `gen`: after
 * that the I/O thread owns them. */
typedef struct
{
  GSource         source;
  ACpuPoolCore   *core;        /* a reference */
  ACpuWorkerProc *proc;        /* a reference */
  ACpuSlot       *slot;
  ACpuJob        *job;
  guint64         id;          /* read-only */
  gint            gen;         /* read-only */
  GPollFD         pfd;
  GCancellable   *cancellable;
  gulong          cancel_id;
} ACpuReplySource;

/* [context]: ready at once when the I/O thread took the job over. */
static gboolean
reply_source_prepare (GSource *source,
                      gint    *timeout)
{
  ACpuReplySource *self = (ACpuReplySource *) source;

  *timeout = -1;
  return g_atomic_int_get (&self->core->offer_gen) != self->gen;
}

/* [context] */
static gboolean
reply_source_check (GSource *source)
{
  ACpuReplySource *self = (ACpuReplySource *) source;

  return self->pfd.revents != 0 || g_atomic_int_get (&self->core->offer_gen) != self->gen;
}

/* [context], with the handle's input lock held; takes core->lock: the
 * claim. TRUE when the job is still the caller's: then it is off
 * core->sent and DONE, and the worker is offered again. */
static gboolean
reply_source_claim_cb (gpointer user_data)
{
  ACpuReplySource *self = user_data;
  ACpuPoolCore *core = self->core;
  gboolean won;

  acpu_core_lock (core);
  won = g_atomic_int_get (&core->offer_gen) == self->gen;
  if (won)
    {
      ACpuJob *job = self->job;

      g_assert (job->state == ACPU_JOB_DIRECT);
      g_queue_unlink (&core->sent, &job->link);
      acpu_job_set_state (job, ACPU_JOB_DONE);
      /* Still counted running until its GTask is returned (dispatch). */
      self->slot->direct_task = NULL;
      self->slot->n_direct_done++;
      acpu_core_publish_direct_locked (core, self->slot);
      /* The worker is idle again: offer it again, unless work came in for
       * the I/O thread meanwhile, which it must not overtake. */
      self->slot->direct_use = g_get_monotonic_time ();
      if (!core->closed && g_queue_is_empty (&core->incoming) && core->offered == NULL)
        core->offered = self->slot;
    }
  acpu_core_unlock (core);

  return won;
}

/* [context]: reads the reply if it is there and the claim is won, and
 * returns the job's GTask from here; anything else goes to the I/O thread. */
static gboolean
reply_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  ACpuReplySource *self = (ACpuReplySource *) source;
  ACpuPoolCore *core = self->core;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  ACpuJob *job;

  ACPU_ASSERT_UNLOCKED (core);

  if (g_atomic_int_get (&core->offer_gen) != self->gen)
    return G_SOURCE_REMOVE;

  switch (acpu_worker_proc_claim_reply (self->proc, self->id, reply_source_claim_cb, self,
                                        &value, &error))
    {
    case ACPU_WORKER_PROC_REPLY_NONE:
      return G_SOURCE_CONTINUE;

    case ACPU_WORKER_PROC_REPLY_OTHER:
      /* Something else came, or the I/O thread is reading: it takes over. */
      acpu_core_lock (core);
      if (g_atomic_int_get (&core->offer_gen) == self->gen)
        acpu_core_request_locked (core);
      acpu_core_unlock (core);
      return G_SOURCE_REMOVE;

    case ACPU_WORKER_PROC_REPLY_TAKEN:
    default:
      break;
    }

  /* Claimed: the job is DONE and only ours. */
  job = self->job;
  acpu_core_lock (core);
  acpu_core_stats_job_ended_locked (core, job, TRUE, error);
  acpu_core_unlock (core);
  if (error != NULL)
    g_task_return_error (job->task, g_steal_pointer (&error));
  else
    g_task_return_pointer (job->task, g_steal_pointer (&value), (GDestroyNotify) g_variant_unref);
  g_clear_object (&job->task);
  acpu_job_free (job);

  return G_SOURCE_REMOVE;
}

/* [context], or whichever thread drops the context's last reference. */
static void
reply_source_finalize (GSource *source)
{
  ACpuReplySource *self = (ACpuReplySource *) source;

  if (self->cancel_id != 0)
    g_cancellable_disconnect (self->cancellable, self->cancel_id);
  g_clear_object (&self->cancellable);
  acpu_worker_proc_unref (self->proc);
  acpu_core_unref (self->core);
}

static GSourceFuncs reply_source_funcs = {
  .prepare = reply_source_prepare,
  .check = reply_source_check,
  .dispatch = reply_source_dispatch,
  .finalize = reply_source_finalize,
};

/* [cancel], takes core->lock: a cancel goes through the I/O thread, which
 * takes the job over. */
static void
reply_source_cancelled_cb (GCancellable *cancellable,
                           gpointer      user_data)
{
  ACpuPoolCore *core = user_data;

  acpu_core_lock (core);
  acpu_core_request_locked (core);
  acpu_core_unlock (core);
}

/* [caller] with core->lock held, right after @job was sent. */
static GSource *
reply_source_new_locked (ACpuPoolCore *core,
                         ACpuJob      *job)
{
  ACpuReplySource *self;

  ACPU_ASSERT_LOCKED (core);

  self = (ACpuReplySource *) g_source_new (&reply_source_funcs, sizeof (ACpuReplySource));
  self->core = acpu_core_ref (core);
  self->proc = acpu_worker_proc_ref (job->slot->proc);
  self->slot = job->slot;
  self->job = job;
  self->id = job->id;
  self->gen = g_atomic_int_get (&core->offer_gen);
  self->pfd.fd = acpu_worker_proc_get_fd (self->proc);
  self->pfd.events = G_IO_IN;
  g_source_add_poll ((GSource *) self, &self->pfd);
  g_source_set_static_name ((GSource *) self, "[asynccpu-glib] reply");
  return (GSource *) self;
}

/* Sending -------------------------------------------------------------------- */

/* [caller] with core->lock held: sends the NEW @job to the offered worker if
 * there is one and nothing was handed over before it. On success the job is
 * DIRECT on core->sent, and *@reply is a source to attach to the caller's
 * context with acpu_direct_reply_source_attach() once the lock is let go —
 * or NULL when the I/O thread must take the job over at once (it has a time
 * limit to watch). */
gboolean
acpu_direct_send_locked (ACpuPoolCore  *core,
                         ACpuJob       *job,
                         GSource      **reply)
{
  ACpuSlot *slot = core->offered;

  ACPU_ASSERT_LOCKED (core);
  g_assert (job->state == ACPU_JOB_NEW);

  *reply = NULL;
  if (slot == NULL || core->wake_pending || !g_queue_is_empty (&core->incoming) ||
      !acpu_worker_proc_has_task (slot->proc, job->name) ||
      !acpu_worker_proc_send_now (slot->proc, job->id, job->name, job->args))
    return FALSE;

  core->offered = NULL;
  acpu_job_set_state (job, ACPU_JOB_DIRECT);
  core->n_direct++;
  job->slot = slot;
  job->sent_time = g_get_monotonic_time ();
  g_queue_push_tail_link (&core->sent, &job->link);
  acpu_core_count_jobs (core, 0, 1);
  slot->direct_task = job->name;
  acpu_core_publish_direct_locked (core, slot);

  if (g_atomic_int_get (&core->task_timeout_ms) > 0)
    acpu_core_request_locked (core);
  else
    *reply = reply_source_new_locked (core, job);

  return TRUE;
}

/* [caller], core->lock not held: watches @cancellable (a cancellable
 * cancelled already calls back at once, which takes the lock) and attaches
 * @source to @context. Consumes @source. */
void
acpu_direct_reply_source_attach (GSource      *source,
                                 GCancellable *cancellable,
                                 GMainContext *context)
{
  ACpuReplySource *self = (ACpuReplySource *) source;

  ACPU_ASSERT_UNLOCKED (self->core);

  if (cancellable != NULL)
    {
      self->cancellable = g_object_ref (cancellable);
      self->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (reply_source_cancelled_cb),
                                               acpu_core_ref (self->core),
                                               (GDestroyNotify) acpu_core_unref);
    }
  g_source_attach (source, context);
  g_source_unref (source);
}
