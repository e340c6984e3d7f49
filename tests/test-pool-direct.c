/* test-pool-direct.c: the direct path (acpu-pool-direct.c)
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A task submitted alone to an idle worker is written by the caller's thread
 * and its reply read in the caller's context, unless the I/O thread takes the
 * job over first. These tests make sure each task really went that way (they
 * look at the core, so they link the internal library) and then let
 * something else arrive while the caller waits for the reply: a cancel, the
 * worker's death, a log record, a shutdown — and, many times over, the I/O
 * thread itself, racing the caller for the claim.
 */

#include "config.h"

#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>

#include "acpu-pool-private.h"
#include "acpu-test-util.h"

/* Waits until the I/O thread offers an idle worker to callers and has
 * nothing else to look at: a caller does not take an offer while the I/O
 * thread has been asked to look at something (wake_pending), and the last
 * task's reply source may have asked it to take that task over just as it
 * answered (then the offer stands again before the I/O thread has woken). */
static void
wait_for_offer (ACpuProcessTaskPool *pool)
{
  ACpuPoolCore *core = pool->core;
  gboolean offered = FALSE;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  while (!offered && g_get_monotonic_time () < deadline)
    {
      acpu_core_lock (core);
      offered = core->offered != NULL && !core->wake_pending &&
                g_queue_is_empty (&core->incoming);
      acpu_core_unlock (core);
      if (!offered)
        g_usleep (1000);
    }
  g_assert_true (offered);
}

/* Submits @name with @args, which must go the direct way: the caller's
 * thread sends it itself (core->n_direct counts those). The I/O thread may
 * take the job over at any moment after that (the worker list's refresh
 * does, for one), which is what the direct path must survive, so the job's
 * state is not looked at. */
static void
run_direct (ACpuProcessTaskPool *pool,
            const char          *name,
            GVariant            *args,
            GCancellable        *cancellable,
            AcpuTestResult      *r)
{
  ACpuPoolCore *core = pool->core;
  guint64 before, after;

  wait_for_offer (pool);
  acpu_core_lock (core);
  before = core->n_direct;
  acpu_core_unlock (core);
  acpu_process_task_pool_run_async (pool, name, args, cancellable, acpu_test_result_cb, r);
  acpu_core_lock (core);
  after = core->n_direct;
  acpu_core_unlock (core);
  g_assert_cmpuint (after, ==, before + 1);
}

static void
test_direct_reply (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  AcpuTestResult r = { 0 };
  guint32 got;

  g_test_summary ("A task submitted alone to an idle worker goes the direct way, and "
                  "its reply, read in the caller's context, is the task's result");

  acpu_test_run_pid (pool);
  for (guint i = 0; i < 20; i++)
    {
      run_direct (pool, "echo", g_variant_new ("(u)", i), NULL, &r);
      acpu_test_result_wait (&r);
      g_assert_no_error (r.error);
      g_variant_get (r.value, "(u)", &got);
      g_assert_cmpuint (got, ==, i);
      g_assert_cmpuint (r.n_calls, ==, 1);
      acpu_test_result_clear (&r);
    }
  g_assert_cmpuint (acpu_process_task_pool_get_n_running (pool), ==, 0);
  acpu_test_shutdown_and_check (pool);
}

typedef struct
{
  GCancellable *cancellable;
  char         *path;
} CancelData;

/* Another thread: cancels once the task runs. */
static gpointer
cancel_when_running (gpointer data)
{
  CancelData *d = data;

  acpu_test_read_pid_file (d->path);
  g_cancellable_cancel (d->cancellable);
  return NULL;
}

static void
test_direct_cancel (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = acpu_test_temp_path ("direct-cancel");
  CancelData d = { cancellable, path };
  AcpuTestResult r = { 0 };
  GThread *thread;
  GPid pid;

  g_test_summary ("A cancel from another thread while the caller waits for a direct "
                  "reply: the I/O thread takes the job over, the task is cancelled "
                  "in its worker, and the worker goes on serving");

  pid = acpu_test_run_pid (pool);
  run_direct (pool, "wait-cancel", g_variant_new ("(s)", path), cancellable, &r);
  thread = g_thread_new ("canceller", cancel_when_running, &d);
  acpu_test_result_wait (&r);
  g_thread_join (thread);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (r.n_calls, ==, 1);
  acpu_test_result_clear (&r);
  g_assert_cmpint (acpu_test_run_pid (pool), ==, pid);

  g_unlink (path);
  acpu_test_shutdown_and_check (pool);
}

static void
test_direct_worker_death (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  AcpuTestResult r = { 0 };
  GPid pid;

  g_test_summary ("The worker dies while the caller waits for a direct reply: the "
                  "task fails with ACPU_ERROR_WORKER_DIED and its facts, once");

  pid = acpu_test_run_pid (pool);
  run_direct (pool, "crash", g_variant_new ("(s)", "segv"), NULL, &r);
  acpu_test_result_wait (&r);
  g_assert_error (r.error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_cmpuint (r.n_calls, ==, 1);
  g_assert_nonnull (r.exit);
  g_assert_cmpint (acpu_worker_exit_get_pid (r.exit), ==, pid);
  g_assert_cmpint (acpu_worker_exit_get_signal (r.exit), ==, SIGSEGV);
  acpu_test_result_clear (&r);
  g_assert_cmpint (acpu_test_run_pid (pool), !=, pid);

  acpu_test_shutdown_and_check (pool);
}

/* Log records as this process's writer saw them. */
static GMutex logs_lock;
static GPtrArray *logs;

static GLogWriterOutput
record_writer (GLogLevelFlags   log_level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0)
      {
        g_mutex_lock (&logs_lock);
        g_ptr_array_add (logs, g_strdup (fields[i].value));
        g_mutex_unlock (&logs_lock);
      }
  return G_LOG_WRITER_HANDLED;
}

static gboolean
logged (const char *message)
{
  gboolean found = FALSE;

  g_mutex_lock (&logs_lock);
  for (guint i = 0; i < logs->len && !found; i++)
    found = strcmp (g_ptr_array_index (logs, i), message) == 0;
  g_mutex_unlock (&logs_lock);
  return found;
}

static void
test_direct_log (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
      AcpuTestResult r = { 0 };
      GPid pid;

      logs = g_ptr_array_new_with_free_func (g_free);
      g_log_set_writer_func (record_writer, NULL, NULL);

      pid = acpu_test_run_pid (pool);
      run_direct (pool, "log", g_variant_new ("(s)", "before the reply"), NULL, &r);
      acpu_test_result_wait (&r);
      g_assert_no_error (r.error);
      g_assert_true (g_variant_is_of_type (r.value, G_VARIANT_TYPE_UNIT));
      g_assert_cmpuint (r.n_calls, ==, 1);
      acpu_test_result_clear (&r);
      g_assert_true (logged ("before the reply"));
      g_assert_cmpint (acpu_test_run_pid (pool), ==, pid);

      acpu_test_shutdown_and_check (pool);
      g_ptr_array_unref (logs);
      return;
    }

  g_test_summary ("A log record arriving before a direct reply: the I/O thread takes "
                  "the job over, relays the record, and returns the result once");
  /* In a child: the writer function can be set only once per process. */
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_direct_shutdown (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  AcpuTestResult r = { 0 }, cancelled = { 0 };
  g_autoptr(GError) error = NULL;

  g_test_summary ("A shutdown while the caller waits for a direct reply: a plain one "
                  "lets the task finish; one that cancels fails it with "
                  "G_IO_ERROR_CANCELLED; either way each callback runs once and no "
                  "worker is left");

  acpu_test_run_pid (pool);
  run_direct (pool, "sleep", g_variant_new ("(u)", 100), NULL, &r);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
  acpu_test_result_wait (&r);
  g_assert_no_error (r.error);
  g_assert_cmpuint (r.n_calls, ==, 1);
  acpu_test_result_clear (&r);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);

  g_clear_object (&pool);
  pool = acpu_test_pool_new (1);
  acpu_test_run_pid (pool);
  run_direct (pool, "sleep", g_variant_new ("(u)", 60000), NULL, &cancelled);
  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, TRUE);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  acpu_test_result_wait (&cancelled);
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (cancelled.n_calls, ==, 1);
  acpu_test_result_clear (&cancelled);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

/* Another thread: makes the I/O thread look again and again (a setting's
 * change is a request), so that it takes DIRECT jobs over while callers
 * read their replies. */
static gpointer
poke_io_thread (gpointer data)
{
  ACpuProcessTaskPool *pool = data;
  gint *stop = g_object_get_data (G_OBJECT (pool), "stop");

  for (guint i = 0; !g_atomic_int_get (stop); i++)
    {
      acpu_process_task_pool_set_idle_timeout (pool, 30000 + (i & 1));
      g_usleep (50);
    }
  return NULL;
}

static void
test_direct_claim_race (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  gint stop = 0;
  GThread *poker;
  guint n = 2000;

  g_test_summary ("The caller and the I/O thread race for direct replies thousands of "
                  "times: every task is answered once, with its own value, whoever "
                  "wins the claim");

  acpu_test_run_pid (pool);
  g_object_set_data (G_OBJECT (pool), "stop", &stop);
  poker = g_thread_new ("poker", poke_io_thread, pool);

  for (guint i = 0; i < n; i++)
    {
      AcpuTestResult r = { 0 };
      guint32 got;

      acpu_process_task_pool_run_async (pool, "echo", g_variant_new ("(u)", i), NULL,
                                        acpu_test_result_cb, &r);
      acpu_test_result_wait (&r);
      g_assert_no_error (r.error);
      g_assert_cmpuint (r.n_calls, ==, 1);
      g_variant_get (r.value, "(u)", &got);
      g_assert_cmpuint (got, ==, i);
      acpu_test_result_clear (&r);
    }

  g_atomic_int_set (&stop, 1);
  g_thread_join (poker);
  g_assert_cmpuint (acpu_process_task_pool_get_n_running (pool), ==, 0);
  g_assert_cmpuint (acpu_process_task_pool_get_n_queued (pool), ==, 0);
  acpu_test_shutdown_and_check (pool);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/pool/direct/reply", test_direct_reply);
  g_test_add_func ("/acpu/pool/direct/cancel", test_direct_cancel);
  g_test_add_func ("/acpu/pool/direct/worker-death", test_direct_worker_death);
  g_test_add_func ("/acpu/pool/direct/log", test_direct_log);
  g_test_add_func ("/acpu/pool/direct/shutdown", test_direct_shutdown);
  g_test_add_func ("/acpu/pool/direct/claim-race", test_direct_claim_race);

  return g_test_run ();
}
