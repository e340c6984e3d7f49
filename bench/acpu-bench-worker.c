/* acpu-bench-worker.c — the worker the benchmark runs.
 *
 * Tasks:
 *   trivial ()   -> (i) this worker's pid (so the bench can read its PSS)
 *   echo    any  -> its arguments, unchanged
 *   cpu     (t n) -> (t) acpu_bench_cpu (n), looking at the cancellable
 *                    every 2^20 rounds
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE /* SCHED_BATCH */
#include <stdlib.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <asynccpu-glib.h>

#include "acpu-bench-cpu.h"

static GVariant *
task_trivial (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  return g_variant_new ("(i)", (gint32) getpid ());
}

static GVariant *
task_echo (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  return g_variant_ref (args);
}

static GVariant *
task_cpu (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  guint64 n, left, x = 0;

  g_variant_get (args, "(t)", &n);
  for (left = n; left > 0;)
    {
      guint64 step = MIN (left, (guint64) 1 << 20);

      x ^= acpu_bench_cpu (step);
      left -= step;
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
    }
  return g_variant_new ("(t)", x);
}

int
main (int argc, char **argv)
{
  g_autoptr(ACpuWorker) worker = NULL;
  const char *nice_value = g_getenv ("ACPU_BENCH_WORKER_NICE");

  /* An experiment for docs/performance.md: workers below the caller's
   * priority, so the caller's loop wins a contended CPU. */
  if (nice_value != NULL)
    (void) setpriority (PRIO_PROCESS, 0, atoi (nice_value));
  /* The same, with SCHED_BATCH: no wakeup preemption of the caller. */
  if (g_getenv ("ACPU_BENCH_WORKER_BATCH") != NULL)
    {
      struct sched_param param = { 0 };

      (void) sched_setscheduler (0, g_str_equal (g_getenv ("ACPU_BENCH_WORKER_BATCH"), "idle")
                                      ? SCHED_IDLE : SCHED_BATCH, &param);
    }

  worker = acpu_worker_new ();

  acpu_worker_register (worker, "trivial", task_trivial, NULL, NULL);
  acpu_worker_register (worker, "echo", task_echo, NULL, NULL);
  acpu_worker_register (worker, "cpu", task_cpu, NULL, NULL);
  return acpu_worker_run (worker);
}
