/* acpu-io.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* One private thread, shared by every pool in the process, runs all the
 * pools' I/O on its own GMainContext, the way GDBus runs its connections.
 * The caller's main loop spends only the completion callback on a task.
 *
 * The thread lives as long as the process. That matters: PR_SET_PDEATHSIG
 * fires when the *thread* that forked a worker exits, so every worker is
 * spawned from here and never from a caller's (maybe short-lived) thread.
 */

#include "config.h"

#include "acpu-io-private.h"

static GMainContext *io_context;

static gpointer
acpu_io_thread (gpointer data)
{
  GMainContext *context = data;

  g_main_context_push_thread_default (context);
  for (;;)
    g_main_context_iteration (context, TRUE);

  return NULL;
}

/* Returns: (transfer none): the I/O thread's context, starting the thread
 * the first time. */
GMainContext *
acpu_io_get_context (void)
{
  if (g_once_init_enter (&io_context))
    {
      GMainContext *context = g_main_context_new ();

      g_thread_unref (g_thread_new ("acpu-io", acpu_io_thread, context));
      g_once_init_leave (&io_context, context);
    }

  return io_context;
}
