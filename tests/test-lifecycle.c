/* test-lifecycle.c — limits, worker lifecycle and diagnostics.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <glib-unix.h>

#include "acpu-test-util.h"

static void
test_task_timeout (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autofree char *path = acpu_test_temp_path ("timeout-pid");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GPid pid;

  g_test_summary ("A task that runs past task-timeout fails with "
                  "G_IO_ERROR_TIMED_OUT and its worker is killed like a cancel");

  g_object_set (pool, "task-timeout", 200, "cancel-grace-period", 50, NULL);

  value = acpu_process_task_pool_run (pool, "sleep", g_variant_new ("(u)", 5), NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&value, g_variant_unref);

  value = acpu_process_task_pool_run (pool, "spin", g_variant_new ("(s)", path), NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_nonnull (strstr (error->message, "“spin”"));
  pid = acpu_test_read_pid_file (path);
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (pid), 30);
  g_assert_cmpint (acpu_test_run_pid (pool), !=, pid);

  acpu_test_shutdown_and_check (pool);
}

static void
test_max_queued (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autofree char *path = acpu_test_temp_path ("queued-pid");
  AcpuTestResult running = { 0 }, queued[2] = { 0 }, refused = { 0 };

  g_test_summary ("Past max-queued, run_async() fails with ACPU_ERROR_QUEUE_FULL "
                  "and the tasks already queued are unharmed");

  acpu_process_task_pool_set_max_queued (pool, 2);
  acpu_process_task_pool_run_async (pool, "spin", g_variant_new ("(s)", path), NULL,
                                    acpu_test_result_cb, &running);
  acpu_test_read_pid_file (path);
  for (guint i = 0; i < 2; i++)
    acpu_process_task_pool_run_async (pool, "echo", NULL, NULL, acpu_test_result_cb, &queued[i]);
  acpu_process_task_pool_run_async (pool, "echo", NULL, NULL, acpu_test_result_cb, &refused);

  acpu_test_result_wait (&refused);
  g_assert_error (refused.error, ACPU_ERROR, ACPU_ERROR_QUEUE_FULL);
  g_assert_cmpuint (acpu_process_task_pool_get_n_queued (pool), ==, 2);

  acpu_test_shutdown_and_check (pool);
  for (guint i = 0; i < 2; i++)
    {
      acpu_test_result_wait (&queued[i]);
      g_assert_error (queued[i].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      acpu_test_result_clear (&queued[i]);
    }
  acpu_test_result_wait (&running);
  acpu_test_result_clear (&running);
  acpu_test_result_clear (&refused);
}

static void
test_memory_limit (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A worker that exceeds worker-memory-limit fails its task with "
                  "ACPU_ERROR_WORKER_DIED saying so; the pool goes on");

#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("AddressSanitizer needs more address space than any limit allows");
  return;
#endif

  pool = acpu_test_pool_new (1);
  acpu_process_task_pool_set_worker_memory_limit (pool, 512 * 1024 * 1024);
  value = acpu_process_task_pool_run (pool, "bytes", g_variant_new ("(t)", (guint64) 1 << 31),
                                      NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "memory limit"));

  g_assert_cmpint (acpu_test_run_pid (pool), >, 0);
  acpu_test_shutdown_and_check (pool);
}

static void
test_min_workers (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (3);

  g_test_summary ("min-workers are started before any task, and no more");

  acpu_process_task_pool_set_min_workers (pool, 2);
  ACPU_TEST_WAIT_FOR (acpu_test_count_children () == 2, 30);
  g_assert_cmpuint (acpu_process_task_pool_get_n_workers (pool), ==, 2);
  g_usleep (50 * 1000);
  g_assert_cmpuint (acpu_test_count_children (), ==, 2);

  acpu_test_shutdown_and_check (pool);
}

static void
test_idle_timeout (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (3);
  g_autoptr(GHashTable) pids = g_hash_table_new (NULL, NULL);
  AcpuTestResult r[3] = { 0 };

  g_test_summary ("Idle workers above min-workers exit after idle-timeout");

  g_object_set (pool, "min-workers", 1, "idle-timeout", 100, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    acpu_process_task_pool_run_async (pool, "sleep", g_variant_new ("(u)", 200), NULL,
                                      acpu_test_result_cb, &r[i]);
  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      gint32 pid;

      acpu_test_result_wait (&r[i]);
      g_assert_no_error (r[i].error);
      g_variant_get (r[i].value, "(i)", &pid);
      g_hash_table_add (pids, GINT_TO_POINTER (pid));
      acpu_test_result_clear (&r[i]);
    }
  /* More than min-workers ran them (how many depends on start-up times). */
  g_assert_cmpuint (g_hash_table_size (pids), >=, 2);

  ACPU_TEST_WAIT_FOR (acpu_test_count_children () == 1, 30);
  /* The pool counts a worker gone once its I/O thread has seen the exit,
   * a moment after the child is reaped. */
  ACPU_TEST_WAIT_FOR (acpu_process_task_pool_get_n_workers (pool) == 1, 30);
  g_assert_cmpint (acpu_test_run_pid (pool), >, 0);

  acpu_test_shutdown_and_check (pool);
}

static void
test_busy_worker_stays (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  gint64 end;
  GPid first;

  g_test_summary ("A worker kept busy by tasks submitted one at a time, which the "
                  "caller's thread sends and reads itself, is not closed as idle");

  g_object_set (pool, "idle-timeout", 300, NULL);
  first = acpu_test_run_pid (pool);
  end = g_get_monotonic_time () + 900 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < end)
    {
      /* Idle between tasks, mostly, but never for idle-timeout. */
      g_usleep (30 * G_TIME_SPAN_MILLISECOND);
      g_assert_cmpint (acpu_test_run_pid (pool), ==, first);
    }

  /* And idle, it still goes. */
  ACPU_TEST_WAIT_FOR (acpu_test_count_children () == 0, 30);
  acpu_test_shutdown_and_check (pool);
}

static void
test_offered_worker_hands_over (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *path = acpu_test_temp_path ("handover");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  AcpuTestResult r = { 0 };
  GPid pid;

  g_test_summary ("A task on an idle worker, whose reply the caller reads itself, still "
                  "gets a log record before its reply, a cancel while it runs, and its "
                  "worker's death right");

  pid = acpu_test_run_pid (pool);
  g_assert_cmpint (acpu_test_run_pid (pool), ==, pid);

  /* A record comes before the reply: the I/O thread reads both. */
  value = acpu_process_task_pool_run (pool, "log", g_variant_new ("(s)", "handed over"), NULL,
                                      &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_UNIT));
  g_assert_cmpint (acpu_test_run_pid (pool), ==, pid);

  /* Cancelled while it runs: the I/O thread takes it over and cancels it
   * in the worker, which goes on serving. */
  acpu_process_task_pool_run_async (pool, "wait-cancel", g_variant_new ("(s)", path), cancellable,
                                    acpu_test_result_cb, &r);
  g_assert_cmpint (acpu_test_read_pid_file (path), ==, pid);
  g_cancellable_cancel (cancellable);
  acpu_test_result_wait (&r);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  acpu_test_result_clear (&r);
  g_assert_cmpint (acpu_test_run_pid (pool), ==, pid);

  /* The worker dies while the caller waits for its reply. */
  g_clear_pointer (&value, g_variant_unref);
  value = acpu_process_task_pool_run (pool, "crash", g_variant_new ("(s)", "kill"), NULL, &error);
  g_assert_null (value);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_cmpint (acpu_test_run_pid (pool), !=, pid);

  g_unlink (path);
  acpu_test_shutdown_and_check (pool);
}

static void
test_max_tasks_per_worker (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);

  g_test_summary ("A worker is replaced after max-tasks-per-worker tasks");

  acpu_process_task_pool_set_max_tasks_per_worker (pool, 2);
  for (guint i = 0; i < 6; i++)
    {
      GPid pid = acpu_test_run_pid (pool);
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (seen, GINT_TO_POINTER (pid)));

      g_hash_table_insert (seen, GINT_TO_POINTER (pid), GUINT_TO_POINTER (n + 1));
    }

  g_assert_cmpuint (g_hash_table_size (seen), ==, 3);
  /* The one retired last may still be on its way out. */
  ACPU_TEST_WAIT_FOR (acpu_test_count_children () <= 1, 30);
  acpu_test_shutdown_and_check (pool);
}

static void
test_stderr_tail (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("ACPU_ERROR_WORKER_DIED carries the last lines the worker wrote to stderr");

  value = acpu_process_task_pool_run (pool, "say-and-abort",
                                      g_variant_new ("(s)", "the flux capacitor is gone"),
                                      NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "SIGABRT"));
  g_assert_nonnull (strstr (error->message, "the flux capacitor is gone"));

  acpu_test_shutdown_and_check (pool);
}

/* Log records forwarded from workers, as this process's writer saw them. */
static GMutex logs_lock;
static GPtrArray *logs;

static GLogWriterOutput
capture_writer (GLogLevelFlags   log_level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  const char *message = NULL, *pid = NULL, *task = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "MESSAGE"))
        message = fields[i].value;
      else if (g_str_equal (fields[i].key, "ACPU_WORKER_PID"))
        pid = fields[i].value;
      else if (g_str_equal (fields[i].key, "ACPU_TASK"))
        task = fields[i].value;
    }

  if (pid == NULL)
    return g_log_writer_default (log_level, fields, n_fields, user_data);

  g_mutex_lock (&logs_lock);
  g_ptr_array_add (logs, g_strdup_printf ("%s|%s|%s|%d", message, pid, task ? task : "",
                                          log_level & G_LOG_LEVEL_MASK));
  g_mutex_unlock (&logs_lock);
  return G_LOG_WRITER_HANDLED;
}

static gboolean
logs_contain (const char *record)
{
  gboolean found = FALSE;

  g_mutex_lock (&logs_lock);
  for (guint i = 0; i < logs->len && !found; i++)
    found = g_str_equal (g_ptr_array_index (logs, i), record);
  g_mutex_unlock (&logs_lock);
  return found;
}

static void
test_logs (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autofree char *expected = NULL;
  GPid pid = acpu_test_run_pid (pool);

  g_test_summary ("A worker's g_message() reaches this process's log writer as "
                  "a structured record with the worker's pid and the task's name");

  value = acpu_process_task_pool_run (pool, "log", g_variant_new ("(s)", "hello from a worker"),
                                      NULL, &error);
  g_assert_no_error (error);

  expected = g_strdup_printf ("hello from a worker|%d|log|%d", (int) pid, G_LOG_LEVEL_MESSAGE);
  ACPU_TEST_WAIT_FOR (logs_contain (expected), 30);

  acpu_test_shutdown_and_check (pool);
}

/* Signals ------------------------------------------------------------------ */

static const char *self_path;

static gboolean
sigterm_cb (gpointer user_data)
{
  ACpuProcessTaskPool *pool = user_data;

  /* What an application does on SIGTERM: shut the pool down, cancelling. */
  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, TRUE);
  acpu_process_task_pool_shutdown (pool, NULL, NULL);
  exit (0);
  return G_SOURCE_REMOVE;
}

/* Runs in a child: a pool whose worker spins; then waits for a signal. */
static int
signal_parent_main (const char *mode,
                    const char *pid_file,
                    const char *worker)
{
  const char *worker_argv[] = { worker, NULL };
  g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (worker_argv, 1);
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  AcpuTestResult r = { 0 };

  if (g_str_equal (mode, "handled"))
    g_unix_signal_add (SIGTERM, sigterm_cb, pool);

  acpu_process_task_pool_run_async (pool, "spin", g_variant_new ("(s)", pid_file), NULL,
                                    acpu_test_result_cb, &r);
  g_main_loop_run (loop);
  return 1;
}

static void
check_signal (const char *mode,
              int         signum,
              gboolean    expect_clean_exit)
{
  g_autofree char *pid_file = acpu_test_temp_path ("signal-pid");
  g_autofree char *worker = acpu_test_worker_path ();
  g_autoptr(GSubprocess) parent = NULL;
  g_autoptr(GError) error = NULL;
  GPid pid;

  parent = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, self_path, "--signal-parent",
                             mode, pid_file, worker, NULL);
  g_assert_no_error (error);
  pid = acpu_test_read_pid_file (pid_file);
  g_assert_true (acpu_test_pid_alive (pid));

  g_subprocess_send_signal (parent, signum);
  g_subprocess_wait (parent, NULL, &error);
  g_assert_no_error (error);
  if (expect_clean_exit)
    g_assert_true (g_subprocess_get_successful (parent));
  else
    {
      g_assert_true (g_subprocess_get_if_signaled (parent));
      g_assert_cmpint (g_subprocess_get_term_sig (parent), ==, signum);
    }

  /* No worker is left behind. */
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (pid), 10);
}

static void
test_signals (void)
{
  g_test_summary ("SIGINT (as Ctrl-C sends it) or SIGTERM to an application "
                  "leaves no worker behind, handled or not");

  /* Unhandled: the process dies of it, its workers follow. Workers have
   * their own process groups, so only this signal reaches them: through the
   * parent's death. */
  check_signal ("unhandled", SIGINT, FALSE);
  check_signal ("unhandled", SIGTERM, FALSE);
  /* Handled with g_unix_signal_add() and a cancelling shutdown. */
  check_signal ("handled", SIGTERM, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  if (argc == 5 && g_str_equal (argv[1], "--signal-parent"))
    return signal_parent_main (argv[2], argv[3], argv[4]);

  self_path = argv[0];
  logs = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/pool/limits/task-timeout", test_task_timeout);
  g_test_add_func ("/acpu/pool/limits/max-queued", test_max_queued);
  g_test_add_func ("/acpu/pool/limits/memory", test_memory_limit);
  g_test_add_func ("/acpu/pool/lifecycle/min-workers", test_min_workers);
  g_test_add_func ("/acpu/pool/lifecycle/idle-timeout", test_idle_timeout);
  g_test_add_func ("/acpu/pool/lifecycle/max-tasks-per-worker", test_max_tasks_per_worker);
  g_test_add_func ("/acpu/pool/lifecycle/busy-worker-stays", test_busy_worker_stays);
  g_test_add_func ("/acpu/pool/offered-worker-hands-over", test_offered_worker_hands_over);
  g_test_add_func ("/acpu/pool/diagnostics/stderr-tail", test_stderr_tail);
  g_test_add_func ("/acpu/pool/diagnostics/logs", test_logs);
  g_test_add_func ("/acpu/pool/signals", test_signals);

  return g_test_run ();
}
