/* test-worker-crash.c — a crash in a pipelined burst, through a real pool:
 * the tasks that finished before it keep their results (the worker writes
 * a reply before it runs the next task function, acpu-worker-runner.c).
 *
 * test-worker /replies-before-crash shows the worker's side byte by byte;
 * this is what a caller sees. Whether the pool pipelines a burst to one
 * worker depends on how long tasks have taken (its window), so each round
 * warms it up first and the test runs several rounds.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "acpu-test-util.h"

#define N_QUICK 8
#define N_ROUNDS 10

/* Before: quick tasks the worker had finished but not yet written failed
 * with ACPU_ERROR_WORKER_DIED, and those behind them ran twice (the test
 * failed 3 runs of 3, each in one of its first rounds). */
static void
test_crash_in_burst (void)
{
  ACpuProcessTaskPool *pool = acpu_test_pool_new (1);
  g_autoptr(GError) error = NULL;

  g_test_summary ("With one worker, quick tasks submitted together with one that crashes "
                  "the worker all succeed; only the crashing one fails, with "
                  "ACPU_ERROR_WORKER_DIED");

  for (guint round = 0; round < N_ROUNDS; round++)
    {
      AcpuTestResult quick[N_QUICK] = { { 0 } };
      AcpuTestResult crash = { 0 };

      /* Short tasks one after the other: the pool's window opens. */
      for (guint i = 0; i < 50; i++)
        {
          g_autoptr(GVariant) value = acpu_process_task_pool_run (pool, "echo",
                                                                  g_variant_new ("(u)", i),
                                                                  NULL, &error);
          g_assert_no_error (error);
        }

      for (guint i = 0; i < N_QUICK; i++)
        acpu_process_task_pool_run_async (pool, "echo", g_variant_new ("(u)", i), NULL,
                                          acpu_test_result_cb, &quick[i]);
      acpu_process_task_pool_run_async (pool, "crash", g_variant_new ("(s)", "kill"), NULL,
                                        acpu_test_result_cb, &crash);

      for (guint i = 0; i < N_QUICK; i++)
        {
          guint32 got;

          acpu_test_result_wait (&quick[i]);
          g_assert_no_error (quick[i].error);
          g_variant_get (quick[i].value, "(u)", &got);
          g_assert_cmpuint (got, ==, i);
          acpu_test_result_clear (&quick[i]);
        }
      acpu_test_result_wait (&crash);
      g_assert_error (crash.error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
      acpu_test_result_clear (&crash);
    }

  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
  g_object_unref (pool);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/worker-crash/burst", test_crash_in_burst);

  return g_test_run ();
}
