/* test-task.c: task handles (acpu-task.c), progress and partial values
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Real worker processes (acpu-test-worker) report progress and send partial
 * values; these tests look at what an ACpuTask makes of them in the main
 * context: how many notifications, in which thread, in which order, and
 * how far ahead of a slow consumer a producer may get.
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "acpu-test-util.h"
#include "acpu-wire-private.h"

/* Iterates the default context until @task is over. */
static void
wait_finished (ACpuTask *task)
{
  while (!acpu_task_is_finished (task))
    g_main_context_iteration (NULL, TRUE);
}

/* Iterates the default context until @task has left the queue. */
static void
wait_running (ACpuTask *task)
{
  while (acpu_task_get_state (task) == ACPU_TASK_STATE_QUEUED)
    g_main_context_iteration (NULL, TRUE);
}

static void
shutdown_pool (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
}

typedef struct
{
  GThread *thread;
  guint    n_progress;
  guint    n_text;
  guint    n_iterations_with_two;  /* iterations in which progress notified twice */
  double   last;
  gboolean backwards;
  guint64  iteration;              /* bumped by a source each main-loop iteration */
  guint64  notified_in;
  GArray  *states;                 /* ACpuTaskState, as notified */
} Notes;

/* Runs once per iteration of the default context, at the highest priority,
 * so two notifications in one iteration see the same count. */
static gboolean
iteration_prepare (GSource *source,
                   gint    *timeout)
{
  Notes *notes = *(Notes **) (source + 1);

  notes->iteration++;
  *timeout = -1;
  return FALSE;
}

static GSourceFuncs iteration_funcs = { .prepare = iteration_prepare };

static GSource *
iteration_counter_new (Notes *notes)
{
  GSource *source = g_source_new (&iteration_funcs, sizeof (GSource) + sizeof (Notes *));

  *(Notes **) (source + 1) = notes;
  g_source_attach (source, NULL);
  return source;
}

static void
notify_cb (ACpuTask   *task,
           GParamSpec *pspec,
           Notes      *notes)
{
  g_assert_true (g_thread_self () == notes->thread);

  if (g_str_equal (pspec->name, "progress"))
    {
      double progress = acpu_task_get_progress (task);

      if (notes->n_progress > 0 && notes->notified_in == notes->iteration)
        notes->n_iterations_with_two++;
      notes->notified_in = notes->iteration;
      notes->n_progress++;
      if (progress < notes->last)
        notes->backwards = TRUE;
      notes->last = progress;
    }
  else if (g_str_equal (pspec->name, "status-text"))
    notes->n_text++;
  else if (g_str_equal (pspec->name, "state"))
    {
      ACpuTaskState state = acpu_task_get_state (task);

      g_array_append_val (notes->states, state);
    }
}

static void
test_progress_coalesced (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(ACpuTask) task = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSource) counter = NULL;
  Notes notes = { .thread = g_thread_self () };
  const guint n = 2000000;

  g_test_summary ("A task that reports progress two million times makes far fewer "
                  "notifications, one per main-loop iteration, never going back");

  notes.states = g_array_new (FALSE, FALSE, sizeof (ACpuTaskState));
  counter = iteration_counter_new (&notes);
  task = acpu_process_task_pool_start (pool, "progress", g_variant_new ("(u)", n),
                                       G_PRIORITY_DEFAULT, NULL);
  g_signal_connect (task, "notify", G_CALLBACK (notify_cb), &notes);
  wait_finished (task);

  value = acpu_task_get_result (task, &error);
  g_assert_no_error (error);
  acpu_test_assert_prints (value, "(2000000,)");
  g_assert_cmpint (acpu_task_get_state (task), ==, ACPU_TASK_STATE_SUCCEEDED);
  g_assert_cmpfloat (acpu_task_get_progress (task), ==, 1.0);
  g_assert_cmpstr (acpu_task_get_status_text (task), ==, "step 2000000");
  g_assert_cmpuint (notes.n_progress, >=, 1);
  g_assert_cmpuint (notes.n_progress, <, n / 100);
  g_assert_cmpuint (notes.n_text, >=, 1);
  /* The end may notify once more in the iteration that took the last
   * report (the result and the feed are two sources). */
  g_assert_cmpuint (notes.n_iterations_with_two, <=, 1);
  g_assert_false (notes.backwards);

  g_source_destroy (counter);
  g_array_unref (notes.states);
  shutdown_pool (pool);
}

typedef struct
{
  GThread *thread;
  guint    next;          /* the index expected next */
  gboolean out_of_order;
  gboolean after_final;
  GArray  *sent;          /* gint64: when the worker sent value i */
  GArray  *consumed;      /* gint64: when its handler returned */
  guint    slow;          /* handlers that sleep, first ones */
} Stream;

static void
partial_cb (ACpuTask *task,
            GVariant *value,
            Stream   *stream)
{
  guint32 index;
  gint64 sent, now;

  g_assert_true (g_thread_self () == stream->thread);
  g_variant_get (value, "(ux@ay)", &index, &sent, NULL);
  if (index != stream->next)
    stream->out_of_order = TRUE;
  if (acpu_task_is_finished (task))
    stream->after_final = TRUE;
  stream->next++;
  g_array_append_val (stream->sent, sent);
  if (index < stream->slow)
    g_usleep (2000);
  now = g_get_monotonic_time ();
  g_array_append_val (stream->consumed, now);
}

static void
run_stream (guint n,
            guint size,
            guint slow)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(ACpuTask) task = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  Stream stream = { .thread = g_thread_self (), .slow = slow };
  guint window = size > 0 ? MIN (ACPU_WIRE_PARTIAL_WINDOW,
                                 MAX (1, ACPU_WIRE_PARTIAL_WINDOW_BYTES / (size + 16)))
                          : ACPU_WIRE_PARTIAL_WINDOW;

  stream.sent = g_array_new (FALSE, FALSE, sizeof (gint64));
  stream.consumed = g_array_new (FALSE, FALSE, sizeof (gint64));
  task = acpu_process_task_pool_start (pool, "stream", g_variant_new ("(uu)", n, size),
                                       G_PRIORITY_DEFAULT, NULL);
  g_signal_connect (task, "partial-value", G_CALLBACK (partial_cb), &stream);
  wait_finished (task);

  value = acpu_task_get_result (task, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (stream.next, ==, n);
  g_assert_false (stream.out_of_order);
  g_assert_false (stream.after_final);

  /* Back-pressure: value m is made (its time taken) once value m - 1 was
   * sent, which needed the caller to have handled value m - 1 - window
   * (its acknowledgement went after its handler returned). */
  for (guint m = window + 1; m < n; m++)
    {
      if (g_array_index (stream.sent, gint64, m) <
          g_array_index (stream.consumed, gint64, m - 1 - window))
        g_error ("value %u was made before value %u was handled", m, m - 1 - window);
    }

  g_array_unref (stream.sent);
  g_array_unref (stream.consumed);
  shutdown_pool (pool);
}

static void
test_partial_slow_consumer (void)
{
  g_test_summary ("Partial values arrive in order, all of them, before the end, and the "
                  "worker waits for a slow consumer (16 values ahead at most)");
  run_stream (300, 8, 100);
}

static void
test_partial_bytes_window (void)
{
  g_test_summary ("Large partial values are bounded by bytes too (1 MiB ahead at most), "
                  "memfd ones included");
  run_stream (40, 200 * 1024, 20);
}

static void
test_partial_async_task (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(ACpuTask) task = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  Stream stream = { .thread = g_thread_self (), .slow = 40 };

  g_test_summary ("An asynchronous task streams from its worker's main loop: every value, "
                  "in order, past the window, with its progress");

  stream.sent = g_array_new (FALSE, FALSE, sizeof (gint64));
  stream.consumed = g_array_new (FALSE, FALSE, sizeof (gint64));
  task = acpu_process_task_pool_start (pool, "stream-async", g_variant_new ("(u)", 200),
                                       G_PRIORITY_DEFAULT, NULL);
  g_signal_connect (task, "partial-value", G_CALLBACK (partial_cb), &stream);
  wait_finished (task);
  value = acpu_task_get_result (task, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (stream.next, ==, 200);
  g_assert_false (stream.out_of_order);
  g_assert_false (stream.after_final);
  g_assert_cmpstr (acpu_task_get_status_text (task), ==, "streaming");
  g_array_unref (stream.sent);
  g_array_unref (stream.consumed);
  shutdown_pool (pool);
}

static void
cancel_on_first_cb (ACpuTask *task,
                    GVariant *value,
                    guint    *count)
{
  if ((*count)++ == 0)
    acpu_task_cancel (task);
}

static void
test_partial_cancel_waiting (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(ACpuTask) task = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  guint count = 0;
  gint32 pid;

  g_test_summary ("A task waiting for room for a partial value stops at a cancel: its "
                  "send fails with CANCELLED, and the worker lives on");

  g_object_set (pool, "cancel-grace-period", 600000, NULL);
  task = acpu_process_task_pool_start (pool, "stream", g_variant_new ("(uu)", 1000000, 8),
                                       G_PRIORITY_DEFAULT, NULL);
  g_signal_connect (task, "partial-value", G_CALLBACK (cancel_on_first_cb), &count);
  wait_finished (task);
  g_assert_cmpint (acpu_task_get_state (task), ==, ACPU_TASK_STATE_CANCELLED);
  /* None after the cancel. */
  g_assert_cmpuint (count, ==, 1);

  /* The same worker runs the next task: it was not killed after a grace
   * period it could never have met. */
  value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (value, "(i)", &pid);
  g_assert_cmpint (pid, ==, acpu_task_get_worker_pid (task));
  shutdown_pool (pool);
}

static void
test_partial_run_async (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  AcpuTestResult r = { 0 };

  g_test_summary ("A task run without a handle may send partial values: the pool "
                  "acknowledges and drops them, so the task never blocks");

  acpu_process_task_pool_run_async (pool, "stream", g_variant_new ("(uu)", 500, 64), NULL,
                                    acpu_test_result_cb, &r);
  acpu_test_result_wait (&r);
  g_assert_no_error (r.error);
  acpu_test_assert_prints (r.value, "(500,)");
  acpu_test_result_clear (&r);
  shutdown_pool (pool);
}

static void
test_state (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(ACpuTask) task = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  Notes notes = { .thread = g_thread_self () };
  gint32 pid;

  g_test_summary ("A task goes queued → running → succeeded, notified in the caller's "
                  "context, with its worker's pid and its times");

  notes.states = g_array_new (FALSE, FALSE, sizeof (ACpuTaskState));
  task = acpu_process_task_pool_start (pool, "pid", NULL, G_PRIORITY_DEFAULT, NULL);
  g_assert_cmpint (acpu_task_get_state (task), ==, ACPU_TASK_STATE_QUEUED);
  g_assert_cmpint (acpu_task_get_worker_pid (task), ==, 0);
  g_assert_cmpint (acpu_task_get_started_time (task), ==, 0);
  g_assert_cmpstr (acpu_task_get_name (task), ==, "pid");
  g_signal_connect (task, "notify", G_CALLBACK (notify_cb), &notes);
  wait_finished (task);

  g_assert_cmpuint (notes.states->len, ==, 2);
  g_assert_cmpint (g_array_index (notes.states, ACpuTaskState, 0), ==, ACPU_TASK_STATE_RUNNING);
  g_assert_cmpint (g_array_index (notes.states, ACpuTaskState, 1), ==,
                   ACPU_TASK_STATE_SUCCEEDED);

  value = acpu_task_get_result (task, &error);
  g_assert_no_error (error);
  g_variant_get (value, "(i)", &pid);
  g_assert_cmpint (acpu_task_get_worker_pid (task), ==, pid);
  g_assert_cmpint (acpu_task_get_queued_time (task), >, 0);
  g_assert_cmpint (acpu_task_get_started_time (task), >=, acpu_task_get_queued_time (task));
  g_assert_cmpint (acpu_task_get_finished_time (task), >=, acpu_task_get_started_time (task));

  g_array_unref (notes.states);
  shutdown_pool (pool);
}

static void
wait_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  AcpuTestResult *r = user_data;

  r->n_calls++;
  r->value = acpu_task_wait_finish (ACPU_TASK (object), result, &r->error);
}

static void
test_failed (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(ACpuTask) task = NULL;
  g_autoptr(ACpuWorkerExit) exit = NULL;
  AcpuTestResult r = { 0 };

  g_test_summary ("A task whose worker dies fails, with the worker's end, through "
                  "wait_async() too");

  task = acpu_process_task_pool_start (pool, "crash", g_variant_new ("(s)", "kill"),
                                       G_PRIORITY_DEFAULT, NULL);
  acpu_task_wait_async (task, NULL, wait_cb, &r);
  acpu_test_result_wait (&r);
  g_assert_error (r.error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_cmpint (acpu_task_get_state (task), ==, ACPU_TASK_STATE_FAILED);
  exit = acpu_task_get_worker_exit (task);
  g_assert_nonnull (exit);
  g_assert_cmpint (acpu_worker_exit_get_pid (exit), ==, acpu_task_get_worker_pid (task));
  acpu_test_result_clear (&r);

  /* Waiting again, once over, answers at once. */
  acpu_task_wait_async (task, NULL, wait_cb, &r);
  acpu_test_result_wait (&r);
  g_assert_error (r.error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  acpu_test_result_clear (&r);
  shutdown_pool (pool);
}

static void
test_cancel (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(ACpuTask) running = NULL;
  g_autoptr(ACpuTask) queued = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  AcpuTestResult r = { 0 };

  g_test_summary ("acpu_task_cancel() stops a running task, the caller's cancellable a "
                  "queued one; a cancelled wait leaves the task running");

  running = acpu_process_task_pool_start (pool, "sleep", g_variant_new ("(u)", 60000),
                                          G_PRIORITY_DEFAULT, NULL);
  queued = acpu_process_task_pool_start (pool, "pid", NULL, G_PRIORITY_DEFAULT, cancellable);
  wait_running (running);
  g_assert_cmpint (acpu_task_get_worker_pid (running), >, 0);

  /* A wait cancelled returns, the task goes on. */
  {
    g_autoptr(GCancellable) wait_cancellable = g_cancellable_new ();

    acpu_task_wait_async (running, wait_cancellable, wait_cb, &r);
    g_cancellable_cancel (wait_cancellable);
    acpu_test_result_wait (&r);
    g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpint (acpu_task_get_state (running), ==, ACPU_TASK_STATE_RUNNING);
    acpu_test_result_clear (&r);
  }

  g_cancellable_cancel (cancellable);
  wait_finished (queued);
  g_assert_cmpint (acpu_task_get_state (queued), ==, ACPU_TASK_STATE_CANCELLED);
  g_assert_cmpint (acpu_task_get_worker_pid (queued), ==, 0);

  acpu_task_cancel (running);
  wait_finished (running);
  g_assert_cmpint (acpu_task_get_state (running), ==, ACPU_TASK_STATE_CANCELLED);
  value = acpu_task_get_result (running, &error);
  g_assert_null (value);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  shutdown_pool (pool);
}

typedef struct
{
  GPtrArray *order;
} Order;

static void
order_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *order = user_data;

  value = acpu_task_wait_finish (ACPU_TASK (object), result, &error);
  g_assert_no_error (error);
  {
    char *label;

    g_variant_get (value, "(s)", &label);
    g_ptr_array_add (order, label);
  }
}

static void
test_priority (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(ACpuTask) blocker = NULL;
  g_autoptr(GPtrArray) order = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GString) joined = g_string_new (NULL);
  static const struct { const char *label; int priority; } starts[] = {
    { "d1", G_PRIORITY_DEFAULT }, { "d2", G_PRIORITY_DEFAULT }, { "h1", G_PRIORITY_HIGH },
    { "l1", G_PRIORITY_LOW }, { "h2", G_PRIORITY_HIGH }, { "d3", G_PRIORITY_DEFAULT },
  };

  g_test_summary ("With one busy worker, queued tasks run by io_priority, lower first, "
                  "first come first served within a priority");

  blocker = acpu_process_task_pool_start (pool, "sleep", g_variant_new ("(u)", 300),
                                          G_PRIORITY_DEFAULT, NULL);
  wait_running (blocker);

  for (guint i = 0; i < G_N_ELEMENTS (starts); i++)
    {
      ACpuTask *task = acpu_process_task_pool_start (pool, "echo",
                                                     g_variant_new ("(s)", starts[i].label),
                                                     starts[i].priority, NULL);

      g_assert_cmpint (acpu_task_get_priority (task), ==, starts[i].priority);
      acpu_task_wait_async (task, NULL, order_cb, order);
      g_ptr_array_add (tasks, task);
    }

  while (order->len < G_N_ELEMENTS (starts))
    g_main_context_iteration (NULL, TRUE);
  for (guint i = 0; i < order->len; i++)
    g_string_append_printf (joined, "%s%s", i ? " " : "", (char *) order->pdata[i]);
  g_assert_cmpstr (joined->str, ==, "h1 h2 d1 d2 d3 l1");

  wait_finished (blocker);
  shutdown_pool (pool);
}

static void
test_protocol (void)
{
  const char *cases[] = { "progress-nan", "partial-unknown", "partial-flood" };

  g_test_summary ("A worker that breaks the rules of progress or partial values (NaN, "
                  "a request it does not have, past the window) is killed: PROTOCOL");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
      g_autoptr(ACpuTask) task = NULL;
      g_autoptr(GVariant) value = NULL;
      g_autoptr(GError) error = NULL;

      g_autofree char *path = acpu_test_temp_path (cases[i]);

      /* A new pool's first request has id 1. */
      task = acpu_process_task_pool_start (pool, "hostile-feed",
                                           g_variant_new ("(sts)", cases[i], (guint64) 1, path),
                                           G_PRIORITY_DEFAULT, NULL);
      /* Without iterating this context, which acknowledges partial values:
       * the flood is past the window whatever the timing. The worker waits
       * to be killed. */
      {
        GPid pid = acpu_test_read_pid_file (path);

        ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (pid), 60);
      }
      wait_finished (task);
      value = acpu_task_get_result (task, &error);
      g_test_message ("%s: %s", cases[i], error ? error->message : "no error");
      g_assert_error (error, ACPU_ERROR, ACPU_ERROR_PROTOCOL);
      g_assert_cmpint (acpu_task_get_state (task), ==, ACPU_TASK_STATE_FAILED);
      g_unlink (path);
      shutdown_pool (pool);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/task/state", test_state);
  g_test_add_func ("/acpu/task/failed", test_failed);
  g_test_add_func ("/acpu/task/cancel", test_cancel);
  g_test_add_func ("/acpu/task/priority", test_priority);
  g_test_add_func ("/acpu/task/progress/coalesced", test_progress_coalesced);
  g_test_add_func ("/acpu/task/partial/slow-consumer", test_partial_slow_consumer);
  g_test_add_func ("/acpu/task/partial/bytes-window", test_partial_bytes_window);
  g_test_add_func ("/acpu/task/partial/run-async", test_partial_run_async);
  g_test_add_func ("/acpu/task/partial/async-task", test_partial_async_task);
  g_test_add_func ("/acpu/task/partial/cancel-waiting", test_partial_cancel_waiting);
  g_test_add_func ("/acpu/task/protocol", test_protocol);

  return g_test_run ();
}
