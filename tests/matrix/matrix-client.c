/* matrix-client.c — the C client of the cross-language matrix.
 *
 * Usage: matrix-client [GTest options] -- LANG WORKER-ARGV…
 *
 * Runs the matrix checks against a worker written in LANG (c, python or
 * js) started with WORKER-ARGV: a result, a task error as a GError, an
 * exception of the worker's language, and the cancel of a running task.
 * tests/matrix/matrix-client.py and .js make the same checks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <asynccpu-glib.h>
#include <glib/gstdio.h>

#define MATRIX_ERROR_DOMAIN "acpu-matrix-error-quark"

static const char  *worker_lang;
static char       **worker_argv;

typedef struct
{
  GVariant *value;
  GError   *error;
  gboolean  done;
} Result;

static void
result_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Result *r = user_data;

  r->value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &r->error);
  r->done = TRUE;
}

static void
result_wait (Result *r)
{
  while (!r->done)
    g_main_context_iteration (NULL, TRUE);
}

static ACpuProcessTaskPool *
pool_new (void)
{
  ACpuProcessTaskPool *pool;

  pool = acpu_process_task_pool_new ((const char * const *) worker_argv, 1);
  /* Long enough that only a worker which never looks at its cancellable
   * is killed: the cancel test tells the two apart by the worker's pid. */
  acpu_process_task_pool_set_cancel_grace_period (pool, 60000);
  /* No wall-clock limit a loaded machine could hit: meson's timeout is. */
  acpu_process_task_pool_set_handshake_timeout (pool, 0);
  return pool;
}

static void
pool_shutdown (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;

  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, TRUE);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
}

static gint32
run_pid (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  gint32 pid;

  value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_type_string (value), ==, "(i)");
  g_variant_get (value, "(i)", &pid);
  return pid;
}

static void
test_result (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = pool_new ();
  g_autoptr(GVariant) args = NULL;
  Result r = { 0 };

  g_test_summary ("A task's result crosses from the worker, async and blocking");

  args = g_variant_ref_sink (g_variant_new_parsed (
      "('text ✓', int64 -42, [1.5, 2.5], {'k': <uint32 7>}, b'bytes')"));
  acpu_process_task_pool_run_async (pool, "echo", args, NULL, result_cb, &r);
  result_wait (&r);
  g_assert_no_error (r.error);
  g_assert_true (g_variant_equal (r.value, args));
  g_variant_unref (r.value);

  g_assert_cmpint (run_pid (pool), !=, getpid ());
  pool_shutdown (pool);
}

static void
test_error (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = pool_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  Result r = { 0 };

  g_test_summary ("An error a task fails with arrives as a GError: domain, code, message");

  acpu_process_task_pool_run_async (pool, "error",
                                    g_variant_new ("(sis)", MATRIX_ERROR_DOMAIN, 42, "matrix error"),
                                    NULL, result_cb, &r);
  result_wait (&r);
  g_assert_null (r.value);
  g_assert_error (r.error, g_quark_from_string (MATRIX_ERROR_DOMAIN), 42);
  g_assert_cmpstr (r.error->message, ==, "matrix error");
  g_clear_error (&r.error);

  /* And with the blocking call. */
  value = acpu_process_task_pool_run (pool, "error",
                                      g_variant_new ("(sis)", MATRIX_ERROR_DOMAIN, 43, "again"),
                                      NULL, &error);
  g_assert_null (value);
  g_assert_error (error, g_quark_from_string (MATRIX_ERROR_DOMAIN), 43);
  pool_shutdown (pool);
}

static void
test_exception (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  gint32 pid;

  g_test_summary ("An exception in a Python or JavaScript task arrives as a GError");

  if (g_str_equal (worker_lang, "c"))
    {
      g_test_skip ("C has no exceptions");
      return;
    }

  pool = pool_new ();
  pid = run_pid (pool);
  value = acpu_process_task_pool_run (pool, "raise", g_variant_new ("(s)", "matrix exception"),
                                      NULL, &error);
  g_assert_null (value);
  if (g_str_equal (worker_lang, "python"))
    {
      g_assert_error (error, ACPU_ERROR, ACPU_ERROR_FAILED);
      g_assert_true (g_str_has_prefix (error->message, "ValueError: matrix exception (File \""));
      g_assert_nonnull (strstr (error->message, "matrix-worker.py\", line "));
    }
  else
    {
      /* GJS's own GError for a TypeError: gjs-js-error-quark,
       * GJS_JS_ERROR_TYPE_ERROR. */
      g_assert_cmpstr (g_quark_to_string (error->domain), ==, "gjs-js-error-quark");
      g_assert_cmpint (error->code, ==, 7);
      g_assert_cmpstr (error->message, ==, "matrix exception");
    }

  /* The worker survived its exception. */
  g_assert_cmpint (run_pid (pool), ==, pid);
  pool_shutdown (pool);
}

static void
test_cancel (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = pool_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *tmpdir = g_dir_make_tmp ("acpu-matrix-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (tmpdir, "pid", NULL);
  g_autofree char *contents = NULL;
  Result r = { 0 };
  gint32 pid;

  g_test_summary ("Cancelling a running task gives G_IO_ERROR_CANCELLED at once, and the "
                  "task's cancellable in the worker is cancelled");

  acpu_process_task_pool_run_async (pool, "wait-cancel", g_variant_new ("(s)", path),
                                    cancellable, result_cb, &r);
  /* Running when the worker has written its pid. */
  while (!g_file_get_contents (path, &contents, NULL, NULL))
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
  pid = atoi (contents);
  g_assert_cmpint (pid, >, 0);
  g_assert_false (r.done);

  g_cancellable_cancel (cancellable);
  result_wait (&r);
  g_assert_null (r.value);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&r.error);

  /* The task saw its cancellable and returned: the same worker, not a
   * replacement for a killed one, runs the next task. */
  g_assert_cmpint (run_pid (pool), ==, pid);
  pool_shutdown (pool);

  g_unlink (path);
  g_rmdir (tmpdir);
}

int
main (int   argc,
      char *argv[])
{
  int sep;

  for (sep = 1; sep < argc; sep++)
    if (g_str_equal (argv[sep], "--"))
      break;
  if (sep + 2 >= argc)
    {
      g_printerr ("Usage: %s [GTest options] -- LANG WORKER-ARGV…\n", argv[0]);
      return 2;
    }
  worker_lang = argv[sep + 1];
  worker_argv = &argv[sep + 2];
  argv[sep] = NULL;
  argc = sep;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/matrix/result", test_result);
  g_test_add_func ("/acpu/matrix/error", test_error);
  g_test_add_func ("/acpu/matrix/exception", test_exception);
  g_test_add_func ("/acpu/matrix/cancel", test_cancel);

  return g_test_run ();
}
