/* quickstart.c — asynccpu's quick start, in C, in one file.
 *
 * Usage: quickstart
 *
 * Ten CPU-bound tasks run in a pool of three worker processes while the main
 * loop stays free; the results are gathered and printed. The program is its
 * own worker: the pool starts it again, and there
 * acpu_worker_is_worker_process() is TRUE.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <asynccpu-glib.h>

#define N_TASKS 10

/* sum(i * i for i in range(10 ** 7)), exactly: it needs more than 64 bits. */
static GVariant *
process_cpu_bound (GVariant      *args,
                   GCancellable  *cancellable,
                   gpointer       user_data,
                   GError       **error)
{
  unsigned __int128 sum = 0;
  char digits[64];
  char *p = digits + sizeof digits;
  gint64 task_id;

  g_variant_get (args, "(x)", &task_id);

  for (guint64 i = 0; i < 10000000; i++)
    {
      sum += (unsigned __int128) i * i;
      if ((i & 0xfffff) == 0 && g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
    }

  *--p = '\0';
  do
    *--p = '0' + (int) (sum % 10);
  while ((sum /= 10) > 0);

  return g_variant_new_take_string (g_strdup_printf ("task_id: %" G_GINT64_FORMAT ", result: %s",
                                                     task_id, p));
}

typedef struct
{
  GMainLoop *loop;
  char      *results[N_TASKS];
  guint      pending;
  int        status;
} Gather;

static void
task_done_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Gather *gather = g_task_get_task_data (G_TASK (user_data));
  guint index = GPOINTER_TO_UINT (g_object_get_data (user_data, "index"));
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &error);
  if (value == NULL)
    {
      g_printerr ("task %u: %s\n", index, error->message);
      gather->status = 1;
    }
  else
    gather->results[index] = g_variant_dup_string (value, NULL);

  g_object_unref (user_data);
  if (--gather->pending == 0)
    g_main_loop_quit (gather->loop);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(ACpuWorker) worker = acpu_worker_new ();
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  Gather gather = { 0 };

  acpu_worker_register (worker, "process_cpu_bound", process_cpu_bound, NULL, NULL);
  if (acpu_worker_is_worker_process ())
    return acpu_worker_run (worker);

  if (argc > 1)
    {
      g_printerr ("Usage: %s\n", argv[0]);
      return 2;
    }

  loop = g_main_loop_new (NULL, FALSE);
  gather.loop = loop;

  /* NULL: the workers are this program. */
  pool = acpu_process_task_pool_new (NULL, 3);
  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, TRUE);

  for (guint i = 0; i < N_TASKS; i++)
    {
      /* A small GTask only to carry the index and the gather state. */
      GTask *tag = g_task_new (NULL, NULL, NULL, NULL);

      g_task_set_task_data (tag, &gather, NULL);
      g_object_set_data (G_OBJECT (tag), "index", GUINT_TO_POINTER (i));
      gather.pending++;
      acpu_process_task_pool_run_async (pool, "process_cpu_bound",
                                        g_variant_new ("(x)", (gint64) i),
                                        NULL, task_done_cb, tag);
    }

  g_main_loop_run (loop);

  for (guint i = 0; i < N_TASKS; i++)
    {
      if (gather.results[i] != NULL)
        g_print ("%s\n", gather.results[i]);
      g_free (gather.results[i]);
    }

  if (!acpu_process_task_pool_shutdown (pool, NULL, NULL))
    return 1;

  return gather.status;
}
