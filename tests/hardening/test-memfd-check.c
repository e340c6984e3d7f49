/* test-memfd-check.c — a huge value in a memfd does not hold the I/O thread.
 *
 * All pools in a process share one I/O thread. A value that comes back in a
 * memfd must be mapped and, unless it is a plain number array, checked to be
 * in normal form before anyone may read it: for a sparse 256 MiB `aay` of
 * empty arrays (hostile-worker memfd-sparse) that is seconds of work. It
 * happens on a thread of its own; the I/O thread goes on serving every other
 * pool, and the worker's own messages keep their order. These cases check
 * it by the order in which things happen, never by how long they take, and
 * what happens when the worker, a time limit or a shutdown meets a check in
 * progress (issue 15, point 4).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "../acpu-test-util.h"

/* What hostile-worker memfd-sparse sends: 256 MiB of zeros as an `aay`,
 * whose last framing offset (0) makes it 64 Mi empty arrays. */
#define SPARSE_CHILDREN ((gsize) 256 * 1024 * 1024 / 4)
/* The name of the thread that maps and checks a large value. */
#define CHECK_THREAD "acpu-check"

static ACpuProcessTaskPool *
sparse_pool_new (const char *mode)
{
  g_autofree char *path = g_test_build_filename (G_TEST_BUILT, "hardening", "hostile-worker",
                                                 NULL);
  const char *argv[] = { path, mode, NULL };

  return acpu_process_task_pool_new (argv, 1);
}

/* Whether a thread of this process is named @name. */
static gboolean
thread_exists (const char *name)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *tid;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/self/task/%s/comm", tid);
      g_autofree char *comm = NULL;

      if (g_file_get_contents (path, &comm, NULL, NULL) && g_str_equal (g_strstrip (comm), name))
        return TRUE;
    }
  return FALSE;
}

/* A task's result and when it came, in the order of all results. */
typedef struct
{
  AcpuTestResult r;
  guint          seq;
} Ordered;

static guint seq;

static void
ordered_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Ordered *o = user_data;

  acpu_test_result_cb (object, result, &o->r);
  o->seq = ++seq;
}

static void
assert_sparse_value (GVariant *value)
{
  g_assert_nonnull (value);
  g_assert_cmpstr (g_variant_get_type_string (value), ==, "aay");
  g_assert_cmpuint (g_variant_n_children (value), ==, SPARSE_CHILDREN);
  g_assert_false (g_variant_is_floating (value));
}

/* After a case: the pool is gone, and so are its children, the check's
 * thread and every descriptor (the check holds the worker's handle, and so
 * its channel, until it ends: a bound of minutes, for a loaded machine). */
static void
assert_clean (guint fds_before)
{
  ACPU_TEST_WAIT_FOR (acpu_test_count_children () == 0, 30);
  ACPU_TEST_WAIT_FOR (!thread_exists (CHECK_THREAD), 300);
  ACPU_TEST_WAIT_FOR (acpu_test_count_fds () <= fds_before, 30);
  g_assert_cmpuint (acpu_test_count_fds (), ==, fds_before);
}

/* Shuts @pool down, cancelling what is left (the children are waited for
 * by assert_clean()). */
static void
shutdown_pool (ACpuProcessTaskPool *pool)
{
  acpu_test_shutdown (pool);
  g_assert_cmpuint (acpu_process_task_pool_get_n_workers (pool), ==, 0);
}

static void
warm_up (ACpuProcessTaskPool *pool,
         const char          *task,
         GVariant            *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = acpu_process_task_pool_run (pool, task, args, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (value);
}

static void
test_other_pool_served (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *huge = sparse_pool_new ("memfd-sparse");
  ACpuProcessTaskPool *other = acpu_test_pool_new (1);
  Ordered big = { 0 }, timed = { 0 };

  g_test_summary ("While a worker's huge memfd value (a sparse 256 MiB `aay`, seconds to "
                  "check) is checked, the I/O thread serves another pool: its task's time "
                  "limit fires before the huge value arrives");
  g_test_bug ("15");

  /* Both workers started and idle. */
  warm_up (huge, "echo", g_variant_new ("(s)", "up"));
  warm_up (other, "pid", NULL);

  /* The other pool's task outlives its limit; only the I/O thread can end
   * it. The limit is a fraction of a second; the check takes seconds. */
  acpu_process_task_pool_set_task_timeout (other, 300);
  seq = 0;
  acpu_process_task_pool_run_async (huge, "bad", NULL, NULL, ordered_cb, &big);
  acpu_process_task_pool_run_async (other, "sleep", g_variant_new ("(u)", 600 * 1000), NULL,
                                    ordered_cb, &timed);

  while (big.r.n_calls == 0 || timed.r.n_calls == 0)
    g_main_context_iteration (NULL, TRUE);

  g_assert_error (timed.r.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_no_error (big.r.error);
  assert_sparse_value (big.r.value);
  /* The order: the other pool's time limit first. */
  g_assert_cmpuint (timed.seq, <, big.seq);

  /* Both pools serve on. */
  warm_up (huge, "echo", g_variant_new ("(s)", "still"));
  warm_up (other, "pid", NULL);

  acpu_test_result_clear (&big.r);
  acpu_test_result_clear (&timed.r);
  shutdown_pool (huge);
  shutdown_pool (other);
  g_object_unref (huge);
  g_object_unref (other);
  assert_clean (fds_before);
}

static void
test_order_kept (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = sparse_pool_new ("memfd-sparse");
  Ordered big = { 0 }, small = { 0 };
  const char *text;

  g_test_summary ("A worker's messages keep their order while its huge memfd value is "
                  "checked: the small result it sends right after that value (the pool "
                  "sends it both requests at once) comes second");
  g_test_bug ("15");

  /* A burst first: the pool measures its worker's service time and then
   * sends it more than one request at a time (on a machine so slow that it
   * still sends one at a time, the order holds trivially: the check is
   * there for the usual case, where a handle that read on past the value
   * fails it). */
  {
    AcpuTestResult burst[16] = { 0 };

    for (guint i = 0; i < G_N_ELEMENTS (burst); i++)
      acpu_process_task_pool_run_async (pool, "echo", g_variant_new ("(s)", "up"), NULL,
                                        acpu_test_result_cb, &burst[i]);
    for (guint i = 0; i < G_N_ELEMENTS (burst); i++)
      {
        acpu_test_result_wait (&burst[i]);
        g_assert_no_error (burst[i].error);
        acpu_test_result_clear (&burst[i]);
      }
  }
  seq = 0;
  acpu_process_task_pool_run_async (pool, "bad", NULL, NULL, ordered_cb, &big);
  acpu_process_task_pool_run_async (pool, "echo", g_variant_new ("(s)", "after"), NULL,
                                    ordered_cb, &small);
  while (big.r.n_calls == 0 || small.r.n_calls == 0)
    g_main_context_iteration (NULL, TRUE);

  g_assert_no_error (big.r.error);
  assert_sparse_value (big.r.value);
  g_assert_no_error (small.r.error);
  g_variant_get (small.r.value, "(&s)", &text);
  g_assert_cmpstr (text, ==, "after");
  g_assert_cmpuint (big.seq, <, small.seq);

  acpu_test_result_clear (&big.r);
  acpu_test_result_clear (&small.r);
  shutdown_pool (pool);
  g_object_unref (pool);
  assert_clean (fds_before);
}

static void
test_invalid (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = sparse_pool_new ("memfd-sparse-invalid");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A large memfd value that is not in normal form, checked off the I/O "
                  "thread, still ends its task with ACPU_ERROR_PROTOCOL, and the pool "
                  "serves on");
  g_test_bug ("15");

  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_assert_nonnull (strstr (error->message, "not a valid “as”"));
  g_assert_null (value);

  warm_up (pool, "echo", g_variant_new ("(s)", "next"));

  shutdown_pool (pool);
  g_object_unref (pool);
  assert_clean (fds_before);
}

static void
test_worker_exits (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = sparse_pool_new ("memfd-sparse-exit");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A worker that exits right after sending a huge memfd value: the value "
                  "still reaches its task (what a worker sent before it died counts), the "
                  "exit is seen after it, and the pool starts a new worker");
  g_test_bug ("15");

  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  g_assert_no_error (error);
  assert_sparse_value (value);

  warm_up (pool, "echo", g_variant_new ("(s)", "replaced"));

  shutdown_pool (pool);
  g_object_unref (pool);
  assert_clean (fds_before);
}

static void
test_timeout_while_checking (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = sparse_pool_new ("memfd-sparse");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A task whose huge memfd value is still being checked when its time "
                  "limit comes ends with G_IO_ERROR_TIMED_OUT; the checked value is then "
                  "dropped, and the pool serves on");
  g_test_bug ("15");

  warm_up (pool, "echo", g_variant_new ("(s)", "up"));
  acpu_process_task_pool_set_task_timeout (pool, 300);
  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_null (value);

  acpu_process_task_pool_set_task_timeout (pool, 0);
  warm_up (pool, "echo", g_variant_new ("(s)", "next"));

  shutdown_pool (pool);
  g_object_unref (pool);
  assert_clean (fds_before);
}

static void
test_shutdown_while_checking (gconstpointer data)
{
  gboolean cancel = GPOINTER_TO_INT (data);
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = sparse_pool_new ("memfd-sparse");
  AcpuTestResult r = { 0 };
  g_autoptr(GError) error = NULL;

  g_test_summary ("A pool shut down (its tasks cancelled, or waited for) and dropped while "
                  "a huge memfd value is being checked: the task ends once, the shutdown "
                  "completes, and nothing is left behind once the check ends");
  g_test_bug ("15");

  warm_up (pool, "echo", g_variant_new ("(s)", "up"));
  acpu_process_task_pool_run_async (pool, "bad", NULL, NULL, acpu_test_result_cb, &r);
  /* The check is under way once its thread is. (The reply may come by the
   * direct path, through this thread's context: keep it running.) */
  while (!thread_exists (CHECK_THREAD))
    {
      g_assert_cmpuint (r.n_calls, ==, 0);
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }

  /* Cancelled: the worker, which ignores a cancel, is killed at once. */
  acpu_process_task_pool_set_cancel_grace_period (pool, 1);
  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, cancel);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
  while (r.n_calls == 0)
    g_main_context_iteration (NULL, TRUE);
  if (cancel)
    g_assert_nonnull (r.error);
  else
    {
      /* Waited for: the checked value. */
      g_assert_no_error (r.error);
      assert_sparse_value (r.value);
    }
  g_assert_cmpuint (r.n_calls, ==, 1);
  acpu_test_result_clear (&r);
  g_object_unref (pool);
  assert_clean (fds_before);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_bug_base ("issue ");

  /* What the library opens once per process (the I/O thread's context, the
   * child watch's) is open before the first case counts descriptors. */
  {
    ACpuProcessTaskPool *pool = acpu_test_pool_new (1);

    warm_up (pool, "pid", NULL);
    shutdown_pool (pool);
    g_object_unref (pool);
    acpu_test_settle ();
  }

  g_test_add_func ("/acpu/hardening/memfd-check/other-pool-served", test_other_pool_served);
  g_test_add_func ("/acpu/hardening/memfd-check/order-kept", test_order_kept);
  g_test_add_func ("/acpu/hardening/memfd-check/invalid", test_invalid);
  g_test_add_func ("/acpu/hardening/memfd-check/worker-exits", test_worker_exits);
  g_test_add_func ("/acpu/hardening/memfd-check/timeout", test_timeout_while_checking);
  g_test_add_data_func ("/acpu/hardening/memfd-check/shutdown/cancel", GINT_TO_POINTER (TRUE),
                        test_shutdown_while_checking);
  g_test_add_data_func ("/acpu/hardening/memfd-check/shutdown/wait", GINT_TO_POINTER (FALSE),
                        test_shutdown_while_checking);

  return g_test_run ();
}
