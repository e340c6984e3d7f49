/* fuzz-wire-frames.c — the channel's reader, fed a raw byte stream.
 *
 * Built twice by tools/fuzz.sh: wire-frames-pool (what a pool reads from a
 * worker) and wire-frames-worker (what a worker reads from its pool).
 *
 * Input: one control byte, then the stream.
 *   bit 0     limit: 1 GiB (the default) or 4 KiB
 *   bit 1     through a real socketpair and acpu_wire_in_read() (the path
 *             that sizes its reads from the header) — else acpu_wire_in_feed()
 *   bit 2-3   socketpair: send one memfd (SCM_RIGHTS) on the first byte,
 *             0 none, 1 sealed, 2 unsealed, 3 two sealed ones
 *   bit 2-7   feed: chunk size - 1, in 4-byte steps
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "fuzz-common.h"

#include <errno.h>
#include <sys/socket.h>

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static void
send_all (int           fd,
          const guint8 *data,
          gsize         len,
          const int    *fds,
          guint         n_fds)
{
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int) * 2)];
  } control;
  gsize done = 0;

  while (done < len)
    {
      struct msghdr msg = { 0 };
      struct iovec iov = { (guint8 *) data + done, len - done };
      gssize n;

      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      if (done == 0 && n_fds > 0)
        {
          struct cmsghdr *cmsg;

          iov.iov_len = 1;
          memset (&control, 0, sizeof control);
          msg.msg_control = control.buf;
          msg.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
          cmsg = CMSG_FIRSTHDR (&msg);
          cmsg->cmsg_level = SOL_SOCKET;
          cmsg->cmsg_type = SCM_RIGHTS;
          cmsg->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
          memcpy (CMSG_DATA (cmsg), fds, sizeof (int) * n_fds);
        }
      n = sendmsg (fd, &msg, MSG_NOSIGNAL);
      g_assert (n > 0);
      done += n;
    }
}

static void
through_socket (ACpuWireIn   *in,
                guint8        mode,
                const guint8 *data,
                gsize         size)
{
  guint memfds = (mode >> 2) & 3;
  int fds[2] = { -1, -1 };
  int sv[2];
  guint n_fds = 0;

  g_assert (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  g_assert (g_unix_set_fd_nonblocking (sv[0], TRUE, NULL));

  if (size > 0 && memfds != 0)
    {
      gsize len = MIN (size, 256);

      fds[n_fds++] = fuzz_memfd (data, len, memfds == 2 ? 0 : SEALS);
      if (memfds == 3)
        fds[n_fds++] = fuzz_memfd (data, len / 2, SEALS);
    }

  /* Inputs are at most -max_len bytes: they fit in the socket's buffer. */
  if (size > 0)
    send_all (sv[1], data, size, fds, n_fds);
  for (guint i = 0; i < n_fds; i++)
    close (fds[i]);
  close (sv[1]);

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gssize n = acpu_wire_in_read (in, sv[0], &error);

      if (n < 0)
        {
          g_assert_nonnull (error);
          break;
        }
      if (!fuzz_drain (in) || n == 0)
        break;
    }

  close (sv[0]);
}

static void
through_feed (ACpuWireIn   *in,
              guint8        mode,
              const guint8 *data,
              gsize         size)
{
  gsize chunk = ((mode >> 2) * 4) + 1;

  for (gsize i = 0; i < size; i += chunk)
    {
      acpu_wire_in_feed (in, data + i, MIN (chunk, size - i));
      if (!fuzz_drain (in))
        return;
    }
}

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  ACpuWireIn in;
  guint8 mode;

  fuzz_init_once ();
  if (size < 1)
    return 0;
  mode = data[0];
  data++;
  size--;

  acpu_wire_in_init (&in, FUZZ_READER, (mode & 1) ? ACPU_WIRE_DEFAULT_MAX_SIZE : 4096);
  if (mode & 2)
    through_socket (&in, mode, data, size);
  else
    through_feed (&in, mode, data, size);
  /* Closes descriptors received but never claimed. */
  acpu_wire_in_clear (&in);
  fuzz_check_fds ();

  return 0;
}
