/* acpu-worker-log-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-worker-log-private.h"
#endif

#include <glib.h>

G_BEGIN_DECLS

/* A worker's log record, logged again in this process. Everything in it is
 * untrusted: see acpu-worker-log.c for what is checked. */

/* At most this many bytes of field values from one record reach the writer;
 * whatever was cut is marked (ACPU_LOG_TRUNCATED, and a note in MESSAGE). */
#define ACPU_WORKER_LOG_MAX_RECORD  (64 * 1024)
/* Field names, as the journal wants them. */
#define ACPU_WORKER_LOG_MAX_KEY     64

gboolean acpu_worker_log_key_ok (const char     *key);
void     acpu_worker_log_relay  (GLogLevelFlags  log_level,
                                 GVariant       *fields,
                                 GPid            pid,
                                 const char     *task_name);

G_END_DECLS
