/* consumer.c — a C program built against an installed asynccpu-glib with
 * pkg-config only (tests/install). It is its own worker; prints
 * "c: 49 0.1.0" (the square of 7 and the version it was compiled against).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <asynccpu-glib.h>

#if !ACPU_CHECK_VERSION (0, 1, 0)
# error "ACPU_CHECK_VERSION is wrong"
#endif

static GVariant *
square (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  gint64 x;

  g_variant_get (args, "(x)", &x);
  return g_variant_new ("(x)", x * x);
}

int
main (void)
{
  g_autoptr(ACpuWorker) worker = acpu_worker_new ();
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  gint64 y;

  acpu_worker_register (worker, "square", square, NULL, NULL);
  if (acpu_worker_is_worker_process ())
    return acpu_worker_run (worker);

  pool = acpu_process_task_pool_new (NULL, 1);
  result = acpu_process_task_pool_run (pool, "square", g_variant_new ("(x)", (gint64) 7), NULL, &error);
  if (result == NULL)
    {
      g_printerr ("c: %s\n", error->message);
      return 1;
    }
  g_variant_get (result, "(x)", &y);
  if (!acpu_process_task_pool_shutdown (pool, NULL, &error))
    {
      g_printerr ("c: %s\n", error->message);
      return 1;
    }
  g_print ("c: %" G_GINT64_FORMAT " %s\n", y, ACPU_VERSION_S);
  return 0;
}
