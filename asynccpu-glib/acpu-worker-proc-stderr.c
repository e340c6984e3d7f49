/* acpu-worker-proc-stderr.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A worker's other output, as the pool sees it (acpu-worker-proc.c is the
 * handle's life): its stderr is read, its last lines kept for the message
 * when it dies, and passed on to ours without ever blocking the I/O thread,
 * with what its runtime printed on the channel before the magic; what it
 * wrote is bytes, escaped into valid UTF-8 wherever it goes into a message.
 *
 * Threads: the I/O thread unless a comment says otherwise.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>

#include "acpu-error.h"
#include "acpu-worker-proc-private.h"

/* How much of a worker's stderr is kept for the message when it dies. */
#define STDERR_TAIL_BYTES 2048
#define STDERR_TAIL_LINES 5
/* How much of a worker's stderr waits for ours to take it; the rest is
 * counted, dropped and said. */
#define FORWARD_MAX_BYTES (64 * 1024)

/* Any thread, no lock. Appends @len bytes a worker wrote to @out as valid
 * UTF-8: bytes that are not UTF-8, and control characters but tab and
 * newline, become `\xNN`, so that a message built from them is valid UTF-8
 * (PyGObject and GJS refuse to convert one that is not) and cannot move a
 * terminal's cursor. */
static void
acpu_worker_proc_append_escaped (GString    *out,
                                 const char *data,
                                 gsize       len)
{
  const char *p = data;
  const char *end = data + len;

  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);

      if (c == (gunichar) -1 || c == (gunichar) -2 ||
          (c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7f && c < 0xa0))
        {
          g_string_append_printf (out, "\\x%02x", (guint) (guint8) *p);
          p++;
        }
      else
        {
          const char *next = g_utf8_next_char (p);

          g_string_append_len (out, p, next - p);
          p = next;
        }
    }
}

/* Any thread, no lock: acpu_worker_proc_append_escaped() into a new string. */
char *
acpu_worker_proc_escape (const char *data,
                         gsize       len)
{
  GString *out = g_string_sized_new (len);

  acpu_worker_proc_append_escaped (out, data, len);
  return g_string_free (out, FALSE);
}

/* [io]: stops reading the worker's stderr. What waits to be passed on to ours
 * stays (acpu_worker_proc_clear_forward()). */
void
acpu_worker_proc_clear_stderr (ACpuWorkerProc *self)
{
  acpu_worker_proc_clear_source (&self->stderr_source);
  if (self->stderr_fd >= 0)
    {
      close (self->stderr_fd);
      self->stderr_fd = -1;
    }
}

/* [io]: the last lines the worker wrote to stderr, joined by @sep, or ""
 * when there are none: escaped, they are bytes (NULs included) and what
 * they go into is UTF-8. */
char *
acpu_worker_proc_stderr_lines (ACpuWorkerProc *self,
                               const char     *sep)
{
  g_autofree char *text = acpu_worker_proc_escape (self->stderr_tail->str, self->stderr_tail->len);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr(GPtrArray) kept = g_ptr_array_new ();

  for (gint i = (gint) g_strv_length (lines) - 1; i >= 0 && kept->len < STDERR_TAIL_LINES; i--)
    {
      g_strstrip (lines[i]);
      if (*lines[i] != '\0')
        g_ptr_array_insert (kept, 0, lines[i]);
    }
  g_ptr_array_add (kept, NULL);
  return g_strjoinv (sep, (char **) kept->pdata);
}

/* [io]: the stderr tail for the message when the worker dies. */
char *
acpu_worker_proc_stderr_tail (ACpuWorkerProc *self)
{
  g_autofree char *joined = acpu_worker_proc_stderr_lines (self, " | ");

  if (*joined == '\0')
    return g_strdup ("");
  return g_strdup_printf ("; its stderr ended with: “%s”", joined);
}

/* Stderr ------------------------------------------------------------------- */

/* Passing a worker's output on to our stderr. All pools share one I/O
 * thread, so this never blocks: fd 2 may be a pipe nobody reads. What fd 2
 * does not take at once waits in fwd_buf (at most FORWARD_MAX_BYTES); past
 * that, output is dropped, counted, and a line says how much once fd 2
 * takes again. O_NONBLOCK cannot be set on fd 2 itself (the flag belongs to
 * the open file description, shared with the application and whoever else
 * holds it), so a pipe or terminal is opened anew through /proc/self/fd/2,
 * non-blocking, for us alone. */

/* [io]: writes what it can of @data to fd 2 at once. Returns how much was taken,
 * or -1 when fd 2 takes nothing any more (closed, no reader). */
static gssize
acpu_worker_proc_write_stderr (ACpuWorkerProc *self,
                               const guint8   *data,
                               gsize           len)
{
  struct stat st;
  gssize n;

  if (fstat (2, &st) < 0)
    return -1;

  if (S_ISREG (st.st_mode) || S_ISBLK (st.st_mode))
    {
      /* A file does not block; the offset and O_APPEND stay the application's. */
      n = write (2, data, len);
    }
  else if (S_ISSOCK (st.st_mode))
    n = send (2, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  else
    {
      /* fd 2 may have been replaced since (dup2()). */
      if (self->fwd_fd >= 0 && (self->fwd_dev != st.st_dev || self->fwd_ino != st.st_ino))
        {
          acpu_worker_proc_clear_source (&self->fwd_source);
          close (self->fwd_fd);
          self->fwd_fd = -1;
        }
      if (self->fwd_fd < 0)
        {
          self->fwd_fd = open ("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
          self->fwd_dev = st.st_dev;
          self->fwd_ino = st.st_ino;
        }
      if (self->fwd_fd >= 0)
        n = acpu_wire_write_no_sigpipe (self->fwd_fd, data, len);
      else
        {
          /* No /proc, or a pipe without a reader (ENXIO): a pipe with room
           * for one page takes PIPE_BUF bytes without blocking. */
          struct pollfd pfd = { 2, POLLOUT, 0 };

          if (poll (&pfd, 1, 0) != 1)
            return 0;
          if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
            return -1;
          n = acpu_wire_write_no_sigpipe (2, data, MIN (len, PIPE_BUF));
        }
    }

  if (n < 0)
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  return n;
}

static gboolean acpu_worker_proc_forward_cb (int          fd,
                                             GIOCondition condition,
                                             gpointer     user_data);

/* [io]: writes what waits in fwd_buf, then the note of what was dropped, as far as
 * fd 2 takes them; watches fd 2 for room for the rest. */
static void
acpu_worker_proc_flush_forward (ACpuWorkerProc *self)
{
  int watch_fd;

  for (;;)
    {
      gssize n;

      if (self->fwd_buf->len == 0 && self->fwd_dropped > 0)
        {
          g_autofree char *note =
            g_strdup_printf ("asynccpu-glib: worker process %d (%s): %" G_GUINT64_FORMAT
                             " bytes of its output dropped: stderr did not take them\n",
                             (int) self->pid, self->display_name, self->fwd_dropped);

          g_byte_array_append (self->fwd_buf, (const guint8 *) note, strlen (note));
          self->fwd_dropped = 0;
        }
      if (self->fwd_buf->len == 0)
        break;

      n = acpu_worker_proc_write_stderr (self, self->fwd_buf->data, self->fwd_buf->len);
      if (n < 0)
        {
          /* Nowhere to pass it on; the tail is still kept. */
          g_byte_array_set_size (self->fwd_buf, 0);
          self->fwd_dropped = 0;
          break;
        }
      if (n == 0)
        break;
      g_byte_array_remove_range (self->fwd_buf, 0, n);
    }

  watch_fd = self->fwd_fd >= 0 ? self->fwd_fd : 2;
  if (self->fwd_buf->len == 0 || watch_fd != self->fwd_source_fd)
    acpu_worker_proc_clear_source (&self->fwd_source);
  if (self->fwd_buf->len > 0 && self->fwd_source == NULL)
    {
      self->fwd_source = g_unix_fd_source_new (watch_fd, G_IO_OUT);
      self->fwd_source_fd = watch_fd;
      g_source_set_callback (self->fwd_source, G_SOURCE_FUNC (acpu_worker_proc_forward_cb),
                             self, NULL);
      g_source_attach (self->fwd_source, self->context);
    }
}

/* [io]: fd 2 takes more (or has failed: the write says which). */
static gboolean
acpu_worker_proc_forward_cb (int          fd,
                             GIOCondition condition,
                             gpointer     user_data)
{
  acpu_worker_proc_flush_forward (user_data);
  return G_SOURCE_CONTINUE;
}

/* [io]: passes @len bytes of output on to our stderr without blocking: in order
 * behind what waits, dropped (and counted) past FORWARD_MAX_BYTES, and,
 * once dropping has begun, until the note has gone. */
static void
acpu_worker_proc_forward (ACpuWorkerProc *self,
                          const guint8   *data,
                          gsize           len)
{
  gsize room;

  if (self->fwd_buf->len == 0 && self->fwd_dropped == 0)
    {
      gssize n = acpu_worker_proc_write_stderr (self, data, len);

      if (n < 0 || (gsize) n == len)
        return;
      data += n;
      len -= n;
    }

  room = self->fwd_dropped > 0 ? 0 : FORWARD_MAX_BYTES - MIN (self->fwd_buf->len, FORWARD_MAX_BYTES);
  g_byte_array_append (self->fwd_buf, data, MIN (len, room));
  self->fwd_dropped += len - MIN (len, room);
  acpu_worker_proc_flush_forward (self);
}

/* [io]: with the last reference: what still waits is dropped. */
void
acpu_worker_proc_clear_forward (ACpuWorkerProc *self)
{
  acpu_worker_proc_clear_source (&self->fwd_source);
  if (self->fwd_fd >= 0)
    {
      close (self->fwd_fd);
      self->fwd_fd = -1;
    }
}

/* [io]: passes output of the worker (its stderr, or text it wrote before the
 * magic) on to our stderr, keeping the tail for the message if it dies. */
void
acpu_worker_proc_pass_output (ACpuWorkerProc *self,
                              const void     *buf,
                              gsize           len)
{
  if (len == 0)
    return;
  acpu_worker_proc_forward (self, buf, len);
  g_string_append_len (self->stderr_tail, buf, len);
  if (self->stderr_tail->len > STDERR_TAIL_BYTES)
    g_string_erase (self->stderr_tail, 0, self->stderr_tail->len - STDERR_TAIL_BYTES);
}

/* [io]: passes what the worker wrote to stderr on to ours, keeping the tail.
 * Returns FALSE when there is nothing more for now. */
gboolean
acpu_worker_proc_read_stderr (ACpuWorkerProc *self)
{
  char buf[16 * 1024];
  gssize n;

  do
    n = read (self->stderr_fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);

  if (n < 0 && errno == EAGAIN)
    return FALSE;
  if (n <= 0)
    {
      acpu_worker_proc_clear_stderr (self);
      return FALSE;
    }

  acpu_worker_proc_pass_output (self, buf, n);
  return TRUE;
}

/* [io]: its stderr has something: a few reads, then the other sources' turn. */
gboolean
acpu_worker_proc_stderr_cb (int          fd,
                            GIOCondition condition,
                            gpointer     user_data)
{
  ACpuWorkerProc *self = user_data;

  for (guint i = 0; i < 4 && self->stderr_fd >= 0; i++)
    if (!acpu_worker_proc_read_stderr (self))
      break;
  return G_SOURCE_CONTINUE;
}
