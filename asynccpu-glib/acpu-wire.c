/* acpu-wire.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The wire, in one place.
 *
 * A channel is a byte stream that carries frames: an AF_UNIX socketpair
 * between a pool and a local worker (bwrap passes it through), two pipes
 * through ssh, a pipe in and a pty out through `srun -u`. Sockets are read
 * and written with recvmsg()/sendmsg(), anything else with read()/write()
 * (ENOTSOCK tells which, once); descriptors pass only on a socket. Each frame is a 16-byte little-endian header followed by a body:
 *
 *     offset  size  field
 *          0     4  size      bytes of body after the header
 *          4     1  type      ACpuWireType
 *          5     1  flags     ACpuWireFlags
 *          6     2  reserved  zero
 *          8     8  id        the request id (0 for HELLO, and for LOG
 *                             outside a task)
 *
 * The body is a GVariant in normal form, serialized, of the type the message
 * type fixes (see acpu-wire-private.h), followed by zero bytes up to the next
 * multiple of 8, so that every header and body is 8-aligned and values can be
 * serialized in place. A value at least
 * ACPU_WIRE_MEMFD_THRESHOLD bytes long does not travel in the stream when the
 * channel can carry descriptors: it is written to a memfd, the memfd is sealed
 * against writing, growing and shrinking, and it is passed with SCM_RIGHTS on
 * the first byte of its frame's header; the frame has ACPU_WIRE_FLAG_MEMFD and
 * its body carries the value's type string instead of the value.
 *
 * Reading trusts nothing. A header whose size is over the limit, an unknown
 * type or flag, a non-zero reserved field, a body that is not in normal form
 * for its type, a memfd that is not sealed or is too large, a type string that
 * is not a definite type: each is an ACPU_ERROR_PROTOCOL error, and the
 * caller ends the channel. Memory grows only as bytes really arrive, never by
 * a length the peer claims. Checking a value takes time in proportion to its
 * elements (seconds for a sparse 1 GiB `aay`), so a reader that must not
 * spend it in place (the pool's I/O thread) sets defer_size: a RESULT or
 * PARTIAL value in a memfd that large comes `deferred`, its memfd checked for
 * seals and size only, and acpu_wire_message_load() maps and checks it later,
 * on whatever thread the reader gives it.
 *
 * Threads. Nothing here takes a lock or belongs to a thread. An ACpuWireOut
 * or ACpuWireIn is one end of one channel, and its user serializes every
 * call on it: "the caller owns @out" (or @in) below means that. In the pool
 * a worker handle's out_lock guards its ACpuWireOut and its in_lock its
 * ACpuWireIn, which the I/O thread reads, or a caller thread that claims a
 * reply (acpu-worker-proc.c); in a worker, out_lock and in_lock
 * (acpu-worker.c). "Pool" or "Worker" says which side calls a function.
 *
 * The wire is three files, sharing acpu-wire-private.h: this one writes
 * (frames, values inline or in memfds, sending them with their
 * descriptors), acpu-wire-read.c reads (bytes and descriptors in, the
 * magic, a frame's header checked before its body) and acpu-wire-message.c
 * decodes and checks what a frame carries (bodies, memfd values, the
 * limits of each message type).
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpu-error.h"
#include "acpu-error-private.h"
#include "acpu-wire-private.h"

typedef struct
{
  gsize offset;
  int   fd;
} ACpuWireFdMark;

/* Writing ------------------------------------------------------------------ */

/* Any thread; the caller owns @out (see "Threads" above). An empty output
 * that sends memfds for large values only if @can_pass_fds. */
void
acpu_wire_out_init (ACpuWireOut *out,
                    gboolean     can_pass_fds)
{
  out->buf = g_byte_array_new ();
  out->head = 0;
  out->fds = g_array_new (FALSE, FALSE, sizeof (ACpuWireFdMark));
  out->can_pass_fds = can_pass_fds;
  out->not_socket = FALSE;
  out->memfd_threshold = ACPU_WIRE_MEMFD_THRESHOLD;
}

/* Any thread; the caller owns @out. Drops what was not written and closes
 * the memfds that were not sent. */
void
acpu_wire_out_clear (ACpuWireOut *out)
{
  if (out->fds != NULL)
    {
      for (guint i = 0; i < out->fds->len; i++)
        close (g_array_index (out->fds, ACpuWireFdMark, i).fd);
      g_clear_pointer (&out->fds, g_array_unref);
    }
  g_clear_pointer (&out->buf, g_byte_array_unref);
  out->head = 0;
}

/* Any thread; the caller owns @out. Bytes queued and not yet written. */
gsize
acpu_wire_out_pending (const ACpuWireOut *out)
{
  return out->buf->len - out->head;
}

#define PAD8(n) (((n) + 7) & ~(gsize) 7)

/* Any thread; the caller owns @out. Appends a 16-byte header; @size is
 * the body's size without padding and fits in 32 bits (checked by the
 * callers against max_size; asserted here). */
static void
acpu_wire_out_header (ACpuWireOut *out,
                      ACpuWireType type,
                      guint8       flags,
                      guint64      id,
                      gsize        size)
{
  guint8 header[ACPU_WIRE_HEADER_SIZE];
  guint32 size_le = GUINT32_TO_LE ((guint32) size);
  guint64 id_le = GUINT64_TO_LE (id);

  g_assert (size <= G_MAXUINT32);

  memcpy (header, &size_le, 4);
  header[4] = type;
  header[5] = flags;
  header[6] = header[7] = 0;
  memcpy (header + 8, &id_le, 8);
  g_byte_array_append (out->buf, header, sizeof header);
}

/* Any thread; the caller owns @out. Appends a whole frame whose body is
 * @body (transfer full, or floating), or none, padded to 8 bytes. The buffer
 * holds only whole frames, so it stays 8-aligned at its end. */
static void
acpu_wire_out_frame (ACpuWireOut *out,
                     ACpuWireType type,
                     guint8       flags,
                     guint64      id,
                     GVariant    *body)
{
  /* Takes the caller's reference: a floating one, or a full one it gave up. */
  g_autoptr(GVariant) owned = body ? g_variant_take_ref (body) : NULL;
  gsize size = owned ? g_variant_get_size (owned) : 0;
  gsize at;

  acpu_wire_out_header (out, type, flags, id, size);
  at = out->buf->len;
  g_assert (at % 8 == 0);
  g_byte_array_set_size (out->buf, at + PAD8 (size));
  memset (out->buf->data + at + size, 0, PAD8 (size) - size);
  if (owned != NULL)
    g_variant_store (owned, out->buf->data + at);
}

/* Any thread, no lock.
 * The value whose data is @value's serialized form, without serializing a
 * tree-form value a second time: a one-element tuple whose element has a
 * variable size is serialized as that element (no framing offset, no
 * padding), so the `(ay)` of g_variant_new ("(@ay)", bytes) gives the bytes
 * it holds. */
static GVariant *
acpu_wire_serialized_as (GVariant *value)
{
  GVariant *v = g_variant_ref (value);

  while (g_variant_is_of_type (v, G_VARIANT_TYPE_TUPLE) && g_variant_n_children (v) == 1 &&
         strchr ("soagvm", *g_variant_type_peek_string (
                             g_variant_type_first (g_variant_get_type (v)))) != NULL)
    {
      GVariant *child = g_variant_get_child_value (v, 0);

      g_variant_unref (v);
      v = child;
    }

  return v;
}

/* Any thread, no lock; @fd is an empty memfd of ours.
 * Writes @value's serialized form into the empty memfd @fd. With pwrite()
 * the kernel allocates the pages and copies into them in one go: three
 * times faster on the test VM than fallocate(), a populated shared mapping
 * and g_variant_store() into it (65 against 190-220 ms for 64 MiB), since
 * the pages are neither zeroed first nor mapped. Sets errno on failure. */
static gboolean
acpu_wire_memfd_fill (int       fd,
                      GVariant *value,
                      gsize     size)
{
  g_autoptr(GVariant) data_of = acpu_wire_serialized_as (value);
  const guint8 *data = g_variant_get_data (data_of);
  gsize done = 0;

  g_assert (g_variant_get_size (data_of) == size);

  while (done < size)
    {
      gssize n = pwrite (fd, data + done, MIN (size - done, (gsize) G_MAXSSIZE), done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = ENOSPC;
          return FALSE;
        }
      done += n;
    }

  return TRUE;
}

/* Any thread, no lock. A new memfd holding @value's serialized bytes,
 * sealed against writing, growing and shrinking (and further sealing), so
 * that the receiver may map it and trust it not to change; -1 with @error
 * set on failure. */
static int
acpu_wire_memfd_new (GVariant  *value,
                     GError   **error)
{
  gsize size = g_variant_get_size (value);
  int fd;

  fd = memfd_create ("acpu-value", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "memfd_create: %s", g_strerror (errsv));
      return -1;
    }

  if (size > 0 && !acpu_wire_memfd_fill (fd, value, size))
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Could not fill a memfd of %" G_GSIZE_FORMAT " bytes: %s",
                   size, g_strerror (errsv));
      close (fd);
      return -1;
    }

  if (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Could not seal a memfd: %s", g_strerror (errsv));
      close (fd);
      return -1;
    }

  return fd;
}

/* Any thread, no lock. Whether a value or body of @size bytes may be sent:
 * within @max_size and within the 32-bit size field. */
static gboolean
acpu_wire_check_size (gsize     size,
                      guint64   max_size,
                      GError  **error)
{
  if (size > G_MAXUINT32 - ACPU_WIRE_HEADER_SIZE && size <= max_size)
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT,
                   "A value of %" G_GSIZE_FORMAT " bytes is larger than a message can be "
                   "(4 GiB): pass large data another way, for example as a file name "
                   "or a file descriptor the task opens", size);
      return FALSE;
    }
  if (size > max_size)
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT,
                   "A value of %" G_GSIZE_FORMAT " bytes is larger than max-message-size "
                   "(%" G_GUINT64_FORMAT " bytes): raise the pool's max-message-size "
                   "property, or pass large data another way, for example as a file "
                   "name the task opens", size, max_size);
      return FALSE;
    }
  return TRUE;
}

/* Any thread; the caller owns @out.
 * Appends a frame that carries @value: out of band when it is large and the
 * channel can pass descriptors, otherwise inline. @inline_body is the body
 * to use inline, @memfd_body the one to use with a memfd (both floating). */
static gboolean
acpu_wire_out_value_frame (ACpuWireOut  *out,
                           ACpuWireType  type,
                           guint64       id,
                           GVariant     *value,
                           GVariant     *inline_body,
                           GVariant     *memfd_body,
                           guint64       max_size,
                           GError      **error)
{
  g_autoptr(GVariant) inline_owned = g_variant_ref_sink (inline_body);
  g_autoptr(GVariant) memfd_owned = g_variant_ref_sink (memfd_body);
  gsize value_size = g_variant_get_size (value);

  if (out->can_pass_fds && value_size >= out->memfd_threshold)
    {
      ACpuWireFdMark mark;

      if (!acpu_wire_check_size (value_size, max_size, error))
        return FALSE;

      mark.fd = acpu_wire_memfd_new (value, error);
      if (mark.fd < 0)
        return FALSE;
      mark.offset = out->buf->len;
      g_array_append_val (out->fds, mark);
      acpu_wire_out_frame (out, type, ACPU_WIRE_FLAG_MEMFD, id, g_steal_pointer (&memfd_owned));
      return TRUE;
    }

  if (!acpu_wire_check_size (g_variant_get_size (inline_owned), max_size, error))
    return FALSE;

  acpu_wire_out_frame (out, type, 0, id, g_steal_pointer (&inline_owned));
  return TRUE;
}

/* Worker, any thread; the caller owns @out. Appends the 8 bytes of magic
 * a worker writes before its first frame. */
void
acpu_wire_out_magic (ACpuWireOut *out)
{
  g_byte_array_append (out->buf, (const guint8 *) ACPU_WIRE_MAGIC, ACPU_WIRE_MAGIC_LEN);
}

/* Worker, any thread; the caller owns @out. Appends HELLO: @flags are
 * ACpuWireHelloFlags; @names are valid task names (the worker checked
 * them when they were registered). */
void
acpu_wire_out_hello (ACpuWireOut        *out,
                     guint32             pid,
                     guint32             flags,
                     const char * const *names)
{
  acpu_wire_out_frame (out, ACPU_WIRE_HELLO, 0, 0,
                       g_variant_new ("(uuu^as)", ACPU_WIRE_VERSION, pid, flags, names));
}

/* Worker, any thread; the caller owns @out. Appends TYPES, right after a
 * HELLO with ACPU_WIRE_HELLO_TYPES: @types is an a(sss) (floating: consumed)
 * of registered task names and valid type strings, "" for any type. */
void
acpu_wire_out_types (ACpuWireOut *out,
                     GVariant    *types)
{
  g_return_if_fail (g_variant_is_of_type (types, G_VARIANT_TYPE ("a(sss)")));

  acpu_wire_out_frame (out, ACPU_WIRE_TYPES, 0, 0, types);
}

/* Any thread; the caller owns @out.
 * The hot path: a small value inline. Writes the body, `(sv)` (@name set) or
 * `v`, straight into the output buffer in GVariant's serialized normal form,
 * without building a GVariant (g_variant_new() and its aligned allocations
 * were a quarter of the I/O thread's time, perf, 100k trivial tasks). */
static gboolean
acpu_wire_out_inline_value (ACpuWireOut  *out,
                            ACpuWireType  type,
                            guint64       id,
                            const char   *name,
                            GVariant     *value,
                            guint64       max_size,
                            GError      **error)
{
  gsize nlen = name != NULL ? strlen (name) + 1 : 0;
  const char *tstr = g_variant_get_type_string (value);
  gsize tlen = strlen (tstr);
  gsize vsize = g_variant_get_size (value);
  gsize vstart = name != NULL ? PAD8 (nlen) : 0;
  gsize body = vstart + vsize + 1 + tlen;
  gsize osize = 0, total, at;
  guint8 *p;

  if (name != NULL)
    {
      /* One framing offset (the end of the string), as small as fits. */
      if (body + 1 <= G_MAXUINT8)
        osize = 1;
      else if (body + 2 <= G_MAXUINT16)
        osize = 2;
      else if (body + 4 <= G_MAXUINT32)
        osize = 4;
      else
        osize = 8;
    }
  total = body + osize;

  if (!acpu_wire_check_size (total, max_size, error))
    return FALSE;

  acpu_wire_out_header (out, type, 0, id, total);
  at = out->buf->len;
  g_byte_array_set_size (out->buf, at + PAD8 (total));
  p = out->buf->data + at;
  memset (p, 0, PAD8 (total));
  if (name != NULL)
    memcpy (p, name, nlen);
  g_variant_store (value, p + vstart);
  memcpy (p + vstart + vsize + 1, tstr, tlen);
  if (osize > 0)
    {
      guint64 off_le = GUINT64_TO_LE ((guint64) nlen);
      memcpy (p + body, &off_le, osize);
    }
  return TRUE;
}

/* Any thread; the caller owns @out. Appends a RESULT or PARTIAL (@type)
 * with @value: `v` inline, or its type string `s` with the value in a memfd
 * when it is large and can_pass_fds. A floating @value is consumed. */
static gboolean
acpu_wire_out_value (ACpuWireOut  *out,
                     ACpuWireType  type,
                     guint64       id,
                     GVariant     *value,
                     guint64       max_size,
                     GError      **error)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (value);

  if (!(out->can_pass_fds && g_variant_get_size (owned) >= out->memfd_threshold))
    return acpu_wire_out_inline_value (out, type, id, NULL, owned, max_size, error);

  return acpu_wire_out_value_frame (out, type, id, owned,
                                    g_variant_new_variant (owned),
                                    g_variant_new_string (g_variant_get_type_string (owned)),
                                    max_size, error);
}

/* Pool, any thread; the caller owns @out. Appends a REQUEST for task
 * @name with @args: inline, or @args in a memfd when it is large and
 * can_pass_fds. Fails (ACPU_ERROR_INVALID_ARGUMENT) when it would be over
 * @max_size, appending nothing. */
gboolean
acpu_wire_out_request (ACpuWireOut  *out,
                       guint64       id,
                       const char   *name,
                       GVariant     *args,
                       guint64       max_size,
                       GError      **error)
{
  /* A floating @args is consumed, as GVariant arguments are. */
  g_autoptr(GVariant) owned = g_variant_ref_sink (args);

  if (!(out->can_pass_fds && g_variant_get_size (owned) >= out->memfd_threshold))
    return acpu_wire_out_inline_value (out, ACPU_WIRE_REQUEST, id, name, owned, max_size, error);

  return acpu_wire_out_value_frame (out, ACPU_WIRE_REQUEST, id, owned,
                                    g_variant_new ("(sv)", name, owned),
                                    g_variant_new ("(ss)", name, g_variant_get_type_string (owned)),
                                    max_size, error);
}

/* Worker, any thread; the caller owns @out. Appends a RESULT with @value,
 * inline or in a memfd as acpu_wire_out_request() does; fails when it would
 * be over @max_size, appending nothing. */
gboolean
acpu_wire_out_result (ACpuWireOut  *out,
                      guint64       id,
                      GVariant     *value,
                      guint64       max_size,
                      GError      **error)
{
  return acpu_wire_out_value (out, ACPU_WIRE_RESULT, id, value, max_size, error);
}

/* Worker, any thread; the caller owns @out. Appends a PARTIAL value of
 * request @id, encoded as a RESULT is; fails when it would be over
 * @max_size, appending nothing. */
gboolean
acpu_wire_out_partial (ACpuWireOut  *out,
                       guint64       id,
                       GVariant     *value,
                       guint64       max_size,
                       GError      **error)
{
  return acpu_wire_out_value (out, ACPU_WIRE_PARTIAL, id, value, max_size, error);
}

/* Worker, any thread; the caller owns @out. Appends a PROGRESS of request
 * @id: @fraction is clamped to [0, 1] (NaN is 0), @text (nullable) cut to
 * ACPU_WIRE_MAX_PROGRESS_TEXT bytes at a character and made valid UTF-8. */
void
acpu_wire_out_progress (ACpuWireOut *out,
                        guint64      id,
                        double       fraction,
                        const char  *text)
{
  g_autofree char *valid = NULL;

  if (!(fraction >= 0.0))
    fraction = 0.0;
  else if (fraction > 1.0)
    fraction = 1.0;
  if (text == NULL)
    text = "";
  if (strlen (text) > ACPU_WIRE_MAX_PROGRESS_TEXT || !g_utf8_validate (text, -1, NULL))
    {
      const char *end;

      valid = g_utf8_make_valid (text, MIN (strlen (text), ACPU_WIRE_MAX_PROGRESS_TEXT));
      /* Replacement characters may have made it longer: cut at a character. */
      if (strlen (valid) > ACPU_WIRE_MAX_PROGRESS_TEXT)
        {
          end = g_utf8_find_prev_char (valid, valid + ACPU_WIRE_MAX_PROGRESS_TEXT + 1);
          valid[end - valid] = '\0';
        }
      text = valid;
    }
  acpu_wire_out_frame (out, ACPU_WIRE_PROGRESS, 0, id, g_variant_new ("(ds)", fraction, text));
}

/* Pool, any thread; the caller owns @out. Appends an ACK: the caller of
 * request @id consumed @count more partial values, of @bytes in all. */
void
acpu_wire_out_ack (ACpuWireOut *out,
                   guint64      id,
                   guint32      count,
                   guint64      bytes)
{
  acpu_wire_out_frame (out, ACPU_WIRE_ACK, 0, id, g_variant_new ("(ut)", count, bytes));
}

/* Worker, any thread; the caller owns @out.
 * Sends @value back in the memfd @mapped came in, when @value's serialized
 * form is those very bytes: a task that returns its arguments, or the bytes
 * inside them. The memfd is sealed, so it still holds them; nothing is
 * copied. Takes *@fd on success. */
gboolean
acpu_wire_out_result_reuse (ACpuWireOut *out,
                            guint64      id,
                            GVariant    *value,
                            GVariant    *mapped,
                            int         *fd)
{
  g_autoptr(GVariant) data_of = NULL;
  ACpuWireFdMark mark;

  if (!out->can_pass_fds || *fd < 0 || mapped == NULL ||
      g_variant_get_size (value) != g_variant_get_size (mapped))
    return FALSE;

  /* Free for the task that returns its arguments or a piece of them;
   * otherwise what acpu_wire_memfd_new() would compute anyway. */
  data_of = acpu_wire_serialized_as (value);
  if (value != mapped && g_variant_get_data (data_of) != g_variant_get_data (mapped))
    return FALSE;

  mark.fd = *fd;
  *fd = -1;
  mark.offset = out->buf->len;
  g_array_append_val (out->fds, mark);
  acpu_wire_out_frame (out, ACPU_WIRE_RESULT, ACPU_WIRE_FLAG_MEMFD, id,
                       g_variant_new_string (g_variant_get_type_string (value)));
  return TRUE;
}

/* Worker, any thread; the caller owns @out. Appends an ERROR: the domain
 * travels by the quark's name, the message as it is (the pool checks both). */
void
acpu_wire_out_error (ACpuWireOut  *out,
                     guint64       id,
                     const GError *error)
{
  const char *domain = g_quark_to_string (error->domain);

  acpu_wire_out_frame (out, ACPU_WIRE_ERROR, 0, id,
                       g_variant_new ("(sis)", domain ? domain : "",
                                      error->code,
                                      error->message ? error->message : ""));
}

/* Pool, any thread; the caller owns @out. Appends a CANCEL for request @id. */
void
acpu_wire_out_cancel (ACpuWireOut *out,
                      guint64      id)
{
  acpu_wire_out_frame (out, ACPU_WIRE_CANCEL, 0, id, NULL);
}

/* Worker, any thread; the caller owns @out. Appends a LOG record with at
 * most ACPU_WIRE_MAX_LOG_FIELDS of @fields: a field whose key is not UTF-8
 * or too long is left out, a value is cut at ACPU_WIRE_MAX_LOG_VALUE. */
void
acpu_wire_out_log (ACpuWireOut     *out,
                   guint64          id,
                   guint32          log_level,
                   const GLogField *fields,
                   gsize            n_fields)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(say)"));
  for (gsize i = 0; i < n_fields && i < ACPU_WIRE_MAX_LOG_FIELDS; i++)
    {
      gsize len = fields[i].length < 0 ? strlen (fields[i].value) : (gsize) fields[i].length;

      if (fields[i].key == NULL || strlen (fields[i].key) > ACPU_WIRE_MAX_LOG_KEY ||
          !g_utf8_validate (fields[i].key, -1, NULL))
        continue;
      len = MIN (len, ACPU_WIRE_MAX_LOG_VALUE);
      g_variant_builder_add (&builder, "(s@ay)", fields[i].key,
                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                        fields[i].value, len, 1));
    }

  acpu_wire_out_frame (out, ACPU_WIRE_LOG, 0, id,
                       g_variant_new ("(ua(say))", log_level, &builder));
}

/* Any thread; the caller owns @out. Marks @n more bytes as written; empties
 * the buffer when all are, and drops the written part of a large one by a
 * multiple of 8 (frames stay 8-aligned), moving the memfd marks with it. */
static void
acpu_wire_out_consume (ACpuWireOut *out,
                       gsize        n)
{
  out->head += n;
  if (out->head == out->buf->len)
    {
      g_byte_array_set_size (out->buf, 0);
      out->head = 0;
    }
  else if (out->head > 1024 * 1024 && out->head > out->buf->len / 2)
    {
      /* Keep frames 8-aligned in the buffer. */
      gsize drop = out->head & ~(gsize) 7;

      g_byte_array_remove_range (out->buf, 0, drop);
      for (guint i = 0; i < out->fds->len; i++)
        g_array_index (out->fds, ACpuWireFdMark, i).offset -= drop;
      out->head -= drop;
    }
}

/* Any thread, no lock. write() of @len bytes at @data to @fd once, without
 * SIGPIPE: a reader gone is EPIPE. The signal such a write raises is sent to
 * the writing thread, so blocking it there and taking it back afterwards
 * leaves the process's disposition alone (a handler or SIG_IGN would be
 * inherited by what tasks start, SIG_IGN even across exec). */
gssize
acpu_wire_write_no_sigpipe (int         fd,
                            const void *data,
                            gsize       len)
{
  sigset_t pipe_set, old_set;
  gssize n;
  int errsv;

  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
  n = write (fd, data, len);
  errsv = errno;
  if (n < 0 && errsv == EPIPE && !sigismember (&old_set, SIGPIPE))
    {
      struct timespec zero = { 0, 0 };

      /* The SIGPIPE the write raised, pending for this thread: taken back. */
      sigtimedwait (&pipe_set, NULL, &zero);
    }
  pthread_sigmask (SIG_SETMASK, &old_set, NULL);
  errno = errsv;
  return n;
}

/* Writes @len bytes at @data to @fd once, with @pass_fd (or -1) on the first
 * byte: sendmsg() on a socket, so that a peer gone away is EPIPE and never
 * SIGPIPE; write() on a pipe or a tty (a launcher's relay), found out by
 * sendmsg()'s ENOTSOCK and remembered in @out, without SIGPIPE too. A worker
 * whose reader is gone must not die of the signal: it would end before it
 * has taken its tasks' children along (its channel's end does that, see
 * acpu_worker_hang_up()). Any thread; the caller holds whatever lock
 * serializes writes to @out. */
static gssize
acpu_wire_out_write (ACpuWireOut  *out,
                     int           fd,
                     const guint8 *data,
                     gsize         len,
                     int           pass_fd)
{
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int))];
  } control;
  struct msghdr msg = { 0 };
  struct iovec iov;
  gssize n;

  if (out->not_socket)
    {
      if (pass_fd >= 0)
        {
          errno = ENOTSOCK;
          return -1;
        }
      return acpu_wire_write_no_sigpipe (fd, data, len);
    }

  iov.iov_base = (gpointer) data;
  iov.iov_len = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;

  if (pass_fd >= 0)
    {
      struct cmsghdr *cmsg;

      memset (&control, 0, sizeof control);
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      cmsg = CMSG_FIRSTHDR (&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (cmsg), &pass_fd, sizeof (int));
    }

  n = sendmsg (fd, &msg, MSG_NOSIGNAL);
  if (n < 0 && errno == ENOTSOCK)
    {
      out->not_socket = TRUE;
      return acpu_wire_out_write (out, fd, data, len, pass_fd);
    }
  return n;
}

/* Writes as much as @fd takes, each memfd on the first byte of its frame.
 * Returns FALSE with @error on a real failure (a memfd to send on a channel
 * that is not a socket is one: can_pass_fds was set wrongly); when a
 * non-blocking @fd is full, returns TRUE with bytes still pending. Any
 * thread; the caller holds the lock that serializes writes to @out (the
 * pool's per-worker out_lock, the worker's out_lock). */
gboolean
acpu_wire_out_flush (ACpuWireOut  *out,
                     int           fd,
                     GError      **error)
{
  while (out->head < out->buf->len)
    {
      gsize end = out->buf->len;
      int pass_fd = -1;
      gssize n;

      if (out->fds->len > 0)
        {
          ACpuWireFdMark *mark = &g_array_index (out->fds, ACpuWireFdMark, 0);

          /* Only the frame's first byte carries the descriptor: the peer
           * then gets it with the recvmsg() that reads that byte. */
          if (mark->offset == out->head)
            {
              pass_fd = mark->fd;
              end = out->head + 1;
            }
          else
            end = mark->offset;
        }

      n = acpu_wire_out_write (out, fd, out->buf->data + out->head, end - out->head, pass_fd);
      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;
          if (errsv == EAGAIN)
            return TRUE;
          if (pass_fd >= 0 && out->not_socket)
            g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                 "Could not send a memfd: the channel is not a socket");
          else
            g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                         "Could not write to the channel: %s", g_strerror (errsv));
          return FALSE;
        }

      if (pass_fd >= 0)
        {
          close (pass_fd);
          g_array_remove_index (out->fds, 0);
        }

      acpu_wire_out_consume (out, n);
    }

  return TRUE;
}

/* Any thread, no lock: a getsockname() on @fd. */
gboolean
acpu_wire_fd_is_unix_socket (int fd)
{
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;

  return getsockname (fd, (struct sockaddr *) &addr, &len) == 0 && addr.ss_family == AF_UNIX;
}
