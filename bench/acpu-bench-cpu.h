/* acpu-bench-cpu.h — the CPU-heavy function, shared by the bench worker and
 * the in-process baseline so both run exactly the same code.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

/* @n rounds of an xorshift mix; the result depends on every round, so the
 * compiler cannot drop the loop. */
static inline guint64
acpu_bench_cpu (guint64 n)
{
  guint64 x = 0x9e3779b97f4a7c15ULL;

  for (guint64 i = 0; i < n; i++)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      x += i;
    }
  return x;
}
