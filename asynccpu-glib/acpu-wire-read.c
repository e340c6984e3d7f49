/* acpu-wire-read.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Reading the wire (acpu-wire.c describes it): bytes and descriptors come
 * in as the peer sends them, memory growing only with what really arrives;
 * before the handshake, what precedes the magic is skipped; each frame's
 * header is checked (type, direction, flags, size) before its body has
 * arrived, and a whole frame is handed to acpu-wire-message.c to decode.
 *
 * Threads: none of its own; the caller owns @in (see acpu-wire.c).
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acpu-error.h"
#include "acpu-error-private.h"
#include "acpu-wire-private.h"

#define READ_CHUNK (64 * 1024)
#define MAX_READ   (4 * 1024 * 1024)

/* Bodies are padded to 8 bytes, as acpu-wire.c writes them. */
#define PAD8(n) (((n) + 7) & ~(gsize) 7)

/* Reading ------------------------------------------------------------------ */

/* Any thread; the caller owns @in (see "Threads" above). An empty input
 * for @reader that refuses frames over @max_size. */
void
acpu_wire_in_init (ACpuWireIn     *in,
                   ACpuWireReader  reader,
                   guint64         max_size)
{
  in->buf = g_byte_array_new ();
  in->head = 0;
  g_queue_init (&in->fds);
  in->reader = reader;
  in->max_size = max_size;
  in->preamble = 0;
  in->dontwait = FALSE;
  in->not_socket = FALSE;
  in->defer_size = G_MAXUINT64;
}

/* Any thread; the caller owns @in. Drops the bytes not parsed and closes
 * the descriptors no frame claimed. */
void
acpu_wire_in_clear (ACpuWireIn *in)
{
  int fd;

  while ((fd = GPOINTER_TO_INT (g_queue_pop_head (&in->fds))) > 0)
    close (fd - 1);
  g_clear_pointer (&in->buf, g_byte_array_unref);
  in->head = 0;
}

/* Any thread; the caller owns @in. Moves what is not parsed yet to the
 * front of the buffer once half of it is parsed, so that it does not grow
 * with the stream. */
static void
acpu_wire_in_compact (ACpuWireIn *in)
{
  if (in->head == in->buf->len)
    {
      g_byte_array_set_size (in->buf, 0);
      in->head = 0;
    }
  else if (in->head > 0 && in->head >= in->buf->len / 2)
    {
      g_byte_array_remove_range (in->buf, 0, in->head);
      in->head = 0;
    }
}

/* Any thread; the caller owns @in. Appends @len bytes received some other
 * way (tests, fuzzing) as if read from the channel. */
void
acpu_wire_in_feed (ACpuWireIn   *in,
                   const guint8 *data,
                   gsize         len)
{
  acpu_wire_in_compact (in);
  g_byte_array_append (in->buf, data, len);
}

/* Any thread; the caller owns @in. Takes @fd, a descriptor received on the
 * channel, in arrival order; more than ACPU_WIRE_MAX_PENDING_FDS unclaimed
 * ones is a protocol error (and @fd is closed). */
gboolean
acpu_wire_in_feed_fd (ACpuWireIn  *in,
                      int          fd,
                      GError     **error)
{
  if (g_queue_get_length (&in->fds) >= ACPU_WIRE_MAX_PENDING_FDS)
    {
      close (fd);
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                           "The peer sent descriptors that no frame claims");
      return FALSE;
    }
  /* Stored off by one so that descriptor 0 is not NULL. */
  g_queue_push_tail (&in->fds, GINT_TO_POINTER (fd + 1));
  return TRUE;
}

/* Any thread; the caller owns @in. How many bytes to ask for: the rest of
 * the frame being read, within bounds: at most MAX_READ at a time, and only
 * for a frame whose header is within max_size (acpu_wire_in_next() refuses
 * the others), so a claimed size never allocates more than arrives. */
static gsize
acpu_wire_in_want (ACpuWireIn *in)
{
  gsize avail = in->buf->len - in->head;

  if (avail >= ACPU_WIRE_HEADER_SIZE)
    {
      guint32 size_le;
      gsize frame;

      memcpy (&size_le, in->buf->data + in->head, 4);
      frame = ACPU_WIRE_HEADER_SIZE + PAD8 ((gsize) GUINT32_FROM_LE (size_le));
      if (frame > avail && frame - avail > READ_CHUNK &&
          GUINT32_FROM_LE (size_le) <= in->max_size)
        return MIN (frame - avail, MAX_READ);
    }
  return READ_CHUNK;
}

/* Reads up to @len bytes into @data from @fd once, taking the descriptors
 * that come along: recvmsg() on a socket; read() on a pipe or a tty, found
 * out by recvmsg()'s ENOTSOCK and remembered in @in (no descriptors can come
 * that way). With dontwait on a pipe, a poll() first: no other thread reads
 * @in's fd at the same time (the caller's lock), so what poll() saw is still
 * there for read(). Returns what recvmsg()/read() does, errno set; -1 with
 * @error set (and errno 0) when the descriptors that came are refused. Any
 * thread; the caller holds the lock that serializes reads of @in. */
static gssize
acpu_wire_in_recv (ACpuWireIn   *in,
                   int           fd,
                   guint8       *data,
                   gsize         len,
                   GError      **error)
{
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int) * ACPU_WIRE_MAX_PENDING_FDS)];
  } control;
  struct msghdr msg = { 0 };
  struct iovec iov;
  gssize n;

  if (in->not_socket)
    {
      if (in->dontwait)
        {
          struct pollfd pfd = { .fd = fd, .events = POLLIN };
          int r;

          while ((r = poll (&pfd, 1, 0)) < 0 && errno == EINTR)
            ;
          if (r == 0)
            {
              errno = EAGAIN;
              return -1;
            }
        }
      do
        n = read (fd, data, len);
      while (n < 0 && errno == EINTR);
      return n;
    }

  iov.iov_base = data;
  iov.iov_len = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;

  do
    n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC | (in->dontwait ? MSG_DONTWAIT : 0));
  while (n < 0 && errno == EINTR);

  if (n < 0 && errno == ENOTSOCK)
    {
      in->not_socket = TRUE;
      return acpu_wire_in_recv (in, fd, data, len, error);
    }
  if (n < 0)
    return n;

  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR (&msg); cmsg; cmsg = CMSG_NXTHDR (&msg, cmsg))
    {
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
        {
          gsize n_fds = (cmsg->cmsg_len - CMSG_LEN (0)) / sizeof (int);
          gboolean ok = TRUE;

          for (gsize i = 0; i < n_fds; i++)
            {
              int rfd;

              memcpy (&rfd, CMSG_DATA (cmsg) + i * sizeof (int), sizeof (int));
              if (ok)
                ok = acpu_wire_in_feed_fd (in, rfd, error);
              else
                close (rfd);
            }
          if (!ok)
            {
              errno = 0;
              return -1;
            }
        }
    }

  if (msg.msg_flags & MSG_CTRUNC)
    {
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                           "The peer sent more descriptors than a frame may carry");
      errno = 0;
      return -1;
    }

  return n;
}

/* Reads once from @fd into the end of @in's buffer: at most the rest of the
 * frame being read (acpu_wire_in_want()), so memory grows with what really
 * arrives. Returns the number of bytes read, 0 at end of stream, or -1 with
 * @error set (G_IO_ERROR_WOULD_BLOCK when there is nothing yet). Any thread;
 * the caller holds the lock that serializes reads of @in (the pool's I/O
 * thread owns its @in; the worker's in_lock). */
gssize
acpu_wire_in_read (ACpuWireIn  *in,
                   int          fd,
                   GError     **error)
{
  gsize want, at;
  gssize n;

  acpu_wire_in_compact (in);
  want = acpu_wire_in_want (in);
  at = in->buf->len;
  g_byte_array_set_size (in->buf, at + want);

  n = acpu_wire_in_recv (in, fd, in->buf->data + at, want, error);
  if (n < 0)
    {
      int errsv = errno;

      g_byte_array_set_size (in->buf, at);
      if (errsv != 0)
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                     "Could not read from the channel: %s", g_strerror (errsv));
      return -1;
    }

  g_byte_array_set_size (in->buf, at + n);
  return n;
}

/* Pool, any thread; the caller owns @in.
 * Before the handshake: consumes the bytes up to and including the magic,
 * appending those before it to @skipped. Returns TRUE once the magic is
 * consumed, FALSE when more bytes are needed; fails when more than
 * ACPU_WIRE_MAX_PREAMBLE bytes came without it. */
gboolean
acpu_wire_in_find_magic (ACpuWireIn  *in,
                         GByteArray  *skipped,
                         GError     **error)
{
  const guint8 *p = in->buf->data + in->head;
  gsize avail = in->buf->len - in->head;
  /* An empty GByteArray's data may be NULL, which memmem() must not get. */
  const guint8 *hit = avail > 0 ? memmem (p, avail, ACPU_WIRE_MAGIC, ACPU_WIRE_MAGIC_LEN) : NULL;
  gsize skip;

  /* Without a hit, keep what could be the start of a magic cut in two. */
  if (hit != NULL)
    skip = hit - p;
  else
    skip = avail >= ACPU_WIRE_MAGIC_LEN ? avail - (ACPU_WIRE_MAGIC_LEN - 1) : 0;

  g_byte_array_append (skipped, p, skip);
  in->head += skip;
  in->preamble += skip;

  if (hit != NULL)
    {
      in->head += ACPU_WIRE_MAGIC_LEN;
      return TRUE;
    }

  if (in->preamble > ACPU_WIRE_MAX_PREAMBLE)
    g_set_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                 "The peer wrote more than %u bytes without the protocol’s magic",
                 (guint) ACPU_WIRE_MAX_PREAMBLE);
  return FALSE;
}

/* Any thread, no lock. Decodes a frame header at @p (16 bytes, any
 * alignment): body size (unpadded), type, flags and id. Checks nothing. */
static void
acpu_wire_header_decode (const guint8 *p,
                         gsize        *size,
                         guint        *type,
                         guint        *flags,
                         guint64      *id)
{
  guint32 size_le;
  guint64 id_le;

  memcpy (&size_le, p, 4);
  memcpy (&id_le, p + 8, 8);
  *size = GUINT32_FROM_LE (size_le);
  *type = p[4];
  *flags = p[5];
  *id = GUINT64_FROM_LE (id_le);
}

/* Any thread; the caller owns @in.
 * The header of the next frame, if it is all there: its type, flags and id,
 * and its whole size on the stream (header and padded body). Checks
 * nothing: acpu_wire_in_next() does. */
gboolean
acpu_wire_in_peek (ACpuWireIn *in,
                   guint      *type,
                   guint      *flags,
                   guint64    *id,
                   gsize      *frame_size)
{
  gsize size;

  if (in->buf->len - in->head < ACPU_WIRE_HEADER_SIZE)
    return FALSE;

  acpu_wire_header_decode (in->buf->data + in->head, &size, type, flags, id);
  *frame_size = ACPU_WIRE_HEADER_SIZE + PAD8 (size);
  return TRUE;
}

/* Any thread; the caller owns @in. Parses the next whole frame. Returns
 * TRUE with @msg filled in; FALSE with @error unset when more bytes are
 * needed; FALSE with @error set (ACPU_ERROR_PROTOCOL) when the input is
 * malformed: then the channel is beyond repair and the caller must end it.
 * The header is checked (type, direction, flags, reserved bytes, size)
 * before the body has arrived, so a lying size costs nothing. */
gboolean
acpu_wire_in_next (ACpuWireIn       *in,
                   ACpuWireMessage  *msg,
                   GError          **error)
{
  const guint8 *p;
  gsize avail = in->buf->len - in->head;
  gsize size;
  guint type, flags;
  guint64 id, limit;
  const GVariantType *body_type;

  memset (msg, 0, sizeof *msg);
  msg->fd = -1;

  if (avail < ACPU_WIRE_HEADER_SIZE)
    return FALSE;

  p = in->buf->data + in->head;
  acpu_wire_header_decode (p, &size, &type, &flags, &id);

  if (!acpu_wire_type_allowed (in->reader, type))
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                   "The peer sent a frame of unknown type %u", type);
      return FALSE;
    }
  if ((flags & ~ACPU_WIRE_FLAG_MEMFD) != 0 || p[6] != 0 || p[7] != 0 ||
      ((flags & ACPU_WIRE_FLAG_MEMFD) && type != ACPU_WIRE_REQUEST && type != ACPU_WIRE_RESULT &&
       type != ACPU_WIRE_PARTIAL))
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                   "The peer sent a frame with unknown flags 0x%02x", flags);
      return FALSE;
    }
  /* A log record is small, whatever the pool's limit on values. */
  limit = type == ACPU_WIRE_LOG ? MIN (in->max_size, ACPU_WIRE_MAX_LOG_FRAME)
        : type == ACPU_WIRE_PROGRESS ? MIN (in->max_size, ACPU_WIRE_MAX_PROGRESS_FRAME)
        : in->max_size;
  if (size > limit)
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                   "The peer sent a frame of %" G_GSIZE_FORMAT " bytes, over %s "
                   "(%" G_GUINT64_FORMAT " bytes)", size,
                   limit == in->max_size ? "max-message-size" : "the limit for its type",
                   limit);
      return FALSE;
    }
  if (type == ACPU_WIRE_CANCEL && size != 0)
    {
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                           "The peer sent a cancel frame with a body");
      return FALSE;
    }

  if (avail - ACPU_WIRE_HEADER_SIZE < PAD8 (size))
    return FALSE;

  msg->type = type;
  msg->id = id;

  body_type = acpu_wire_body_type (type, flags & ACPU_WIRE_FLAG_MEMFD);
  if (body_type != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (p + ACPU_WIRE_HEADER_SIZE, size);

      msg->body = acpu_wire_variant_new (body_type, bytes, "a frame body", error);
    }

  in->head += ACPU_WIRE_HEADER_SIZE + PAD8 (size);

  if ((body_type != NULL && msg->body == NULL) ||
      !acpu_wire_message_unpack (in, msg, flags & ACPU_WIRE_FLAG_MEMFD, error))
    {
      acpu_wire_message_clear (msg);
      return FALSE;
    }

  return TRUE;
}
