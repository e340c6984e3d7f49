/* hostile-worker.c — a worker that breaks the protocol on purpose.
 *
 * Usage (as a pool's worker_argv): hostile-worker MODE [ONCE-FILE]
 *
 * It speaks the wire protocol itself, frame by frame, without ACpuWorker:
 * only the reader (ACpuWireIn, to understand the pool's requests) comes from
 * the library. It registers three tasks:
 *
 *   echo   returns its arguments (well-behaved, always)
 *   pid    returns (i) its pid (well-behaved, always)
 *   sleep  (u ms) sleeps, then returns (i) its pid (well-behaved, always)
 *   bad    misbehaves as MODE says (request-level modes); a mode that needs
 *          no "bad" request answers it with (s) "bad-ok"
 *
 * With ONCE-FILE, the process that creates ONCE-FILE misbehaves and any
 * later one (the pool's replacement) behaves: so a test can check that the
 * same pool serves the next task.
 *
 * Handshake modes (misbehave instead of, or around, the hello):
 *   no-hello        never sends a hello, waits to be killed
 *   hello-partial   sends half a hello, then silence
 *   hello-garbage   sends garbage instead of a hello
 *   hello-version   hello with protocol version 99
 *   hello-names     hello with 5000 task names
 *   hello-twice     two hellos
 *   early-result    a result before the hello
 *   fd-flood        ten descriptors with no frame to claim them, then a hello
 *   stdout-noise    200 KiB of text before the magic (a runtime's start-up
 *                   messages), then behaves
 *   noise-flood     2 MiB of text and never the magic
 *   binary-noise    binary bytes (an ELF header, NULs, invalid UTF-8, the
 *                   text BINARY-MARKER) before any magic, then waits
 *
 * Request modes (misbehave when a "bad" request arrives):
 *   garbage         bytes that are not a frame
 *   huge            a header claiming a body of 4 GiB - 1 bytes
 *   huge-slow       a header claiming 512 MiB, then a trickle of bytes
 *   wrong-type      a result whose body is not a `v`
 *   truncated       half a result frame, then silence
 *   unknown-id      a result for a request id it was never given
 *   duplicate       the right result, then (when the next request comes)
 *                   the same result again
 *   memfd-unsealed  a memfd result whose memfd is not sealed
 *   memfd-truncate  a memfd result whose memfd (unsealed) it truncates to 0
 *                   right after sending: the pool must not SIGBUS
 *   memfd-missing   a memfd result with no descriptor
 *   memfd-notmemfd  a memfd result whose descriptor is a pipe
 *   memfd-sparse    a sealed memfd result of 256 MiB of zeros (ftruncate: it
 *                   costs the worker nothing) as an `aay`: every element an
 *                   empty array, a valid value whose check walks 64 Mi
 *                   elements (seconds)
 *   memfd-sparse-invalid  the same, 2 MiB, as an `as`: not in normal form (a
 *                   string needs its nul)
 *   memfd-sparse-exit  as memfd-sparse, then exits at once (status 3)
 *   log-flood       100000 log records, then the right result
 *   log-evil        log records at every level bit (G_LOG_LEVEL_ERROR and
 *                   G_LOG_FLAG_FATAL included), spoofing ACPU_WORKER_PID and
 *                   ACPU_TASK, with an empty key, binary and invalid UTF-8
 *                   values, 32 fields; then the right result
 *   stderr-die      writes lines to stderr, then SIGKILLs itself
 *   stderr-latin1   writes "caf\xe9" (Latin-1, not UTF-8) to stderr, then
 *                   SIGKILLs itself
 *   stderr-flood    writes 1 MiB to stderr, then the right result
 *   session         answers (iiiis): getsid (0), getpid (), the errno of
 *                   open ("/dev/tty") (0 if it opened), getpgid (0) and
 *                   /proc/self/autogroup ("" where there is none)
 *   dribble         a result frame one byte every 250 ms (about 10 s in all)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acpu-error.h"
#include "acpu-wire-private.h"

static int channel = -1;

static void
write_all (const void *data,
           gsize       len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      gssize n = write (channel, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        _exit (9);
      p += n;
      len -= n;
    }
}

/* Sends @data with @fds (SCM_RIGHTS) riding on its first byte. */
static void
send_with_fds (const guint8 *data,
               gsize         len,
               const int    *fds,
               guint         n_fds)
{
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int) * 16)];
  } control;
  struct msghdr msg = { 0 };
  struct iovec iov = { (guint8 *) data, 1 };
  struct cmsghdr *cmsg;

  g_assert (n_fds <= 16 && len > 0);
  memset (&control, 0, sizeof control);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
  cmsg = CMSG_FIRSTHDR (&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
  memcpy (CMSG_DATA (cmsg), fds, sizeof (int) * n_fds);
  if (sendmsg (channel, &msg, MSG_NOSIGNAL) != 1)
    _exit (9);
  write_all (data + 1, len - 1);
}

/* A whole frame, in memory: header, body, padding. */
static GByteArray *
frame_new (guint8        type,
           guint8        flags,
           guint64       id,
           const void   *body,
           guint32       size)
{
  static const guint8 zeros[8] = { 0 };
  GByteArray *frame = g_byte_array_new ();
  guint8 header[ACPU_WIRE_HEADER_SIZE] = { 0 };
  guint32 size_le = GUINT32_TO_LE (size);
  guint64 id_le = GUINT64_TO_LE (id);

  memcpy (header, &size_le, 4);
  header[4] = type;
  header[5] = flags;
  memcpy (header + 8, &id_le, 8);
  g_byte_array_append (frame, header, sizeof header);
  if (size > 0)
    {
      g_byte_array_append (frame, body, size);
      g_byte_array_append (frame, zeros, (8 - size % 8) % 8);
    }
  return frame;
}

static GByteArray *
frame_new_variant (guint8    type,
                   guint8    flags,
                   guint64   id,
                   GVariant *body)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (body);

  return frame_new (type, flags, id, g_variant_get_data (owned), g_variant_get_size (owned));
}

static void
send_frame (GByteArray *frame)
{
  write_all (frame->data, frame->len);
  g_byte_array_unref (frame);
}

static void
send_hello (guint32 version,
            guint   n_extra_names)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (names, g_strdup ("echo"));
  g_ptr_array_add (names, g_strdup ("pid"));
  g_ptr_array_add (names, g_strdup ("sleep"));
  g_ptr_array_add (names, g_strdup ("bad"));
  for (guint i = 0; i < n_extra_names; i++)
    g_ptr_array_add (names, g_strdup_printf ("extra-%u", i));
  g_ptr_array_add (names, NULL);

  send_frame (frame_new_variant (ACPU_WIRE_HELLO, 0, 0,
                                 g_variant_new ("(uuu^as)", version, (guint32) getpid (),
                                                (guint32) ACPU_WIRE_HELLO_CAN_RECEIVE_FDS,
                                                (char **) names->pdata)));
}

static void
send_result (guint64   id,
             GVariant *value)
{
  send_frame (frame_new_variant (ACPU_WIRE_RESULT, 0, id, g_variant_new_variant (value)));
}

static G_NORETURN void
wait_to_be_killed (void)
{
  for (;;)
    pause ();
}

/* A memfd holding @value's bytes; sealed as @seals says. */
static int
value_memfd (GVariant *value,
             int       seals)
{
  int fd = memfd_create ("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  gsize size = g_variant_get_size (value);
  g_autofree guint8 *data = g_malloc (size);
  gsize done = 0;

  g_assert (fd >= 0);
  g_variant_store (value, data);
  while (done < size)
    {
      gssize n = write (fd, data + done, size - done);
      g_assert (n > 0);
      done += n;
    }
  if (seals != 0)
    g_assert (fcntl (fd, F_ADD_SEALS, seals) == 0);
  return fd;
}

/* The value a memfd result carries: large enough to be worth a mapping. */
static GVariant *
big_value (void)
{
  gsize n = 1024 * 1024;
  guint8 *bytes = g_malloc0 (n);

  return g_variant_ref_sink (g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, bytes, n,
                                                      TRUE, g_free, bytes));
}

static void
send_memfd_result (guint64 id,
                   int     fd,
                   const char *type_string)
{
  GByteArray *frame = frame_new_variant (ACPU_WIRE_RESULT, ACPU_WIRE_FLAG_MEMFD, id,
                                         g_variant_new_string (type_string));

  if (fd >= 0)
    send_with_fds (frame->data, frame->len, &fd, 1);
  else
    write_all (frame->data, frame->len);
  g_byte_array_unref (frame);
}

/* Request modes: what to do with a "bad" request. */
static void
misbehave (const char *mode,
           guint64     id)
{
  if (g_str_equal (mode, "garbage"))
    {
      write_all ("\xff\xfe\xfd\xfc this is not a frame at all, not at all\n", 42);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "huge"))
    {
      guint8 header[ACPU_WIRE_HEADER_SIZE] = { 0xff, 0xff, 0xff, 0xff, ACPU_WIRE_RESULT };
      guint64 id_le = GUINT64_TO_LE (id);

      memcpy (header + 8, &id_le, 8);
      write_all (header, sizeof header);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "huge-slow"))
    {
      guint8 header[ACPU_WIRE_HEADER_SIZE] = { 0, 0, 0, 0x20, ACPU_WIRE_RESULT };
      guint64 id_le = GUINT64_TO_LE (id);
      static guint8 chunk[64 * 1024];

      /* 0x20000000 = 512 MiB, under the default limit: a reader that
       * allocated what the header claims would grow by that much. */
      memcpy (header + 8, &id_le, 8);
      write_all (header, sizeof header);
      for (;;)
        {
          write_all (chunk, sizeof chunk);
          g_usleep (10 * 1000);
        }
    }
  else if (g_str_equal (mode, "wrong-type"))
    {
      /* A `(sis)` body where a `v` belongs. */
      send_frame (frame_new_variant (ACPU_WIRE_RESULT, 0, id,
                                     g_variant_new ("(sis)", "not", 1, "a variant")));
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "truncated"))
    {
      g_autoptr(GVariant) value = g_variant_ref_sink (g_variant_new_variant (g_variant_new ("(s)", "cut")));
      GByteArray *frame = frame_new (ACPU_WIRE_RESULT, 0, id, g_variant_get_data (value),
                                     g_variant_get_size (value));

      write_all (frame->data, frame->len / 2);
      g_byte_array_unref (frame);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "unknown-id"))
    {
      send_result (id + 1000, g_variant_new ("(s)", "for nobody"));
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "duplicate"))
    {
      /* The second copy goes out when the next request arrives. */
      send_result (id, g_variant_new ("(s)", "bad-ok"));
    }
  else if (g_str_equal (mode, "memfd-unsealed"))
    {
      g_autoptr(GVariant) value = big_value ();
      int fd = value_memfd (value, 0);

      send_memfd_result (id, fd, "ay");
      close (fd);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "memfd-truncate"))
    {
      g_autoptr(GVariant) value = big_value ();
      int fd = value_memfd (value, 0);

      send_memfd_result (id, fd, "ay");
      /* Pull the pages from under the reader, whenever it maps them. */
      for (guint i = 0; i < 200; i++)
        {
          if (ftruncate (fd, 0) < 0 || ftruncate (fd, g_variant_get_size (value)) < 0)
            break;
          g_usleep (1000);
        }
      if (ftruncate (fd, 0) < 0)
        _exit (10);
      close (fd);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "memfd-missing"))
    {
      send_memfd_result (id, -1, "ay");
      wait_to_be_killed ();
    }
  else if (g_str_has_prefix (mode, "memfd-sparse"))
    {
      gboolean valid = !g_str_equal (mode, "memfd-sparse-invalid");
      int fd = memfd_create ("hostile-sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);

      g_assert (fd >= 0);
      g_assert (ftruncate (fd, valid ? 256 * 1024 * 1024 : 2 * 1024 * 1024) == 0);
      g_assert (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0);
      send_memfd_result (id, fd, valid ? "aay" : "as");
      close (fd);
      if (g_str_equal (mode, "memfd-sparse-exit"))
        _exit (3);
    }
  else if (g_str_equal (mode, "memfd-notmemfd"))
    {
      int p[2];

      g_assert (pipe (p) == 0);
      send_memfd_result (id, p[0], "ay");
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "log-flood"))
    {
      g_autoptr(GByteArray) batch = g_byte_array_new ();

      for (guint i = 0; i < 100000; i++)
        {
          g_autofree char *text = g_strdup_printf ("flood %u", i);
          GVariantBuilder fields;
          GByteArray *frame;

          g_variant_builder_init (&fields, G_VARIANT_TYPE ("a(say)"));
          g_variant_builder_add (&fields, "(s@ay)", "MESSAGE",
                                 g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text,
                                                            strlen (text), 1));
          g_variant_builder_add (&fields, "(s@ay)", "GLIB_DOMAIN",
                                 g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "Hostile", 7, 1));
          frame = frame_new_variant (ACPU_WIRE_LOG, 0, id,
                                     g_variant_new ("(ua(say))", (guint32) G_LOG_LEVEL_MESSAGE,
                                                    &fields));
          g_byte_array_append (batch, frame->data, frame->len);
          g_byte_array_unref (frame);
          if (batch->len > 64 * 1024)
            {
              write_all (batch->data, batch->len);
              g_byte_array_set_size (batch, 0);
            }
        }
      write_all (batch->data, batch->len);
      send_result (id, g_variant_new ("(s)", "bad-ok"));
    }
  else if (g_str_equal (mode, "log-evil"))
    {
      static const guint32 levels[] = { 0xffffffff, G_LOG_LEVEL_ERROR | G_LOG_FLAG_FATAL,
                                         G_LOG_FLAG_RECURSION | G_LOG_FLAG_FATAL, 0,
                                         G_LOG_LEVEL_CRITICAL, G_LOG_LEVEL_DEBUG };

      for (guint l = 0; l < G_N_ELEMENTS (levels); l++)
        {
          GVariantBuilder fields;

          g_variant_builder_init (&fields, G_VARIANT_TYPE ("a(say)"));
#define FIELD(k, v) \
          g_variant_builder_add (&fields, "(s@ay)", k, \
                                 g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, v, sizeof v - 1, 1))
          FIELD ("MESSAGE", "evil\0after-nul \xff\xfe not utf-8");
          FIELD ("ACPU_WORKER_PID", "1");
          FIELD ("ACPU_TASK", "spoofed");
          FIELD ("", "empty key");
          FIELD ("GLIB_DOMAIN", "\xff\xff");
          FIELD ("PRIORITY", "0");
          for (guint i = 0; i < 26; i++)
            FIELD ("FILLER", "x");
#undef FIELD
          send_frame (frame_new_variant (ACPU_WIRE_LOG, 0, id,
                                         g_variant_new ("(ua(say))", levels[l], &fields)));
        }
      send_result (id, g_variant_new ("(s)", "bad-ok"));
    }
  else if (g_str_equal (mode, "stderr-die"))
    {
      fprintf (stderr, "hostile-worker: first words\n");
      fprintf (stderr, "hostile-worker: last words before SIGKILL\n");
      fflush (stderr);
      raise (SIGKILL);
    }
  else if (g_str_equal (mode, "stderr-latin1"))
    {
      fprintf (stderr, "hostile-worker: caf\xe9\n");
      fflush (stderr);
      raise (SIGKILL);
    }
  else if (g_str_equal (mode, "stderr-flood"))
    {
      static char line[1024];

      memset (line, 'e', sizeof line - 1);
      line[sizeof line - 1] = '\n';
      for (guint i = 0; i < 1024; i++)
        if (write (2, line, sizeof line) < 0)
          break;
      send_result (id, g_variant_new ("(s)", "bad-ok"));
    }
  else if (g_str_equal (mode, "session"))
    {
      int tty = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
      int err = tty < 0 ? errno : 0;

      g_autofree char *autogroup = NULL;

      if (tty >= 0)
        close (tty);
      if (!g_file_get_contents ("/proc/self/autogroup", &autogroup, NULL, NULL))
        autogroup = g_strdup ("");
      send_result (id, g_variant_new ("(iiiis)", (gint32) getsid (0), (gint32) getpid (),
                                      (gint32) err, (gint32) getpgid (0), autogroup));
    }
  else if (g_str_equal (mode, "dribble"))
    {
      GByteArray *frame = frame_new_variant (ACPU_WIRE_RESULT, 0, id,
                                             g_variant_new_variant (g_variant_new ("(s)", "dribbled, all of it")));

      for (guint i = 0; i < frame->len; i++)
        {
          write_all (frame->data + i, 1);
          g_usleep (250 * 1000);
        }
      g_byte_array_unref (frame);
    }
  else
    send_result (id, g_variant_new ("(s)", "bad-ok"));
}

/* Handshake modes. Returns TRUE when a proper hello was sent. */
static gboolean
handshake (const char *mode)
{
  if (g_str_equal (mode, "no-hello"))
    wait_to_be_killed ();
  else if (g_str_equal (mode, "hello-partial"))
    {
      const char *names[] = { "echo", NULL };
      g_autoptr(GVariant) body = g_variant_ref_sink (g_variant_new ("(uuu^as)", 1, (guint32) getpid (),
                                                                    0, names));
      GByteArray *frame = frame_new (ACPU_WIRE_HELLO, 0, 0, g_variant_get_data (body),
                                     g_variant_get_size (body));

      write_all (frame->data, frame->len - 5);
      g_byte_array_unref (frame);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "hello-garbage"))
    {
      write_all ("HELLO? anybody there? this is not a frame\n\n\n\n\n\n", 48);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "hello-version"))
    {
      send_hello (99, 0);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "hello-names"))
    {
      send_hello (ACPU_WIRE_VERSION, 5000);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "hello-twice"))
    {
      send_hello (ACPU_WIRE_VERSION, 0);
      send_hello (ACPU_WIRE_VERSION, 0);
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "early-result"))
    {
      send_result (1, g_variant_new ("(s)", "too early"));
      wait_to_be_killed ();
    }
  else if (g_str_equal (mode, "fd-flood"))
    {
      int fds[10];
      guint8 byte = 0;

      for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
        fds[i] = memfd_create ("flood", MFD_CLOEXEC);
      /* One byte carrying ten descriptors, then a hello that makes the byte
       * part of a bad header anyway. */
      send_with_fds (&byte, 1, fds, G_N_ELEMENTS (fds));
      send_hello (ACPU_WIRE_VERSION, 0);
      wait_to_be_killed ();
    }

  send_hello (ACPU_WIRE_VERSION, 0);
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  const char *mode;
  gboolean misbehaving = TRUE;
  gboolean duplicate_pending = FALSE;
  guint64 duplicate_id = 0;
  ACpuWireIn in;
  int devnull;

  if (argc < 2)
    {
      g_printerr ("usage: %s MODE [ONCE-FILE]\n", argv[0]);
      return 2;
    }
  mode = argv[1];

  /* Like a real worker: the channel moves off stdio. */
  channel = fcntl (0, F_DUPFD_CLOEXEC, 3);
  if (channel < 0)
    return 3;
  dup2 (2, 1);
  devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0)
    {
      dup2 (devnull, 0);
      close (devnull);
    }

  if (argc > 2)
    {
      int fd = open (argv[2], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

      if (fd < 0)
        misbehaving = FALSE;
      else
        close (fd);
    }

  /* The magic first, unless the mode is about what comes before it. */
  if (misbehaving && g_str_equal (mode, "noise-flood"))
    {
      for (guint i = 0; i < 2 * 1024 * 1024 / 64; i++)
        write_all ("GLib-DEBUG: a start-up message that never ends, 64 bytes long..\n", 64);
      wait_to_be_killed ();
    }
  if (misbehaving && g_str_equal (mode, "binary-noise"))
    {
      static const char binary[] = "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0"
                                   "\xff\xfe\x01\x02" "BINARY-MARKER" "\x03\x04\n";

      write_all (binary, sizeof binary - 1);
      wait_to_be_killed ();
    }
  if (misbehaving && g_str_equal (mode, "stdout-noise"))
    {
      for (guint i = 0; i < 200 * 1024 / 64; i++)
        write_all ("GLib-DEBUG: a start-up message on stdout, 64 bytes long .......\n", 64);
      /* And the first bytes of the magic, in a write of their own. */
      write_all (ACPU_WIRE_MAGIC, 3);
      write_all (ACPU_WIRE_MAGIC + 3, ACPU_WIRE_MAGIC_LEN - 3);
    }
  else
    write_all (ACPU_WIRE_MAGIC, ACPU_WIRE_MAGIC_LEN);

  if (misbehaving)
    handshake (mode);
  else
    send_hello (ACPU_WIRE_VERSION, 0);

  acpu_wire_in_init (&in, ACPU_WIRE_READER_WORKER, ACPU_WIRE_DEFAULT_MAX_SIZE);
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      ACpuWireMessage msg;
      gssize n = acpu_wire_in_read (&in, channel, &error);

      if (n <= 0)
        break;
      while (acpu_wire_in_next (&in, &msg, &error))
        {
          if (msg.type == ACPU_WIRE_REQUEST)
            {
              if (duplicate_pending)
                {
                  duplicate_pending = FALSE;
                  send_result (duplicate_id, g_variant_new ("(s)", "bad-ok"));
                }

              if (g_str_equal (msg.name, "bad") && misbehaving)
                {
                  misbehave (mode, msg.id);
                  if (g_str_equal (mode, "duplicate"))
                    {
                      duplicate_pending = TRUE;
                      duplicate_id = msg.id;
                    }
                }
              else if (g_str_equal (msg.name, "bad"))
                send_result (msg.id, g_variant_new ("(s)", "bad-ok"));
              else if (g_str_equal (msg.name, "pid"))
                send_result (msg.id, g_variant_new ("(i)", (gint32) getpid ()));
              else if (g_str_equal (msg.name, "sleep"))
                {
                  guint32 ms = 0;

                  if (g_variant_is_of_type (msg.value, G_VARIANT_TYPE ("(u)")))
                    g_variant_get (msg.value, "(u)", &ms);
                  g_usleep (ms * 1000);
                  send_result (msg.id, g_variant_new ("(i)", (gint32) getpid ()));
                }
              else
                send_result (msg.id, msg.value);
            }
          acpu_wire_message_clear (&msg);
        }
      if (error != NULL)
        {
          g_printerr ("hostile-worker: %s\n", error->message);
          return 4;
        }
    }

  acpu_wire_in_clear (&in);
  return 0;
}
