/* acpu-test-util.h — helpers shared by the C tests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <asynccpu-glib.h>

/* Asserts that @value prints as @expected. */
#define acpu_test_assert_prints(value, expected)                   \
  G_STMT_START {                                                   \
    g_autofree char *_printed = g_variant_print ((value), FALSE);  \
    g_assert_cmpstr (_printed, ==, (expected));                    \
  } G_STMT_END

/* The result of one task, filled in by acpu_test_result_cb(). */
typedef struct
{
  GVariant *value;
  GError   *error;
  guint     n_calls;
  GThread  *thread;
  ACpuWorkerExit *exit;  /* acpu_process_task_pool_get_worker_exit() */
} AcpuTestResult;

static inline void
acpu_test_result_clear (AcpuTestResult *r)
{
  g_clear_pointer (&r->value, g_variant_unref);
  g_clear_error (&r->error);
  g_clear_object (&r->exit);
  r->n_calls = 0;
  r->thread = NULL;
}

static inline void
acpu_test_result_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  AcpuTestResult *r = user_data;

  r->n_calls++;
  r->thread = g_thread_self ();
  r->value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &r->error);
  g_assert_true ((r->value == NULL) != (r->error == NULL));
  r->exit = acpu_process_task_pool_get_worker_exit (ACPU_PROCESS_TASK_POOL (object), result);
}

/* Iterates the thread-default context until @r is done. */
static inline void
acpu_test_result_wait (AcpuTestResult *r)
{
  while (r->n_calls == 0)
    g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
}

static inline char *
acpu_test_worker_path (void)
{
  return g_test_build_filename (G_TEST_BUILT, "acpu-test-worker", NULL);
}

static inline ACpuProcessTaskPool *
acpu_test_pool_new (guint max_workers)
{
  g_autofree char *path = acpu_test_worker_path ();
  const char *argv[] = { path, NULL };

  return acpu_process_task_pool_new (argv, max_workers);
}

/* State of a process from /proc: 0 when it is gone, 'Z' for a zombie … */
static inline char
acpu_test_pid_state (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *contents = NULL;
  const char *p;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  p = strrchr (contents, ')');
  return p && p[1] == ' ' ? p[2] : 0;
}

static inline gboolean
acpu_test_pid_alive (GPid pid)
{
  char state = acpu_test_pid_state (pid);

  return state != 0 && state != 'Z' && state != 'X';
}

/* Children of this process, zombies included. */
static inline guint
acpu_test_count_children (void)
{
  DIR *dir = opendir ("/proc");
  struct dirent *entry;
  guint n = 0;

  while ((entry = readdir (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *contents = NULL;
      const char *p;
      int ppid;

      if (!g_ascii_isdigit (entry->d_name[0]))
        continue;
      path = g_strdup_printf ("/proc/%s/stat", entry->d_name);
      if (!g_file_get_contents (path, &contents, NULL, NULL))
        continue;
      p = strrchr (contents, ')');
      if (p && sscanf (p + 2, "%*c %d", &ppid) == 1 && ppid == getpid ())
        n++;
    }
  closedir (dir);
  return n;
}

/* Waits (up to @seconds) for something that must happen soon: the bound is
 * only there so that a broken build fails instead of hanging. */
#define ACPU_TEST_WAIT_FOR(cond, seconds)                              \
  G_STMT_START {                                                       \
    gint64 _deadline = g_get_monotonic_time () + (seconds) * G_USEC_PER_SEC; \
    while (!(cond) && g_get_monotonic_time () < _deadline)             \
      g_usleep (2000);                                                 \
    g_assert_true (cond);                                              \
  } G_STMT_END

/* Resident set size of process @pid ("self" for this one), in KiB. */
static inline guint64
acpu_test_rss_kib_of (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", pid);
  g_autofree char *status = NULL;
  const char *p;

  if (!g_file_get_contents (path, &status, NULL, NULL) ||
      (p = strstr (status, "VmRSS:")) == NULL)
    return 0;
  return g_ascii_strtoull (p + 6, NULL, 10);
}

/* Descriptors this process has open. */
static inline guint
acpu_test_count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* Waits until the pool's I/O thread has closed what it is closing: no
 * child left, and the descriptor count the same three times running. */
static inline void
acpu_test_settle (void)
{
  guint last = 0, same = 0;

  ACPU_TEST_WAIT_FOR (acpu_test_count_children () == 0, 30);
  for (guint i = 0; i < 500 && same < 3; i++)
    {
      guint now = acpu_test_count_fds ();

      same = now == last ? same + 1 : 0;
      last = now;
      g_usleep (10 * 1000);
    }
}

/* Waits up to @ms for @pid, a child of ours, to end (a bound for a test
 * that must end, not a measure of speed); returns its wait status, or -1
 * if it still runs then. */
static inline int
acpu_test_wait_status (GPid  pid,
                       guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
  int status;

  do
    {
      GPid got = waitpid (pid, &status, WNOHANG);

      g_assert_cmpint (got, >=, 0);
      if (got == pid)
        return status;
      g_usleep (5000);
    }
  while (g_get_monotonic_time () < end);
  return -1;
}

/* In a g_test_trap_subprocess() child: makes a new pty this process's
 * controlling terminal (in a session of its own), so that a worker that
 * kept it would show. Returns the master's descriptor; *slave gets the
 * other end's. Give both to acpu_test_drop_terminal() at the end. */
static inline int
acpu_test_take_terminal (int *slave)
{
  int master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  int tty;

  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  g_assert_cmpint (setsid (), >, 0);
  *slave = open (ptsname (master), O_RDWR | O_CLOEXEC);
  g_assert_cmpint (*slave, >=, 0);
  tty = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (tty, >=, 0);
  close (tty);
  return master;
}

/* Closes what acpu_test_take_terminal() opened. Hanging up our own terminal
 * would SIGHUP us, its session leader. */
static inline void
acpu_test_drop_terminal (int master,
                         int slave)
{
  signal (SIGHUP, SIG_IGN);
  close (slave);
  close (master);
}

/* Shuts @pool down, cancelling what is left. */
static inline void
acpu_test_shutdown (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;

  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, TRUE);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
}

/* Shuts @pool down, cancelling what is left, and checks no child is left. */
static inline void
acpu_test_shutdown_and_check (ACpuProcessTaskPool *pool)
{
  acpu_test_shutdown (pool);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

/* The pid of the worker that runs the test worker's "pid" task. */
static inline GPid
acpu_test_run_pid (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
  gint32 pid;

  g_assert_no_error (error);
  g_variant_get (value, "(i)", &pid);
  return pid;
}

/* A fresh path for a pid file, unique to this process. */
static inline char *
acpu_test_temp_path (const char *name)
{
  g_autofree char *base = g_strdup_printf ("acpu-%d-%s", (int) getpid (), name);
  char *path = g_build_filename (g_get_tmp_dir (), base, NULL);

  unlink (path);
  return path;
}

static inline GPid
acpu_test_read_pid_file (const char *path)
{
  g_autofree char *contents = NULL;

  while (!g_file_get_contents (path, &contents, NULL, NULL) || contents[0] == '\0')
    {
      g_clear_pointer (&contents, g_free);
      g_usleep (1000);
    }
  return atoi (contents);
}
