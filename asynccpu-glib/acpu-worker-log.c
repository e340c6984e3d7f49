/* acpu-worker-log.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A worker's log records, logged again in this process.
 *
 * A record is a list of (name, bytes) fields, as GLib's structured logging
 * has it, and everything in it comes from the worker: untrusted. Before it
 * reaches this process's log writer (journald, stderr, or an application's
 * own writer function):
 *
 * - It is never fatal here. A worker's G_LOG_LEVEL_ERROR arrives as a
 *   critical (the worker's g_error() is the worker's own end), and the
 *   record goes out with GLib's `GLIB_OLD_LOG_API=1` as its first field.
 *   That field tells g_log_writer_default() that the fatal decision was
 *   taken already (g_logv() does it for the old API): without it the default
 *   writer applies this process's g_log_set_always_fatal() mask, and a
 *   parent run under g_test_init() or `G_DEBUG=fatal-warnings` died of
 *   SIGTRAP for a worker's g_warning(). The worker decided what was fatal.
 * - Field names follow the journal's rules (uppercase letters, digits and
 *   `_`, not starting with `_` or a digit, at most 64 bytes): journald's
 *   native protocol is `NAME=value\n`, so a name with `=` or a newline in it
 *   writes fields of its own choosing. A name that breaks them is dropped.
 * - Fields this process sets, or that speak for this process to the journal,
 *   are dropped from the worker's record: `ACPU_*`, `PRIORITY`, `SYSLOG_*`
 *   and `GLIB_OLD_LOG_API`. Of a name that comes twice, the first counts.
 * - At most ACPU_WORKER_LOG_MAX_RECORD bytes of values go on: `MESSAGE`
 *   first (three quarters of them at most), `GLIB_DOMAIN` (256 bytes at
 *   most), then the others in order. A record that was cut says so, with
 *   `ACPU_LOG_TRUNCATED` (the bytes the worker sent) and a note at the end
 *   of `MESSAGE`.
 * - `MESSAGE`, `GLIB_DOMAIN` and every value without a NUL byte are text:
 *   made valid UTF-8 (invalid bytes become U+FFFD, as g_utf8_make_valid()
 *   does). A value with a NUL byte is binary and goes on with its length.
 * - Added: `PRIORITY` (from the worker's level), `ACPU_WORKER_PID`,
 *   `ACPU_TASK` when the record came while a task ran, and an empty
 *   `MESSAGE` when the worker sent none (GLib's writers want one).
 * - A warning, critical or error says whose it is in `MESSAGE` too:
 *   `worker 1234, task “square”: …`. On standard error GLib's writer shows
 *   only the message and *this* process's pid, which sent people looking
 *   for the critical in the wrong process.
 */

#include "config.h"

#include <string.h>

#include "acpu-worker-log-private.h"

/* Fields taken from one record; the rest are dropped. */
#define MAX_FIELDS 32
/* What MESSAGE may take of the record, so that other fields still have room. */
#define MAX_MESSAGE (ACPU_WORKER_LOG_MAX_RECORD / 4 * 3)
/* A log domain is a short name (and G_MESSAGES_DEBUG filters on it). */
#define MAX_DOMAIN 256

typedef struct
{
  const char   *key;
  const guint8 *data;
  gsize         len;
} Field;

/* Any thread, no lock: whether @key may be a field name in the journal. */
gboolean
acpu_worker_log_key_ok (const char *key)
{
  gsize len = strlen (key);

  if (len == 0 || len > ACPU_WORKER_LOG_MAX_KEY || key[0] == '_' || g_ascii_isdigit (key[0]))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!(key[i] >= 'A' && key[i] <= 'Z') && !g_ascii_isdigit (key[i]) && key[i] != '_')
      return FALSE;
  return TRUE;
}

/* Any thread, no lock: whether @key is a field this process sets itself. */
static gboolean
acpu_worker_log_key_reserved (const char *key)
{
  return g_str_has_prefix (key, "ACPU_") ||
         g_str_has_prefix (key, "SYSLOG_") ||
         strcmp (key, "PRIORITY") == 0 ||
         strcmp (key, "GLIB_OLD_LOG_API") == 0;
}

/* Any thread, no lock: the journal's priority for a worker's @log_level, as
 * g_log_structured() gives it. */
static const char *
acpu_worker_log_priority (GLogLevelFlags log_level)
{
  if (log_level & G_LOG_LEVEL_ERROR)
    return "3";
  if (log_level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return "4";
  if (log_level & G_LOG_LEVEL_MESSAGE)
    return "5";
  if (log_level & G_LOG_LEVEL_INFO)
    return "6";
  return "7";
}

/* Any thread, no lock: the level a worker's record is logged at here; one
 * level, and never G_LOG_LEVEL_ERROR or a flag. */
static GLogLevelFlags
acpu_worker_log_level (GLogLevelFlags log_level)
{
  if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return G_LOG_LEVEL_CRITICAL;
  if (log_level & G_LOG_LEVEL_WARNING)
    return G_LOG_LEVEL_WARNING;
  if (log_level & G_LOG_LEVEL_MESSAGE)
    return G_LOG_LEVEL_MESSAGE;
  if (log_level & G_LOG_LEVEL_INFO)
    return G_LOG_LEVEL_INFO;
  return G_LOG_LEVEL_DEBUG;
}

/* Any thread, no lock: @len bytes of @data as valid UTF-8 text of at most
 * @max bytes, cut at a character's start. Sets @cut when it had to cut. */
static char *
acpu_worker_log_text (const guint8 *data,
                      gsize         len,
                      gsize         max,
                      gboolean     *cut)
{
  gsize take = MIN (len, max);
  char *text;
  gsize text_len;

  /* Do not split a character at the end of what is taken. */
  if (take < len)
    {
      for (gsize back = 0; back < 3 && take > 0 && (data[take] & 0xc0) == 0x80; back++)
        take--;
      *cut = TRUE;
    }

  /* Up to three bytes for each invalid one: cut again if needed. */
  text = g_utf8_make_valid ((const char *) data, take);
  text_len = strlen (text);
  if (text_len > max)
    {
      const char *end = g_utf8_find_prev_char (text, text + max + 1);

      text[end != NULL ? end - text : 0] = '\0';
      *cut = TRUE;
    }

  return text;
}

/* Any thread (the pool's I/O thread in practice), no lock: logs the record
 * a worker sent (@fields, `a(say)`, at the worker's @log_level) in this
 * process, never fatally, with the worker's @pid and the @task_name
 * (nullable) it was running. See the top of this file for what is checked. */
void
acpu_worker_log_relay (GLogLevelFlags  log_level,
                       GVariant       *fields,
                       GPid            pid,
                       const char     *task_name)
{
  /* Worker fields, the marker, MESSAGE, PRIORITY, pid, task, cut. */
  GLogField out[MAX_FIELDS + 6];
  Field in[MAX_FIELDS];
  g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *pid_str = g_strdup_printf ("%d", (int) pid);
  g_autofree char *truncated = NULL;
  gsize budget = ACPU_WORKER_LOG_MAX_RECORD;
  gsize total = 0;
  gboolean cut = FALSE;
  gssize message = -1, domain = -1;
  gsize n_in = 0, n = 0;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_return_if_fail (fields != NULL);
  g_return_if_fail (g_variant_is_of_type (fields, G_VARIANT_TYPE ("a(say)")));

  /* The fields to keep. */
  g_variant_iter_init (&iter, fields);
  while (g_variant_iter_next (&iter, "(&s@ay)", &key, &value))
    {
      gsize len;
      const guint8 *data = g_variant_get_fixed_array (value, &len, 1);
      gboolean seen = FALSE;

      /* @fields holds @value's bytes: borrowed from here on. */
      g_variant_unref (value);
      if (data == NULL)
        data = (const guint8 *) "";
      total += len;

      if (n_in == MAX_FIELDS || !acpu_worker_log_key_ok (key) ||
          acpu_worker_log_key_reserved (key))
        continue;
      for (gsize i = 0; i < n_in && !seen; i++)
        seen = strcmp (in[i].key, key) == 0;
      if (seen)
        continue;

      if (strcmp (key, "MESSAGE") == 0)
        message = n_in;
      else if (strcmp (key, "GLIB_DOMAIN") == 0)
        domain = n_in;
      in[n_in++] = (Field) { key, data, len };
    }

  /* The marker first: GLib's writer does not make it fatal. */
  out[n++] = (GLogField) { "GLIB_OLD_LOG_API", "1", -1 };

  /* MESSAGE takes from the budget first, then GLIB_DOMAIN. */
  if (message >= 0)
    {
      char *text = acpu_worker_log_text (in[message].data, in[message].len, MAX_MESSAGE, &cut);

      budget -= strlen (text);
      if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
        {
          char *whose = task_name != NULL
            ? g_strdup_printf ("worker %d, task “%s”: %s", (int) pid, task_name, text)
            : g_strdup_printf ("worker %d: %s", (int) pid, text);

          g_free (text);
          text = whose;
        }
      g_ptr_array_add (strings, text);
      out[n++] = (GLogField) { "MESSAGE", text, -1 };
    }
  if (domain >= 0)
    {
      char *text = acpu_worker_log_text (in[domain].data, in[domain].len, MAX_DOMAIN, &cut);

      budget -= strlen (text);
      g_ptr_array_add (strings, text);
      out[n++] = (GLogField) { "GLIB_DOMAIN", text, -1 };
    }

  for (gsize i = 0; i < n_in; i++)
    {
      gboolean text = memchr (in[i].data, '\0', in[i].len) == NULL;

      if ((gssize) i == message || (gssize) i == domain)
        continue;

      if (text)
        {
          char *copy = acpu_worker_log_text (in[i].data, in[i].len, budget, &cut);

          budget -= strlen (copy);
          g_ptr_array_add (strings, copy);
          out[n++] = (GLogField) { in[i].key, copy, -1 };
        }
      else
        {
          gsize take = MIN (in[i].len, budget);

          if (take < in[i].len)
            cut = TRUE;
          budget -= take;
          g_ptr_array_add (strings, g_memdup2 (in[i].data, take));
          out[n++] = (GLogField) { in[i].key, strings->pdata[strings->len - 1], (gssize) take };
        }
    }

  if (message < 0)
    out[n++] = (GLogField) { "MESSAGE", "", -1 };
  else if (cut)
    {
      /* The note goes at the end of the text, past the budget. */
      char *noted = g_strdup_printf ("%s [cut: the worker's record had %" G_GSIZE_FORMAT
                                     " bytes]", (const char *) out[1].value, total);

      g_ptr_array_add (strings, noted);
      out[1].value = noted;
    }

  out[n++] = (GLogField) { "PRIORITY", acpu_worker_log_priority (log_level), -1 };
  out[n++] = (GLogField) { "ACPU_WORKER_PID", pid_str, -1 };
  if (task_name != NULL)
    out[n++] = (GLogField) { "ACPU_TASK", task_name, -1 };
  if (cut)
    {
      truncated = g_strdup_printf ("%" G_GSIZE_FORMAT, total);
      out[n++] = (GLogField) { "ACPU_LOG_TRUNCATED", truncated, -1 };
    }

  g_log_structured_array (acpu_worker_log_level (log_level), out, n);
}
