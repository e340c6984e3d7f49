/* acpu-wire-message.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* What a frame carries, decoded and checked (acpu-wire.c describes the
 * wire): a body must be in normal form for its type; a value in a memfd
 * must be sealed, within the limit and, unless it is a plain number array,
 * in normal form too, checked once and trusted from there on (for a large
 * one on the caller's thread of choice: acpu_wire_message_load()); each
 * message type has limits of its own (names, log fields, progress text).
 * Errors a peer describes cross by domain name (acpu_wire_error_new()).
 *
 * Threads: none of its own; nothing here takes a lock.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpu-error.h"
#include "acpu-error-private.h"
#include "acpu-wire-private.h"


/* Any thread, no lock: @msg is the caller's. Frees what a parsed message
 * holds (its body, the values and names that point into it, a memfd kept
 * for acpu_wire_out_result_reuse()) and leaves it empty, fd -1, so that
 * clearing twice is harmless. */
void
acpu_wire_message_clear (ACpuWireMessage *msg)
{
  g_clear_pointer (&msg->value, g_variant_unref);
  g_clear_pointer (&msg->fields, g_variant_unref);
  g_clear_pointer (&msg->names, g_free);
  g_clear_pointer (&msg->body, g_variant_unref);
  if (msg->fd >= 0)
    close (msg->fd);
  memset (msg, 0, sizeof *msg);
  msg->fd = -1;
}

typedef struct
{
  gpointer data;
  gsize    size;
} ACpuWireMapping;

/* Any thread, no lock: the GBytes free function of a mapped memfd. */
static void
acpu_wire_mapping_free (gpointer user_data)
{
  ACpuWireMapping *mapping = user_data;

  munmap (mapping->data, mapping->size);
  g_free (mapping);
}

/* Any thread, no lock. The size of @fd, a memfd the peer sent, after
 * checking that it can no longer change (its seals), that it is a regular
 * file and that it is within @max_size: checked before mmap(), since a
 * memfd truncated under a mapping would SIGBUS its reader. Cheap: no
 * mapping, whatever the size. */
static gboolean
acpu_wire_memfd_size (int       fd,
                      guint64   max_size,
                      gsize    *size,
                      GError  **error)
{
  const int required = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  struct stat st;
  int seals;

  seals = fcntl (fd, F_GET_SEALS);
  if (seals < 0 || (seals & required) != required)
    {
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                           "The peer sent a descriptor that is not a sealed memfd");
      return FALSE;
    }

  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size < 0)
    {
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                           "The peer sent a memfd that cannot be read");
      return FALSE;
    }

  if ((guint64) st.st_size > max_size)
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                   "The peer sent a value of %" G_GUINT64_FORMAT " bytes, over "
                   "max-message-size (%" G_GUINT64_FORMAT " bytes)", (guint64) st.st_size,
                   max_size);
      return FALSE;
    }

  *size = st.st_size;
  return TRUE;
}

/* Any thread, no lock. Maps @fd, a memfd the peer sent, read-only, after
 * acpu_wire_memfd_size()'s checks. Does not take @fd: the mapping outlives
 * it. The pages are read in now (MAP_POPULATE): for a sparse memfd that is
 * the kernel zeroing them, about as long as a check (ACPU_WIRE_DEFER_SIZE). */
static GBytes *
acpu_wire_map_memfd (int       fd,
                     guint64   max_size,
                     GError  **error)
{
  ACpuWireMapping *mapping;
  gpointer data;
  gsize size;

  if (!acpu_wire_memfd_size (fd, max_size, &size, error))
    return NULL;

  if (size == 0)
    return g_bytes_new (NULL, 0);

  data = mmap (NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (data == MAP_FAILED)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Could not map a memfd: %s", g_strerror (errsv));
      return NULL;
    }

  mapping = g_new (ACpuWireMapping, 1);
  mapping->data = data;
  mapping->size = size;
  return g_bytes_new_with_free_func (data, size, acpu_wire_mapping_free, mapping);
}

/* Any thread, no lock.
 * Whether @type is an array of a number type in which every bit pattern is a
 * valid value (not `b`, whose bytes must be 0 or 1): then the normal form
 * is only a matter of the size, and a large `ay` need not be walked. */
static gsize
acpu_wire_plain_array_element_size (const GVariantType *type)
{
  /* A one-element tuple of a variable-size element is serialized exactly as
   * that element (no framing offset, no padding): `(ay)`, the usual way to
   * pass bytes to a task, is checked like `ay`. */
  if (g_variant_type_is_tuple (type) && g_variant_type_n_items (type) == 1)
    type = g_variant_type_first (type);

  if (!g_variant_type_is_array (type))
    return 0;

  switch (g_variant_type_peek_string (type)[1])
    {
    case 'y':
      return 1;
    case 'n': case 'q':
      return 2;
    case 'i': case 'u': case 'h':
      return 4;
    case 'x': case 't': case 'd':
      return 8;
    default:
      return 0;
    }
}

/* Any thread, no lock. A GVariant of @type over @bytes, which came from the
 * peer: a plain number array is taken as it is when its size fits (every
 * bit pattern is a value); anything else must be in normal form, or it is
 * a protocol error naming @what. The value is owned (not floating) and
 * trusted from here on. */
GVariant *
acpu_wire_variant_new (const GVariantType  *type,
                       GBytes              *bytes,
                       const char          *what,
                       GError             **error)
{
  gsize element_size = acpu_wire_plain_array_element_size (type);
  g_autoptr(GVariant) untrusted = NULL;

  /* g_variant_new_from_bytes() gives floating references: values handed
   * out from here are owned, never floating. */
  if (element_size > 0 && g_bytes_get_size (bytes) % element_size == 0)
    return g_variant_ref_sink (g_variant_new_from_bytes (type, bytes, TRUE));

  untrusted = g_variant_ref_sink (g_variant_new_from_bytes (type, bytes, FALSE));
  if (!g_variant_is_normal_form (untrusted))
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                   "The peer sent %s that is not a valid “%s”", what,
                   g_variant_type_peek_string (type));
      return NULL;
    }

  /* Checked once, here: in normal form the bytes are as good as trusted ones,
   * and a trusted GVariant spares every later reader the checks (and
   * g_variant_equal() the printing of both sides). */
  return g_variant_ref_sink (g_variant_new_from_bytes (type, bytes, TRUE));
}

/* Any thread; the caller owns @in. The value of a MEMFD frame: its type
 * string from the body (any string: checked here to be a definite type),
 * its bytes from the next descriptor received. With @keep_fd the memfd is
 * handed back open, for acpu_wire_out_result_reuse(); otherwise closed.
 * With @defer, a memfd of at least in->defer_size bytes is neither mapped
 * nor checked: it is handed back in *@defer and the value is NULL with
 * no error (acpu_wire_message_load() does the rest). */
static GVariant *
acpu_wire_in_memfd_value (ACpuWireIn  *in,
                          const char  *type_string,
                          int         *keep_fd,
                          int         *defer,
                          GError     **error)
{
  g_autoptr(GBytes) bytes = NULL;
  gsize size;
  int fd;

  if (!g_variant_type_string_is_valid (type_string) ||
      !g_variant_type_is_definite (G_VARIANT_TYPE (type_string)))
    {
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                           "The peer sent a value whose type is not a definite GVariant type");
      return NULL;
    }

  fd = GPOINTER_TO_INT (g_queue_pop_head (&in->fds)) - 1;
  if (fd < 0)
    {
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                           "The peer sent a memfd frame without a descriptor");
      return NULL;
    }

  if (defer != NULL)
    {
      if (!acpu_wire_memfd_size (fd, in->max_size, &size, error))
        {
          close (fd);
          return NULL;
        }
      if (size >= in->defer_size)
        {
          *defer = fd;
          return NULL;
        }
    }

  bytes = acpu_wire_map_memfd (fd, in->max_size, error);
  if (bytes == NULL || keep_fd == NULL)
    close (fd);
  else
    *keep_fd = fd;
  if (bytes == NULL)
    return NULL;

  return acpu_wire_variant_new (G_VARIANT_TYPE (type_string), bytes, "a value", error);
}

/* Any thread, no lock. Whether @name, a task name the peer sent, is
 * non-empty and at most ACPU_WIRE_MAX_NAME_LEN bytes (GVariant already made
 * it valid UTF-8). */
static gboolean
acpu_wire_check_name (const char  *name,
                      GError     **error)
{
  if (*name == '\0' || strlen (name) > ACPU_WIRE_MAX_NAME_LEN)
    {
      g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                           "The peer sent an empty or overlong task name");
      return FALSE;
    }
  return TRUE;
}

/* Any thread, no lock. Whether a frame of @type may come to @reader: each
 * type goes one way only. */
gboolean
acpu_wire_type_allowed (ACpuWireReader reader,
                        guint          type)
{
  switch (type)
    {
    case ACPU_WIRE_REQUEST:
    case ACPU_WIRE_CANCEL:
    case ACPU_WIRE_ACK:
      return reader == ACPU_WIRE_READER_WORKER;
    case ACPU_WIRE_HELLO:
    case ACPU_WIRE_TYPES:
    case ACPU_WIRE_RESULT:
    case ACPU_WIRE_ERROR:
    case ACPU_WIRE_LOG:
    case ACPU_WIRE_PROGRESS:
    case ACPU_WIRE_PARTIAL:
      return reader == ACPU_WIRE_READER_POOL;
    default:
      return FALSE;
    }
}

/* Any thread, no lock. The GVariant type of a frame's body, or NULL for a
 * frame without one (CANCEL). */
const GVariantType *
acpu_wire_body_type (ACpuWireType type,
                     gboolean     memfd)
{
  switch (type)
    {
    case ACPU_WIRE_HELLO:   return G_VARIANT_TYPE ("(uuuas)");
    case ACPU_WIRE_TYPES:   return G_VARIANT_TYPE ("a(sss)");
    case ACPU_WIRE_REQUEST: return G_VARIANT_TYPE (memfd ? "(ss)" : "(sv)");
    case ACPU_WIRE_RESULT:
    case ACPU_WIRE_PARTIAL: return memfd ? G_VARIANT_TYPE_STRING : G_VARIANT_TYPE_VARIANT;
    case ACPU_WIRE_PROGRESS: return G_VARIANT_TYPE ("(ds)");
    case ACPU_WIRE_ACK:     return G_VARIANT_TYPE ("(ut)");
    case ACPU_WIRE_ERROR:   return G_VARIANT_TYPE ("(sis)");
    case ACPU_WIRE_LOG:     return G_VARIANT_TYPE ("(ua(say))");
    case ACPU_WIRE_CANCEL:
    default:
      return NULL;
    }
}

/* Any thread; the caller owns @in. Fills in @msg's fields from its body,
 * already in normal form for its type, and checks what the type alone does
 * not: the limits on a hello's names and a log record's fields, a memfd
 * frame's descriptor and type string. The strings point into the body. */
gboolean
acpu_wire_message_unpack (ACpuWireIn       *in,
                          ACpuWireMessage  *msg,
                          gboolean          memfd,
                          GError          **error)
{
  switch (msg->type)
    {
    case ACPU_WIRE_HELLO:
      g_variant_get (msg->body, "(uuu^a&s)", &msg->version, &msg->pid, &msg->flags, &msg->names);
      if (g_strv_length ((char **) msg->names) > ACPU_WIRE_MAX_TASK_NAMES)
        {
          g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                               "The worker registered too many task names");
          return FALSE;
        }
      for (guint i = 0; msg->names[i]; i++)
        if (!acpu_wire_check_name (msg->names[i], error))
          return FALSE;
      return TRUE;

    case ACPU_WIRE_TYPES:
      msg->types = msg->body;
      if (g_variant_n_children (msg->types) > ACPU_WIRE_MAX_TASK_NAMES)
        {
          g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                               "The worker declared the types of too many tasks");
          return FALSE;
        }
      for (gsize i = 0; i < g_variant_n_children (msg->types); i++)
        {
          const char *name, *args_type, *result_type;

          g_variant_get_child (msg->types, i, "(&s&s&s)", &name, &args_type, &result_type);
          if (!acpu_wire_check_name (name, error))
            return FALSE;
          if ((*args_type != '\0' && !g_variant_type_string_is_valid (args_type)) ||
              (*result_type != '\0' && !g_variant_type_string_is_valid (result_type)) ||
              strlen (args_type) > ACPU_WIRE_MAX_NAME_LEN ||
              strlen (result_type) > ACPU_WIRE_MAX_NAME_LEN)
            {
              g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                                   "The worker declared a task type that is not a GVariant type");
              return FALSE;
            }
        }
      return TRUE;

    case ACPU_WIRE_REQUEST:
      if (memfd)
        {
          const char *type_string;

          g_variant_get (msg->body, "(&s&s)", &msg->name, &type_string);
          msg->value = acpu_wire_in_memfd_value (in, type_string, &msg->fd, NULL, error);
          if (msg->value == NULL)
            return FALSE;
        }
      else
        g_variant_get (msg->body, "(&sv)", &msg->name, &msg->value);
      return acpu_wire_check_name (msg->name, error);

    case ACPU_WIRE_RESULT:
    case ACPU_WIRE_PARTIAL:
      if (memfd)
        {
          msg->value = acpu_wire_in_memfd_value (in, g_variant_get_string (msg->body, NULL), NULL,
                                                 &msg->fd, error);
          msg->deferred = msg->value == NULL && msg->fd >= 0;
        }
      else
        msg->value = g_variant_get_variant (msg->body);
      return msg->value != NULL || msg->deferred;

    case ACPU_WIRE_ERROR:
      g_variant_get (msg->body, "(&si&s)", &msg->domain, &msg->code, &msg->message);
      return TRUE;

    case ACPU_WIRE_LOG:
      g_variant_get (msg->body, "(u@a(say))", &msg->log_level, &msg->fields);
      if (g_variant_n_children (msg->fields) > ACPU_WIRE_MAX_LOG_FIELDS)
        {
          g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                               "The worker sent a log record with too many fields");
          return FALSE;
        }
      return TRUE;

    case ACPU_WIRE_PROGRESS:
      g_variant_get (msg->body, "(d&s)", &msg->fraction, &msg->text);
      /* NaN fails both comparisons. */
      if (!(msg->fraction >= 0.0 && msg->fraction <= 1.0) ||
          strlen (msg->text) > ACPU_WIRE_MAX_PROGRESS_TEXT)
        {
          g_set_error_literal (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL,
                               "The worker sent progress out of [0, 1] or an overlong text");
          return FALSE;
        }
      return TRUE;

    case ACPU_WIRE_ACK:
      g_variant_get (msg->body, "(ut)", &msg->ack_count, &msg->ack_bytes);
      return TRUE;

    case ACPU_WIRE_CANCEL:
    default:
      return TRUE;
    }
}

/* Pool, any thread (a thread of its own: it may take seconds); the caller
 * owns @msg, which acpu_wire_in_next() returned `deferred`. Maps its memfd
 * and checks its value as acpu_wire_in_next() does a smaller one, with the
 * same errors (ACPU_ERROR_PROTOCOL for a value not in normal form): on
 * success msg->value is set. The memfd is closed and `deferred` cleared
 * either way. */
gboolean
acpu_wire_message_load (ACpuWireMessage  *msg,
                        guint64           max_size,
                        GError          **error)
{
  g_autoptr(GBytes) bytes = NULL;

  g_return_val_if_fail (msg->deferred && msg->fd >= 0, FALSE);

  bytes = acpu_wire_map_memfd (msg->fd, max_size, error);
  close (msg->fd);
  msg->fd = -1;
  msg->deferred = FALSE;
  if (bytes == NULL)
    return FALSE;

  /* The body of a deferred frame is its value's type string, checked to be
   * a definite type by acpu_wire_in_memfd_value(). */
  msg->value = acpu_wire_variant_new (G_VARIANT_TYPE (g_variant_get_string (msg->body, NULL)),
                                      bytes, "a value", error);
  return msg->value != NULL;
}

/* Errors ------------------------------------------------------------------- */

/* Any thread, no lock (the quota is atomic). Makes the GError a peer
 * described, with the same domain (by name) when the name is a sane one:
 * acpu_error_new_remote() with a budget of this caller's own (the worker
 * side's errors from bindings, the tests). The pool gives each worker a
 * budget of its own instead (acpu-worker-proc.c). */
GError *
acpu_wire_error_new (const char *domain,
                     gint32      code,
                     const char *message)
{
  static guint budget = 256;

  return acpu_error_new_remote (&budget, domain, code, message);
}
