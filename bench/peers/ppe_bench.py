#!/usr/bin/python3
"""The issue-5 workloads on concurrent.futures.ProcessPoolExecutor (stdlib).

Prints ppe_rtt_us, ppe_throughput_per_s, ppe_echo64_ms, ppe_cold_ms (medians),
ppe_submit_burst_ms (how long the caller is blocked submitting 100,000).
Usage: ppe_bench.py [--quick]
"""
import concurrent.futures as cf
import multiprocessing as mp
import os
import statistics
import sys
import time

QUICK = "--quick" in sys.argv
N_THROUGHPUT = 100_000
ECHO = 64 * 1024 * 1024


def trivial():
    return os.getpid()


def echo(b):
    return b


def now():
    return time.perf_counter()


def rtt(ex, n):
    t = now()
    for _ in range(n):
        ex.submit(trivial).result()
    return (now() - t) / n * 1e6


def throughput(ex, total):
    t = now()
    futs = [ex.submit(trivial) for _ in range(total)]
    submit = now() - t
    for f in futs:
        f.result()
    return total / (now() - t), submit * 1000


def cold(ctx):
    t = now()
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        ex.submit(trivial).result()
        ms = (now() - t) * 1000
    return ms


def main():
    ctx = mp.get_context("fork")  # the Linux default before 3.14
    trials = 3 if QUICK else 5
    out = {}
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as ex:
        [f.result() for f in [ex.submit(trivial) for _ in range(200)]]
        out["ppe_rtt_us"] = statistics.median(rtt(ex, 500 if QUICK else 2000) for _ in range(trials))
        total = 20_000 if QUICK else N_THROUGHPUT
        rates, submits = zip(*(throughput(ex, total) for _ in range(1 if QUICK else 3)))
        out["ppe_throughput_per_s"] = statistics.median(rates)
        out["ppe_submit_burst_ms"] = statistics.median(submits)
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        data = bytes(range(256)) * (ECHO // 256)
        ex.submit(trivial).result()
        times = []
        for _ in range(trials):
            t = now()
            back = ex.submit(echo, data).result()
            times.append((now() - t) * 1000)
            assert len(back) == ECHO
            del back
        out["ppe_echo64_ms"] = statistics.median(times)
    out["ppe_cold_ms"] = statistics.median(cold(ctx) for _ in range(trials + 2))
    if QUICK:
        print(f"# ppe: quick mode, throughput over {20_000} tasks")
    for k in ("ppe_rtt_us", "ppe_throughput_per_s", "ppe_echo64_ms", "ppe_cold_ms", "ppe_submit_burst_ms"):
        print(f"{k}: {out[k]:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
