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
#include <time.h>
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

/* This thread's CPU time, user and system, in µs: what a loop costs,
 * whatever else the machine runs. */
static gint64
thread_cpu_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* progress-cpu (ttb steps, ops, report): @steps rounds of @ops of CPU work,
 * reporting progress after each round when @report; returns (tx): the
 * mix, and the CPU time the loop took in this thread, in µs (the writes of
 * progress frames included; another process's load not). */
static GVariant *
task_progress_cpu (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  ACpuWorker *worker = acpu_worker_get_running ();
  guint64 steps, ops, x = 0;
  gboolean report;
  gint64 start;

  g_variant_get (args, "(ttb)", &steps, &ops, &report);
  start = thread_cpu_us ();
  for (guint64 i = 0; i < steps; i++)
    {
      x ^= acpu_bench_cpu (ops);
      if (report)
        acpu_worker_report_progress (worker, (double) (i + 1) / steps, NULL);
    }
  return g_variant_new ("(tx)", x, thread_cpu_us () - start);
}

/* partials (uu n, size): sends @n partial values (u@ay) of @size bytes;
 * returns (u) n. */
static GVariant *
task_partials (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  ACpuWorker *worker = acpu_worker_get_running ();
  g_autofree guint8 *bytes = NULL;
  guint32 n, size;

  g_variant_get (args, "(uu)", &n, &size);
  bytes = g_malloc0 (MAX (size, 1));
  for (guint32 i = 0; i < n; i++)
    if (!acpu_worker_send_partial (worker,
                                   g_variant_new ("(u@ay)", i,
                                                  g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                                             bytes, size, 1)),
                                   error))
      return NULL;
  return g_variant_new ("(u)", n);
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
  acpu_worker_register (worker, "progress-cpu", task_progress_cpu, NULL, NULL);
  acpu_worker_register (worker, "partials", task_partials, NULL, NULL);
  return acpu_worker_run (worker);
}
