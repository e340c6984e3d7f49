/* test-error.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <asynccpu-glib.h>

static void
test_error_domain (void)
{
  g_test_summary ("ACPU_ERROR is the quark named acpu-error-quark, with a GEnum for its codes");

  g_assert_cmpstr (g_quark_to_string (ACPU_ERROR), ==, "acpu-error-quark");
  g_assert_true (G_TYPE_IS_ENUM (ACPU_TYPE_ERROR));
}

static void
test_error_codes (void)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (ACPU_TYPE_ERROR);
  const char *nicks[] = { "failed", "unknown-task", "worker-died", "worker-start",
                          "protocol", "closed", "invalid-argument", "queue-full" };

  g_test_summary ("Every error code has a stable value and nick, FAILED first");

  g_assert_cmpint (ACPU_ERROR_FAILED, ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (nicks); i++)
    {
      GEnumValue *value = g_enum_get_value (klass, i);

      g_assert_nonnull (value);
      g_assert_cmpstr (value->value_nick, ==, nicks[i]);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/error/domain", test_error_domain);
  g_test_add_func ("/acpu/error/codes", test_error_codes);

  return g_test_run ();
}
