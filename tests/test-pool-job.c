/* test-pool-job.c: job states (acpu-pool-job.c) and the threading contract
 * (acpu-checks-private.h)
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "acpu-pool-private.h"
#include "acpu-test-util.h"

/* Every path a job can take, in order: each must pass the checks. */
static void
test_job_legal_paths (void)
{
  static const ACpuJobState paths[][6] = {
    { ACPU_JOB_INCOMING, ACPU_JOB_QUEUED, ACPU_JOB_RUNNING, ACPU_JOB_DONE },
    { ACPU_JOB_INCOMING, ACPU_JOB_QUEUED, ACPU_JOB_RUNNING, ACPU_JOB_ABANDONED, ACPU_JOB_DONE },
    { ACPU_JOB_INCOMING, ACPU_JOB_QUEUED, ACPU_JOB_RUNNING, ACPU_JOB_QUEUED, ACPU_JOB_RUNNING,
      ACPU_JOB_DONE },
    { ACPU_JOB_INCOMING, ACPU_JOB_QUEUED, ACPU_JOB_DONE },
    { ACPU_JOB_INCOMING, ACPU_JOB_DONE },
    { ACPU_JOB_DIRECT, ACPU_JOB_DONE },
    { ACPU_JOB_DIRECT, ACPU_JOB_RUNNING, ACPU_JOB_ABANDONED, ACPU_JOB_DONE },
    { ACPU_JOB_DONE },
  };

  g_test_summary ("Every arrow of the job state drawing passes acpu_job_set_state()");

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      ACpuJob *job = acpu_job_new ("echo", NULL);

      g_assert_cmpint (job->state, ==, ACPU_JOB_NEW);
      for (guint j = 0; j < G_N_ELEMENTS (paths[i]) && (j == 0 || paths[i][j] != 0); j++)
        {
          acpu_job_set_state (job, paths[i][j]);
          g_assert_cmpint (job->state, ==, paths[i][j]);
          if (paths[i][j] == ACPU_JOB_DONE)
            break;
        }
      g_assert_cmpint (job->state, ==, ACPU_JOB_DONE);
      acpu_job_free (job);
    }
}

static void
test_job_illegal (void)
{
  static const struct { ACpuJobState via; ACpuJobState to; } cases[] = {
    { ACPU_JOB_NEW, ACPU_JOB_RUNNING },        /* never sent without a list */
    { ACPU_JOB_INCOMING, ACPU_JOB_RUNNING },   /* skips the queue */
    { ACPU_JOB_DIRECT, ACPU_JOB_QUEUED },      /* the caller's send is not undone */
    { ACPU_JOB_DONE, ACPU_JOB_QUEUED },        /* nothing comes back */
  };

  g_test_summary ("With checks on, a transition that is not in the drawing aborts, "
                  "naming both states");

  if (!ACPU_CHECKS_ENABLED)
    {
      g_test_skip ("built without ACPU_ENABLE_CHECKS (a release build)");
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/acpu/pool/job/illegal/subprocess/%u", i);

      g_test_trap_subprocess (path, 0, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_failed ();
      g_test_trap_assert_stderr ("*cannot go from*");
    }
}

static void
test_job_illegal_child (gconstpointer data)
{
  static const struct { ACpuJobState via; ACpuJobState to; } cases[] = {
    { ACPU_JOB_NEW, ACPU_JOB_RUNNING },
    { ACPU_JOB_INCOMING, ACPU_JOB_RUNNING },
    { ACPU_JOB_DIRECT, ACPU_JOB_QUEUED },
    { ACPU_JOB_DONE, ACPU_JOB_QUEUED },
  };
  guint i = GPOINTER_TO_UINT (data);
  ACpuJob *job = acpu_job_new ("echo", NULL);

  if (cases[i].via != ACPU_JOB_NEW)
    acpu_job_set_state (job, cases[i].via);
  acpu_job_set_state (job, cases[i].to);
  g_assert_not_reached ();
}

/* The I/O thread: did it see itself as the I/O thread? */
static gboolean
check_on_io_thread (gpointer data)
{
  ACPU_ASSERT_IO_THREAD ();
  g_atomic_int_set ((gint *) data, 1);
  return G_SOURCE_REMOVE;
}

static void
test_contract_io_thread (void)
{
  gint ran = 0;

  g_test_summary ("ACPU_ASSERT_IO_THREAD() passes on the I/O thread and, with checks "
                  "on, aborts anywhere else; acpu_core_absorb() (I/O thread only) "
                  "aborts when a caller's thread runs it");

  g_main_context_invoke (acpu_io_get_context (), check_on_io_thread, &ran);
  ACPU_TEST_WAIT_FOR (g_atomic_int_get (&ran), 30);

  if (!ACPU_CHECKS_ENABLED)
    {
      g_test_skip ("built without ACPU_ENABLE_CHECKS (a release build)");
      return;
    }

  g_test_trap_subprocess ("/acpu/pool/contract/io-thread/subprocess", 0,
                          G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*g_main_context_is_owner*");
}

static void
test_contract_io_thread_child (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);

  /* From the test's own thread: must abort. */
  acpu_core_absorb (pool->core);
  g_assert_not_reached ();
}

static void
test_contract_lock (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);

  g_test_summary ("With checks on, a _locked function called without core->lock "
                  "aborts; with the lock it passes");

  acpu_core_lock (pool->core);
  ACPU_ASSERT_LOCKED (pool->core);
  acpu_core_unlock (pool->core);
  ACPU_ASSERT_UNLOCKED (pool->core);

  if (!ACPU_CHECKS_ENABLED)
    {
      g_test_skip ("built without ACPU_ENABLE_CHECKS (a release build)");
      return;
    }

  g_test_trap_subprocess ("/acpu/pool/contract/lock/subprocess", 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*lock_owner*");
}

static void
test_contract_lock_child (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);

  acpu_core_request_locked (pool->core);
  g_assert_not_reached ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/pool/job/legal-paths", test_job_legal_paths);
  g_test_add_func ("/acpu/pool/job/illegal", test_job_illegal);
  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *path = g_strdup_printf ("/acpu/pool/job/illegal/subprocess/%u", i);

      g_test_add_data_func (path, GUINT_TO_POINTER (i), test_job_illegal_child);
    }
  g_test_add_func ("/acpu/pool/contract/io-thread", test_contract_io_thread);
  g_test_add_func ("/acpu/pool/contract/io-thread/subprocess", test_contract_io_thread_child);
  g_test_add_func ("/acpu/pool/contract/lock", test_contract_lock);
  g_test_add_func ("/acpu/pool/contract/lock/subprocess", test_contract_lock_child);

  return g_test_run ();
}
