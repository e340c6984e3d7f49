/* fuzz-common.h — what the channel fuzz targets share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib-unix.h>

#include "acpu-error.h"
#include "acpu-wire-private.h"

#ifndef FUZZ_READER
# error "build with -DFUZZ_READER=ACPU_WIRE_READER_POOL or ACPU_WIRE_READER_WORKER"
#endif

/* A memfd holding @data, sealed with @seals (0: not sealed at all). */
static int
fuzz_memfd (const guint8 *data,
            gsize         len,
            int           seals)
{
  int fd = memfd_create ("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  gsize done = 0;

  g_assert (fd >= 0);
  while (done < len)
    {
      gssize n = write (fd, data + done, len - done);
      g_assert (n > 0);
      done += n;
    }
  if (seals != 0)
    g_assert (fcntl (fd, F_ADD_SEALS, seals) == 0);
  return fd;
}

static volatile guint8 fuzz_sink;

/* What a decoded message promises its user; then every part of it is
 * touched, as the pool or the worker (or the caller's callback) would. */
static void
fuzz_check_message (const ACpuWireMessage *msg)
{
  g_assert_true (msg->type >= ACPU_WIRE_HELLO && msg->type <= ACPU_WIRE_TYPES);

  switch (msg->type)
    {
    case ACPU_WIRE_HELLO:
      g_assert_true (FUZZ_READER == ACPU_WIRE_READER_POOL);
      g_assert_nonnull (msg->names);
      for (guint i = 0; msg->names[i] != NULL; i++)
        {
          g_assert_cmpuint (i, <, ACPU_WIRE_MAX_TASK_NAMES);
          g_assert_true (msg->names[i][0] != '\0');
          g_assert_cmpuint (strlen (msg->names[i]), <=, ACPU_WIRE_MAX_NAME_LEN);
        }
      break;

    case ACPU_WIRE_REQUEST:
      g_assert_true (FUZZ_READER == ACPU_WIRE_READER_WORKER);
      g_assert_nonnull (msg->name);
      g_assert_true (msg->name[0] != '\0');
      G_GNUC_FALLTHROUGH;
    case ACPU_WIRE_RESULT:
    case ACPU_WIRE_PARTIAL:
      g_assert_true (msg->type == ACPU_WIRE_REQUEST || FUZZ_READER == ACPU_WIRE_READER_POOL);
      g_assert_nonnull (msg->value);
      /* The pool hands it to the caller as (transfer full), never floating;
       * a floating one is sunk (and so freed) by whoever wraps it. */
      if (g_variant_is_floating (msg->value))
        {
          if (g_getenv ("FUZZ_ALLOW_FLOATING") == NULL)
            g_error ("a decoded value is floating (acpu_wire_variant_new() returns "
                     "g_variant_new_from_bytes()' floating ref); FUZZ_ALLOW_FLOATING=1 "
                     "to fuzz on regardless");
          g_variant_ref_sink (((ACpuWireMessage *) msg)->value);
        }
      g_assert_true (g_variant_is_normal_form (msg->value));
      {
        g_autofree char *text = g_variant_print (msg->value, TRUE);
        g_assert_nonnull (text);
      }
      break;

    case ACPU_WIRE_ERROR:
      g_assert_true (FUZZ_READER == ACPU_WIRE_READER_POOL);
      g_assert_nonnull (msg->domain);
      g_assert_nonnull (msg->message);
      {
        /* How the pool turns it into a GError (bounded quark creation). */
        g_autoptr(GError) error = acpu_wire_error_new (msg->domain, msg->code, msg->message);
        g_assert_nonnull (error);
        g_assert_nonnull (error->message);
      }
      break;

    case ACPU_WIRE_LOG:
      g_assert_true (FUZZ_READER == ACPU_WIRE_READER_POOL);
      g_assert_nonnull (msg->fields);
      g_assert_cmpuint (g_variant_n_children (msg->fields), <=, ACPU_WIRE_MAX_LOG_FIELDS);
      {
        GVariantIter iter;
        const char *key;
        GVariant *value;

        g_variant_iter_init (&iter, msg->fields);
        while (g_variant_iter_loop (&iter, "(&s@ay)", &key, &value))
          {
            gsize len;
            const guint8 *bytes = g_variant_get_fixed_array (value, &len, 1);

            g_assert_true (g_utf8_validate (key, -1, NULL));
            for (gsize i = 0; i < len; i++)
              fuzz_sink += bytes[i];
          }
      }
      break;

    case ACPU_WIRE_CANCEL:
      g_assert_true (FUZZ_READER == ACPU_WIRE_READER_WORKER);
      g_assert_null (msg->body);
      break;

    case ACPU_WIRE_PROGRESS:
      g_assert_true (FUZZ_READER == ACPU_WIRE_READER_POOL);
      g_assert_true (isfinite (msg->fraction) && msg->fraction >= 0 && msg->fraction <= 1);
      g_assert_nonnull (msg->text);
      g_assert_true (g_utf8_validate (msg->text, -1, NULL));
      break;

    case ACPU_WIRE_ACK:
      g_assert_true (FUZZ_READER == ACPU_WIRE_READER_WORKER);
      fuzz_sink += (guint8) (msg->ack_count + msg->ack_bytes);
      break;

    case ACPU_WIRE_TYPES:
      g_assert_true (FUZZ_READER == ACPU_WIRE_READER_POOL);
      g_assert_nonnull (msg->types);
      g_assert_true (g_variant_is_of_type (msg->types, G_VARIANT_TYPE ("a(sss)")));
      {
        GVariantIter iter;
        const char *name, *args_type, *result_type;

        g_variant_iter_init (&iter, msg->types);
        while (g_variant_iter_next (&iter, "(&s&s&s)", &name, &args_type, &result_type))
          g_assert_true (name[0] != '\0' &&
                         (args_type[0] == '\0' || g_variant_type_string_is_valid (args_type)) &&
                         (result_type[0] == '\0' ||
                          g_variant_type_string_is_valid (result_type)));
      }
      break;

    default:
      g_assert_not_reached ();
    }
}

/* Takes every whole message out of @in. Returns FALSE once the input was
 * found malformed (the channel would be ended): then the error must be an
 * ACPU_ERROR_PROTOCOL one (or, for a mapping failure, a G_IO_ERROR). */
G_GNUC_UNUSED static gboolean
fuzz_drain (ACpuWireIn *in)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage msg;

  while (acpu_wire_in_next (in, &msg, &error))
    {
      fuzz_check_message (&msg);
      acpu_wire_message_clear (&msg);
    }

  if (error == NULL)
    return TRUE;

  g_assert_true (error->domain == ACPU_ERROR || error->domain == G_IO_ERROR);
  if (error->domain == ACPU_ERROR)
    g_assert_cmpint (error->code, ==, ACPU_ERROR_PROTOCOL);
  /* The message was cleared. */
  g_assert_null (msg.body);
  g_assert_null (msg.value);
  return FALSE;
}

/* No descriptor may outlive an input (received memfds are closed whether
 * claimed or not): the lowest free descriptor stays near where it was. A
 * little slack for what the runtime opens once, lazily (a pipe, seen after
 * the first input); a descriptor leaked per input soon goes past it. */
static void
fuzz_check_fds (void)
{
  static int baseline = -1;
  int probe = dup (2);

  g_assert (probe >= 0);
  close (probe);
  if (baseline < 0)
    baseline = probe;
  else if (probe > baseline + 16)
    {
      g_autofree char *link = g_strdup_printf ("/proc/self/fd/%d", baseline);
      g_autofree char *what = g_file_read_link (link, NULL);

      g_error ("a descriptor leaked: the lowest free one went from %d to %d (%d is %s)",
               baseline, probe, baseline, what ? what : "?");
    }
}

/* Silences GLib's default handler (criticals would still abort, see below). */
static void
fuzz_init_once (void)
{
  static gboolean done = FALSE;

  if (done)
    return;
  done = TRUE;
  /* A critical or warning from GLib on untrusted input is a bug: abort. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_ERROR);
}
