/* test-wire.c — the channel's framing, encoding and validation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acpu-error.h"
#include "acpu-wire-private.h"
#include "acpu-test-util.h"

/* Moves everything @out holds into @in, as bytes (no descriptors). */
static void
pipe_bytes (ACpuWireOut *out,
            ACpuWireIn  *in,
            gsize        chunk)
{
  const guint8 *p = out->buf->data + out->head;
  gsize len = acpu_wire_out_pending (out);

  for (gsize i = 0; i < len; i += chunk)
    acpu_wire_in_feed (in, p + i, MIN (chunk, len - i));
  g_byte_array_set_size (out->buf, 0);
  out->head = 0;
}

static void
test_wire_roundtrip (void)
{
  const char *names[] = { "alpha", "beta", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) task_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "gone");
  GLogField fields[] = {
    { "MESSAGE", "hello", -1 },
    { "GLIB_DOMAIN", "Test", -1 },
  };
  ACpuWireOut out;
  ACpuWireIn pool_in, worker_in;
  ACpuWireMessage msg;

  g_test_summary ("Every message type survives encoding and decoding, fed byte by byte");

  acpu_wire_out_init (&out, FALSE);
  acpu_wire_in_init (&pool_in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  acpu_wire_in_init (&worker_in, ACPU_WIRE_READER_WORKER, ACPU_WIRE_DEFAULT_MAX_SIZE);

  /* Worker → pool. */
  acpu_wire_out_hello (&out, 1234, ACPU_WIRE_HELLO_CAN_RECEIVE_FDS, names);
  g_assert_true (acpu_wire_out_result (&out, 7, g_variant_new ("(sx)", "r", (gint64) -5),
                                       G_MAXUINT32, &error));
  acpu_wire_out_error (&out, 8, task_error);
  acpu_wire_out_log (&out, 7, G_LOG_LEVEL_MESSAGE, fields, G_N_ELEMENTS (fields));
  pipe_bytes (&out, &pool_in, 1);

  g_assert_true (acpu_wire_in_next (&pool_in, &msg, &error));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_HELLO);
  g_assert_cmpuint (msg.version, ==, ACPU_WIRE_VERSION);
  g_assert_cmpuint (msg.pid, ==, 1234);
  g_assert_cmpuint (msg.flags, ==, ACPU_WIRE_HELLO_CAN_RECEIVE_FDS);
  g_assert_cmpstrv (msg.names, names);
  acpu_wire_message_clear (&msg);

  g_assert_true (acpu_wire_in_next (&pool_in, &msg, &error));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_RESULT);
  g_assert_cmpuint (msg.id, ==, 7);
  acpu_test_assert_prints (msg.value, "('r', -5)");
  acpu_wire_message_clear (&msg);

  g_assert_true (acpu_wire_in_next (&pool_in, &msg, &error));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_ERROR);
  g_assert_cmpuint (msg.id, ==, 8);
  g_assert_cmpstr (msg.domain, ==, g_quark_to_string (G_IO_ERROR));
  g_assert_cmpint (msg.code, ==, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpstr (msg.message, ==, "gone");
  acpu_wire_message_clear (&msg);

  g_assert_true (acpu_wire_in_next (&pool_in, &msg, &error));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_LOG);
  g_assert_cmpuint (msg.log_level, ==, G_LOG_LEVEL_MESSAGE);
  g_assert_cmpuint (g_variant_n_children (msg.fields), ==, 2);
  acpu_wire_message_clear (&msg);

  g_assert_false (acpu_wire_in_next (&pool_in, &msg, &error));
  g_assert_no_error (error);

  /* Pool → worker. */
  g_assert_true (acpu_wire_out_request (&out, 9, "alpha", g_variant_new ("(i)", 3),
                                        G_MAXUINT32, &error));
  acpu_wire_out_cancel (&out, 9);
  pipe_bytes (&out, &worker_in, 5);

  g_assert_true (acpu_wire_in_next (&worker_in, &msg, &error));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_REQUEST);
  g_assert_cmpstr (msg.name, ==, "alpha");
  acpu_test_assert_prints (msg.value, "(3,)");
  acpu_wire_message_clear (&msg);
  g_assert_true (acpu_wire_in_next (&worker_in, &msg, &error));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_CANCEL);
  g_assert_cmpuint (msg.id, ==, 9);
  acpu_wire_message_clear (&msg);

  acpu_wire_out_clear (&out);
  acpu_wire_in_clear (&pool_in);
  acpu_wire_in_clear (&worker_in);
}

/* Feeds @bytes to a reader and expects a protocol error. */
static void
expect_protocol_error (ACpuWireReader  reader,
                       const void     *bytes,
                       gsize           len,
                       guint64         max_size)
{
  g_autoptr(GError) error = NULL;
  ACpuWireIn in;
  ACpuWireMessage msg;

  guint8 padded[128] = { 0 };

  /* Frames are padded to 8 bytes. */
  g_assert_cmpuint (len, <=, 120);
  memcpy (padded, bytes, len);
  acpu_wire_in_init (&in, reader, max_size);
  acpu_wire_in_feed (&in, padded, (len + 7) & ~7);
  g_assert_false (acpu_wire_in_next (&in, &msg, &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_test_message ("%s", error->message);
  acpu_wire_in_clear (&in);
}

static void
make_header (guint8  *header,
             guint32  size,
             guint8   type,
             guint8   flags,
             guint64  id)
{
  guint32 size_le = GUINT32_TO_LE (size);
  guint64 id_le = GUINT64_TO_LE (id);

  memset (header, 0, 16);
  memcpy (header, &size_le, 4);
  header[4] = type;
  header[5] = flags;
  memcpy (header + 8, &id_le, 8);
}

static void
test_wire_rejects (void)
{
  guint8 frame[64] = { 0 };
  g_autoptr(GError) error = NULL;
  ACpuWireIn in;
  ACpuWireMessage msg;

  g_test_summary ("Malformed frames are protocol errors: oversize, unknown "
                  "type or flag, wrong direction, bad body, body on a cancel");

  /* A header that claims 4 GiB fails before anything is allocated for it. */
  make_header (frame, G_MAXUINT32, ACPU_WIRE_RESULT, 0, 1);
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 16, ACPU_WIRE_DEFAULT_MAX_SIZE);

  make_header (frame, 0, 99, 0, 1);
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 16, ACPU_WIRE_DEFAULT_MAX_SIZE);

  make_header (frame, 0, ACPU_WIRE_RESULT, 0x80, 1);
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 16, ACPU_WIRE_DEFAULT_MAX_SIZE);

  make_header (frame, 0, ACPU_WIRE_RESULT, 0, 1);
  frame[6] = 1;
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 16, ACPU_WIRE_DEFAULT_MAX_SIZE);

  /* A worker may not send requests; the pool may not send results. */
  make_header (frame, 0, ACPU_WIRE_REQUEST, 0, 1);
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 16, ACPU_WIRE_DEFAULT_MAX_SIZE);
  make_header (frame, 0, ACPU_WIRE_RESULT, 0, 1);
  expect_protocol_error (ACPU_WIRE_READER_WORKER, frame, 16, ACPU_WIRE_DEFAULT_MAX_SIZE);

  /* A result whose body is not a valid `v`. */
  make_header (frame, 3, ACPU_WIRE_RESULT, 0, 1);
  memcpy (frame + 16, "\x01\x02\x03", 3);
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 19, ACPU_WIRE_DEFAULT_MAX_SIZE);

  /* An error whose body is empty. */
  make_header (frame, 0, ACPU_WIRE_ERROR, 0, 1);
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 16, ACPU_WIRE_DEFAULT_MAX_SIZE);

  /* A cancel with a body. */
  make_header (frame, 1, ACPU_WIRE_CANCEL, 0, 1);
  expect_protocol_error (ACPU_WIRE_READER_WORKER, frame, 17, ACPU_WIRE_DEFAULT_MAX_SIZE);

  /* A memfd frame with no descriptor. */
  make_header (frame, 3, ACPU_WIRE_RESULT, ACPU_WIRE_FLAG_MEMFD, 1);
  memcpy (frame + 16, "ay\0", 3);
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 19, ACPU_WIRE_DEFAULT_MAX_SIZE);

  /* A frame over a small limit. */
  make_header (frame, 2048, ACPU_WIRE_RESULT, 0, 1);
  expect_protocol_error (ACPU_WIRE_READER_POOL, frame, 16, 1024);

  /* A truncated frame is not an error: it waits for more. */
  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  make_header (frame, 40, ACPU_WIRE_RESULT, 0, 1);
  acpu_wire_in_feed (&in, frame, 30);
  g_assert_false (acpu_wire_in_next (&in, &msg, &error));
  g_assert_no_error (error);
  acpu_wire_in_clear (&in);
}

/* Sends @value as a result over a socketpair and returns what arrives. */
static GVariant *
wire_through_socket (GVariant *value)
{
  g_autoptr(GError) error = NULL;
  ACpuWireOut out;
  ACpuWireIn in;
  ACpuWireMessage msg;
  GVariant *received;
  int sv[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  acpu_wire_out_init (&out, TRUE);
  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);

  g_assert_true (acpu_wire_out_result (&out, 9, value, G_MAXUINT32, &error));
  g_assert_no_error (error);
  /* The stream carries only the header and the type. */
  g_assert_cmpuint (acpu_wire_out_pending (&out), <, 64);
  g_assert_true (acpu_wire_out_flush (&out, sv[0], &error));

  while (!acpu_wire_in_next (&in, &msg, &error))
    {
      g_assert_no_error (error);
      g_assert_cmpint (acpu_wire_in_read (&in, sv[1], &error), >, 0);
    }
  g_assert_cmpuint (msg.id, ==, 9);
  received = g_variant_ref (msg.value);
  acpu_wire_message_clear (&msg);

  acpu_wire_out_clear (&out);
  acpu_wire_in_clear (&in);
  close (sv[0]);
  close (sv[1]);
  return received;
}

static void
test_wire_memfd (void)
{
  const gsize size = 1024 * 1024 + 3;
  g_autofree guint8 *data = g_malloc (size);
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) received = NULL;

  g_test_summary ("A large value travels in a sealed memfd over a socket and arrives intact");

  for (gsize i = 0; i < size; i++)
    data[i] = i * 7;
  value = g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, size, 1));

  received = wire_through_socket (value);
  g_assert_cmpuint (g_variant_get_size (received), ==, size);
  g_assert_true (memcmp (g_variant_get_data (received), data, size) == 0);
}

static void
test_wire_memfd_shapes (void)
{
  const gsize size = 96 * 1024 + 5;
  g_autofree guint8 *data = g_malloc (size);
  g_autofree char *text = g_malloc (size + 1);
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  GVariantBuilder strv, dict;

  g_test_summary ("A memfd holds a value's serialized form, whatever form the value is in: "
                  "tuples of one variable-size element are written as that element");

  for (gsize i = 0; i < size; i++)
    {
      data[i] = i * 13;
      text[i] = 'a' + i % 26;
    }
  text[size] = '\0';

#define BYTES() g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, size, 1)
  g_variant_builder_init (&strv, G_VARIANT_TYPE_STRING_ARRAY);
  g_variant_builder_init (&dict, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < 2048; i++)
    {
      g_autofree char *s = g_strdup_printf ("item %u of a list built piece by piece", i);

      g_variant_builder_add (&strv, "s", s);
      g_variant_builder_add (&dict, "{sv}", s, g_variant_new_uint32 (i));
    }

  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("(@ay)", BYTES ())));
  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("((@ay))", BYTES ())));
  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("(@ayu)", BYTES (), 7)));
  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("(t@ay)", G_GUINT64_CONSTANT (7), BYTES ())));
  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("(s)", text)));
  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("(v)", BYTES ())));
  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("(m@ay)", BYTES ())));
  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("(@as)", g_variant_builder_end (&strv))));
  g_ptr_array_add (values, g_variant_ref_sink (g_variant_new ("(@a{sv})", g_variant_builder_end (&dict))));
#undef BYTES

  for (guint i = 0; i < values->len; i++)
    {
      GVariant *value = g_ptr_array_index (values, i);
      g_autoptr(GVariant) received = wire_through_socket (value);

      g_test_message ("%s", g_variant_get_type_string (value));
      g_assert_true (g_variant_is_of_type (received, g_variant_get_type (value)));
      g_assert_true (g_variant_equal (received, value));
    }
}

static void
test_wire_memfd_unsealed (void)
{
  g_autoptr(GError) error = NULL;
  guint8 frame[24] = { 0 };
  ACpuWireIn in;
  ACpuWireMessage msg;
  int fd;

  g_test_summary ("A memfd that is not sealed is refused before it is mapped");

  fd = memfd_create ("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  g_assert_cmpint (write (fd, "abcd", 4), ==, 4);

  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  make_header (frame, 3, ACPU_WIRE_RESULT, ACPU_WIRE_FLAG_MEMFD, 1);
  memcpy (frame + 16, "ay\0", 3);
  acpu_wire_in_feed (&in, frame, sizeof frame);
  g_assert_true (acpu_wire_in_feed_fd (&in, fd, &error));
  g_assert_false (acpu_wire_in_next (&in, &msg, &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  acpu_wire_in_clear (&in);
}

/* A RESULT whose value is @size bytes in a sealed memfd, of @type. */
static gboolean
decode_memfd_value (const char  *type,
                    gsize        size,
                    GError     **error)
{
  g_autofree guint8 *zeros = g_malloc0 (size);
  guint8 frame[24] = { 0 };
  gsize tlen = strlen (type) + 1;
  ACpuWireIn in;
  ACpuWireMessage msg;
  gboolean ok;
  int fd;

  fd = memfd_create ("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  g_assert_cmpint (write (fd, zeros, size), ==, (gssize) size);
  g_assert_cmpint (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), ==, 0);

  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  make_header (frame, tlen, ACPU_WIRE_RESULT, ACPU_WIRE_FLAG_MEMFD, 1);
  memcpy (frame + 16, type, tlen);
  acpu_wire_in_feed (&in, frame, sizeof frame);
  g_assert_true (acpu_wire_in_feed_fd (&in, fd, error));
  ok = acpu_wire_in_next (&in, &msg, error);
  if (ok)
    {
      g_assert_false (g_variant_is_floating (msg.value));
      acpu_wire_message_clear (&msg);
    }
  acpu_wire_in_clear (&in);
  return ok;
}

static void
test_wire_plain_arrays (void)
{
  g_autoptr(GError) error = NULL;

  g_test_summary ("Plain number arrays, alone or as a tuple's only member, are "
                  "checked by size: a size that fits is a value, one that does not "
                  "is a protocol error");

  g_assert_true (decode_memfd_value ("ay", 13, &error));
  g_assert_true (decode_memfd_value ("(ay)", 13, &error));
  g_assert_true (decode_memfd_value ("(ax)", 16, &error));
  g_assert_no_error (error);

  g_assert_false (decode_memfd_value ("(ax)", 13, &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_false (decode_memfd_value ("ai", 6, &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
}

/* A RESULT or PARTIAL of @type whose value is @size zero bytes in a sealed
 * memfd, read by a pool reader that defers values of @defer_size bytes and
 * more: the message as acpu_wire_in_next() returned it. */
static gboolean
next_memfd_deferred (ACpuWireType     type,
                     const char      *type_string,
                     gsize            size,
                     guint64          defer_size,
                     ACpuWireMessage *msg,
                     GError         **error)
{
  guint8 frame[24] = { 0 };
  gsize tlen = strlen (type_string) + 1;
  ACpuWireIn in;
  gboolean ok;
  int fd;

  fd = memfd_create ("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  g_assert_cmpint (ftruncate (fd, size), ==, 0);
  g_assert_cmpint (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), ==, 0);

  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  g_assert_cmpuint (in.defer_size, ==, G_MAXUINT64);
  in.defer_size = defer_size;
  make_header (frame, tlen, type, ACPU_WIRE_FLAG_MEMFD, 7);
  memcpy (frame + 16, type_string, tlen);
  acpu_wire_in_feed (&in, frame, sizeof frame);
  g_assert_true (acpu_wire_in_feed_fd (&in, fd, error));
  ok = acpu_wire_in_next (&in, msg, error);
  acpu_wire_in_clear (&in);
  return ok;
}

static void
test_wire_memfd_deferred (void)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage msg;

  g_test_summary ("A reader with a defer size gets a memfd value that large unmapped and "
                  "unchecked, and acpu_wire_message_load() maps and checks it later, with "
                  "the errors reading it at once would have had");

  /* Zeros as an `aay`: 2-byte framing offsets (under 64 KiB), all 0, so
   * size / 2 empty arrays. Under the defer size: loaded at once. */
  g_assert_true (next_memfd_deferred (ACPU_WIRE_RESULT, "aay", 4096, 8192, &msg, &error));
  g_assert_no_error (error);
  g_assert_false (msg.deferred);
  g_assert_cmpint (msg.fd, ==, -1);
  g_assert_cmpuint (g_variant_n_children (msg.value), ==, 4096 / 2);
  acpu_wire_message_clear (&msg);

  /* At it: deferred, then loaded. */
  g_assert_true (next_memfd_deferred (ACPU_WIRE_RESULT, "aay", 8192, 8192, &msg, &error));
  g_assert_no_error (error);
  g_assert_true (msg.deferred);
  g_assert_null (msg.value);
  g_assert_cmpint (msg.fd, >=, 0);
  g_assert_cmpuint (msg.type, ==, ACPU_WIRE_RESULT);
  g_assert_cmpuint (msg.id, ==, 7);
  g_assert_true (acpu_wire_message_load (&msg, ACPU_WIRE_DEFAULT_MAX_SIZE, &error));
  g_assert_no_error (error);
  g_assert_false (msg.deferred);
  g_assert_cmpint (msg.fd, ==, -1);
  g_assert_false (g_variant_is_floating (msg.value));
  g_assert_cmpstr (g_variant_get_type_string (msg.value), ==, "aay");
  g_assert_cmpuint (g_variant_n_children (msg.value), ==, 8192 / 2);
  acpu_wire_message_clear (&msg);

  /* A partial value too. */
  g_assert_true (next_memfd_deferred (ACPU_WIRE_PARTIAL, "ay", 8192, 8192, &msg, &error));
  g_assert_true (msg.deferred);
  g_assert_true (acpu_wire_message_load (&msg, ACPU_WIRE_DEFAULT_MAX_SIZE, &error));
  g_assert_cmpuint (g_variant_get_size (msg.value), ==, 8192);
  acpu_wire_message_clear (&msg);

  /* Not in normal form (a string needs its nul): refused by the load. */
  g_assert_true (next_memfd_deferred (ACPU_WIRE_RESULT, "as", 8192, 8192, &msg, &error));
  g_assert_true (msg.deferred);
  g_assert_false (acpu_wire_message_load (&msg, ACPU_WIRE_DEFAULT_MAX_SIZE, &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_assert_cmpint (msg.fd, ==, -1);
  g_assert_null (msg.value);
  g_clear_error (&error);
  acpu_wire_message_clear (&msg);

  /* A message cleared unloaded closes its memfd (the fd counts would tell). */
  g_assert_true (next_memfd_deferred (ACPU_WIRE_RESULT, "aay", 8192, 8192, &msg, &error));
  g_assert_true (msg.deferred);
  acpu_wire_message_clear (&msg);
  g_assert_cmpint (msg.fd, ==, -1);
  g_assert_false (msg.deferred);

  /* Over max-message-size: refused when read, not deferred. */
  {
    guint8 frame[24] = { 0 };
    ACpuWireIn in;
    int fd = memfd_create ("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

    g_assert_cmpint (ftruncate (fd, 1 << 20), ==, 0);
    g_assert_cmpint (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), ==, 0);
    acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, 4096);
    in.defer_size = 8192;
    make_header (frame, 4, ACPU_WIRE_RESULT, ACPU_WIRE_FLAG_MEMFD, 1);
    memcpy (frame + 16, "aay", 4);
    acpu_wire_in_feed (&in, frame, sizeof frame);
    g_assert_true (acpu_wire_in_feed_fd (&in, fd, &error));
    g_assert_false (acpu_wire_in_next (&in, &msg, &error));
    g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
    acpu_wire_in_clear (&in);
  }
}

static void
test_wire_error_domains (void)
{
  g_autoptr(GError) known = acpu_wire_error_new ("g-io-error-quark", 1, "m");
  g_autoptr(GError) bad = acpu_wire_error_new ("not a domain!", 5, "m");

  g_test_summary ("Error domains cross by name; an unusable name becomes ACPU_ERROR_FAILED");

  g_assert_error (known, G_IO_ERROR, 1);
  g_assert_error (bad, ACPU_ERROR, ACPU_ERROR_FAILED);
  g_assert_nonnull (strstr (bad->message, "not a domain!"));
}

static void
test_wire_magic (void)
{
  static const char noise[] = "GLib-DEBUG: started\n";
  g_autoptr(GByteArray) skipped = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  ACpuWireOut out;
  ACpuWireIn in;
  ACpuWireMessage msg;
  const char *names[] = { "t", NULL };
  gsize cut = 3;

  g_test_summary ("Bytes before the magic are handed back, the magic may come in "
                  "pieces, and the frames after it parse");

  acpu_wire_out_init (&out, FALSE);
  acpu_wire_out_magic (&out);
  acpu_wire_out_hello (&out, 42, 0, names);

  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  /* The noise and three bytes of the magic. */
  acpu_wire_in_feed (&in, (const guint8 *) noise, sizeof noise - 1);
  acpu_wire_in_feed (&in, out.buf->data, cut);
  g_assert_false (acpu_wire_in_find_magic (&in, skipped, &error));
  g_assert_no_error (error);
  acpu_wire_in_feed (&in, out.buf->data + cut, out.buf->len - cut);
  g_assert_true (acpu_wire_in_find_magic (&in, skipped, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (skipped->data, skipped->len, noise, sizeof noise - 1);
  g_assert_true (acpu_wire_in_next (&in, &msg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_HELLO);
  g_assert_cmpuint (msg.pid, ==, 42);
  acpu_wire_message_clear (&msg);
  acpu_wire_in_clear (&in);
  acpu_wire_out_clear (&out);

  /* Never the magic: an error past the limit, not unbounded memory. */
  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  g_byte_array_set_size (skipped, 0);
  for (guint i = 0; error == NULL; i++)
    {
      guint8 block[4096];

      g_assert_cmpuint (i, <=, ACPU_WIRE_MAX_PREAMBLE / sizeof block + 1);
      memset (block, 'x', sizeof block);
      acpu_wire_in_feed (&in, block, sizeof block);
      g_assert_false (acpu_wire_in_find_magic (&in, skipped, &error));
      g_assert_cmpuint (in.buf->len - in.head, <, ACPU_WIRE_MAGIC_LEN);
    }
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  acpu_wire_in_clear (&in);
}

static void
test_wire_pipe (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *big = g_malloc0 (ACPU_WIRE_MEMFD_THRESHOLD);
  ACpuWireOut out;
  ACpuWireIn in;
  ACpuWireMessage msg;
  int p[2];

  g_test_summary ("On a pipe the wire reads and writes with read()/write(); a memfd "
                  "to send there is an error, never a descriptor silently dropped");

  g_assert_cmpint (pipe2 (p, O_CLOEXEC | O_NONBLOCK), ==, 0);

  acpu_wire_out_init (&out, FALSE);
  acpu_wire_in_init (&in, ACPU_WIRE_READER_WORKER, ACPU_WIRE_DEFAULT_MAX_SIZE);
  in.dontwait = TRUE;

  /* Nothing yet: would block, also through the poll() used on a pipe. */
  g_assert_cmpint (acpu_wire_in_read (&in, p[0], &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  g_clear_error (&error);
  g_assert_true (in.not_socket);

  g_assert_true (acpu_wire_out_request (&out, 5, "echo", g_variant_new ("(s)", "x"),
                                        G_MAXUINT32, &error));
  g_assert_true (acpu_wire_out_flush (&out, p[1], &error));
  g_assert_no_error (error);
  g_assert_true (out.not_socket);
  g_assert_cmpuint (acpu_wire_out_pending (&out), ==, 0);

  g_assert_cmpint (acpu_wire_in_read (&in, p[0], &error), >, 0);
  g_assert_no_error (error);
  g_assert_true (acpu_wire_in_next (&in, &msg, &error));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_REQUEST);
  g_assert_cmpuint (msg.id, ==, 5);
  g_assert_cmpstr (msg.name, ==, "echo");
  acpu_wire_message_clear (&msg);

  /* A pool that wrongly believed the peer takes descriptors. */
  out.can_pass_fds = TRUE;
  g_assert_true (acpu_wire_out_request (&out, 6, "echo",
                                        g_variant_new ("(@ay)", g_variant_new_fixed_array (
                                          G_VARIANT_TYPE_BYTE, big, ACPU_WIRE_MEMFD_THRESHOLD, 1)),
                                        G_MAXUINT32, &error));
  g_assert_false (acpu_wire_out_flush (&out, p[1], &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);

  acpu_wire_in_clear (&in);
  acpu_wire_out_clear (&out);
  close (p[0]);
  close (p[1]);
}

/* One TYPES frame with @types (floating) through a pool's reader: whether
 * it reads, and the error it gives when not. */
static gboolean
types_read (GVariant  *types,
            GError   **error)
{
  ACpuWireOut out;
  ACpuWireIn in;
  ACpuWireMessage msg;
  gboolean ok;

  acpu_wire_out_init (&out, FALSE);
  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  /* What a hostile worker can send: not through acpu_wire_out_types(),
   * which refuses nothing but the container type. */
  acpu_wire_out_types (&out, types);
  pipe_bytes (&out, &in, 4096);
  ok = acpu_wire_in_next (&in, &msg, error);
  if (ok)
    {
      g_assert_cmpint (msg.type, ==, ACPU_WIRE_TYPES);
      g_assert_true (msg.types == msg.body);
      acpu_wire_message_clear (&msg);
    }
  acpu_wire_in_clear (&in);
  acpu_wire_out_clear (&out);
  return ok;
}

static void
test_wire_types (void)
{
  g_autoptr(GError) error = NULL;
  GVariantBuilder many;

  g_test_summary ("A TYPES frame reads when its names and type strings are valid; "
                  "an empty name, a type string that is not one, or too many entries "
                  "are a protocol error");

  g_assert_true (types_read (g_variant_new_parsed ("[('square', '(x)', '(x)'), ('any', '', '')]"),
                             &error));
  g_assert_no_error (error);

  g_assert_false (types_read (g_variant_new_parsed ("[('square', '(x', '(x)')]"), &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_false (types_read (g_variant_new_parsed ("[('square', '(x)', 'xx')]"), &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_clear_error (&error);
  g_assert_false (types_read (g_variant_new_parsed ("[('', '(x)', '(x)')]"), &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_clear_error (&error);

  g_variant_builder_init (&many, G_VARIANT_TYPE ("a(sss)"));
  for (guint i = 0; i <= ACPU_WIRE_MAX_TASK_NAMES; i++)
    g_variant_builder_add (&many, "(sss)", "t", "", "");
  g_assert_false (types_read (g_variant_builder_end (&many), &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/wire/roundtrip", test_wire_roundtrip);
  g_test_add_func ("/acpu/wire/types", test_wire_types);
  g_test_add_func ("/acpu/wire/rejects", test_wire_rejects);
  g_test_add_func ("/acpu/wire/memfd", test_wire_memfd);
  g_test_add_func ("/acpu/wire/memfd-shapes", test_wire_memfd_shapes);
  g_test_add_func ("/acpu/wire/memfd-unsealed", test_wire_memfd_unsealed);
  g_test_add_func ("/acpu/wire/plain-arrays", test_wire_plain_arrays);
  g_test_add_func ("/acpu/wire/memfd-deferred", test_wire_memfd_deferred);
  g_test_add_func ("/acpu/wire/magic", test_wire_magic);
  g_test_add_func ("/acpu/wire/error-domains", test_wire_error_domains);
  g_test_add_func ("/acpu/wire/pipe", test_wire_pipe);

  return g_test_run ();
}
