/* acpu-worker-control.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The control thread and containment: the thread that reads the channel
 * while tasks run and watches the worker's parent, how the main thread
 * wakes it and sends it back to sleep, and how a worker that ends takes
 * what its tasks started along (its process group, the parent-death
 * signal).
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "acpu-worker-private.h"

/* Either thread, no lock: wakes the control thread (wake_fd). */
void
acpu_worker_signal_control (ACpuWorker *self)
{
  guint64 one = 1;

  if (write (self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
    g_warning ("acpu-worker: could not wake the control thread: %s", g_strerror (errno));
}

/* Tells a control thread reading the channel to stop. Called with lock held. */
void
acpu_worker_kick_control_locked (ACpuWorker *self)
{
  if (self->control_polling)
    {
      self->control_polling = FALSE;
      acpu_worker_signal_control (self);
    }
}

/* Has the control thread take over reading if the tasks starting now run
 * for CONTROL_DELAY_US. A timer armed less than a quarter of that ago still
 * fires late enough, and costs no syscall. */
void
acpu_worker_arm_control (ACpuWorker *self)
{
  struct itimerspec when = { .it_value.tv_nsec = CONTROL_DELAY_US * 1000 };
  gint64 now = g_get_monotonic_time ();

  if (now - self->timer_armed < CONTROL_DELAY_US / 4)
    return;
  self->timer_armed = now;
  if (timerfd_settime (self->timer_fd, 0, &when, NULL) < 0)
    g_warning ("acpu-worker: could not arm the control timer: %s", g_strerror (errno));
}

/* Either thread, no lock. When this worker leads its process group (the
 * pool gives it one), kills the rest of the group — what its tasks started —
 * but not itself, so that its own exit status still says how it ended. The
 * pool does the same once it has reaped the worker; this is for when nobody
 * will (the pool's process was SIGKILLed and the worker saw its channel end
 * before its parent-death signal came). */
void
acpu_worker_kill_group_members (void)
{
  pid_t self_pid = getpid ();
  GDir *dir;
  const char *name;

  if (getpgrp () != self_pid || (dir = g_dir_open ("/proc", 0, NULL)) == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *stat = NULL;
      const char *p;
      pid_t pid = (pid_t) g_ascii_strtoll (name, NULL, 10);
      int pgrp;

      if (pid <= 0 || pid == self_pid)
        continue;
      path = g_strdup_printf ("/proc/%s/stat", name);
      /* The field after the command, which may hold anything but ends in ')'. */
      if (!g_file_get_contents (path, &stat, NULL, NULL) || (p = strrchr (stat, ')')) == NULL)
        continue;
      if (sscanf (p + 1, " %*c %*d %d", &pgrp) == 1 && pgrp == (int) self_pid)
        kill (pid, SIGKILL);
    }
  g_dir_close (dir);
}

/* Control thread ----------------------------------------------------------- */

/* Control thread, no lock: empties the eventfd @fd after a wakeup. */
static void
acpu_worker_drain (int fd)
{
  guint64 count;

  if (read (fd, &count, sizeof count) < 0 && errno != EAGAIN)
    g_warning ("acpu-worker: could not read a wakeup: %s", g_strerror (errno));
}

/* Control thread, no lock. The process that started this worker is gone: a
 * launcher SIGKILLed (ssh, srun, a shell), or the pool itself, while the
 * channel may still look open (a relay that keeps the pipes, a grandchild
 * that holds them). Nobody will read a result, and the task running may never
 * look at its cancellable: end now, as acpu_worker_hang_up() does for a task
 * that runs when the pool hangs up. A worker that leads its process group
 * (the pool gives it one; ssh's session does) takes the group with it, so a
 * task's children do not outlive it either. */
static void
acpu_worker_orphaned (ACpuWorker *self)
{
  g_autofree char *text = NULL;

  /* The group first: the words may go to a pipe whose reader was the
   * process that is gone, and a write that raises SIGPIPE ended this
   * process before it took its group along. */
  acpu_worker_kill_group_members ();
  text = g_strdup_printf ("%s: the process that started this worker (pid %d) is gone; exiting\n",
                          g_get_prgname () ? g_get_prgname () : "acpu-worker",
                          (int) self->parent);
  acpu_worker_say (text);
  /* And whatever a running task started since. */
  if (getpgrp () == getpid ())
    kill (0, SIGKILL);
  _exit (1);
}

/* Control thread. Sleeps on the timer until tasks have run for
 * CONTROL_DELAY_US, then reads the channel (taking in_lock) until the main
 * thread kicks it through wake_fd; takes lock to look at busy and hung_up.
 * Every PARENT_POLL_MS it also looks whether its parent changed. */
gpointer
acpu_worker_control_thread (gpointer data)
{
  ACpuWorker *self = data;
  gboolean reading = FALSE;

  for (;;)
    {
      /* Waiting for the timer, or reading the channel for running tasks. */
      struct pollfd fds[2] = {
        { .fd = reading ? self->in_fd : self->timer_fd, .events = POLLIN },
        { .fd = self->wake_fd, .events = POLLIN },
      };
      gboolean fired = FALSE;

      while (poll (fds, G_N_ELEMENTS (fds), PARENT_POLL_MS) < 0 && errno == EINTR)
        ;

      if (getppid () != self->parent)
        acpu_worker_orphaned (self);

      if (fds[1].revents != 0)
        acpu_worker_drain (self->wake_fd);
      if (fds[0].revents != 0)
        {
          if (reading)
            acpu_worker_read_channel (self);
          else
            {
              acpu_worker_drain (self->timer_fd);
              fired = TRUE;
            }
        }

      g_mutex_lock (&self->lock);
      if (self->hung_up)
        {
          g_mutex_unlock (&self->lock);
          break;
        }
      /* Tasks have run for CONTROL_DELAY_US, and still do. */
      reading = self->busy && (reading || fired);
      self->control_polling = reading;
      g_mutex_unlock (&self->lock);
    }

  return NULL;
}

/* Main thread, no lock, at start-up. A pool that starts its own program runs
 * `/proc/self/exe` (see acpu_core_self_argv()), and the kernel names the
 * process after that path's last part: every worker of a GTK application
 * would be "exe" in ps, top and the system monitor. Give it its pool's
 * name when the pool runs the same file (a script run by its #! line has
 * the script's name there, not the interpreter's), else the name of the
 * file it runs. */
void
acpu_worker_name_self (void)
{
  g_autofree char *comm = NULL;
  g_autofree char *name = NULL;
  g_autofree char *parent_exe = g_strdup_printf ("/proc/%d/exe", (int) getppid ());
  g_autofree char *parent_comm = g_strdup_printf ("/proc/%d/comm", (int) getppid ());
  GStatBuf st_self, st_parent;

  if (!g_file_get_contents ("/proc/self/comm", &comm, NULL, NULL) ||
      strcmp (g_strchomp (comm), "exe") != 0 || g_stat ("/proc/self/exe", &st_self) != 0)
    return;

  if (g_stat (parent_exe, &st_parent) == 0 && st_parent.st_dev == st_self.st_dev &&
      st_parent.st_ino == st_self.st_ino &&
      g_file_get_contents (parent_comm, &name, NULL, NULL))
    g_strchomp (name);
  else
    {
      g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
      char *deleted;

      if (exe == NULL)
        return;
      /* A file deleted or replaced since it started is "path (deleted)". */
      deleted = g_strrstr (exe, " (deleted)");
      if (deleted != NULL && deleted[strlen (" (deleted)")] == '\0')
        *deleted = '\0';
      name = g_path_get_basename (exe);
    }
  if (*name != '\0' && strcmp (name, "exe") != 0 && strcmp (name, "/") != 0)
    prctl (PR_SET_NAME, name);  /* truncated to 15 bytes, as exec does */
}

/* The signal the kernel sends when the pool dies (PR_SET_PDEATHSIG), once
 * acpu_worker_die_with_parent() has taken it over. */
#define PARENT_DEATH_SIGNAL (SIGRTMAX - 3)

/* In a signal handler, any thread: async-signal-safe calls only. The pool
 * died: end now and take the process group along (the pool gave us one), as
 * acpu_worker_orphaned() does, only at once. */
static void
acpu_worker_parent_died (int signum)
{
  if (getpgrp () == getpid ())
    kill (0, SIGKILL);
  _exit (1);
}

/* Main thread, at start-up. A local pool asks the kernel for our SIGKILL
 * when it dies (PR_SET_PDEATHSIG): that ends this process, not what its
 * tasks started. Take it over with a signal whose handler SIGKILLs the
 * whole process group, this process included. The pool's SIGKILL stands
 * until then; a death in between is seen by the control thread. */
void
acpu_worker_die_with_parent (void)
{
  struct sigaction action = { 0 };
  int current = 0;

  if (prctl (PR_GET_PDEATHSIG, &current) < 0 || current == 0 || getpgrp () != getpid ())
    return;
  action.sa_handler = acpu_worker_parent_died;
  sigemptyset (&action.sa_mask);
  if (sigaction (PARENT_DEATH_SIGNAL, &action, NULL) == 0)
    prctl (PR_SET_PDEATHSIG, PARENT_DEATH_SIGNAL);
}

