/* acpu-bench-cpu.h — the CPU-heavy function, shared by the bench worker and
 * the in-process baseline so both run exactly the same code.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

/* @n rounds of an xorshift mix; the result depends on every round.
 *
 * That alone does not make it measurable: the function is pure, so at -O2
 * GCC computed it once for three timed calls with the same @n (the
 * calibration then timed nothing and asked for n = 0), and may move it
 * across the clock reads around it. The two empty asm statements are the
 * usual "do not optimise" barriers (Google Benchmark's DoNotOptimize):
 * volatile, so no two calls are merged; @n and the seed pass through them,
 * so nothing about the loop is known at compile time; "memory", so neither
 * the start nor the result moves across a call such as
 * g_get_monotonic_time (). The loop itself is untouched. */
static inline guint64
acpu_bench_cpu (guint64 n)
{
  guint64 x = 0x9e3779b97f4a7c15ULL;

  __asm__ volatile ("" : "+r" (x), "+r" (n) : : "memory");
  for (guint64 i = 0; i < n; i++)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      x += i;
    }
  __asm__ volatile ("" : "+r" (x) : : "memory");
  return x;
}
