/* acpu-checks-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-checks-private.h"
#endif

#include <glib.h>

#include "acpu-io-private.h"

G_BEGIN_DECLS

/* The threading contract, checked.
 *
 * Every function of the pool and of the worker handle says in the first line
 * of its comment which thread runs it and which lock it needs; where that
 * matters, it also says so in code with the assertions below. They are
 * compiled in when meson's `debug` option is on (the default
 * `debugoptimized` build type, the test and sanitizer builds of CI) and cost
 * nothing in a release build, as GDBus's CONNECTION_ENSURE_LOCK and libdex's
 * thread assertions do.
 *
 * ACPU_ASSERT_IO_THREAD ()        only the I/O thread (acpu-io-private.h) may
 *                                 run this: it owns the I/O context while it
 *                                 dispatches.
 * ACPU_ASSERT_NOT_IO_THREAD ()    never the I/O thread (a caller's thread
 *                                 that might wait for it).
 * ACPU_ASSERT_MUTEX_HELD (mutex)  somebody holds @mutex (GDBus's check: a
 *                                 GMutex cannot say who). The pool's own
 *                                 lock records its owner and says more
 *                                 (acpu-pool-private.h).
 */
#ifdef ACPU_ENABLE_CHECKS
# define ACPU_CHECKS_ENABLED 1
# define ACPU_ASSERT_IO_THREAD() \
  g_assert (g_main_context_is_owner (acpu_io_get_context ()))
# define ACPU_ASSERT_NOT_IO_THREAD() \
  g_assert (!g_main_context_is_owner (acpu_io_get_context ()))
# define ACPU_ASSERT_MUTEX_HELD(mutex) \
  G_STMT_START { \
    if (g_mutex_trylock (mutex)) \
      { \
        g_mutex_unlock (mutex); \
        g_error ("%s: %s must be held here", G_STRFUNC, #mutex); \
      } \
  } G_STMT_END
#else
# define ACPU_CHECKS_ENABLED 0
# define ACPU_ASSERT_IO_THREAD() G_STMT_START { } G_STMT_END
# define ACPU_ASSERT_NOT_IO_THREAD() G_STMT_START { } G_STMT_END
# define ACPU_ASSERT_MUTEX_HELD(mutex) G_STMT_START { (void) (mutex); } G_STMT_END
#endif

G_END_DECLS
