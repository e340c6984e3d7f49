/* gen-corpus.c — writes the seed corpus of the channel fuzz targets:
 * well-formed frames of every type, made by the real encoder, in the input
 * format of each target (see fuzz-wire-frames.c and fuzz-wire-messages.c).
 *
 * Usage: gen-corpus OUTDIR    (tools/fuzz.sh --regen-corpus runs it)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "acpu-error.h"
#include "acpu-wire-private.h"

static const char *outdir;

static void
save (const char   *target,
      const char   *name,
      const guint8 *data,
      gsize         len)
{
  g_autofree char *dir = g_build_filename (outdir, target, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_mkdir_with_parents (dir, 0755);
  if (!g_file_set_contents (path, (const char *) data, len, &error))
    g_error ("%s", error->message);
}

/* A stream for a frames target: a control byte, then what @out holds. */
static void
save_frames (const char  *target,
             const char  *name,
             guint8       mode,
             ACpuWireOut *out)
{
  g_autoptr(GByteArray) bytes = g_byte_array_new ();

  g_byte_array_append (bytes, &mode, 1);
  g_byte_array_append (bytes, out->buf->data + out->head, acpu_wire_out_pending (out));
  save (target, name, bytes->data, bytes->len);
}

/* One frame of @out, re-cut into a messages target input. */
static void
save_message (const char   *target,
              const char   *name,
              guint8        flags,
              const guint8 *memfd,
              guint16       memfd_len,
              ACpuWireOut  *out)
{
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  const guint8 *frame = out->buf->data + out->head;
  guint32 size;
  guint8 head[4];

  memcpy (&size, frame, 4);
  size = GUINT32_FROM_LE (size);
  head[0] = frame[4];
  head[1] = flags | frame[5];
  head[2] = memfd_len & 0xff;
  head[3] = memfd_len >> 8;
  g_byte_array_append (bytes, head, 4);
  g_byte_array_append (bytes, frame + 8, 8);
  g_byte_array_append (bytes, frame + ACPU_WIRE_HEADER_SIZE, size);
  if (memfd_len > 0)
    g_byte_array_append (bytes, memfd, memfd_len);
  save (target, name, bytes->data, bytes->len);
}

static void
reset (ACpuWireOut *out)
{
  acpu_wire_out_clear (out);
  acpu_wire_out_init (out, FALSE);
}

static GVariant *
sample_value (void)
{
  return g_variant_new ("(sxa{sv}ayd)", "text", (gint64) -42, NULL, NULL, 2.5);
}

int
main (int   argc,
      char *argv[])
{
  const char *names[] = { "echo", "sleep", "a-task-name", NULL };
  g_autoptr(GError) task_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "not there");
  GLogField fields[] = {
    { "MESSAGE", "a message from a worker", -1 },
    { "GLIB_DOMAIN", "Test", -1 },
    { "PRIORITY", "5", -1 },
  };
  g_autoptr(GVariant) value = g_variant_ref_sink (sample_value ());
  g_autoptr(GVariant) memfd_value = g_variant_ref_sink (g_variant_new ("(sx)", "big", (gint64) 7));
  ACpuWireOut out;

  if (argc != 2)
    {
      g_printerr ("usage: %s OUTDIR\n", argv[0]);
      return 2;
    }
  outdir = argv[1];
  acpu_wire_out_init (&out, FALSE);

  /* Pool side: what a worker sends. ---------------------------------- */

  acpu_wire_out_hello (&out, 4242, ACPU_WIRE_HELLO_CAN_RECEIVE_FDS, names);
  save_message ("wire-messages-pool", "hello", 0, NULL, 0, &out);
  save_frames ("wire-frames-pool", "hello", 1, &out);
  g_assert_true (acpu_wire_out_result (&out, 1, value, G_MAXUINT32, NULL));
  acpu_wire_out_error (&out, 2, task_error);
  acpu_wire_out_log (&out, 1, G_LOG_LEVEL_MESSAGE, fields, G_N_ELEMENTS (fields));
  save_frames ("wire-frames-pool", "session", 1, &out);
  save_frames ("wire-frames-pool", "session-socket", 3, &out);
  save_frames ("wire-frames-pool", "session-chunked", 1 | (3 << 2), &out);
  reset (&out);

  g_assert_true (acpu_wire_out_result (&out, 7, value, G_MAXUINT32, NULL));
  save_message ("wire-messages-pool", "result", 0, NULL, 0, &out);
  save_message ("wire-messages-pool", "result-reencode-memfd", 16, NULL, 0, &out);
  reset (&out);

  acpu_wire_out_error (&out, 8, task_error);
  save_message ("wire-messages-pool", "error", 0, NULL, 0, &out);
  reset (&out);

  acpu_wire_out_log (&out, 0, G_LOG_LEVEL_WARNING, fields, G_N_ELEMENTS (fields));
  save_message ("wire-messages-pool", "log", 0, NULL, 0, &out);
  reset (&out);

  /* A memfd result: body "s" (the type), value bytes in the descriptor. */
  {
    g_autoptr(GVariant) type = g_variant_ref_sink (g_variant_new_string (g_variant_get_type_string (memfd_value)));
    g_autofree guint8 *bytes = g_malloc (g_variant_get_size (memfd_value));
    guint8 header[ACPU_WIRE_HEADER_SIZE] = { 0 };
    guint32 size_le = GUINT32_TO_LE (g_variant_get_size (type));
    g_autoptr(GByteArray) stream = g_byte_array_new ();
    guint8 mode = 1 | 2 | (1 << 2);
    static const guint8 zeros[8] = { 0 };

    g_variant_store (memfd_value, bytes);
    memcpy (header, &size_le, 4);
    header[4] = ACPU_WIRE_RESULT;
    header[5] = ACPU_WIRE_FLAG_MEMFD;
    header[8] = 9;

    /* Messages input: type, flags (memfd flag + sealed fd), length, id, body, contents. */
    {
      g_autoptr(GByteArray) m = g_byte_array_new ();
      guint8 head[4] = { ACPU_WIRE_RESULT, ACPU_WIRE_FLAG_MEMFD | (1 << 1),
                         g_variant_get_size (memfd_value) & 0xff,
                         g_variant_get_size (memfd_value) >> 8 };

      g_byte_array_append (m, head, 4);
      g_byte_array_append (m, header + 8, 8);
      g_byte_array_append (m, g_variant_get_data (type), g_variant_get_size (type));
      g_byte_array_append (m, bytes, g_variant_get_size (memfd_value));
      save ("wire-messages-pool", "result-memfd", m->data, m->len);
      m->data[1] = ACPU_WIRE_FLAG_MEMFD | (2 << 1);
      save ("wire-messages-pool", "result-memfd-unsealed", m->data, m->len);
    }

    /* Frames input through the socket: the memfd (made by the target from
     * the stream's first bytes) rides on the first byte. */
    g_byte_array_append (stream, &mode, 1);
    g_byte_array_append (stream, header, sizeof header);
    g_byte_array_append (stream, g_variant_get_data (type), g_variant_get_size (type));
    g_byte_array_append (stream, zeros, (8 - g_variant_get_size (type) % 8) % 8);
    save ("wire-frames-pool", "result-memfd-socket", stream->data, stream->len);
  }

  /* Worker side: what a pool sends. ---------------------------------- */

  g_assert_true (acpu_wire_out_request (&out, 1, "echo", value, G_MAXUINT32, NULL));
  save_message ("wire-messages-worker", "request", 0, NULL, 0, &out);
  save_message ("wire-messages-worker", "request-reencode-memfd", 16, NULL, 0, &out);
  acpu_wire_out_cancel (&out, 1);
  g_assert_true (acpu_wire_out_request (&out, 2, "sleep", g_variant_new ("(u)", 10), G_MAXUINT32, NULL));
  save_frames ("wire-frames-worker", "session", 1, &out);
  save_frames ("wire-frames-worker", "session-socket", 3, &out);
  save_frames ("wire-frames-worker", "session-chunked", 1 | (1 << 2), &out);
  reset (&out);

  acpu_wire_out_cancel (&out, 5);
  save_message ("wire-messages-worker", "cancel", 0, NULL, 0, &out);
  reset (&out);

  {
    g_autoptr(GByteArray) m = g_byte_array_new ();
    g_autoptr(GVariant) body = g_variant_ref_sink (g_variant_new ("(ss)", "echo",
                                                                  g_variant_get_type_string (memfd_value)));
    g_autofree guint8 *bytes = g_malloc (g_variant_get_size (memfd_value));
    guint8 head[12] = { ACPU_WIRE_REQUEST, ACPU_WIRE_FLAG_MEMFD | (1 << 1),
                        g_variant_get_size (memfd_value) & 0xff,
                        g_variant_get_size (memfd_value) >> 8, 3 };

    g_variant_store (memfd_value, bytes);
    g_byte_array_append (m, head, 12);
    g_byte_array_append (m, g_variant_get_data (body), g_variant_get_size (body));
    g_byte_array_append (m, bytes, g_variant_get_size (memfd_value));
    save ("wire-messages-worker", "request-memfd", m->data, m->len);
  }

  acpu_wire_out_clear (&out);
  return 0;
}
