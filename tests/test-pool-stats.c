/* test-pool-stats.c: a pool's statistics, its worker model, cancel-all and
 * worker priority (acpu-pool-stats.c, acpu-worker-info.c)
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <sched.h>
#include <string.h>

#include <glib/gstdio.h>

#include "acpu-test-util.h"

/* Iterates the thread-default context until @cond (an expression) holds,
 * waking at least every 10 ms; fails after 30 s. */
#define ITERATE_UNTIL(cond)                                                 \
  G_STMT_START {                                                            \
    gint64 _end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;            \
    while (!(cond))                                                         \
      {                                                                     \
        GSource *_tick = g_timeout_source_new (10);                         \
        g_source_set_callback (_tick, G_SOURCE_FUNC (g_source_remove_tick), \
                               NULL, NULL);                                 \
        g_source_attach (_tick, g_main_context_get_thread_default ());      \
        g_main_context_iteration (g_main_context_get_thread_default (), TRUE); \
        g_source_destroy (_tick);                                           \
        g_source_unref (_tick);                                             \
        g_assert_cmpint (g_get_monotonic_time (), <, _end);                 \
      }                                                                     \
  } G_STMT_END

static gboolean
g_source_remove_tick (gpointer user_data)
{
  return G_SOURCE_REMOVE;
}

/* The sum that every snapshot must keep. */
static void
assert_stats_consistent (ACpuPoolStats *stats)
{
  g_assert_cmpuint (acpu_pool_stats_get_submitted (stats), ==,
                    acpu_pool_stats_get_succeeded (stats) + acpu_pool_stats_get_failed (stats) +
                    acpu_pool_stats_get_cancelled (stats) + acpu_pool_stats_get_n_queued (stats) +
                    acpu_pool_stats_get_n_running (stats));
}

static void
test_stats_counters (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (2);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(ACpuPoolStats) stats = NULL;
  g_autoptr(ACpuPoolStats) after = NULL;
  AcpuTestResult results[11] = { { 0 } };
  guint done;

  g_test_summary ("The counters count each outcome once: succeeded, failed (an error, a "
                  "crash), cancelled; workers started and died; the summaries are ordered; "
                  "a reset starts again from zero");

  for (guint i = 0; i < 6; i++)
    acpu_process_task_pool_run_async (pool, "echo", g_variant_new ("(u)", i), NULL,
                                      acpu_test_result_cb, &results[i]);
  for (guint i = 6; i < 8; i++)
    acpu_process_task_pool_run_async (pool, "error", g_variant_new ("(sis)", "test-error", 7, "boom"),
                                      NULL, acpu_test_result_cb, &results[i]);

  stats = acpu_process_task_pool_get_stats (pool);
  assert_stats_consistent (stats);
  g_assert_cmpuint (acpu_pool_stats_get_submitted (stats), ==, 8);
  ITERATE_UNTIL (({ done = 0; for (guint i = 0; i < 8; i++) done += results[i].n_calls; done == 8; }));

  /* A crash, alone (one that follows others in a worker's pipeline may be
   * blamed on them: see the report), then two sleepers, cancelled. */
  acpu_process_task_pool_run_async (pool, "crash", g_variant_new ("(s)", "segv"), NULL,
                                    acpu_test_result_cb, &results[8]);
  acpu_test_result_wait (&results[8]);
  for (guint i = 9; i < 11; i++)
    acpu_process_task_pool_run_async (pool, "sleep", g_variant_new ("(u)", 60000), cancellable,
                                      acpu_test_result_cb, &results[i]);
  ITERATE_UNTIL (acpu_process_task_pool_get_n_running (pool) == 2);
  g_cancellable_cancel (cancellable);
  ITERATE_UNTIL (results[9].n_calls == 1 && results[10].n_calls == 1);

  g_clear_object (&stats);
  stats = acpu_process_task_pool_get_stats (pool);
  assert_stats_consistent (stats);
  g_assert_cmpuint (acpu_pool_stats_get_submitted (stats), ==, 11);
  g_assert_cmpuint (acpu_pool_stats_get_succeeded (stats), ==, 6);
  g_assert_cmpuint (acpu_pool_stats_get_failed (stats), ==, 3);
  g_assert_cmpuint (acpu_pool_stats_get_cancelled (stats), ==, 2);
  g_assert_cmpuint (acpu_pool_stats_get_n_queued (stats), ==, 0);
  g_assert_cmpuint (acpu_pool_stats_get_n_running (stats), ==, 0);
  g_assert_cmpuint (acpu_pool_stats_get_worker_starts (stats), >=, 2);
  g_assert_cmpuint (acpu_pool_stats_get_worker_deaths (stats), >=, 1);
  g_assert_cmpfloat (acpu_pool_stats_get_run_time (stats, 50), >, 0);
  g_assert_cmpfloat (acpu_pool_stats_get_run_time (stats, 50), <=,
                     acpu_pool_stats_get_run_time (stats, 90));
  g_assert_cmpfloat (acpu_pool_stats_get_run_time (stats, 90), <=,
                     acpu_pool_stats_get_run_time (stats, 99));
  g_assert_cmpfloat (acpu_pool_stats_get_run_time (stats, 99), <=,
                     acpu_pool_stats_get_run_time (stats, 100));
  g_assert_cmpfloat (acpu_pool_stats_get_wait_time (stats, 99), <=,
                     acpu_pool_stats_get_wait_time (stats, 100));
  g_assert_cmpfloat (acpu_pool_stats_get_elapsed (stats), >, 0);
  g_assert_cmpfloat (acpu_pool_stats_get_utilization (stats), >, 0);
  g_assert_cmpfloat (acpu_pool_stats_get_utilization (stats), <=, 1);
  g_assert_true (g_error_matches (results[8].error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED));
  g_assert_true (g_error_matches (results[9].error, G_IO_ERROR, G_IO_ERROR_CANCELLED));

  /* The properties say the same as the getters. */
  {
    guint64 succeeded;
    double run_max;

    g_object_get (stats, "succeeded", &succeeded, "run-max", &run_max, NULL);
    g_assert_cmpuint (succeeded, ==, 6);
    g_assert_cmpfloat (run_max, ==, acpu_pool_stats_get_run_time (stats, 100));
  }

  acpu_process_task_pool_reset_stats (pool);
  after = acpu_process_task_pool_get_stats (pool);
  assert_stats_consistent (after);
  g_assert_cmpuint (acpu_pool_stats_get_submitted (after), ==, 0);
  g_assert_cmpuint (acpu_pool_stats_get_succeeded (after), ==, 0);
  g_assert_cmpuint (acpu_pool_stats_get_worker_deaths (after), ==, 0);
  g_assert_cmpfloat (acpu_pool_stats_get_run_time (after, 100), ==, 0);
  g_assert_cmpfloat (acpu_pool_stats_get_run_time (after, 50), ==, 0);
  /* The old snapshot did not change. */
  g_assert_cmpuint (acpu_pool_stats_get_succeeded (stats), ==, 6);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    acpu_test_result_clear (&results[i]);
  acpu_test_shutdown (pool);
}

typedef struct
{
  ACpuProcessTaskPool *pool;
  gint                 stop;
  guint                n_snapshots;
  guint                n_moving;   /* snapshots with tasks both queued and running */
} SnapshotData;

static gpointer
snapshot_thread (gpointer user_data)
{
  SnapshotData *data = user_data;

  while (!g_atomic_int_get (&data->stop))
    {
      g_autoptr(ACpuPoolStats) stats = acpu_process_task_pool_get_stats (data->pool);

      assert_stats_consistent (stats);
      data->n_snapshots++;
      data->n_moving += acpu_pool_stats_get_n_queued (stats) > 0 &&
                        acpu_pool_stats_get_n_running (stats) > 0;
    }
  return NULL;
}

static void
count_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  guint *n = user_data;

  g_autoptr(ACpuPoolStats) stats = NULL;

  value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &error);
  g_assert_no_error (error);
  (*n)++;

  /* A task is counted before its callback runs: the pool counts results
   * a batch at a time, and does so before it hands the batch over. */
  stats = acpu_process_task_pool_get_stats (ACPU_PROCESS_TASK_POOL (object));
  assert_stats_consistent (stats);
  g_assert_cmpuint (acpu_pool_stats_get_succeeded (stats), >=, *n);
}

static void
test_stats_consistent (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (2);
  SnapshotData data = { pool, 0, 0, 0 };
  GThread *thread;
  guint n = 0;

  g_test_summary ("Snapshots taken from another thread while tasks flow never show a "
                  "task in no state: submitted == succeeded + failed + cancelled + queued "
                  "+ running, every time (a job moving from the queue to a worker is one "
                  "atomic step), and a task's callback finds it counted");

  thread = g_thread_new ("snapshots", snapshot_thread, &data);
  for (guint round = 0; round < 20; round++)
    {
      guint target = n + 50;

      for (guint i = 0; i < 50; i++)
        acpu_process_task_pool_run_async (pool, "sleep", g_variant_new ("(u)", i % 3), NULL,
                                          count_cb, &n);
      ITERATE_UNTIL (n == target);
    }
  g_atomic_int_set (&data.stop, 1);
  g_thread_join (thread);

  g_test_message ("%u snapshots, %u with tasks both queued and running", data.n_snapshots,
                  data.n_moving);
  g_assert_cmpuint (data.n_snapshots, >, 0);
  acpu_test_shutdown (pool);
}

static void
test_cancel_all (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (2);
  g_autoptr(ACpuPoolStats) stats = NULL;
  AcpuTestResult results[6] = { { 0 } };
  AcpuTestResult later = { 0 };
  guint done;

  g_test_summary ("cancel_all() completes every queued and running task with "
                  "G_IO_ERROR_CANCELLED, and the pool runs the next task as usual");

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    acpu_process_task_pool_run_async (pool, "sleep", g_variant_new ("(u)", 60000), NULL,
                                      acpu_test_result_cb, &results[i]);
  ITERATE_UNTIL (acpu_process_task_pool_get_n_running (pool) == 2);

  acpu_process_task_pool_cancel_all (pool);
  ITERATE_UNTIL (({ done = 0; for (guint i = 0; i < 6; i++) done += results[i].n_calls; done == 6; }));
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_assert_cmpuint (results[i].n_calls, ==, 1);
      g_assert_error (results[i].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }

  acpu_process_task_pool_run_async (pool, "echo", g_variant_new ("(s)", "still here"), NULL,
                                    acpu_test_result_cb, &later);
  acpu_test_result_wait (&later);
  g_assert_no_error (later.error);
  acpu_test_assert_prints (later.value, "('still here',)");

  stats = acpu_process_task_pool_get_stats (pool);
  g_assert_cmpuint (acpu_pool_stats_get_cancelled (stats), ==, 6);
  g_assert_cmpuint (acpu_pool_stats_get_succeeded (stats), ==, 1);
  assert_stats_consistent (stats);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    acpu_test_result_clear (&results[i]);
  acpu_test_result_clear (&later);
  acpu_test_shutdown (pool);
}

/* The item of @model with @pid, or NULL. */
static ACpuWorkerInfo *
find_worker (GListModel *model,
             GPid        pid)
{
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (model, i);

      if (acpu_worker_info_get_pid (info) == pid)
        return info;
    }
  return NULL;
}

static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  gpointer    user_data)
{
  GThread **thread = user_data;

  *thread = g_thread_self ();
}

/* A worker that has done a task shows its CPU time when its tasks-done
 * count changes, not only at the model's once-a-second read (a fresh
 * worker's row said "1 done, 0.00 s"). The task burns a few tenths of a
 * second of CPU, so the read at the worker's start is older than the
 * 100 ms limit by then. (The model's timer fires 1 s after the model is
 * made: on a machine slow enough to take that long, this passes either
 * way.) */
/* The tasks done by the first worker of @workers, which goes to @info (0
 * without one). */
static guint
first_worker_tasks_done (GListModel      *workers,
                         ACpuWorkerInfo **info)
{
  g_clear_object (info);
  if (g_list_model_get_n_items (workers) == 0)
    return 0;
  *info = g_list_model_get_item (workers, 0);
  return acpu_worker_info_get_tasks_done (*info);
}

static void
test_workers_cpu_after_task (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(GListModel) workers = acpu_process_task_pool_get_workers (pool);
  g_autoptr(ACpuWorkerInfo) info = NULL;
  AcpuTestResult r = { 0 };
  gint64 start = g_get_monotonic_time ();

  acpu_process_task_pool_run_async (pool, "burn",
                                    g_variant_new ("(ut)", 150 * 1000 * 1000,
                                                   (guint64) 88172645463325252),
                                    NULL, acpu_test_result_cb, &r);
  acpu_test_result_wait (&r);
  g_assert_no_error (r.error);
  acpu_test_result_clear (&r);
  ITERATE_UNTIL (first_worker_tasks_done (workers, &info) == 1);
  g_test_message ("after %.2f s: %.2f s of CPU", (g_get_monotonic_time () - start) / 1e6,
                  acpu_worker_info_get_cpu_time (info));
  g_assert_cmpfloat (acpu_worker_info_get_cpu_time (info), >, 0.0);
  acpu_test_shutdown (pool);
}

static void
test_workers_model (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (2);
  g_autoptr(GListModel) workers = acpu_process_task_pool_get_workers (pool);
  g_autoptr(GListModel) again = acpu_process_task_pool_get_workers (pool);
  g_autofree char *dir = g_dir_make_tmp ("acpu-stats-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "pid", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  AcpuTestResult busy = { 0 }, quick = { 0 };
  GThread *changed_in = NULL;
  ACpuWorkerInfo *info;
  GPid pid;

  g_test_summary ("The worker model has one item per live worker, changed in the pool "
                  "creator's context: busy with its task's name while it runs one, idle "
                  "after with its tasks counted, its RSS read from /proc; empty once the "
                  "workers are gone");

  g_assert_true (workers == again);
  g_assert_true (g_list_model_get_item_type (workers) == ACPU_TYPE_WORKER_INFO);
  g_signal_connect (workers, "items-changed", G_CALLBACK (items_changed_cb), &changed_in);

  acpu_process_task_pool_run_async (pool, "wait-cancel", g_variant_new ("(s)", path), cancellable,
                                    acpu_test_result_cb, &busy);
  ITERATE_UNTIL (g_file_get_contents (path, &contents, NULL, NULL) && *contents != '\0');
  pid = (GPid) g_ascii_strtoll (contents, NULL, 10);

  ITERATE_UNTIL ((info = find_worker (workers, pid)) != NULL &&
                 acpu_worker_info_get_state (info) == ACPU_WORKER_STATE_BUSY);
  g_assert_true (changed_in == g_thread_self ());
  g_assert_cmpstr (acpu_worker_info_get_task_name (info), ==, "wait-cancel");
  g_assert_cmpuint (acpu_worker_info_get_rss (info), >, 0);
  g_assert_cmpuint (g_list_model_get_n_items (workers), ==,
                    acpu_process_task_pool_get_n_workers (pool));

  g_cancellable_cancel (cancellable);
  acpu_test_result_wait (&busy);
  ITERATE_UNTIL ((info = find_worker (workers, pid)) != NULL &&
                 acpu_worker_info_get_state (info) == ACPU_WORKER_STATE_IDLE &&
                 acpu_worker_info_get_tasks_done (info) == 1);
  g_assert_null (acpu_worker_info_get_task_name (info));

  /* The next one runs on the idle worker (the direct path): counted too. */
  acpu_process_task_pool_run_async (pool, "echo", NULL, NULL, acpu_test_result_cb, &quick);
  acpu_test_result_wait (&quick);
  g_assert_no_error (quick.error);
  ITERATE_UNTIL ((info = find_worker (workers, pid)) != NULL &&
                 acpu_worker_info_get_tasks_done (info) == 2 &&
                 acpu_worker_info_get_state (info) == ACPU_WORKER_STATE_IDLE);

  /* Every item is a live process of ours. */
  for (guint i = 0; i < g_list_model_get_n_items (workers); i++)
    {
      g_autoptr(ACpuWorkerInfo) item = g_list_model_get_item (workers, i);

      g_assert_cmpint (kill (acpu_worker_info_get_pid (item), 0), ==, 0);
    }

  acpu_test_shutdown (pool);
  ITERATE_UNTIL (g_list_model_get_n_items (workers) == 0);

  acpu_test_result_clear (&busy);
  acpu_test_result_clear (&quick);
  g_unlink (path);
  g_rmdir (dir);
}

/* Field @n (1-based, as proc(5) counts) of /proc/@pid/stat. */
static long long
proc_stat_field (GPid pid,
                 guint n)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  g_auto(GStrv) fields = NULL;
  const char *p;

  g_assert_true (g_file_get_contents (path, &stat, NULL, NULL));
  p = strrchr (stat, ')');
  g_assert_nonnull (p);
  fields = g_strsplit (p + 2, " ", -1);
  g_assert_cmpuint (g_strv_length (fields), >=, n - 2);
  return g_ascii_strtoll (fields[n - 3], NULL, 10);
}

static void
test_worker_priority (void)
{
  static const struct { ACpuWorkerPriority priority; int nice; int policy; } cases[] = {
    { ACPU_WORKER_PRIORITY_NORMAL, 0, SCHED_OTHER },
    { ACPU_WORKER_PRIORITY_NICE, 10, SCHED_OTHER },
    { ACPU_WORKER_PRIORITY_BATCH, 10, SCHED_BATCH },
    { ACPU_WORKER_PRIORITY_IDLE, -1, SCHED_IDLE },
  };

  g_test_summary ("worker-priority sets each new worker's niceness and scheduling policy, "
                  "as /proc/PID/stat shows them");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
      g_autoptr(GVariant) value = NULL;
      g_autoptr(GError) error = NULL;
      ACpuWorkerPriority got;
      gint32 pid;

      g_object_set (pool, "worker-priority", cases[i].priority, NULL);
      g_object_get (pool, "worker-priority", &got, NULL);
      g_assert_cmpint (got, ==, cases[i].priority);

      value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
      g_assert_no_error (error);
      g_variant_get (value, "(i)", &pid);

      /* Field 19 is the niceness, 41 the policy. */
      if (cases[i].nice >= 0)
        g_assert_cmpint (proc_stat_field (pid, 19), ==, cases[i].nice);
      g_assert_cmpint (proc_stat_field (pid, 41), ==, cases[i].policy);
      acpu_test_shutdown (pool);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/pool/stats/counters", test_stats_counters);
  g_test_add_func ("/acpu/pool/stats/consistent", test_stats_consistent);
  g_test_add_func ("/acpu/pool/cancel-all", test_cancel_all);
  g_test_add_func ("/acpu/pool/workers/model", test_workers_model);
  g_test_add_func ("/acpu/pool/workers/cpu-after-task", test_workers_cpu_after_task);
  g_test_add_func ("/acpu/pool/worker-priority", test_worker_priority);

  return g_test_run ();
}
