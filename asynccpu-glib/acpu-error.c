/* acpu-error.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "acpu-error.h"
#include "acpu-error-private.h"

/**
 * acpu_error_quark:
 *
 * The error domain of asynccpu-glib.
 *
 * Returns: the quark of the `ACPU_ERROR` domain, [error@ACpu.Error]
 *
 * Since: 0.1
 */
G_DEFINE_QUARK (acpu-error-quark, acpu_error)

/* Error domains from workers --------------------------------------------- */

/* Any thread, no lock: whether @domain is a name a worker may give a domain. */
static gboolean
acpu_error_domain_name_ok (const char *domain)
{
  gsize len = strlen (domain);

  if (len == 0 || len > 128)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (domain[i]) && domain[i] != '-' && domain[i] != '_' && domain[i] != '.')
      return FALSE;
  return TRUE;
}

/* Any thread, no lock: takes one from @budget (used atomically), unless it
 * is spent. */
static gboolean
acpu_error_take_one (guint *budget)
{
  guint left;

  do
    {
      left = (guint) g_atomic_int_get ((gint *) budget);
      if (left == 0)
        return FALSE;
    }
  while (!g_atomic_int_compare_and_exchange ((gint *) budget, (gint) left, (gint) left - 1));

  return TRUE;
}

/* Any thread, no lock: the GError a worker described, in the domain it
 * named when that is a sane name and the quark exists or may be made: from
 * @budget, the worker's own count of new domains (start it at
 * ACPU_ERROR_MAX_NEW_DOMAINS_PER_WORKER), and from the process's. Otherwise
 * %ACPU_ERROR_FAILED with the domain's name and code in the message.
 *
 * The budget is the worker's so that one worker that makes up hundreds of
 * domains spends only its own share: before, one process-wide count of 256
 * let it take every new domain from the workers that came after it. */
GError *
acpu_error_new_remote (guint      *budget,
                       const char *domain,
                       gint32      code,
                       const char *message)
{
  static guint process_budget = ACPU_ERROR_MAX_NEW_DOMAINS;
  GQuark quark = 0;

  g_return_val_if_fail (budget != NULL, NULL);
  g_return_val_if_fail (domain != NULL, NULL);
  g_return_val_if_fail (message != NULL, NULL);

  if (acpu_error_domain_name_ok (domain))
    {
      quark = g_quark_try_string (domain);
      /* The worker's budget first: a worker that spent its own takes
       * nothing from the process's. */
      if (quark == 0 && acpu_error_take_one (budget) && acpu_error_take_one (&process_budget))
        quark = g_quark_from_string (domain);
    }

  if (quark == 0)
    return g_error_new (ACPU_ERROR, ACPU_ERROR_FAILED, "%s (%s, %d)", message, domain, code);

  return g_error_new_literal (quark, code, message);
}
