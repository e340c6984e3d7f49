/* test-error-domains.c — error domains that workers name, and their quota.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "acpu-test-util.h"

/* More than any quota a single worker could be given. */
#define HOSTILE_DOMAINS 300

static ACpuProcessTaskPool *
pool_new (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_BUILT, "acpu-test-worker", NULL);
  const char *argv[] = { path, NULL };

  return acpu_process_task_pool_new (argv, 1);
}

/* Runs the worker's "error" task; returns its error. */
static GError *
raise_in (ACpuProcessTaskPool *pool,
          const char          *domain,
          int                  code)
{
  g_autoptr(GVariant) result = NULL;
  GError *error = NULL;

  result = acpu_process_task_pool_run (pool, "error",
                                       g_variant_new ("(sis)", domain, code, "raised"),
                                       NULL, &error);
  g_assert_null (result);
  g_assert_nonnull (error);
  return error;
}

static void
test_error_domains_per_worker (void)
{
  g_autoptr(ACpuProcessTaskPool) hostile = pool_new ();
  g_autoptr(ACpuProcessTaskPool) polite = pool_new ();
  g_autoptr(GError) error = NULL;
  guint kept = 0;

  g_test_summary ("A worker that makes up hundreds of error domains spends its own quota, "
                  "not the process's: another worker's new domain still arrives as itself; "
                  "before, it arrived as ACPU_ERROR_FAILED");

  g_assert_cmpuint (g_quark_try_string ("polite-worker-error-quark"), ==, 0);

  for (guint i = 0; i < HOSTILE_DOMAINS; i++)
    {
      g_autofree char *domain = g_strdup_printf ("hostile-domain-%u-quark", i);
      g_autoptr(GError) hostile_error = raise_in (hostile, domain, 1);

      if (hostile_error->domain != ACPU_ERROR)
        {
          g_assert_cmpstr (g_quark_to_string (hostile_error->domain), ==, domain);
          kept++;
        }
      else
        {
          /* Past its quota: the name and code are still in the message. */
          g_assert_cmpint (hostile_error->code, ==, ACPU_ERROR_FAILED);
          g_assert_nonnull (strstr (hostile_error->message, domain));
        }
    }
  /* The quota bites. */
  g_assert_cmpuint (kept, >, 0);
  g_assert_cmpuint (kept, <, HOSTILE_DOMAINS);

  error = raise_in (polite, "polite-worker-error-quark", 7);
  g_assert_cmpstr (g_quark_to_string (error->domain), ==, "polite-worker-error-quark");
  g_assert_cmpint (error->code, ==, 7);
  g_assert_cmpstr (error->message, ==, "raised");

  /* A domain this process knows costs nothing: the hostile worker still
   * gets G_IO_ERROR through. */
  g_clear_error (&error);
  error = raise_in (hostile, "g-io-error-quark", G_IO_ERROR_NOT_FOUND);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);

  g_assert_true (acpu_process_task_pool_shutdown (hostile, NULL, NULL));
  g_assert_true (acpu_process_task_pool_shutdown (polite, NULL, NULL));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/error/domains-per-worker", test_error_domains_per_worker);

  return g_test_run ();
}
