/* acpu-worker-stdio.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Start-up: whether standard input and output can be a pool's channel, and
 * taking the channel off them, so that what a task prints cannot reach it.
 */

#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "acpu-worker-private.h"

/* Start-up ----------------------------------------------------------------- */

/* Main thread, at start-up. Why descriptor @fd (0 or 1), whose fstat() is
 * @st, cannot be a pool's channel, or NULL when it can: a Unix socket (a
 * local pool, bwrap), a pipe (ssh) or, for standard output only, a terminal
 * that is not this session's controlling terminal (the pty `srun -u` gives).
 * A terminal on standard input, /dev/null, a regular file, or standard output
 * on the terminal of the session (a person's shell) is never a pool. */
static const char *
acpu_worker_channel_problem (int                fd,
                             const struct stat *st)
{
  if (isatty (fd))
    {
      if (fd == 0)
        return "standard input is a terminal";
      if (tcgetsid (fd) >= 0 && tcgetsid (fd) == getsid (0))
        return "standard output is this session's terminal";
      return NULL;
    }
  if (S_ISSOCK (st->st_mode) || S_ISFIFO (st->st_mode))
    return NULL;
  if (S_ISCHR (st->st_mode))
    return fd == 0 ? "standard input is a device (/dev/null?), not a pipe or a socket"
                   : "standard output is a device (/dev/null?), not a pipe, socket or pty";
  if (S_ISREG (st->st_mode))
    return fd == 0 ? "standard input is a file, not a pipe or a socket"
                   : "standard output is a file, not a pipe, socket or pty";
  return fd == 0 ? "standard input is not a pipe or a socket"
                 : "standard output is not a pipe, socket or pty";
}

/* Main thread, at start-up. A pty for the channel (`srun -u` gives one for
 * standard output) must pass every byte as it is: raw mode, as cfmakeraw()
 * sets it (no output processing, so no \n → \r\n; no echo; no signals). */
static gboolean
acpu_worker_make_raw (int fd)
{
  struct termios tio;

  if (!isatty (fd))
    return TRUE;
  if (tcgetattr (fd, &tio) < 0)
    return FALSE;
  cfmakeraw (&tio);
  return tcsetattr (fd, TCSANOW, &tio) == 0;
}

/* Main thread, at start-up. Moves the channel off fds 0 and 1: fd 1 goes to
 * stderr, fd 0 to /dev/null. Returns FALSE with *@problem set when standard
 * input and output cannot be a channel. */
gboolean
acpu_worker_take_stdio (ACpuWorker  *self,
                        const char **problem)
{
  struct stat st_in, st_out, st_err;
  int null_fd, flags;

  *problem = NULL;
  if (fstat (0, &st_in) < 0 || fstat (1, &st_out) < 0)
    {
      *problem = "standard input or output is closed";
      return FALSE;
    }
  *problem = acpu_worker_channel_problem (0, &st_in);
  if (*problem == NULL)
    *problem = acpu_worker_channel_problem (1, &st_out);
  if (*problem != NULL)
    return FALSE;

  self->in_fd = fcntl (0, F_DUPFD_CLOEXEC, 3);
  if (st_in.st_dev == st_out.st_dev && st_in.st_ino == st_out.st_ino)
    self->out_fd = self->in_fd;
  else
    self->out_fd = fcntl (1, F_DUPFD_CLOEXEC, 3);
  if (self->in_fd < 0 || self->out_fd < 0)
    {
      *problem = "no descriptor left for the channel";
      return FALSE;
    }
  if (!acpu_worker_make_raw (self->out_fd))
    {
      *problem = "standard output is a terminal that cannot be put in raw mode";
      return FALSE;
    }

  /* Blocking writes: a reply waits for a pool slow to read. Reads follow a
   * poll and do not wait (ACpuWireIn.dontwait). */
  flags = fcntl (self->in_fd, F_GETFL);
  fcntl (self->in_fd, F_SETFL, flags & ~O_NONBLOCK);
  flags = fcntl (self->out_fd, F_GETFL);
  fcntl (self->out_fd, F_SETFL, flags & ~O_NONBLOCK);

  fflush (stdout);
  null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  /* A launcher may give standard error the channel's pty too: then what a
   * task prints must not go there. */
  if (fstat (2, &st_err) == 0 && st_err.st_dev == st_out.st_dev &&
      st_err.st_ino == st_out.st_ino && st_err.st_rdev == st_out.st_rdev && null_fd >= 0)
    dup2 (null_fd, 2);
  dup2 (2, 1);
  if (null_fd >= 0)
    {
      dup2 (null_fd, 0);
      close (null_fd);
    }

  return TRUE;
}

