/* fuzz-wire-messages.c — the channel's message decoding and validation,
 * with well-formed frame headers around fuzzed bodies, and the encoder
 * checked against the decoder: whatever was accepted, once encoded again,
 * decodes to the same message.
 *
 * Built twice by tools/fuzz.sh: wire-messages-pool (messages a worker sends)
 * and wire-messages-worker (messages a pool sends).
 *
 * Input:
 *   byte  0     frame type (low 3 bits: 0 and 7 are invalid on purpose)
 *   byte  1     bit 0: the frame's MEMFD flag
 *               bits 1-2: descriptor fed along: 0 none, 1 sealed memfd,
 *                         2 unsealed memfd, 3 memfd sealed against resizing
 *                         but not writing
 *               bit 3: 4 KiB limit instead of the default 1 GiB
 *               bit 4: re-encode with memfds (threshold 0) instead of inline
 *   bytes 2-3   n: the last n bytes of the rest are the memfd's contents
 *   bytes 4-11  request id
 *   rest        the body, then the memfd's contents
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "fuzz-common.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static void
feed_frame (ACpuWireIn   *in,
            guint8        type,
            guint8        flags,
            guint64       id,
            const guint8 *body,
            gsize         size)
{
  static const guint8 zeros[8] = { 0 };
  guint8 header[ACPU_WIRE_HEADER_SIZE] = { 0 };
  guint32 size_le = GUINT32_TO_LE ((guint32) size);
  guint64 id_le = GUINT64_TO_LE (id);

  memcpy (header, &size_le, 4);
  header[4] = type;
  header[5] = flags;
  memcpy (header + 8, &id_le, 8);
  acpu_wire_in_feed (in, header, sizeof header);
  if (size > 0)
    acpu_wire_in_feed (in, body, size);
  acpu_wire_in_feed (in, zeros, (8 - size % 8) % 8);
}

/* Moves what @out holds, descriptors included, into a fresh reader and
 * returns the one message it must decode to. */
static void
reread (ACpuWireOut     *out,
        ACpuWireReader   reader,
        ACpuWireMessage *msg)
{
  g_autoptr(GError) error = NULL;
  ACpuWireIn in;
  ACpuWireMessage extra;

  acpu_wire_in_init (&in, reader, ACPU_WIRE_DEFAULT_MAX_SIZE);
  acpu_wire_in_feed (&in, out->buf->data + out->head, acpu_wire_out_pending (out));
  for (guint i = 0; i < out->fds->len; i++)
    {
      /* The marks are { gsize offset; int fd; }: take the descriptors over. */
      struct { gsize offset; int fd; } *mark = (gpointer) (out->fds->data + i * g_array_get_element_size (out->fds));

      g_assert_true (acpu_wire_in_feed_fd (&in, mark->fd, &error));
    }
  g_array_set_size (out->fds, 0);

  if (!acpu_wire_in_next (&in, msg, &error))
    g_error ("the decoder refused what the encoder wrote: %s",
             error ? error->message : "(incomplete)");
  g_assert_false (acpu_wire_in_next (&in, &extra, &error));
  g_assert_no_error (error);
  acpu_wire_in_clear (&in);
}

static void
check_same_value (GVariant *again,
                  GVariant *value)
{
  if (!g_variant_equal (again, value))
    {
      g_autofree char *a = g_variant_print (value, TRUE);
      g_autofree char *b = g_variant_print (again, TRUE);

      g_error ("the value changed on its way through the encoder: %s (%s) became %s (%s)",
               a, g_variant_get_type_string (value), b, g_variant_get_type_string (again));
    }
}

static void
roundtrip (const ACpuWireMessage *msg,
           gboolean               use_memfd)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage again = { .fd = -1 };
  ACpuWireOut out;

  acpu_wire_out_init (&out, use_memfd);
  if (use_memfd)
    out.memfd_threshold = 0;

  switch (msg->type)
    {
    case ACPU_WIRE_HELLO:
      acpu_wire_out_hello (&out, msg->pid, msg->flags, msg->names);
      reread (&out, ACPU_WIRE_READER_POOL, &again);
      g_assert_cmpint (again.type, ==, ACPU_WIRE_HELLO);
      g_assert_cmpuint (again.pid, ==, msg->pid);
      g_assert_cmpuint (again.flags, ==, msg->flags);
      g_assert_cmpuint (again.version, ==, ACPU_WIRE_VERSION);
      g_assert_cmpstrv (again.names, msg->names);
      break;

    case ACPU_WIRE_REQUEST:
      g_assert_true (acpu_wire_out_request (&out, msg->id, msg->name, msg->value,
                                            ACPU_WIRE_DEFAULT_MAX_SIZE, &error));
      reread (&out, ACPU_WIRE_READER_WORKER, &again);
      g_assert_cmpint (again.type, ==, ACPU_WIRE_REQUEST);
      g_assert_cmpuint (again.id, ==, msg->id);
      g_assert_cmpstr (again.name, ==, msg->name);
      check_same_value (again.value, msg->value);
      break;

    case ACPU_WIRE_RESULT:
      g_assert_true (acpu_wire_out_result (&out, msg->id, msg->value,
                                           ACPU_WIRE_DEFAULT_MAX_SIZE, &error));
      reread (&out, ACPU_WIRE_READER_POOL, &again);
      g_assert_cmpint (again.type, ==, ACPU_WIRE_RESULT);
      g_assert_cmpuint (again.id, ==, msg->id);
      check_same_value (again.value, msg->value);
      break;

    case ACPU_WIRE_ERROR:
      {
        g_autoptr(GError) task_error = acpu_wire_error_new (msg->domain, msg->code, msg->message);

        acpu_wire_out_error (&out, msg->id, task_error);
        reread (&out, ACPU_WIRE_READER_POOL, &again);
        g_assert_cmpint (again.type, ==, ACPU_WIRE_ERROR);
        g_assert_cmpint (again.code, ==, task_error->code);
        g_assert_cmpstr (again.message, ==, task_error->message);
      }
      break;

    case ACPU_WIRE_LOG:
      {
        GLogField fields[ACPU_WIRE_MAX_LOG_FIELDS];
        gsize n = 0;
        GVariantIter iter;
        const char *key;
        GVariant *value;

        g_variant_iter_init (&iter, msg->fields);
        while (n < G_N_ELEMENTS (fields) &&
               g_variant_iter_next (&iter, "(&s@ay)", &key, &value))
          {
            gsize len;

            fields[n].key = key;
            fields[n].value = g_variant_get_fixed_array (value, &len, 1);
            fields[n].length = len;
            n++;
            /* Borrowed from msg->fields, which holds it. */
            g_variant_unref (value);
          }
        acpu_wire_out_log (&out, msg->id, msg->log_level, fields, n);
        reread (&out, ACPU_WIRE_READER_POOL, &again);
        g_assert_cmpint (again.type, ==, ACPU_WIRE_LOG);
        g_assert_cmpuint (again.log_level, ==, msg->log_level);
        g_assert_cmpuint (g_variant_n_children (again.fields), <=, n);
      }
      break;

    case ACPU_WIRE_CANCEL:
      acpu_wire_out_cancel (&out, msg->id);
      reread (&out, ACPU_WIRE_READER_WORKER, &again);
      g_assert_cmpint (again.type, ==, ACPU_WIRE_CANCEL);
      g_assert_cmpuint (again.id, ==, msg->id);
      break;

    case ACPU_WIRE_PROGRESS:
      acpu_wire_out_progress (&out, msg->id, msg->fraction, msg->text);
      reread (&out, ACPU_WIRE_READER_POOL, &again);
      g_assert_cmpint (again.type, ==, ACPU_WIRE_PROGRESS);
      g_assert_cmpuint (again.id, ==, msg->id);
      g_assert_true (again.fraction == msg->fraction);
      g_assert_cmpstr (again.text, ==, msg->text);
      break;

    case ACPU_WIRE_PARTIAL:
      g_assert_true (acpu_wire_out_partial (&out, msg->id, msg->value,
                                            ACPU_WIRE_DEFAULT_MAX_SIZE, &error));
      reread (&out, ACPU_WIRE_READER_POOL, &again);
      g_assert_cmpint (again.type, ==, ACPU_WIRE_PARTIAL);
      g_assert_cmpuint (again.id, ==, msg->id);
      check_same_value (again.value, msg->value);
      break;

    case ACPU_WIRE_ACK:
      acpu_wire_out_ack (&out, msg->id, msg->ack_count, msg->ack_bytes);
      reread (&out, ACPU_WIRE_READER_WORKER, &again);
      g_assert_cmpint (again.type, ==, ACPU_WIRE_ACK);
      g_assert_cmpuint (again.ack_count, ==, msg->ack_count);
      g_assert_cmpuint (again.ack_bytes, ==, msg->ack_bytes);
      break;

    case ACPU_WIRE_TYPES:
      acpu_wire_out_types (&out, g_variant_ref (msg->types));
      reread (&out, ACPU_WIRE_READER_POOL, &again);
      g_assert_cmpint (again.type, ==, ACPU_WIRE_TYPES);
      g_assert_true (g_variant_equal (again.types, msg->types));
      break;

    default:
      g_assert_not_reached ();
    }

  fuzz_check_message (&again);
  acpu_wire_message_clear (&again);
  acpu_wire_out_clear (&out);
}

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(GError) error = NULL;
  ACpuWireIn in;
  ACpuWireMessage msg;
  guint8 type, flags;
  guint16 memfd_len;
  guint64 id;
  gsize body_len;

  fuzz_init_once ();
  if (size < 12)
    return 0;

  type = data[0] & 7;
  flags = data[1];
  memfd_len = data[2] | (data[3] << 8);
  memcpy (&id, data + 4, 8);
  id = GUINT64_FROM_LE (id);
  data += 12;
  size -= 12;
  memfd_len = MIN (memfd_len, size);
  body_len = size - memfd_len;

  acpu_wire_in_init (&in, FUZZ_READER, (flags & 8) ? 4096 : ACPU_WIRE_DEFAULT_MAX_SIZE);

  switch ((flags >> 1) & 3)
    {
    case 1:
      g_assert_true (acpu_wire_in_feed_fd (&in, fuzz_memfd (data + body_len, memfd_len, SEALS), &error));
      break;
    case 2:
      g_assert_true (acpu_wire_in_feed_fd (&in, fuzz_memfd (data + body_len, memfd_len, 0), &error));
      break;
    case 3:
      g_assert_true (acpu_wire_in_feed_fd (&in, fuzz_memfd (data + body_len, memfd_len,
                                                            F_SEAL_SHRINK | F_SEAL_GROW),
                                           &error));
      break;
    default:
      break;
    }

  feed_frame (&in, type, flags & ACPU_WIRE_FLAG_MEMFD, id, data, body_len);

  if (acpu_wire_in_next (&in, &msg, &error))
    {
      fuzz_check_message (&msg);
      g_assert_cmpuint (msg.id, ==, id);
      /* FUZZ_SKIP_ROUNDTRIP=1: the decoder alone (while an encoder bug is open). */
      if (g_getenv ("FUZZ_SKIP_ROUNDTRIP") == NULL)
        roundtrip (&msg, (flags & 16) != 0);
      acpu_wire_message_clear (&msg);
      /* One frame in, one message out. */
      g_assert_false (acpu_wire_in_next (&in, &msg, &error));
      g_assert_no_error (error);
    }
  else
    {
      /* A whole frame is there: it is a message or an error, never "more". */
      g_assert_nonnull (error);
      g_assert_true (error->domain == ACPU_ERROR || error->domain == G_IO_ERROR);
    }

  acpu_wire_in_clear (&in);
  fuzz_check_fds ();
  return 0;
}
