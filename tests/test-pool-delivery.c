/* test-pool-delivery.c: results going back to the callers' contexts
 * (acpu-pool-delivery.c): in order, and in slices that leave the
 * context's other sources their turn
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "acpu-test-util.h"

#define N_TASKS 2000

/* How long each callback keeps the loop busy, as a slow application's
 * callback would. Not a threshold: the test counts callbacks, not time. */
#define CALLBACK_US 50

typedef struct
{
  guint    n_done;
  guint    n_errors;
  guint    n_out_of_order;
  guint    since_other;       /* callbacks since the other source last ran */
  guint    max_between;       /* the most callbacks with no turn for it */
  guint    n_other;           /* times the other source ran while results came */
} Delivery;

typedef struct
{
  Delivery *delivery;
  guint     index;
} Call;

static void
spin_us (gint64 usec)
{
  gint64 end = g_get_monotonic_time () + usec;

  while (g_get_monotonic_time () < end)
    ;
}

static void
echo_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autofree Call *call = user_data;
  Delivery *d = call->delivery;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  guint32 echoed = G_MAXUINT32;

  value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &error);
  if (value == NULL)
    d->n_errors++;
  else
    g_variant_get (value, "(u)", &echoed);
  /* One worker answers in the order it was asked. */
  if (echoed != call->index || call->index != d->n_done)
    d->n_out_of_order++;
  d->n_done++;
  d->since_other++;
  d->max_between = MAX (d->max_between, d->since_other);
  spin_us (CALLBACK_US);
}

/* Another source of the delivery's priority, always ready, as a frame
 * clock or a busy timeout would be. */
static gboolean
other_dispatch (GSource     *source,
                GSourceFunc  callback,
                gpointer     user_data)
{
  return callback (user_data);
}

static GSourceFuncs other_funcs = {
  .dispatch = other_dispatch,
};

static gboolean
other_cb (gpointer user_data)
{
  Delivery *d = user_data;

  if (d->n_done > 0 && d->n_done < N_TASKS)
    d->n_other++;
  d->since_other = 0;
  return G_SOURCE_CONTINUE;
}

static void
test_delivery_slices (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);
  g_autoptr(GError) error = NULL;
  Delivery d = { 0 };
  GSource *other;

  g_test_summary ("Thousands of results for one context come back in the order the worker "
                  "answered, in slices: another always-ready source of the same priority "
                  "runs between them, however many batches the I/O thread has handed over "
                  "meanwhile");

  for (guint i = 0; i < N_TASKS; i++)
    {
      Call *call = g_new0 (Call, 1);

      call->delivery = &d;
      call->index = i;
      acpu_process_task_pool_run_async (pool, "echo", g_variant_new ("(u)", i), NULL,
                                        echo_cb, call);
    }

  other = g_source_new (&other_funcs, sizeof (GSource));
  g_source_set_priority (other, G_PRIORITY_DEFAULT);
  g_source_set_callback (other, other_cb, &d, NULL);
  g_source_set_ready_time (other, 0);
  g_source_attach (other, NULL);

  while (d.n_done < N_TASKS)
    g_main_context_iteration (NULL, TRUE);

  g_source_destroy (other);
  g_source_unref (other);

  g_test_message ("%u turns for the other source; at most %u callbacks without one",
                  d.n_other, d.max_between);
  g_assert_cmpuint (d.n_errors, ==, 0);
  g_assert_cmpuint (d.n_out_of_order, ==, 0);
  /* 2,000 callbacks of 50 µs are 100 ms of work: delivered in one go,
   * or one batch after another in one iteration, they would starve it. */
  g_assert_cmpuint (d.max_between, <, N_TASKS / 20);
  g_assert_cmpuint (d.n_other, >, 0);

  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
}

/* A thread with a context of its own, running tasks while the main thread
 * does too. */
typedef struct
{
  ACpuProcessTaskPool *pool;
  Delivery             delivery;
} ThreadData;

static gpointer
caller_thread (gpointer user_data)
{
  ThreadData *data = user_data;
  g_autoptr(GMainContext) context = g_main_context_new ();

  g_main_context_push_thread_default (context);
  for (guint i = 0; i < N_TASKS / 4; i++)
    {
      Call *call = g_new0 (Call, 1);

      call->delivery = &data->delivery;
      call->index = i;
      acpu_process_task_pool_run_async (data->pool, "echo", g_variant_new ("(u)", i), NULL,
                                        echo_cb, call);
    }
  while (data->delivery.n_done < N_TASKS / 4)
    g_main_context_iteration (context, TRUE);
  g_main_context_pop_thread_default (context);
  return NULL;
}

static void
count_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  guint *n = user_data;

  value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &error);
  g_assert_no_error (error);
  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  (*n)++;
}

static void
test_delivery_contexts (void)
{
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (2);
  g_autoptr(GError) error = NULL;
  ThreadData data = { pool, { 0 } };
  GThread *thread;
  guint n = 0;

  g_test_summary ("Two contexts, each with results on the way: each result is delivered "
                  "once, in its own context");

  thread = g_thread_new ("caller", caller_thread, &data);
  for (guint i = 0; i < N_TASKS / 4; i++)
    acpu_process_task_pool_run_async (pool, "echo", g_variant_new ("(u)", i), NULL,
                                      count_cb, &n);
  while (n < N_TASKS / 4)
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (thread);

  g_assert_cmpuint (data.delivery.n_errors, ==, 0);
  g_assert_cmpuint (data.delivery.n_done, ==, N_TASKS / 4);
  g_assert_cmpuint (n, ==, N_TASKS / 4);

  g_assert_true (acpu_process_task_pool_shutdown (pool, NULL, &error));
  g_assert_no_error (error);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/acpu/pool/delivery/slices", test_delivery_slices);
  g_test_add_func ("/acpu/pool/delivery/contexts", test_delivery_contexts);

  return g_test_run ();
}
