/* test-self-exec.c — one-file programs: a pool that starts the current
 * program again, after its file is gone or replaced, and in a program that
 * forgets to keep its client code out of its workers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "acpu-test-util.h"

/* Runs a copy of acpu-self-worker with @mode; returns its exit status, and
 * its output in @out and @err. */
static int
run_copy (const char  *mode,
          char       **out,
          char       **err)
{
  g_autofree char *built = g_test_build_filename (G_TEST_BUILT, "acpu-self-worker", NULL);
  g_autofree char *dir = g_dir_make_tmp ("acpu-self-exec-XXXXXX", NULL);
  g_autofree char *copy = g_build_filename (dir, "one-file-program", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *libdir = g_test_build_filename (G_TEST_BUILT, "..", "asynccpu-glib", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;

  g_assert_nonnull (dir);
  g_assert_true (g_file_get_contents (built, &contents, &len, &error));
  g_assert_true (g_file_set_contents (copy, contents, len, &error));
  g_assert_cmpint (g_chmod (copy, 0755), ==, 0);

  /* The copy's RUNPATH ($ORIGIN) no longer finds the library. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "LD_LIBRARY_PATH", libdir, TRUE);
  proc = g_subprocess_launcher_spawn (launcher, &error, copy, mode, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, out, err, &error));
  g_assert_no_error (error);
  g_test_message ("%s: stdout: %s; stderr: %s", mode, *out, *err);

  g_unlink (copy);
  g_rmdir (dir);
  g_assert_true (g_subprocess_get_if_exited (proc));
  return g_subprocess_get_exit_status (proc);
}

static void
test_self_exec_deleted (void)
{
  g_autofree char *out = NULL, *err = NULL;

  g_test_summary ("A program whose file was deleted after it made a pool of itself still "
                  "starts workers, of its own image; before, every start failed (ENOENT)");

  g_assert_cmpint (run_copy ("delete", &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "image-1 other-process\n");
}

static void
test_self_exec_replaced (void)
{
  g_autofree char *out = NULL, *err = NULL;

  g_test_summary ("A program whose file was replaced (an upgrade) after it made a pool of "
                  "itself gets workers of the image it runs, not of the new file; before, "
                  "the new file ran as its worker");

  g_assert_cmpint (run_copy ("replace", &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "image-1 other-process\n");
  g_assert_null (strstr (err, "the new file ran"));
}

static void
test_self_exec_name (void)
{
  g_autofree char *out = NULL, *err = NULL;

  g_test_summary ("A worker of a program that made a pool of itself has the program's name "
                  "in ps, top and the system monitor; before, each was called \"exe\", after "
                  "the /proc/self/exe it is started as");

  g_assert_cmpint (run_copy ("name", &out, &err), ==, 0);
  /* The copy's name, as exec() truncates it: 15 bytes. */
  g_assert_cmpstr (out, ==, "one-file-progra (worker) one-file-progra (client)\n");
}

static void
test_self_exec_unguarded (void)
{
  g_autofree char *out = NULL, *err = NULL;

  g_test_summary ("A program that runs its client code in its workers too does not start a "
                  "chain of workers: the worker's own pool refuses at once, saying why, and "
                  "the program fails; before, each worker started workers of its own");

  g_assert_cmpint (run_copy ("unguarded", &out, &err), ==, 1);
  g_assert_true (g_str_has_prefix (out, "error: "));
  /* The worker said why, on what the pool passed on from it. */
  g_assert_nonnull (strstr (err, "acpu_worker_is_worker_process()"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/self-exec/deleted", test_self_exec_deleted);
  g_test_add_func ("/acpu/self-exec/replaced", test_self_exec_replaced);
  g_test_add_func ("/acpu/self-exec/name", test_self_exec_name);
  g_test_add_func ("/acpu/self-exec/unguarded", test_self_exec_unguarded);

  return g_test_run ();
}
