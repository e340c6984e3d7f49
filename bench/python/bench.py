#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Drop-in benchmark: asynccpu_glib against concurrent.futures.ProcessPoolExecutor.

Prints, one per line:
  py_rtt_us              round trip of one trivial task, awaited one at a time
                         (Python client, generic Python worker), median
  py_throughput_per_s    trivial tasks per second, N in flight at once
  ppe_rtt_us             the same round trip with ProcessPoolExecutor
  ppe_throughput_per_s   the same throughput with ProcessPoolExecutor
  quickstart_speedup     the seed's quick start (10 tasks of sum(i*i ...)) with 2
                         workers, against the ten calls one after the other here
                         (skipped with --quick)
  ppe_asyncio_rtt_us     for context: that round trip awaited through
                         loop.run_in_executor (what asynccpu itself does)
  rtt_ratio, throughput_ratio  py over ppe (targets: <= 0.5 and >= 2)
Options: --workers N (2), --tasks N (10000), --rtt N (500), --rounds N (3), --quick,
--quickstart-rounds N (1: serial and parallel quick starts in turn, medians).
Lines starting with # are comments (the load average before and after).

Run from a build tree with PYTHONPATH=<src>/bindings,
GI_TYPELIB_PATH and LD_LIBRARY_PATH=<build>/asynccpu-glib.
"""

import argparse
import asyncio
import concurrent.futures
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from asynccpu_glib import ProcessTaskPoolExecutor  # noqa: E402


def trivial(x):
    return x


async def process_cpu_bound(task_id):
    return f"task_id: {task_id}, result: {sum(i * i for i in range(10 ** 7))}"


def process_cpu_bound_sync(task_id):
    return f"task_id: {task_id}, result: {sum(i * i for i in range(10 ** 7))}"


async def acpu_rtt(ex, n):
    times = []
    for i in range(n):
        t = time.perf_counter()
        await ex.create_process_task(trivial, i)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


async def acpu_throughput(ex, n):
    t = time.perf_counter()
    await asyncio.gather(*[ex.create_process_task(trivial, i) for i in range(n)])
    return n / (time.perf_counter() - t)


def ppe_rtt(ex, n):
    times = []
    for i in range(n):
        t = time.perf_counter()
        ex.submit(trivial, i).result()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


async def ppe_asyncio_rtt(ex, n):
    loop = asyncio.get_running_loop()
    times = []
    for i in range(n):
        t = time.perf_counter()
        await loop.run_in_executor(ex, trivial, i)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def ppe_throughput(ex, n):
    t = time.perf_counter()
    futures = [ex.submit(trivial, i) for i in range(n)]
    for f in futures:
        f.result()
    return n / (time.perf_counter() - t)


async def quickstart(workers):
    t = time.perf_counter()
    with ProcessTaskPoolExecutor(max_workers=workers, cancel_tasks_when_shutdown=True) as ex:
        results = await asyncio.gather(*[ex.create_process_task(process_cpu_bound, x)
                                         for x in range(10)])
    assert len(results) == 10
    return time.perf_counter() - t


async def main_async(args):
    out = {}
    # Rounds alternate between the two so that a change in the machine's load
    # hits both; each figure is the median of its rounds. Throughput comes
    # first in a round: a burst right after a one-at-a-time phase starts with a
    # small in-flight window (the pool adapts it to the reply times it saw).
    rtt, thr, prtt, pthr, partt = [], [], [], [], []
    with ProcessTaskPoolExecutor(max_workers=args.workers) as ex, \
            concurrent.futures.ProcessPoolExecutor(max_workers=args.workers) as ppe:
        await asyncio.gather(*[ex.create_process_task(trivial, i) for i in range(200)])
        list(ppe.map(trivial, range(200)))
        for _ in range(args.rounds):
            thr.append(await acpu_throughput(ex, args.tasks))
            rtt.append(await acpu_rtt(ex, args.rtt))
            pthr.append(ppe_throughput(ppe, args.tasks))
            prtt.append(ppe_rtt(ppe, args.rtt))
            partt.append(await ppe_asyncio_rtt(ppe, args.rtt))
    out["py_rtt_us"] = statistics.median(rtt)
    out["py_throughput_per_s"] = statistics.median(thr)
    out["ppe_rtt_us"] = statistics.median(prtt)
    out["ppe_throughput_per_s"] = statistics.median(pthr)
    out["ppe_asyncio_rtt_us"] = statistics.median(partt)
    out["rtt_ratio"] = out["py_rtt_us"] / out["ppe_rtt_us"]
    out["throughput_ratio"] = out["py_throughput_per_s"] / out["ppe_throughput_per_s"]
    if not args.quick:
        # Serial and parallel in turn, --quickstart-rounds times (the load
        # of a shared machine changes between two phases of 10 s).
        serial, parallel, ratios = [], [], []
        for _ in range(args.quickstart_rounds):
            t = time.perf_counter()
            for x in range(10):
                process_cpu_bound_sync(x)
            serial.append(time.perf_counter() - t)
            parallel.append(await quickstart(2))
            ratios.append(serial[-1] / parallel[-1])
        out["quickstart_serial_s"] = statistics.median(serial)
        out["quickstart_2workers_s"] = statistics.median(parallel)
        out["quickstart_speedup"] = statistics.median(ratios)
    return out


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rtt", type=int, default=500)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--quickstart-rounds", type=int, default=1)
    args = p.parse_args()
    print("# load at start: " + loadavg())
    out = asyncio.run(main_async(args))
    print("# load at end: " + loadavg())
    for k, v in out.items():
        print("%s: %.3f" % (k, v) if isinstance(v, float) else "%s: %s" % (k, v))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
