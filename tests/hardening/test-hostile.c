/* test-hostile.c — workers that break the protocol on purpose.
 *
 * Each case runs a pool whose workers are hostile-worker MODE: the task that
 * meets the misbehaviour ends with a clear ACPU_ERROR_PROTOCOL,
 * ACPU_ERROR_WORKER_DIED or ACPU_ERROR_WORKER_START; a task running at the
 * same time on another worker is untouched; the same pool then serves the
 * next task; the parent does not crash (no SIGBUS, no abort), and once the
 * pool is gone it has no child and no more descriptors than before.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "../acpu-test-util.h"

static gboolean
has_property (ACpuProcessTaskPool *pool,
              const char          *name)
{
  return g_object_class_find_property (G_OBJECT_GET_CLASS (pool), name) != NULL;
}

/* Log records re-logged from workers, counted by the writer below. */
static gint n_worker_records;
static gint n_bad_task_records;
static gint n_dropped_warnings;
/* For log-evil: what the worker's records looked like when they got here. */
static gint n_evil_records;
static gint n_evil_fatal;
static gint n_evil_spoofed;
static GPid evil_pid;

static GLogWriterOutput
count_writer (GLogLevelFlags   log_level,
              const GLogField *fields,
              gsize            n_fields,
              gpointer         user_data)
{
  gboolean from_worker = FALSE;
  gboolean bad_task = FALSE;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "ACPU_WORKER_PID"))
        from_worker = TRUE;
      else if (g_str_equal (fields[i].key, "ACPU_TASK") && fields[i].length != 0 &&
               strncmp (fields[i].value, "bad", 3) == 0)
        bad_task = TRUE;
      else if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].length < 0 &&
               strstr (fields[i].value, "Dropped") != NULL &&
               strstr (fields[i].value, "log records") != NULL)
        g_atomic_int_inc (&n_dropped_warnings);
    }

  if (from_worker && evil_pid != 0)
    {
      g_autofree char *pid = g_strdup_printf ("%d", (int) evil_pid);

      g_atomic_int_inc (&n_evil_records);
      if (log_level & (G_LOG_FLAG_FATAL | G_LOG_LEVEL_ERROR | G_LOG_FLAG_RECURSION))
        g_atomic_int_inc (&n_evil_fatal);
      for (gsize i = 0; i < n_fields; i++)
        if ((g_str_equal (fields[i].key, "ACPU_WORKER_PID") && !g_str_equal (fields[i].value, pid)) ||
            (g_str_equal (fields[i].key, "ACPU_TASK") && !g_str_equal (fields[i].value, "bad")))
          g_atomic_int_inc (&n_evil_spoofed);
    }

  if (from_worker)
    {
      g_atomic_int_inc (&n_worker_records);
      if (bad_task)
        g_atomic_int_inc (&n_bad_task_records);
      /* A flood: counted, not printed. */
      return G_LOG_WRITER_HANDLED;
    }

  return g_log_writer_default (log_level, fields, n_fields, user_data);
}

static char *
hostile_path (void)
{
  return g_test_build_filename (G_TEST_BUILT, "hardening", "hostile-worker", NULL);
}

/* A fresh path for a once-file. */
static char *
once_path (const char *mode)
{
  g_autofree char *base = g_strdup_printf ("acpu-hostile-%d-%s", (int) getpid (), mode);
  char *path = g_build_filename (g_get_tmp_dir (), base, NULL);

  g_unlink (path);
  return path;
}

static ACpuProcessTaskPool *
hostile_pool_new (const char *mode,
                  const char *once,
                  guint       max_workers)
{
  g_autofree char *path = hostile_path ();
  const char *argv[] = { path, mode, once, NULL };
  ACpuProcessTaskPool *pool = acpu_process_task_pool_new (argv, max_workers);

  /* Bounds a stalled frame or handshake; only so a broken build fails
   * instead of hanging (no case depends on how long it takes). */
  acpu_process_task_pool_set_handshake_timeout (pool, 1500);
  return pool;
}

static void
pool_destroy (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;

  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, TRUE);
  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (acpu_process_task_pool_get_n_workers (pool), ==, 0);
  g_object_unref (pool);
}

/* After a case: no child, no zombie, no descriptor left behind. */
static void
assert_clean (guint fds_before)
{
  ACPU_TEST_WAIT_FOR (acpu_test_count_children () == 0, 30);
  /* Closing happens on the pool's I/O thread: wait for it, within a bound. */
  ACPU_TEST_WAIT_FOR (acpu_test_count_fds () <= fds_before, 10);
  g_assert_cmpuint (acpu_test_count_fds (), ==, fds_before);
}

static void
assert_echo (ACpuProcessTaskPool *pool,
             const char          *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  const char *got;

  value = acpu_process_task_pool_run (pool, "echo", g_variant_new ("(s)", text), NULL, &error);
  g_assert_no_error (error);
  g_variant_get (value, "(&s)", &got);
  g_assert_cmpstr (got, ==, text);
}

static gboolean
error_is_one_of (const GError *error,
                 const int    *codes)
{
  if (error == NULL || error->domain != ACPU_ERROR)
    return FALSE;
  for (guint i = 0; codes[i] >= 0; i++)
    if (error->code == codes[i])
      return TRUE;
  return FALSE;
}

/* Request modes ------------------------------------------------------------- */

typedef struct
{
  const char *mode;
  int         codes[3];   /* ACpuError values accepted, -1 terminated */
  const char *in_message; /* nullable: the message must contain it */
} RequestCase;

static const RequestCase request_cases[] = {
  { "garbage",        { ACPU_ERROR_PROTOCOL, -1 }, NULL },
  { "huge",           { ACPU_ERROR_PROTOCOL, -1 }, NULL },
  { "wrong-type",     { ACPU_ERROR_PROTOCOL, -1 }, NULL },
  { "truncated",      { ACPU_ERROR_PROTOCOL, -1 }, NULL },
  { "unknown-id",     { ACPU_ERROR_PROTOCOL, -1 }, NULL },
  { "memfd-unsealed", { ACPU_ERROR_PROTOCOL, -1 }, "sealed" },
  { "memfd-truncate", { ACPU_ERROR_PROTOCOL, -1 }, "sealed" },
  { "memfd-missing",  { ACPU_ERROR_PROTOCOL, -1 }, NULL },
  { "memfd-notmemfd", { ACPU_ERROR_PROTOCOL, -1 }, NULL },
  { "stderr-die",     { ACPU_ERROR_WORKER_DIED, -1 }, NULL },
};

static void
test_request_mode (gconstpointer data)
{
  const RequestCase *c = data;
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new (c->mode, NULL, 2);
  AcpuTestResult innocent = { 0 }, bad = { 0 };
  gint32 innocent_pid;

  g_test_summary ("A worker that misbehaves on one request fails that task only, "
                  "with a clear error; the pool serves the next task");

  /* Two workers: the innocent task holds one (the window is one task while
   * nothing has been measured), the bad one goes to the other. */
  acpu_process_task_pool_run_async (pool, "sleep", g_variant_new ("(u)", 300), NULL,
                                    acpu_test_result_cb, &innocent);
  acpu_process_task_pool_run_async (pool, "bad", NULL, NULL, acpu_test_result_cb, &bad);
  acpu_test_result_wait (&bad);
  acpu_test_result_wait (&innocent);

  g_assert_nonnull (bad.error);
  g_test_message ("%s: %s (%s %d)", c->mode, bad.error->message,
                  g_quark_to_string (bad.error->domain), bad.error->code);
  g_assert_true (error_is_one_of (bad.error, c->codes));
  g_assert_nonnull (strstr (bad.error->message, "“bad”"));
  if (c->in_message != NULL)
    g_assert_nonnull (strstr (bad.error->message, c->in_message));
  g_assert_cmpuint (bad.n_calls, ==, 1);

  g_assert_no_error (innocent.error);
  g_assert_cmpuint (innocent.n_calls, ==, 1);
  g_variant_get (innocent.value, "(i)", &innocent_pid);
  g_assert_cmpint (innocent_pid, >, 0);

  /* The same pool goes on. */
  assert_echo (pool, "after");
  assert_echo (pool, "and again");

  acpu_test_result_clear (&innocent);
  acpu_test_result_clear (&bad);
  pool_destroy (pool);
  assert_clean (fds_before);
}

/* The right answer, and then the same answer again: the duplicate is a
 * protocol error for whatever that worker runs next. */
static void
test_duplicate (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new ("duplicate", NULL, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) next = NULL;
  const char *text;

  g_test_summary ("A worker that answers a request twice: the first answer counts, "
                  "the second ends that worker with ACPU_ERROR_PROTOCOL");

  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (value, "(&s)", &text);
  g_assert_cmpstr (text, ==, "bad-ok");

  /* The worker sends the duplicate before it answers this one. */
  next = acpu_process_task_pool_run (pool, "echo", g_variant_new ("(s)", "x"), NULL, &error);
  g_assert_null (next);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_test_message ("duplicate: %s", error->message);

  assert_echo (pool, "after");

  pool_destroy (pool);
  assert_clean (fds_before);
}

/* A header claiming 512 MiB, the body trickling in: memory follows what
 * really arrives, and task-timeout ends it. */
static void
test_huge_slow (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new ("huge-slow", NULL, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  guint64 rss_before, rss_after;

  g_test_summary ("A frame that claims 512 MiB and trickles in costs the parent only "
                  "what arrived; task-timeout ends it with G_IO_ERROR_TIMED_OUT");

  if (!has_property (pool, "task-timeout"))
    {
      g_object_unref (pool);
      g_test_skip ("needs task-timeout");
      return;
    }

  assert_echo (pool, "warm");
  rss_before = acpu_test_rss_kib_of ("self");
  g_object_set (pool, "task-timeout", 2000, NULL);
  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  rss_after = acpu_test_rss_kib_of ("self");
  g_assert_nonnull (error);
  g_test_message ("huge-slow: %s; RSS %" G_GUINT64_FORMAT " KiB → %" G_GUINT64_FORMAT " KiB",
                  error->message, rss_before, rss_after);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  /* 512 MiB claimed; a couple of seconds at ~6 MiB/s arrived. */
  g_assert_cmpuint (rss_after, <, rss_before + 128 * 1024);

  g_object_set (pool, "task-timeout", 0, NULL);
  assert_echo (pool, "after");
  pool_destroy (pool);
  assert_clean (fds_before);
}

static void
test_log_flood (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new ("log-flood", NULL, 2);
  AcpuTestResult innocent = { 0 }, bad = { 0 };
  GLogLevelFlags fatal;
  const char *text;
  guint n;

  g_test_summary ("A worker that floods the log with 100000 records: its task still "
                  "gets its answer, the parent passes on a bounded number, nothing else suffers");

  /* The pool says how many it dropped with a g_warning(): not fatal here. */
  fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_atomic_int_set (&n_worker_records, 0);
  g_atomic_int_set (&n_bad_task_records, 0);

  acpu_process_task_pool_run_async (pool, "sleep", g_variant_new ("(u)", 300), NULL,
                                    acpu_test_result_cb, &innocent);
  acpu_process_task_pool_run_async (pool, "bad", NULL, NULL, acpu_test_result_cb, &bad);
  acpu_test_result_wait (&bad);
  acpu_test_result_wait (&innocent);

  g_assert_no_error (bad.error);
  g_variant_get (bad.value, "(&s)", &text);
  g_assert_cmpstr (text, ==, "bad-ok");
  g_assert_no_error (innocent.error);

  n = g_atomic_int_get (&n_bad_task_records);
  g_test_message ("log-flood: 100000 records sent, %u re-logged in the parent "
                  "(all tagged with the task), %d “dropped” warnings",
                  n, g_atomic_int_get (&n_dropped_warnings));
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpuint (n, ==, (guint) g_atomic_int_get (&n_worker_records));
  g_assert_cmpuint (n, <, 100000);

  assert_echo (pool, "after");
  acpu_test_result_clear (&innocent);
  acpu_test_result_clear (&bad);
  pool_destroy (pool);
  g_log_set_always_fatal (fatal);
  assert_clean (fds_before);
}

static void
test_log_evil (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new ("log-evil", NULL, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) pid_value = NULL;
  gint32 pid;
  const char *text;

  g_test_summary ("Log records a worker forges (fatal levels, spoofed ACPU_ fields, "
                  "odd keys and bytes) are re-logged tamed: never fatal, tagged with "
                  "the real pid and task");

  pid_value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (pid_value, "(i)", &pid);
  evil_pid = pid;
  g_atomic_int_set (&n_evil_records, 0);

  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (value, "(&s)", &text);
  g_assert_cmpstr (text, ==, "bad-ok");

  g_test_message ("log-evil: %d records re-logged, %d fatal, %d with a spoofed pid or task",
                  g_atomic_int_get (&n_evil_records), g_atomic_int_get (&n_evil_fatal),
                  g_atomic_int_get (&n_evil_spoofed));
  /* All six arrived (the writer runs before the reply is handled). */
  g_assert_cmpint (g_atomic_int_get (&n_evil_records), ==, 6);
  g_assert_cmpint (g_atomic_int_get (&n_evil_fatal), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&n_evil_spoofed), ==, 0);
  evil_pid = 0;

  pool_destroy (pool);
  assert_clean (fds_before);
}

static void
test_stderr_tail (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new ("stderr-die", NULL, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("ACPU_ERROR_WORKER_DIED carries the last lines the worker wrote to stderr");

  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_test_message ("stderr-die: %s", error->message);
  g_assert_nonnull (strstr (error->message, "SIGKILL"));
  g_assert_nonnull (strstr (error->message, "last words before SIGKILL"));

  assert_echo (pool, "after");
  pool_destroy (pool);
  assert_clean (fds_before);
}

static void
test_stdout_noise (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new ("stdout-noise", NULL, 1);

  g_test_summary ("Text a worker's runtime prints on stdout before the channel's magic "
                  "(GLib's debug messages with G_MESSAGES_DEBUG=all) is passed on as "
                  "output, and the worker serves");

  assert_echo (pool, "through the noise");
  assert_echo (pool, "again");
  pool_destroy (pool);
  assert_clean (fds_before);
}

/* Issue 15, point 2: a worker's stderr is bytes, the GError message is
 * UTF-8. Before: the message carried the raw 0xE9 and was not valid UTF-8. */
static void
test_stderr_not_utf8 (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new ("stderr-latin1", NULL, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A worker that writes bytes that are not UTF-8 to stderr and dies: "
                  "ACPU_ERROR_WORKER_DIED's message is valid UTF-8 and still shows the text");

  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_test_message ("stderr-latin1: %s", error->message);
  g_assert_nonnull (strstr (error->message, "hostile-worker: caf"));

  assert_echo (pool, "after");
  pool_destroy (pool);
  assert_clean (fds_before);
}

/* Issue 15, point 4: a frame begun must be finished within the limit,
 * counted from its first byte. Before: each byte restarted the timer and the
 * frame (10 s at one byte every 250 ms) came through against a 1 s limit. */
static void
test_dribble (void)
{
  guint fds_before = acpu_test_count_fds ();
  ACpuProcessTaskPool *pool = hostile_pool_new ("dribble", NULL, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A worker that sends a frame one byte at a time, each within the "
                  "stall limit, is stopped once the frame has taken longer than the limit");

  acpu_process_task_pool_set_handshake_timeout (pool, 1000);
  value = acpu_process_task_pool_run (pool, "bad", NULL, NULL, &error);
  if (value != NULL)
    {
      g_autofree char *printed = g_variant_print (value, FALSE);

      g_test_message ("dribble: the whole frame came through: %s", printed);
    }
  g_assert_null (value);
  g_test_message ("dribble: %s", error->message);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
  g_assert_nonnull (strstr (error->message, "middle of a frame"));

  assert_echo (pool, "after");
  pool_destroy (pool);
  assert_clean (fds_before);
}

/* Issue 15, point 8: a program that is not a worker. Runs in a subprocess so
 * that its stderr can be checked. Before: the raw bytes went to stderr and
 * the start failed only at the handshake timeout (20 s here). */
static void
test_binary_noise (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *once = once_path ("binary-noise");
      ACpuProcessTaskPool *pool = hostile_pool_new ("binary-noise", once, 1);
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;

      acpu_process_task_pool_set_handshake_timeout (pool, 20000);
      value = acpu_process_task_pool_run (pool, "echo", g_variant_new ("(s)", "x"), NULL, &error);
      g_assert_null (value);
      g_test_message ("binary-noise: %s", error->message);
      g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_START);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_nonnull (strstr (error->message, "hostile-worker"));
      g_assert_nonnull (strstr (error->message, "not an asynccpu-glib worker"));
      assert_echo (pool, "after");
      pool_destroy (pool);
      g_unlink (once);
      return;
    }

  g_test_summary ("A program that writes binary bytes before the handshake fails the "
                  "start at once with ACPU_ERROR_WORKER_START naming it; the bytes do not "
                  "reach the application's stderr");

  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr_unmatched ("*BINARY-MARKER*");
}

/* Handshake modes ------------------------------------------------------------ */

typedef struct
{
  const char *mode;
  int         codes[3];
} HandshakeCase;

static const HandshakeCase handshake_cases[] = {
  { "no-hello",      { ACPU_ERROR_WORKER_START, -1 } },
  { "hello-partial", { ACPU_ERROR_WORKER_START, ACPU_ERROR_PROTOCOL, -1 } },
  { "hello-garbage", { ACPU_ERROR_WORKER_START, ACPU_ERROR_PROTOCOL, -1 } },
  { "hello-version", { ACPU_ERROR_WORKER_START, -1 } },
  { "hello-names",   { ACPU_ERROR_WORKER_START, ACPU_ERROR_PROTOCOL, -1 } },
  { "hello-twice",   { ACPU_ERROR_PROTOCOL, -1 } },
  { "early-result",  { ACPU_ERROR_WORKER_START, ACPU_ERROR_PROTOCOL, -1 } },
  { "fd-flood",      { ACPU_ERROR_WORKER_START, ACPU_ERROR_PROTOCOL, -1 } },
  { "noise-flood",   { ACPU_ERROR_WORKER_START, -1 } },
};

static void
test_handshake_mode (gconstpointer data)
{
  const HandshakeCase *c = data;
  guint fds_before = acpu_test_count_fds ();
  g_autofree char *once = once_path (c->mode);
  ACpuProcessTaskPool *pool = hostile_pool_new (c->mode, once, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  g_test_summary ("A worker that botches the handshake fails the task waiting for it "
                  "with a clear error; the next worker the same pool starts serves the next task");

  value = acpu_process_task_pool_run (pool, "echo", g_variant_new ("(s)", "x"), NULL, &error);
  g_assert_null (value);
  g_assert_nonnull (error);
  g_test_message ("%s: %s (%s %d)", c->mode, error->message,
                  g_quark_to_string (error->domain), error->code);
  g_assert_true (error_is_one_of (error, c->codes));
  g_assert_true (g_file_test (once, G_FILE_TEST_EXISTS));

  assert_echo (pool, "after");

  pool_destroy (pool);
  g_unlink (once);
  assert_clean (fds_before);
}

/* Large values (the memfd path) with the well-behaved test worker ---------- */

static void
test_large_result_owned (void)
{
  ACpuProcessTaskPool *pool = acpu_test_pool_new (1);
  g_autoptr(GError) error = NULL;
  GVariant *value;
  gboolean floating;

  g_test_summary ("A result large enough to come back in a memfd is a full, "
                  "non-floating reference, like any other result");

  value = acpu_process_task_pool_run (pool, "bytes", g_variant_new ("(t)", (guint64) 1024 * 1024),
                                      NULL, &error);
  g_assert_no_error (error);
  floating = g_variant_is_floating (value);
  if (floating)
    {
      /* Sink it, so this test itself does not crash on the bug. */
      g_variant_ref_sink (value);
    }
  g_variant_unref (value);

  /* And a small one, for comparison. */
  value = acpu_process_task_pool_run (pool, "bytes", g_variant_new ("(t)", (guint64) 16), NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_variant_is_floating (value));
  g_variant_unref (value);

  pool_destroy (pool);

  /* run_finish() is (transfer full): never floating, large or small. */
  g_assert_false (floating);
}

/* Echo and wrap a memfd-sized argument (1 MiB), then check the worker is
 * the same process: its args must be a reference it owns, not a floating
 * one that the result container sinks and frees before the worker does. */
static void
test_large_args_worker_survives (gconstpointer data)
{
  const char *task = data;
  ACpuProcessTaskPool *pool = acpu_test_pool_new (1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) pid_value = NULL;
  g_autofree guint8 *bytes = g_malloc (1024 * 1024);
  gint32 pid_before, pid_after = 0;
  gboolean died = FALSE;

  g_test_summary ("A worker given a memfd-sized argument can echo it or wrap it in a "
                  "container and lives on");

  for (gsize i = 0; i < 1024 * 1024; i++)
    bytes[i] = i % 253;

  pid_value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (pid_value, "(i)", &pid_before);
  g_clear_pointer (&pid_value, g_variant_unref);

  for (guint round = 0; round < 3 && !died; round++)
    {
      g_autoptr(GVariant) inner = NULL;
      gsize len;
      const guint8 *out;

      value = acpu_process_task_pool_run (pool, task,
                                          g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes,
                                                                     1024 * 1024, 1),
                                          NULL, &error);
      if (error != NULL)
        {
          /* The worker crashed after (or while) answering. */
          g_test_message ("%s: %s", task, error->message);
          g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
          g_clear_error (&error);
          died = TRUE;
          break;
        }
      if (g_variant_is_floating (value))
        g_variant_ref_sink (value);
      inner = g_str_equal (task, "wrap") ? g_variant_get_child_value (value, 0) : g_variant_ref (value);
      if (g_variant_is_of_type (inner, G_VARIANT_TYPE_VARIANT))
        {
          GVariant *unboxed = g_variant_get_variant (inner);
          g_variant_unref (inner);
          inner = unboxed;
        }
      out = g_variant_get_fixed_array (inner, &len, 1);
      g_assert_cmpuint (len, ==, 1024 * 1024);
      g_assert_true (memcmp (out, bytes, len) == 0);
      g_clear_pointer (&value, g_variant_unref);
    }

  if (!died)
    {
      pid_value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
      g_assert_no_error (error);
      g_variant_get (pid_value, "(i)", &pid_after);
    }

  pool_destroy (pool);

  /* A floating memfd argument, sunk by the task's container and freed
   * again by the worker, once killed the worker here. */
  g_assert_false (died);
  g_assert_cmpint (pid_after, ==, pid_before);
}

static void
test_large_args_not_floating (void)
{
  ACpuProcessTaskPool *pool = acpu_test_pool_new (1);
  g_autofree guint8 *bytes = g_malloc0 (1024 * 1024);
  gboolean floating[2];

  g_test_summary ("A task is handed its args as a borrowed, non-floating reference, "
                  "small (inline) or large (memfd)");

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;

      value = acpu_process_task_pool_run (pool, "args-floating",
                                          g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes,
                                                                     i == 0 ? 16 : 1024 * 1024, 1),
                                          NULL, &error);
      g_assert_no_error (error);
      g_variant_get (value, "(b)", &floating[i]);
    }
  pool_destroy (pool);

  g_assert_false (floating[0]);
  g_assert_false (floating[1]);
}

int
main (int   argc,
      char *argv[])
{
  g_log_set_writer_func (count_writer, NULL, NULL);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (request_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/acpu/hardening/hostile/request/%s",
                                               request_cases[i].mode);
      g_test_add_data_func (path, &request_cases[i], test_request_mode);
    }
  g_test_add_func ("/acpu/hardening/hostile/request/duplicate", test_duplicate);
  g_test_add_func ("/acpu/hardening/hostile/request/huge-slow", test_huge_slow);
  g_test_add_func ("/acpu/hardening/hostile/request/log-flood", test_log_flood);
  g_test_add_func ("/acpu/hardening/hostile/request/log-evil", test_log_evil);
  g_test_add_func ("/acpu/hardening/hostile/stderr-tail", test_stderr_tail);
  g_test_add_func ("/acpu/hardening/hostile/stdout-noise", test_stdout_noise);
  g_test_add_func ("/acpu/hardening/hostile/stderr-not-utf8", test_stderr_not_utf8);
  g_test_add_func ("/acpu/hardening/hostile/request/dribble", test_dribble);
  g_test_add_func ("/acpu/hardening/hostile/handshake/binary-noise", test_binary_noise);
  for (guint i = 0; i < G_N_ELEMENTS (handshake_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/acpu/hardening/hostile/handshake/%s",
                                               handshake_cases[i].mode);
      g_test_add_data_func (path, &handshake_cases[i], test_handshake_mode);
    }
  g_test_add_func ("/acpu/hardening/memfd/result-owned", test_large_result_owned);
  g_test_add_func ("/acpu/hardening/memfd/args-not-floating", test_large_args_not_floating);
  g_test_add_data_func ("/acpu/hardening/memfd/worker-survives/echo", "echo",
                        test_large_args_worker_survives);
  g_test_add_data_func ("/acpu/hardening/memfd/worker-survives/wrap", "wrap",
                        test_large_args_worker_survives);

  /* What the first pool creates once per process (the I/O thread and its
   * context, GLib's child watch) is not a leak: create it before counting. */
  {
    ACpuProcessTaskPool *pool = acpu_test_pool_new (1);

    assert_echo (pool, "warm-up");
    pool_destroy (pool);
    acpu_test_settle ();
  }

  return g_test_run ();
}
