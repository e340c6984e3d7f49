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
 *
 * After fork() the child has the parent's memory but only the thread that
 * called fork(): the I/O thread is gone, and a context nobody iterates
 * would make every task and every shutdown in the child wait for ever. A
 * pthread_atfork() handler forgets the parent's thread in the child (its
 * context is leaked on purpose: a thread that no longer exists may have held
 * its lock), so the next pool in the child starts a thread of its own; and it
 * counts forks, so a pool made before the fork can tell it was inherited
 * (acpu_io_get_generation()) and refuse work at once.
 */

#include "config.h"

#include <pthread.h>

#include "acpu-io-private.h"

/* The running I/O thread's context, NULL until the first call in this
 * process (or since the last fork): set with a compare-and-swap. */
static GMainContext *io_context;
/* How many fork()s lie between this process and the one that first used
 * the library; written by the atfork handler only, when the child has one
 * thread. */
static guint io_generation;

/* The I/O thread: iterates its context for ever. */
static gpointer
acpu_io_thread (gpointer data)
{
  GMainContext *context = data;

  g_main_context_push_thread_default (context);
  for (;;)
    g_main_context_iteration (context, TRUE);

  return NULL;
}

/* The child of a fork(), its only thread, no lock (none may be taken here):
 * forgets the parent's I/O thread. */
static void
acpu_io_atfork_child (void)
{
  g_atomic_pointer_set (&io_context, NULL);
  g_atomic_int_inc (&io_generation);
}

/* Any thread, no lock: installs the atfork handler, once per process (a
 * forked child inherits it). */
static void
acpu_io_watch_forks (void)
{
  static gsize atfork_once = 0;

  if (g_once_init_enter (&atfork_once))
    {
      pthread_atfork (NULL, NULL, acpu_io_atfork_child);
      g_once_init_leave (&atfork_once, 1);
    }
}

/* Any thread, no lock. Returns: (transfer none): the I/O thread's context,
 * starting the thread the first time in this process (a forked child's
 * first time included). */
GMainContext *
acpu_io_get_context (void)
{
  GMainContext *context = g_atomic_pointer_get (&io_context);

  if (G_LIKELY (context != NULL))
    return context;

  acpu_io_watch_forks ();
  context = g_main_context_new ();
  if (!g_atomic_pointer_compare_and_exchange (&io_context, NULL, context))
    {
      /* Another thread started it first. */
      g_main_context_unref (context);
      return g_atomic_pointer_get (&io_context);
    }

  g_thread_unref (g_thread_new ("acpu-io", acpu_io_thread, context));
  return context;
}

/* Any thread, no lock: how many fork()s separate this process from the one
 * that first used the library. A pool keeps the value it was made with; a
 * different one means the pool, and its workers, belong to a parent. */
guint
acpu_io_get_generation (void)
{
  acpu_io_watch_forks ();
  return (guint) g_atomic_int_get (&io_generation);
}
