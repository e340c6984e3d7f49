/* test-containment.c — what a worker cannot do to the rest of the process
 * (issue 15, points 1, 4 and 5).
 *
 *   no-terminal        workers run without the parent's controlling
 *                      terminal, in a process group of their own, in its
 *                      session (and so its autogroup)
 *   children/...       whatever a task started dies with its worker: after a
 *                      clean shutdown, a crash, and a SIGKILL of the parent
 *   stderr-full        the parent's stderr a full pipe nobody reads: a worker
 *                      flooding its stderr does not stall another pool
 *
 * The cases that change the test process itself (its controlling terminal,
 * its fd 2, its death) run in a g_test_trap_subprocess() child.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <glib-unix.h>

#include "../acpu-test-util.h"

static ACpuProcessTaskPool *
hostile_pool_new (const char *mode,
                  guint       max_workers)
{
  g_autofree char *path = g_test_build_filename (G_TEST_BUILT, "hardening", "hostile-worker", NULL);
  const char *argv[] = { path, mode, NULL };
  ACpuProcessTaskPool *pool = acpu_process_task_pool_new (argv, max_workers);

  acpu_process_task_pool_set_handshake_timeout (pool, 10000);
  return pool;
}

static void
pool_destroy (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;

  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, TRUE);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
  g_object_unref (pool);
}

/* Point 1 -------------------------------------------------------------------- */

/* Before: the worker shared the test's controlling terminal and opened
 * /dev/tty, the pty the test made its controlling terminal; then (issue 15)
 * it led a session of its own, which with the kernel's autogroups is a
 * scheduling group of its own too: its worker-priority counted only among
 * the workers, and a GUI's thread waited for workers at SCHED_IDLE. */
static void
test_no_terminal (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;
      g_autofree char *own_autogroup = NULL;
      const char *autogroup;
      ACpuProcessTaskPool *pool;
      int master, slave;
      gint32 sid, pid, err, pgid;

      /* A terminal of our own, made our controlling terminal, so that a
       * worker that kept it would show. */
      master = acpu_test_take_terminal (&slave);

      pool = hostile_pool_new ("session", 1);
      value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
      g_assert_no_error (error);
      g_variant_get (value, "(iiii&s)", &sid, &pid, &err, &pgid, &autogroup);
      g_test_message ("worker %d: session %d (ours: %d), process group %d, open "
                      "(\"/dev/tty\"): %s, autogroup %s", pid, sid, (int) getsid (0), pgid,
                      err ? g_strerror (err) : "opened", autogroup);
      /* No terminal, a group of its own, and the scheduling group of ours. */
      g_assert_cmpint (err, ==, ENXIO);
      g_assert_cmpint (pgid, ==, pid);
      g_assert_cmpint (sid, ==, getsid (0));
      if (g_file_get_contents ("/proc/self/autogroup", &own_autogroup, NULL, NULL))
        g_assert_cmpstr (autogroup, ==, own_autogroup);
      pool_destroy (pool);
      acpu_test_drop_terminal (master, slave);
      return;
    }

  g_test_summary ("A worker has no controlling terminal, even when the parent has one, and "
                  "a process group of its own, in the parent's session: the kernel "
                  "schedules it in the application's group (autogroup), where its "
                  "worker-priority counts against the application's own threads");
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDOUT);
  g_test_trap_assert_passed ();
}

/* Point 5 -------------------------------------------------------------------- */

static GPid
start_grandchild (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  gint32 pid;

  value = acpu_process_task_pool_run (pool, "grandchild", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (value, "(i)", &pid);
  g_assert_true (acpu_test_pid_alive (pid));
  return pid;
}

static GPid
worker_pid (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  gint32 pid;

  value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (value, "(i)", &pid);
  return pid;
}

/* Before: the sleep survived the worker's clean exit. */
static void
test_children_shutdown (void)
{
  ACpuProcessTaskPool *pool = acpu_test_pool_new (1);
  GPid grandchild = start_grandchild (pool);

  g_test_summary ("What a task started is gone once its worker has exited cleanly "
                  "(the pool shut down)");

  pool_destroy (pool);
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (grandchild), 20);
}

/* Before: the sleep survived the worker's crash. */
static void
test_children_crash (void)
{
  ACpuProcessTaskPool *pool = acpu_test_pool_new (1);
  GPid grandchild = start_grandchild (pool);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("What a task started is gone once its worker has crashed");

  value = acpu_process_task_pool_run (pool, "crash", g_variant_new ("(s)", "abort"), NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (grandchild), 20);
  pool_destroy (pool);
}

/* Before: the worker died with the parent (PR_SET_PDEATHSIG), the sleep it
 * started did not. */
static void
test_children_parent_killed (void)
{
  g_autofree char *path = acpu_test_temp_path ("containment-pids");
  g_autofree char *contents = NULL;
  GPid worker = 0, grandchild = 0;

  if (g_test_subprocess ())
    {
      ACpuProcessTaskPool *pool = acpu_test_pool_new (1);
      g_autofree char *pids = NULL;

      pids = g_strdup_printf ("%d %d", (int) worker_pid (pool), (int) start_grandchild (pool));
      g_assert_true (g_file_set_contents (g_getenv ("ACPU_TEST_PIDS"), pids, -1, NULL));
      raise (SIGKILL);
      g_assert_not_reached ();
    }

  g_test_summary ("What a task started is gone once the parent has been SIGKILLed");

  g_setenv ("ACPU_TEST_PIDS", path, TRUE);
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("ACPU_TEST_PIDS");
  g_test_trap_assert_failed ();
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_unlink (path);
  g_assert_cmpint (sscanf (contents, "%d %d", &worker, &grandchild), ==, 2);
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (worker), 20);
  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (grandchild), 20);
}

/* Point 4 -------------------------------------------------------------------- */

/* Before: the I/O thread blocked in write (2, ...) and neither pool's task
 * ever finished: the subprocess was killed at the trap's timeout. */
static void
test_stderr_full (void)
{
  if (g_test_subprocess ())
    {
      ACpuProcessTaskPool *flooder = hostile_pool_new ("stderr-flood", 1);
      ACpuProcessTaskPool *other = hostile_pool_new ("none", 2);
      AcpuTestResult flood = { 0 }, late = { 0 }, quick = { 0 };
      g_autoptr(GString) drained = g_string_new (NULL);
      gboolean noted = FALSE;
      int p[2], saved;

      /* fd 2: a pipe nobody reads (yet). */
      g_assert_cmpint (pipe2 (p, O_CLOEXEC), ==, 0);
      saved = fcntl (2, F_DUPFD_CLOEXEC, 3);
      g_assert_cmpint (dup2 (p[1], 2), ==, 2);
      close (p[1]);

      g_object_set (other, "task-timeout", 2000, NULL);
      acpu_process_task_pool_run_async (flooder, "bad", NULL, NULL, acpu_test_result_cb, &flood);
      acpu_process_task_pool_run_async (other, "sleep", g_variant_new ("(u)", 60000), NULL,
                                        acpu_test_result_cb, &late);
      acpu_process_task_pool_run_async (other, "echo", g_variant_new ("(s)", "quick"), NULL,
                                        acpu_test_result_cb, &quick);
      acpu_test_result_wait (&quick);
      acpu_test_result_wait (&late);
      acpu_test_result_wait (&flood);

      /* Now read it: what was held back comes, and says what was dropped. */
      g_unix_set_fd_nonblocking (p[0], TRUE, NULL);
      for (guint i = 0; i < 2000 && !noted; i++)
        {
          char buf[65536];
          gssize n = read (p[0], buf, sizeof buf);

          if (n > 0)
            g_string_append_len (drained, buf, n);
          noted = strstr (drained->str, "bytes of its output dropped") != NULL;
          if (n <= 0)
            g_usleep (10 * 1000);
        }

      /* Our stderr back before anything can fail. */
      dup2 (saved, 2);
      close (saved);
      close (p[0]);

      g_assert_no_error (quick.error);
      g_assert_error (late.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
      g_assert_no_error (flood.error);
      g_test_message ("stderr-full: %" G_GSIZE_FORMAT " bytes reached stderr once read", drained->len);
      g_assert_true (noted);
      g_assert_cmpuint (drained->len, <, 1024 * 1024);

      acpu_test_result_clear (&quick);
      acpu_test_result_clear (&late);
      acpu_test_result_clear (&flood);
      pool_destroy (flooder);
      pool_destroy (other);
      return;
    }

  g_test_summary ("With the parent's stderr a full pipe, a worker that floods its stderr "
                  "stalls no other pool: a task-timeout still fires, a short task still "
                  "completes; what could not be passed on is counted and said");
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDOUT);
  g_test_trap_assert_passed ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/hardening/containment/no-terminal", test_no_terminal);
  g_test_add_func ("/acpu/hardening/containment/children/shutdown", test_children_shutdown);
  g_test_add_func ("/acpu/hardening/containment/children/crash", test_children_crash);
  g_test_add_func ("/acpu/hardening/containment/children/parent-killed",
                   test_children_parent_killed);
  g_test_add_func ("/acpu/hardening/containment/stderr-full", test_stderr_full);

  return g_test_run ();
}
