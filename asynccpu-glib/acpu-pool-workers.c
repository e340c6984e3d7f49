/* acpu-pool-workers.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The pool's workers as a caller sees them: the worker table the I/O
 * thread publishes, and the list model (ACpuWorkerInfo items) made from it
 * in the pool creator's context.
 *
 * The I/O thread publishes each worker's state into core->workers under
 * the lock when it changes (acpu_core_publish_workers(), at the end of each
 * scheduling round), and so does the direct path for a task a caller runs
 * on an idle worker itself; each change bumps core->workers_serial and
 * wakes the pool creator's context through the notify source
 * (acpu-pool-delivery.c), where the pool's GListStore is brought up to date
 * (acpu_process_task_pool_sync_workers()). CPU time and RSS are read from
 * /proc there, about once a second while there are workers. Nothing of this
 * runs until somebody asks for the model.
 */

#include "config.h"

#include "acpu-pool-private.h"
#include "acpu-worker-info-private.h"

#define WORKERS_REFRESH_MS 1000

/* The worker table ---------------------------------------------------------------- */

/* Any thread, with core->lock held. */
static void
acpu_worker_record_clear (gpointer data)
{
  ACpuWorkerRecord *record = data;

  g_clear_pointer (&record->task_name, g_free);
}

/* [io], with core->lock held: what @slot's record says now. The name is
 * borrowed from a job on its list (or the DIRECT one), valid while the lock
 * is held. */
static void
acpu_slot_describe_locked (ACpuSlot         *slot,
                           ACpuWorkerRecord *record)
{
  ACpuJob *head = g_queue_peek_head (&slot->inflight);

  record->key = slot;
  record->pid = acpu_worker_proc_get_pid (slot->proc);
  record->tasks_done = slot->n_replies + slot->n_direct_done;
  record->task_name = NULL;
  if (slot->closing)
    record->state = ACPU_WORKER_STATE_CLOSING;
  else if (!acpu_worker_proc_is_started (slot->proc))
    record->state = ACPU_WORKER_STATE_STARTING;
  else if (head != NULL || slot->direct_task != NULL)
    {
      record->state = ACPU_WORKER_STATE_BUSY;
      record->task_name = (char *) (head != NULL ? head->name : slot->direct_task);
    }
  else
    record->state = ACPU_WORKER_STATE_IDLE;
}

/* [io], takes core->lock when the worker model exists: publishes each
 * worker's state, when anything changed, for the pool creator's context. */
void
acpu_core_publish_workers (ACpuPoolCore *core)
{
  gboolean changed;

  ACPU_ASSERT_IO_THREAD ();

  if (!g_atomic_int_get (&core->workers_watched))
    return;

  acpu_core_lock (core);
  if (core->workers == NULL)
    {
      core->workers = g_array_new (FALSE, TRUE, sizeof (ACpuWorkerRecord));
      g_array_set_clear_func (core->workers, acpu_worker_record_clear);
    }

  changed = core->workers->len != core->slots->len;
  for (guint i = 0; i < core->slots->len && !changed; i++)
    {
      ACpuWorkerRecord now, *was = &g_array_index (core->workers, ACpuWorkerRecord, i);

      acpu_slot_describe_locked (g_ptr_array_index (core->slots, i), &now);
      changed = now.key != was->key || now.pid != was->pid || now.state != was->state ||
                now.tasks_done != was->tasks_done || g_strcmp0 (now.task_name, was->task_name) != 0;
    }

  if (changed)
    {
      g_array_set_size (core->workers, 0);
      for (guint i = 0; i < core->slots->len; i++)
        {
          ACpuWorkerRecord record;

          acpu_slot_describe_locked (g_ptr_array_index (core->slots, i), &record);
          record.task_name = g_strdup (record.task_name);
          g_array_append_val (core->workers, record);
        }
      core->workers_serial++;
    }
  acpu_core_unlock (core);

  if (changed)
    acpu_core_counters_changed (core);
}

/* Any thread, with core->lock held: the direct path ran a task on @slot,
 * or a caller read its answer: its record says so at once, as the I/O
 * thread is not there to publish it. */
void
acpu_core_publish_direct_locked (ACpuPoolCore *core,
                                 ACpuSlot     *slot)
{
  ACPU_ASSERT_LOCKED (core);

  if (core->workers == NULL)
    return;

  for (guint i = 0; i < core->workers->len; i++)
    {
      ACpuWorkerRecord *record = &g_array_index (core->workers, ACpuWorkerRecord, i);

      if (record->key != slot)
        continue;
      g_free (record->task_name);
      record->task_name = g_strdup (slot->direct_task);
      record->state = slot->direct_task != NULL ? ACPU_WORKER_STATE_BUSY : ACPU_WORKER_STATE_IDLE;
      if (slot->direct_task == NULL)
        record->tasks_done++;
      core->workers_serial++;
      acpu_core_counters_changed (core);
      return;
    }
}

/* The worker model ------------------------------------------------------------------ */

/* [owner]: reads the workers' CPU time and RSS, while there are any. */
static gboolean
acpu_pool_workers_refresh_cb (gpointer user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(ACpuProcessTaskPool) self = g_weak_ref_get (ref);
  guint n;

  if (self == NULL)
    return G_SOURCE_REMOVE;

  n = g_list_model_get_n_items (G_LIST_MODEL (self->workers));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (G_LIST_MODEL (self->workers), i);

      acpu_worker_info_read_proc (info);
    }
  if (n > 0)
    return G_SOURCE_CONTINUE;

  g_clear_pointer (&self->workers_timer, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* Any thread */
static void
acpu_weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* [owner]: brings the worker model up to date with the table the I/O
 * thread published: items of workers gone are removed, new ones appended,
 * the others updated in place (so a view keeps its rows). */
void
acpu_process_task_pool_sync_workers (ACpuProcessTaskPool *self)
{
  ACpuPoolCore *core = self->core;
  g_autoptr(GArray) records = NULL;
  guint n;

  if (self->workers == NULL)
    return;

  acpu_core_lock (core);
  if (core->workers != NULL && core->workers_serial != self->workers_serial)
    {
      records = g_array_new (FALSE, TRUE, sizeof (ACpuWorkerRecord));
      g_array_set_clear_func (records, acpu_worker_record_clear);
      for (guint i = 0; i < core->workers->len; i++)
        {
          ACpuWorkerRecord record = g_array_index (core->workers, ACpuWorkerRecord, i);

          record.task_name = g_strdup (record.task_name);
          g_array_append_val (records, record);
        }
      self->workers_serial = core->workers_serial;
    }
  acpu_core_unlock (core);

  if (records == NULL)
    return;

  /* Gone, or updated. */
  n = g_list_model_get_n_items (G_LIST_MODEL (self->workers));
  for (guint i = n; i-- > 0;)
    {
      g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (G_LIST_MODEL (self->workers), i);
      ACpuWorkerRecord *found = NULL;

      for (guint j = 0; j < records->len && found == NULL; j++)
        {
          ACpuWorkerRecord *record = &g_array_index (records, ACpuWorkerRecord, j);

          if (record->key != NULL && record->pid == acpu_worker_info_get_pid (info))
            found = record;
        }
      if (found == NULL)
        g_list_store_remove (self->workers, i);
      else
        {
          acpu_worker_info_update (info, found->state, found->task_name, found->tasks_done);
          found->key = NULL;
        }
    }

  /* New. */
  for (guint j = 0; j < records->len; j++)
    {
      ACpuWorkerRecord *record = &g_array_index (records, ACpuWorkerRecord, j);
      g_autoptr(ACpuWorkerInfo) info = NULL;

      if (record->key == NULL)
        continue;
      info = acpu_worker_info_new (record->pid);
      acpu_worker_info_update (info, record->state, record->task_name, record->tasks_done);
      acpu_worker_info_read_proc (info);
      g_list_store_append (self->workers, info);
    }

  if (self->workers_timer == NULL && g_list_model_get_n_items (G_LIST_MODEL (self->workers)) > 0)
    {
      GWeakRef *ref = g_new0 (GWeakRef, 1);

      g_weak_ref_init (ref, self);
      self->workers_timer = g_timeout_source_new (WORKERS_REFRESH_MS);
      g_source_set_callback (self->workers_timer, acpu_pool_workers_refresh_cb, ref,
                             acpu_weak_ref_free);
      g_source_set_static_name (self->workers_timer, "[asynccpu-glib] worker model");
      g_source_attach (self->workers_timer, core->owner_context);
    }
}

/* [owner], from the pool's finalize: the model lives on if somebody holds
 * it, but is no longer updated. */
void
acpu_process_task_pool_clear_workers (ACpuProcessTaskPool *self)
{
  if (self->workers_timer != NULL)
    {
      g_source_destroy (self->workers_timer);
      g_clear_pointer (&self->workers_timer, g_source_unref);
    }
  g_clear_object (&self->workers);
}

/**
 * acpu_process_task_pool_get_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets the pool's worker processes as a list model of
 * [class@ACpu.WorkerInfo], one item per worker process, starting ones and
 * closing ones included. Items are added when a worker starts and removed
 * when it is gone; each item's properties (state, task name, tasks done,
 * CPU time, RSS) change in place.
 *
 * The model changes, and notifies, only in the main context that was the
 * thread default when the pool was made, so a `GtkColumnView` or
 * `GtkListView` can show it directly:
 *
 * ```c
 * GListModel *workers = acpu_process_task_pool_get_workers (pool);
 * gtk_column_view_set_model (view, GTK_SELECTION_MODEL (gtk_no_selection_new (workers)));
 * ```
 *
 * Every call returns the same model. Call it from the thread that made the
 * pool, like the model's own signals. Nothing is tracked until the first
 * call; from then on, the pool's context is woken when a worker changes.
 *
 * Returns: (transfer full): a [iface@Gio.ListModel] of [class@ACpu.WorkerInfo]
 *
 * Since: 0.1
 */
GListModel *
acpu_process_task_pool_get_workers (ACpuProcessTaskPool *pool)
{
  ACpuPoolCore *core;

  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);

  core = pool->core;
  if (pool->workers == NULL)
    {
      pool->workers = g_list_store_new (ACPU_TYPE_WORKER_INFO);
      g_atomic_int_set (&core->notify_listened, TRUE);
      g_atomic_int_set (&core->workers_watched, TRUE);
      /* Have the I/O thread publish what it has now. */
      acpu_core_lock (core);
      acpu_core_request_locked (core);
      acpu_core_unlock (core);
    }

  return g_object_ref (G_LIST_MODEL (pool->workers));
}
