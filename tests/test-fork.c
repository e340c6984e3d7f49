/* test-fork.c — the library in a child forked after it was used.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "acpu-test-util.h"

/* Plenty for a few tasks on a loaded machine; before the fix the child
 * waited for ever, and this turns that into a failure. */
#define CHILD_LIMIT_SECONDS 60

static char *
worker_path (void)
{
  return g_test_build_filename (G_TEST_BUILT, "acpu-test-worker", NULL);
}

static gint64
echo (ACpuProcessTaskPool  *pool,
      gint64                n,
      GError              **error)
{
  g_autoptr(GVariant) result = acpu_process_task_pool_run (pool, "echo",
                                                           g_variant_new ("(x)", n), NULL, error);
  gint64 back = -1;

  if (result != NULL)
    g_variant_get (result, "(x)", &back);
  return back;
}

/* Whether @error is the fork error, and came at once. */
static gboolean
fork_error_ok (const GError *error)
{
  return g_error_matches (error, ACPU_ERROR, ACPU_ERROR_FAILED) &&
         strstr (error->message, "fork") != NULL;
}

/* The child: exit status 0 when all went well, else the step that failed. */
static int
child_main (ACpuProcessTaskPool *inherited)
{
  g_autofree char *path = worker_path ();
  const char *argv[] = { path, NULL };
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GError) error = NULL;

  /* The parent's pool fails at once, with a clear error. */
  if (echo (inherited, 8, &error) != -1 || !fork_error_ok (error))
    {
      g_printerr ("child: inherited pool: %s\n", error ? error->message : "it worked");
      return 2;
    }
  g_printerr ("child: inherited pool: %s\n", error->message);
  g_clear_error (&error);

  /* Its shutdown and its end do not wait either. */
  if (!acpu_process_task_pool_shutdown (inherited, NULL, &error))
    {
      g_printerr ("child: the inherited pool's shutdown: %s\n", error->message);
      return 3;
    }
  g_object_unref (inherited);

  /* A new pool cannot see its workers end here (GLib's worker thread stayed
   * in the parent): it says so at once too. */
  pool = acpu_process_task_pool_new (argv, 1);
  if (echo (pool, 7, &error) != -1 || !fork_error_ok (error))
    {
      g_printerr ("child: new pool: %s\n", error ? error->message : "it worked");
      return 4;
    }
  g_printerr ("child: new pool: %s\n", error->message);
  g_clear_error (&error);
  if (!acpu_process_task_pool_shutdown (pool, NULL, &error))
    {
      g_printerr ("child: shutdown: %s\n", error->message);
      return 5;
    }

  return 0;
}

static void
test_fork_child (void)
{
  g_autofree char *path = worker_path ();
  const char *argv[] = { path, NULL };
  g_autoptr(GError) error = NULL;
  ACpuProcessTaskPool *pool = NULL;
  int status;
  pid_t pid;

  g_test_summary ("In a child forked after the library was used, a pool inherited from "
                  "the parent and a new one fail their tasks at once with a clear error and "
                  "shut down at once; before, the child waited for ever");

  pool = acpu_process_task_pool_new (argv, 1);
  g_assert_cmpint (echo (pool, 5, &error), ==, 5);
  g_assert_no_error (error);

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    _exit (child_main (pool));

  /* Bounded: the child must end, whatever it does. */
  status = acpu_test_wait_status (pid, CHILD_LIMIT_SECONDS * 1000);
  if (status == -1)
    {
      kill (pid, SIGKILL);
      waitpid (pid, &status, 0);
      g_test_fail_printf ("the forked child still ran after %d s", CHILD_LIMIT_SECONDS);
    }
  else
    {
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    }

  /* The parent's pool is untouched by all this. */
  g_assert_cmpint (echo (pool, 6, &error), ==, 6);
  g_assert_no_error (error);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
  g_object_unref (pool);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/fork/child", test_fork_child);

  return g_test_run ();
}
