/* acpu-pool-source.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Worker sources: where the pool starts its workers, each with a launcher
 * (none: here) and a capacity. The local source comes first, so work stays
 * here while here has room; then the others, in the order they were added.
 *
 * A source that fails to start a worker (ssh to a host that is down, srun
 * with no allocation) waits before it is tried again, doubling the wait at
 * each failure in a row, as long as another source can take the work: the
 * failure is logged, and no task fails for it. When no other source can,
 * the failure is the tasks' (acpu-pool-slot.c), as it always was for a pool
 * whose only worker program cannot start.
 */

#include "config.h"

#include "acpu-launcher-private.h"
#include "acpu-pool-private.h"

/* Any thread. */
ACpuSource *
acpu_source_new (ACpuLauncher *launcher,
                 guint         capacity)
{
  ACpuSource *source = g_new0 (ACpuSource, 1);

  if (launcher != NULL)
    {
      acpu_launcher_freeze (launcher);
      source->launcher = g_object_ref (launcher);
      source->description = acpu_launcher_describe (launcher);
    }
  else
    source->description = g_strdup ("this machine");
  source->capacity = capacity;
  return source;
}

/* Any thread, once no slot has it. */
void
acpu_source_free (ACpuSource *source)
{
  g_clear_object (&source->launcher);
  g_free (source->description);
  g_free (source);
}

/* [io] */
guint
acpu_source_get_capacity (ACpuPoolCore *core,
                          ACpuSource   *source)
{
  if (source->launcher == NULL && source == g_ptr_array_index (core->sources, 0))
    return g_atomic_int_get (&core->local_off) ? 0 : g_atomic_int_get (&core->max_workers);
  return source->capacity;
}

/* [io], takes core->lock: moves the sources callers added to the I/O
 * thread's list. */
static void
core_take_new_sources (ACpuPoolCore *core)
{
  acpu_core_lock (core);
  while (core->new_sources->len > 0)
    g_ptr_array_add (core->sources, g_ptr_array_steal_index (core->new_sources, 0));
  acpu_core_unlock (core);
}

/* [io]: whether @source has room and may be tried now. */
static gboolean
source_can_start (ACpuPoolCore *core,
                  ACpuSource   *source,
                  gint64        now)
{
  return source->n_slots < acpu_source_get_capacity (core, source) && source->retry_time <= now;
}

/* [io], takes core->lock. */
ACpuSource *
acpu_core_pick_source (ACpuPoolCore *core)
{
  gint64 now = g_get_monotonic_time ();

  ACPU_ASSERT_IO_THREAD ();

  core_take_new_sources (core);

  for (guint i = 0; i < core->sources->len; i++)
    {
      ACpuSource *source = g_ptr_array_index (core->sources, i);

      if (source_can_start (core, source, now))
        return source;
    }

  /* Nothing runs and every source with room is waiting to retry: try one
   * anyway, so that tasks do not wait for ever; its failure is theirs. */
  if (core->slots->len == 0)
    for (guint i = 0; i < core->sources->len; i++)
      {
        ACpuSource *source = g_ptr_array_index (core->sources, i);

        if (source->n_slots < acpu_source_get_capacity (core, source))
          return source;
      }

  return NULL;
}

/* [io] */
gboolean
acpu_source_start_failed (ACpuPoolCore *core,
                          ACpuSource   *source,
                          const GError *error)
{
  gint64 now = g_get_monotonic_time ();
  guint shift = MIN (source->failures, 6);
  gint64 delay_ms = MIN ((gint64) ACPU_POOL_SOURCE_RETRY_MS << shift, ACPU_POOL_SOURCE_RETRY_MAX_MS);
  gboolean others = FALSE;

  ACPU_ASSERT_IO_THREAD ();

  source->failures++;
  source->retry_time = now + delay_ms * 1000;

  for (guint i = 0; i < core->slots->len && !others; i++)
    {
      ACpuSlot *slot = g_ptr_array_index (core->slots, i);

      others = slot->source != source && !slot->closing;
    }
  for (guint i = 0; i < core->sources->len && !others; i++)
    {
      ACpuSource *other = g_ptr_array_index (core->sources, i);

      others = other != source && source_can_start (core, other, now);
    }

  if (others)
    g_message ("Worker source “%s” could not start a worker (tried again in %u s, other "
               "sources take the work meanwhile): %s", source->description,
               (guint) (delay_ms / 1000), error->message);
  return others;
}

/* [io] */
void
acpu_source_started (ACpuSource *source)
{
  source->failures = 0;
  source->retry_time = 0;
}
