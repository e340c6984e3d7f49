/* acpu-pool-delivery.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* What goes back from the pool: each job's result, once, to the main context
 * of the thread that submitted it, and the counters' notifications to the
 * pool's own context.
 *
 * The I/O thread gathers results (acpu_job_return()) while it works, in
 * core->returns, and hands them over to one source per caller's context when
 * it is done with what it was doing (acpu_core_deliver()): at most one
 * wakeup per batch, not per task, and none while the context's source is
 * still returning the last batch. There each GTask is returned from its own context, so
 * GTask calls the callback at once. A job answered on the direct path is
 * returned by its reply source instead (acpu-pool-direct.c).
 */

#include "config.h"

#include <string.h>

#include "acpu-pool-private.h"

/* How long one dispatch in a caller's main context may spend on callbacks
 * before it lets the context's other sources run. */
#define DELIVERY_BUDGET_US 500

/* Notifications of the counters --------------------------------------------- */

/* [owner]: the counters changed since the last time: the pool notifies
 * those that did. */
static gboolean
core_notify_cb (gpointer user_data)
{
  ACpuPoolCore *core = user_data;
  g_autoptr(ACpuProcessTaskPool) self = NULL;

  g_atomic_int_set (&core->notify_pending, 0);
  self = g_weak_ref_get (&core->pool);
  if (self != NULL)
    acpu_process_task_pool_notify_counters (self);

  return G_SOURCE_REMOVE;
}

/* [owner]: ready while a notification is pending; polls nothing. */
static gboolean
core_notify_prepare (GSource *source,
                     gint    *timeout)
{
  *timeout = -1;
  return g_atomic_int_get (&((ACpuCoreSource *) source)->core->notify_pending) != 0;
}

/* [owner] */
static gboolean
core_notify_check (GSource *source)
{
  return g_atomic_int_get (&((ACpuCoreSource *) source)->core->notify_pending) != 0;
}

/* [owner] */
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

/* Any thread: the counters changed: notify in the pool's own context,
 * coalesced. That context sees it the next time it looks; it is woken for it
 * only when somebody there listens. Otherwise the notification waits for the next
 * result delivered there (or anything else that wakes it): a getter reads
 * the counters directly, so nobody reads a stale value. */
void
acpu_core_counters_changed (ACpuPoolCore *core)
{
  if (g_atomic_int_compare_and_exchange (&core->notify_pending, 0, 1) &&
      g_atomic_int_get (&core->notify_listened) &&
      !g_main_context_is_owner (core->owner_context))
    g_main_context_wakeup (core->owner_context);
}

/* Any thread: changes @counter of @core by @delta and says so. */
void
acpu_core_count (ACpuPoolCore *core,
                 gint         *counter,
                 gint          delta)
{
  g_atomic_int_add (counter, delta);
  acpu_core_counters_changed (core);
}

/* The pool creator's thread, from acpu_core_new(): the source that notifies there.
 * It holds no reference on the core: acpu_core_unref() destroys it. */
GSource *
acpu_core_notify_source_new (ACpuPoolCore *core)
{
  return acpu_core_source_new (core, &notify_source_funcs, "[asynccpu-glib] notify");
}

/* Delivering results ------------------------------------------------------
 *
 * A GTask returned from the I/O thread would post one idle source, and one
 * wakeup, into its caller's main context per task. Instead, results are
 * gathered while the I/O thread works and handed to each caller's context
 * a batch at a time; there each GTask is returned from its own context, so
 * GTask calls the callback at once.
 *
 * Each context has at most one delivery source of the pool at a time, in
 * core->deliveries: a batch for a context that still has one is appended
 * to it, so results stay in order and one dispatch's budget covers them
 * all. A dispatch stops after DELIVERY_BUDGET_US and goes on in the next
 * iteration (the source stays ready), so the context's other sources (a
 * frame clock, a timeout) get their turn in between: one source per batch,
 * each with a budget of its own, held the context for a budget per batch
 * in one iteration. The source removes itself once nothing is left, under
 * core->deliveries_lock, so the I/O thread either appends before that or
 * makes a new one after. */

/* A result gathered on the I/O thread: owned by core->returns there, then by
 * one delivery source in the caller's context. */

typedef struct
{
  GTask      *task;
  GVariant   *value;
  GError     *error;
  ACpuJobEnd  end;      /* for the stats, folded in by acpu_core_deliver() */
} ACpuReturn;

/* A context's delivery source. */
typedef struct
{
  GSource       source;
  ACpuPoolCore *core;       /* a reference, read-only */
  GMainContext *context;    /* its key in core->deliveries, no reference */
  GArray       *returns;    /* ACpuReturn [context]: being returned */
  guint         next;       /* [context]: the next one of `returns` */
  GArray       *incoming;   /* ACpuReturn, under deliveries_lock: appended by [io] */
} ACpuDeliverySource;

/* Any thread: drops what @ret holds. */
static void
acpu_return_clear (ACpuReturn *ret)
{
  g_clear_object (&ret->task);
  g_clear_pointer (&ret->value, g_variant_unref);
  g_clear_error (&ret->error);
}

/* [context]: returns the GTasks in order, within DELIVERY_BUDGET_US a
 * dispatch; when none is left, takes what the I/O thread appended, or
 * leaves. */
static gboolean
delivery_dispatch (GSource     *source,
                   GSourceFunc  callback,
                   gpointer     user_data)
{
  ACpuDeliverySource *self = (ACpuDeliverySource *) source;
  ACpuPoolCore *core = self->core;
  gint64 deadline = g_get_monotonic_time () + DELIVERY_BUDGET_US;

  for (;;)
    {
      while (self->next < self->returns->len)
        {
          ACpuReturn *ret = &g_array_index (self->returns, ACpuReturn, self->next++);
          g_autoptr(GTask) task = g_steal_pointer (&ret->task);

          if (ret->error != NULL)
            g_task_return_error (task, g_steal_pointer (&ret->error));
          else
            g_task_return_pointer (task, g_steal_pointer (&ret->value),
                                   (GDestroyNotify) g_variant_unref);

          if (g_get_monotonic_time () >= deadline)
            return G_SOURCE_CONTINUE;
        }

      /* All returned: take what came meanwhile, or go. */
      g_array_set_size (self->returns, 0);
      self->next = 0;
      g_mutex_lock (&core->deliveries_lock);
      if (self->incoming->len == 0)
        {
          if (g_hash_table_lookup (core->deliveries, self->context) == self)
            g_hash_table_remove (core->deliveries, self->context);
          g_mutex_unlock (&core->deliveries_lock);
          return G_SOURCE_REMOVE;
        }
      {
        GArray *swap = self->returns;

        self->returns = self->incoming;
        self->incoming = swap;
      }
      g_mutex_unlock (&core->deliveries_lock);
    }
}

/* [context], or whichever thread drops the last reference of that
 * context, or of the source. */
static void
delivery_finalize (GSource *source)
{
  ACpuDeliverySource *self = (ACpuDeliverySource *) source;
  ACpuPoolCore *core = self->core;

  g_mutex_lock (&core->deliveries_lock);
  if (g_hash_table_lookup (core->deliveries, self->context) == self)
    g_hash_table_remove (core->deliveries, self->context);
  g_mutex_unlock (&core->deliveries_lock);

  /* Only when the source was destroyed with results left: nobody is left
   * to call. */
  for (guint i = self->next; i < self->returns->len; i++)
    acpu_return_clear (&g_array_index (self->returns, ACpuReturn, i));
  for (guint i = 0; i < self->incoming->len; i++)
    acpu_return_clear (&g_array_index (self->incoming, ACpuReturn, i));
  g_array_unref (self->returns);
  g_array_unref (self->incoming);
  acpu_core_unref (core);
}

static GSourceFuncs delivery_source_funcs = {
  .dispatch = delivery_dispatch,
  .finalize = delivery_finalize,
};

/* [io], which alone gathers results: ready once a result is gathered, and
 * run after whatever gathered it. */
static gboolean
core_returns_prepare (GSource *source,
                      gint    *timeout)
{
  *timeout = -1;
  return ((ACpuCoreSource *) source)->core->returns->len > 0;
}

/* [io] */
static gboolean
core_returns_check (GSource *source)
{
  return ((ACpuCoreSource *) source)->core->returns->len > 0;
}

/* [io]: hands @group, results for @context in order, to @context: appended
 * to its delivery source if it has one, or in a new one. Takes and
 * releases core->deliveries_lock. */
static void
acpu_core_deliver_to (ACpuPoolCore *core,
                      GMainContext *context,
                      GArray       *group)
{
  ACpuDeliverySource *delivery;

  g_mutex_lock (&core->deliveries_lock);
  delivery = g_hash_table_lookup (core->deliveries, context);
  if (delivery != NULL && !g_source_is_destroyed ((GSource *) delivery))
    {
      /* Still attached and ready: its context runs it without being woken. */
      g_array_append_vals (delivery->incoming, group->data, group->len);
      g_mutex_unlock (&core->deliveries_lock);
      g_array_set_size (group, 0);
      return;
    }

  delivery = (ACpuDeliverySource *) g_source_new (&delivery_source_funcs,
                                                  sizeof (ACpuDeliverySource));
  delivery->core = acpu_core_ref (core);
  delivery->context = context;
  delivery->returns = g_array_new (FALSE, FALSE, sizeof (ACpuReturn));
  delivery->incoming = g_array_new (FALSE, FALSE, sizeof (ACpuReturn));
  g_array_append_vals (delivery->returns, group->data, group->len);
  g_array_set_size (group, 0);
  g_hash_table_replace (core->deliveries, context, delivery);
  g_mutex_unlock (&core->deliveries_lock);

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

/* [io]: hands what was gathered to the callers' contexts. */
void
acpu_core_deliver (ACpuPoolCore *core)
{
  g_autoptr(GArray) returns = NULL;
  g_autoptr(GArray) group = NULL;

  ACPU_ASSERT_IO_THREAD ();

  if (core->returns->len == 0)
    return;

  returns = g_steal_pointer (&core->returns);
  core->returns = g_array_new (FALSE, FALSE, sizeof (ACpuReturn));

  /* The jobs leave the counts and their outcomes are counted, all of them
   * under one lock, before any callback can run (acpu-pool-stats.c). */
  acpu_core_lock (core);
  acpu_core_stats_jobs_ended_locked (core, &g_array_index (returns, ACpuReturn, 0).end,
                                     sizeof (ACpuReturn), returns->len);
  acpu_core_unlock (core);

  group = g_array_new (FALSE, FALSE, sizeof (ACpuReturn));
  for (guint i = 0; i < returns->len; i++)
    {
      ACpuReturn *ret = &g_array_index (returns, ACpuReturn, i);
      GMainContext *context;

      if (ret->task == NULL)
        continue;

      /* Everything for the same context, in order, goes together. */
      context = g_task_get_context (ret->task);
      for (guint j = i; j < returns->len; j++)
        {
          ACpuReturn *other = &g_array_index (returns, ACpuReturn, j);

          if (other->task != NULL && g_task_get_context (other->task) == context)
            {
              g_array_append_val (group, *other);
              memset (other, 0, sizeof *other);
            }
        }
      acpu_core_deliver_to (core, context, group);
    }

  /* The reference taken when the first result was gathered. */
  acpu_core_unref (core);
}

/* [io] */
static gboolean
core_returns_cb (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     user_data)
{
  acpu_core_deliver (((ACpuCoreSource *) source)->core);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs returns_source_funcs = {
  .prepare = core_returns_prepare,
  .check = core_returns_check,
  .dispatch = core_returns_cb,
};

/* Any thread, from acpu_core_new(): the gathering source, attached to the
 * I/O context, and its array. */
void
acpu_core_init_delivery (ACpuPoolCore *core)
{
  core->returns = g_array_new (FALSE, FALSE, sizeof (ACpuReturn));
  g_mutex_init (&core->deliveries_lock);
  core->deliveries = g_hash_table_new (NULL, NULL);
  core->returns_source = acpu_core_source_new (core, &returns_source_funcs,
                                               "[asynccpu-glib] gather results");
  g_source_attach (core->returns_source, acpu_io_get_context ());
}

/* Any thread, from the last acpu_core_unref(): nothing is left to deliver. */
void
acpu_core_clear_delivery (ACpuPoolCore *core)
{
  g_assert (core->returns->len == 0);
  /* Every delivery source holds a reference on the core. */
  g_assert (g_hash_table_size (core->deliveries) == 0);
  g_source_destroy (core->returns_source);
  g_source_unref (core->returns_source);
  g_array_unref (core->returns);
  g_hash_table_unref (core->deliveries);
  g_mutex_clear (&core->deliveries_lock);
}

/* [io]: returns the job's GTask (once; later calls do nothing) and leaves
 * the job, and its state, for the caller to change: on a worker's list it
 * becomes ABANDONED, off every list it is freed. The counters go by the
 * state it had. */
void
acpu_job_return (ACpuPoolCore *core,
                 ACpuJob      *job,
                 GVariant     *value,
                 const GError *error)
{
  ACpuReturn ret = { 0 };

  ACPU_ASSERT_IO_THREAD ();

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

  /* Out of the counts and into the outcomes when the batch is delivered
   * (acpu_core_deliver()); until then it counts as it did. */
  acpu_job_end_init (&ret.end, job,
                     job->state == ACPU_JOB_RUNNING || job->state == ACPU_JOB_DIRECT,
                     error);

  ret.task = g_steal_pointer (&job->task);
  if (error != NULL)
    ret.error = g_error_copy (error);
  else
    ret.value = g_variant_ref (value);

  /* Delivered when the I/O thread is done with what it is doing now; the
   * core stays alive until then. */
  if (core->returns->len == 0)
    acpu_core_ref (core);
  g_array_append_val (core->returns, ret);
}

/* [io]: acpu_job_return() with a new error. */
void
acpu_job_return_new_error (ACpuPoolCore *core,
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

  acpu_job_return (core, job, NULL, error);
}

/* [io]: acpu_job_return() with G_IO_ERROR_CANCELLED. */
void
acpu_job_return_cancelled (ACpuPoolCore *core,
                           ACpuJob      *job)
{
  acpu_job_return_new_error (core, job, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                             "Operation was cancelled");
}

/* [io]: fails @job with @error, naming the task. */
void
acpu_job_return_failed (ACpuPoolCore *core,
                        ACpuJob      *job,
                        const GError *error)
{
  acpu_job_return_new_error (core, job, error->domain, error->code,
                             "Task “%s” failed: %s", job->name, error->message);
}

