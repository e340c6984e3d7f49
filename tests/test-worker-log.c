/* test-worker-log.c — a worker's log records, logged again in the parent.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "acpu-error.h"
#include "acpu-wire-private.h"
#include "acpu-worker-log-private.h"
#include "acpu-test-util.h"

/* What the writer of a trapped child saw: one "KEY=value" per field of the
 * last record (binary values as "KEY=<n bytes>"), and its level. */
static GPtrArray *seen;
static GLogLevelFlags seen_level;
static guint seen_records;

static GLogWriterOutput
record_writer (GLogLevelFlags   log_level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         user_data)
{
  g_clear_pointer (&seen, g_ptr_array_unref);
  seen = g_ptr_array_new_with_free_func (g_free);
  seen_level = log_level;
  seen_records++;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (fields[i].length < 0)
        {
          g_assert_true (g_utf8_validate (fields[i].value, -1, NULL));
          g_ptr_array_add (seen, g_strdup_printf ("%s=%s", fields[i].key,
                                                  (const char *) fields[i].value));
        }
      else
        g_ptr_array_add (seen, g_strdup_printf ("%s=<%" G_GSSIZE_FORMAT " bytes>",
                                                fields[i].key, fields[i].length));
    }

  return G_LOG_WRITER_HANDLED;
}

/* The value of @key in the last record, or NULL; asserts it came once. */
static const char *
seen_value (const char *key)
{
  const char *found = NULL;
  gsize key_len = strlen (key);

  g_assert_nonnull (seen);
  for (guint i = 0; i < seen->len; i++)
    {
      const char *field = seen->pdata[i];

      if (strncmp (field, key, key_len) == 0 && field[key_len] == '=')
        {
          g_assert_null (found);
          found = field + key_len + 1;
        }
    }
  return found;
}

/* A record as the wire gives it: pairs of key and NUL-terminated value. */
static GVariant *
record_new (const char *first_key,
            ...)
{
  GVariantBuilder builder;
  va_list args;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(say)"));
  va_start (args, first_key);
  for (const char *key = first_key; key != NULL; key = va_arg (args, const char *))
    {
      const char *value = va_arg (args, const char *);

      g_variant_builder_add (&builder, "(s@ay)", key,
                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, value,
                                                        strlen (value), 1));
    }
  va_end (args);

  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static GVariant *
record_new_len (const char *key,
                const char *value,
                gsize       len)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(say)"));
  g_variant_builder_add (&builder, "(s@ay)", key,
                         g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, value, len, 1));
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
test_worker_log_not_fatal (void)
{
  g_test_summary ("A worker's warning, critical or error is logged in a parent whose "
                  "warnings are fatal (g_test_init(), G_DEBUG=fatal-warnings) and the "
                  "parent goes on; before, the parent died of SIGTRAP");

  if (g_test_subprocess ())
    {
      g_autoptr(GVariant) warning = record_new ("MESSAGE", "worker warned", "GLIB_DOMAIN", "W",
                                                NULL);
      g_autoptr(GVariant) critical = record_new ("MESSAGE", "worker critical", NULL);
      g_autoptr(GVariant) error = record_new ("MESSAGE", "worker error", NULL);

      /* What g_test_init() and G_DEBUG=fatal-warnings set. */
      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
      acpu_worker_log_relay (G_LOG_LEVEL_WARNING, warning, 4242, "task-w");
      acpu_worker_log_relay (G_LOG_LEVEL_CRITICAL, critical, 4242, NULL);
      acpu_worker_log_relay (G_LOG_LEVEL_ERROR | G_LOG_FLAG_FATAL, error, 4242, NULL);
      g_printerr ("still here\n");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  /* Each says whose it is: the parent's pid is what GLib's writer shows. */
  g_test_trap_assert_stderr ("*W-WARNING*worker 4242, task *task-w*: worker warned*"
                             "worker 4242: worker critical*worker 4242: worker error*still here*");
}

static void
test_worker_log_fields (void)
{
  g_test_summary ("Forged and reserved field names are dropped, text is made valid UTF-8, "
                  "and the parent adds the worker's pid, task and priority");

  if (g_test_subprocess ())
    {
      static const char binary[] = { 'a', '\0', 'b' };
      g_autoptr(GVariant) record = NULL;
      g_autoptr(GVariant) bin = record_new_len ("BLOB", binary, sizeof binary);
      g_autofree char *long_key = g_strnfill (ACPU_WORKER_LOG_MAX_KEY + 1, 'K');
      g_autofree char *max_key = g_strnfill (ACPU_WORKER_LOG_MAX_KEY, 'K');

      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
      g_log_set_writer_func (record_writer, NULL, NULL);

      record = record_new ("MESSAGE", "caf\xe9 au lait",
                           "X=1\nACPU_WORKER_PID", "1",
                           "ACPU_WORKER_PID", "1",
                           "ACPU_TASK", "forged",
                           "SYSLOG_IDENTIFIER", "sshd",
                           "SYSLOG_PID", "1",
                           "PRIORITY", "0",
                           "GLIB_OLD_LOG_API", "0",
                           "_PID", "1",
                           "1ABC", "x",
                           "lower", "x",
                           "A B", "x",
                           "",  "x",
                           long_key, "x",
                           max_key, "kept",
                           "MESSAGE", "second message",
                           "GLIB_DOMAIN", "Dom\xff",
                           "CODE_FUNC", "f\xc3",
                           NULL);
      acpu_worker_log_relay (G_LOG_LEVEL_WARNING, record, 4242, "my-task");

      g_assert_cmpuint (seen_records, ==, 1);
      g_assert_cmpint (seen_level, ==, G_LOG_LEVEL_WARNING);
      g_assert_cmpstr (seen_value ("GLIB_OLD_LOG_API"), ==, "1");
      g_assert_cmpstr (seen->pdata[0], ==, "GLIB_OLD_LOG_API=1");
      g_assert_cmpstr (seen_value ("MESSAGE"), ==,
                       "worker 4242, task “my-task”: caf\xef\xbf\xbd au lait");
      g_assert_cmpstr (seen_value ("ACPU_WORKER_PID"), ==, "4242");
      g_assert_cmpstr (seen_value ("ACPU_TASK"), ==, "my-task");
      g_assert_cmpstr (seen_value ("PRIORITY"), ==, "4");
      g_assert_cmpstr (seen_value ("GLIB_DOMAIN"), ==, "Dom\xef\xbf\xbd");
      g_assert_cmpstr (seen_value ("CODE_FUNC"), ==, "f\xef\xbf\xbd");
      g_assert_cmpstr (seen_value (max_key), ==, "kept");
      g_assert_null (seen_value ("SYSLOG_IDENTIFIER"));
      g_assert_null (seen_value ("SYSLOG_PID"));
      g_assert_null (seen_value ("_PID"));
      g_assert_null (seen_value ("1ABC"));
      g_assert_null (seen_value ("lower"));
      g_assert_null (seen_value (long_key));
      g_assert_null (seen_value ("ACPU_LOG_TRUNCATED"));
      /* Nothing else: the marker, MESSAGE, three kept fields, the three added. */
      g_assert_cmpuint (seen->len, ==, 8);
      for (guint i = 0; i < seen->len; i++)
        g_assert_null (strchr (seen->pdata[i], '\n'));

      /* A worker's error: a critical here, the journal's priority of an error. */
      acpu_worker_log_relay (G_LOG_LEVEL_ERROR | G_LOG_FLAG_FATAL, bin, 17, NULL);
      g_assert_cmpuint (seen_records, ==, 2);
      g_assert_cmpint (seen_level, ==, G_LOG_LEVEL_CRITICAL);
      g_assert_cmpstr (seen_value ("PRIORITY"), ==, "3");
      g_assert_cmpstr (seen_value ("BLOB"), ==, "<3 bytes>");
      g_assert_cmpstr (seen_value ("MESSAGE"), ==, "");
      g_assert_null (seen_value ("ACPU_TASK"));
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_worker_log_caps (void)
{
  g_test_summary ("A huge record is cut to ACPU_WORKER_LOG_MAX_RECORD bytes of values, "
                  "MESSAGE first and at a character's start, and says it was cut");

  if (g_test_subprocess ())
    {
      gsize big = 4 * ACPU_WORKER_LOG_MAX_RECORD;
      g_autoptr(GString) message = g_string_sized_new (big);
      g_autofree char *other = g_strnfill (big, 'o');
      g_autoptr(GVariant) record = NULL;
      g_autofree char *total = NULL;
      const char *delivered;
      gsize values = 0;

      while (message->len < big)
        g_string_append (message, "\xc3\xa9"); /* é: two bytes, cut between them */
      g_string_prepend_c (message, 'x');
      total = g_strdup_printf ("%" G_GSIZE_FORMAT, message->len + big);

      g_log_set_writer_func (record_writer, NULL, NULL);
      record = record_new ("OTHER", other, "MESSAGE", message->str, NULL);
      acpu_worker_log_relay (G_LOG_LEVEL_MESSAGE, record, 1, NULL);

      delivered = seen_value ("MESSAGE");
      g_assert_nonnull (delivered);
      g_assert_true (g_str_has_suffix (delivered, " bytes]"));
      g_assert_nonnull (strstr (delivered, total));
      g_assert_true (g_str_has_prefix (delivered, "x\xc3\xa9\xc3\xa9"));
      g_assert_cmpstr (seen_value ("ACPU_LOG_TRUNCATED"), ==, total);
      /* MESSAGE took three quarters, OTHER the rest, cut too. */
      g_assert_cmpuint (strlen (delivered), <, ACPU_WORKER_LOG_MAX_RECORD / 4 * 3 + 128);
      g_assert_cmpuint (strlen (seen_value ("OTHER")), >, 0);
      g_assert_cmpuint (strlen (seen_value ("OTHER")), <=, ACPU_WORKER_LOG_MAX_RECORD / 4 + 3);

      for (guint i = 0; i < seen->len; i++)
        values += strlen (strchr (seen->pdata[i], '=') + 1);
      g_assert_cmpuint (values, <, ACPU_WORKER_LOG_MAX_RECORD + 256);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The record of the log-hostile task, as the pool's I/O thread logged it. */
static GMutex hostile_lock;
static GCond hostile_cond;
static GPtrArray *hostile_seen;

/* The pool's I/O thread: keeps the hostile record, then hands every record
 * to GLib's default writer, which applies this process's fatal mask. */
static GLogWriterOutput
hostile_writer (GLogLevelFlags   log_level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "ACPU_TASK") == 0 && fields[i].length < 0 &&
        strcmp (fields[i].value, "log-hostile") == 0)
      {
        g_mutex_lock (&hostile_lock);
        record_writer (log_level, fields, n_fields, NULL);
        hostile_seen = g_ptr_array_ref (seen);
        g_cond_signal (&hostile_cond);
        g_mutex_unlock (&hostile_lock);
      }

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static void
test_worker_log_pool (void)
{
  g_test_summary ("A real worker's structured warning with a forged field name and 2 MiB of "
                  "values reaches a parent whose warnings are fatal: logged, checked and "
                  "cut, and the parent goes on; before, the parent died of SIGTRAP");

  if (g_test_subprocess ())
    {
      g_autofree char *path = g_test_build_filename (G_TEST_BUILT, "acpu-test-worker", NULL);
      const char *argv[] = { path, NULL };
      g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (argv, 1);
      g_autoptr(GVariant) pid = NULL;
      g_autoptr(GVariant) result = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *pid_str = NULL;
      gint64 deadline;
      const char *message;
      gsize values = 0;
      gint32 worker_pid;

      g_log_set_writer_func (hostile_writer, NULL, NULL);

      pid = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
      g_assert_no_error (error);
      g_variant_get (pid, "(i)", &worker_pid);
      pid_str = g_strdup_printf ("%d", worker_pid);
      result = acpu_process_task_pool_run (pool, "log-hostile", NULL, NULL, &error);
      g_assert_no_error (error);
      acpu_test_assert_prints (result, "'ok'");

      /* Logged from the I/O thread, maybe after the result came. */
      deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
      g_mutex_lock (&hostile_lock);
      while (hostile_seen == NULL && g_cond_wait_until (&hostile_cond, &hostile_lock, deadline))
        ;
      g_assert_nonnull (hostile_seen);
      g_clear_pointer (&seen, g_ptr_array_unref);
      seen = g_ptr_array_ref (hostile_seen);
      g_mutex_unlock (&hostile_lock);

      message = seen_value ("MESSAGE");
      g_assert_true (g_str_has_prefix (message, "worker "));
      g_assert_nonnull (strstr (message, ", task “log-hostile”: hostile record"));
      g_assert_true (g_str_has_suffix (message, " bytes]"));
      g_assert_nonnull (seen_value ("ACPU_LOG_TRUNCATED"));
      g_assert_cmpstr (seen_value ("ACPU_WORKER_PID"), ==, pid_str);
      g_assert_cmpstr (seen_value ("GLIB_DOMAIN"), ==, "Hostile");
      g_assert_null (seen_value ("SYSLOG_IDENTIFIER"));
      for (guint i = 0; i < seen->len; i++)
        {
          g_assert_null (strchr (seen->pdata[i], '\n'));
          values += strlen (strchr (seen->pdata[i], '=') + 1);
        }
      g_assert_cmpuint (values, <, ACPU_WORKER_LOG_MAX_RECORD + 256);

      g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
      g_assert_no_error (error);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*Hostile-WARNING*hostile record*");
}

static void
test_worker_log_frame_cap (void)
{
  guint8 header[ACPU_WIRE_HEADER_SIZE] = { 0 };
  guint32 size = GUINT32_TO_LE (256 * 1024 * 1024);
  g_autofree char *big = g_strnfill (ACPU_WIRE_MAX_LOG_VALUE + 100, 'v');
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  GLogField fields[ACPU_WIRE_MAX_LOG_FIELDS];
  ACpuWireMessage msg;
  ACpuWireOut out;
  ACpuWireIn in;

  g_test_summary ("A LOG frame larger than any record a worker can send is refused from its "
                  "header, before the body is read; the largest real one still passes. "
                  "Before, the pool read up to its 1 GiB limit into memory first");

  /* The largest record acpu_wire_out_log() makes. */
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      char *key = g_strnfill (ACPU_WIRE_MAX_LOG_KEY, 'K');

      key[0] = 'A' + i % 26;
      key[1] = 'A' + i / 26;
      g_ptr_array_add (keys, key);
      fields[i] = (GLogField) { key, big, -1 };
    }
  acpu_wire_out_init (&out, FALSE);
  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  acpu_wire_out_log (&out, 0, G_LOG_LEVEL_WARNING, fields, G_N_ELEMENTS (fields));
  acpu_wire_in_feed (&in, out.buf->data + out.head, acpu_wire_out_pending (&out));
  g_assert_true (acpu_wire_in_next (&in, &msg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_LOG);
  g_assert_cmpuint (g_variant_n_children (msg.fields), ==, ACPU_WIRE_MAX_LOG_FIELDS);
  acpu_wire_message_clear (&msg);
  acpu_wire_in_clear (&in);
  acpu_wire_out_clear (&out);

  /* A 256 MiB one: its header is enough. */
  memcpy (header, &size, 4);
  header[4] = ACPU_WIRE_LOG;
  acpu_wire_in_init (&in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  acpu_wire_in_feed (&in, header, sizeof header);
  g_assert_false (acpu_wire_in_next (&in, &msg, &error));
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  acpu_wire_in_clear (&in);
}

static void
test_worker_log_key_ok (void)
{
  g_test_summary ("Field names follow the journal's rules");

  g_assert_true (acpu_worker_log_key_ok ("MESSAGE"));
  g_assert_true (acpu_worker_log_key_ok ("A_1"));
  g_assert_false (acpu_worker_log_key_ok (""));
  g_assert_false (acpu_worker_log_key_ok ("_SYSTEMD_UNIT"));
  g_assert_false (acpu_worker_log_key_ok ("9LIVES"));
  g_assert_false (acpu_worker_log_key_ok ("Message"));
  g_assert_false (acpu_worker_log_key_ok ("X=1\nACPU_WORKER_PID"));
  g_assert_false (acpu_worker_log_key_ok ("CAF\xc3\x89"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/worker-log/not-fatal", test_worker_log_not_fatal);
  g_test_add_func ("/acpu/worker-log/fields", test_worker_log_fields);
  g_test_add_func ("/acpu/worker-log/caps", test_worker_log_caps);
  g_test_add_func ("/acpu/worker-log/key-ok", test_worker_log_key_ok);
  g_test_add_func ("/acpu/worker-log/pool", test_worker_log_pool);
  g_test_add_func ("/acpu/worker-log/frame-cap", test_worker_log_frame_cap);

  return g_test_run ();
}
