/* acpu-self-worker.c — a one-file program: client and worker in one binary,
 * run by test-self-exec from a copy it then deletes or replaces.
 *
 *   acpu-self-worker delete|replace|unguarded|name
 *
 * delete, replace: makes a pool of itself, removes (or replaces with a
 *   script that exits 3) its own file, then runs a task: it must run in a
 *   worker of this very image. Prints the worker's answer.
 * name: runs a task, and prints whether its worker has this process's name
 *   (ps, top), not "exe" after the `/proc/self/exe` it was started as.
 * unguarded: runs the client code in its workers too (no
 *   acpu_worker_is_worker_process() guard): the chain must stop at once.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <asynccpu-glib.h>

/* Set at build time: which image a worker runs. */
#define IMAGE_TAG "image-1"

/* What the kernel calls this process (ps -o comm). */
static char *
comm_of_self (void)
{
  char *comm = NULL;

  if (!g_file_get_contents ("/proc/self/comm", &comm, NULL, NULL))
    return g_strdup ("?");
  return g_strchomp (comm);
}

static GVariant *
task_whoami (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  g_autofree char *comm = comm_of_self ();

  return g_variant_new ("(sis)", IMAGE_TAG, (gint32) getpid (), comm);
}

static int
client (const char *mode)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (NULL, 1);
  g_autoptr(GVariant) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);

  acpu_process_task_pool_set_handshake_timeout (pool, 60000);

  if (strcmp (mode, "delete") == 0)
    {
      if (g_unlink (self) != 0)
        return 10;
    }
  else if (strcmp (mode, "replace") == 0)
    {
      g_autofree char *tmp = g_strconcat (self, ".new", NULL);

      if (!g_file_set_contents (tmp, "#!/bin/sh\necho 'the new file ran' >&2\nexit 3\n", -1,
                                NULL) ||
          g_chmod (tmp, 0755) != 0 || g_rename (tmp, self) != 0)
        return 11;
    }

  result = acpu_process_task_pool_run (pool, "whoami", NULL, NULL, &error);
  if (result == NULL)
    {
      printf ("error: %s\n", error->message);
      return 1;
    }
  {
    const char *tag, *comm;
    gint32 pid;
    g_autofree char *own = comm_of_self ();

    g_variant_get (result, "(&si&s)", &tag, &pid, &comm);
    if (strcmp (mode, "name") == 0)
      printf ("%s (worker) %s (client)\n", comm, own);
    else
      printf ("%s %s\n", tag, pid != getpid () ? "other-process" : "same-process");
  }
  if (!acpu_process_task_pool_shutdown (pool, NULL, &error))
    return 2;
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  const char *mode = argc > 1 ? argv[1] : "";

  if (strcmp (mode, "unguarded") != 0 && acpu_worker_is_worker_process ())
    {
      g_autoptr(ACpuWorker) worker = acpu_worker_new ();

      acpu_worker_register (worker, "whoami", task_whoami, NULL, NULL);
      return acpu_worker_run (worker);
    }

  return client (mode);
}
