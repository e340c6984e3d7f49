#!/usr/bin/python3
# test_pool_stats.py — a pool's statistics, worker model and cancel-all from
# Python, as a GTK application would use them: properties of plain GObjects,
# a Gio.ListModel, changes seen in the main context. This file is also its
# own worker (worker_argv None).
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import sys
import time
import unittest

import gi

gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, Gio, GLib  # noqa: E402


def task_square(args, cancellable):
    (x,) = args.unpack()
    return (x * x,)


def task_wait(args, cancellable):
    while not cancellable.is_cancelled():
        time.sleep(0.005)
    cancellable.set_error_if_cancelled()


worker = ACpu.Worker.new()
worker.register('square', task_square)
worker.register('wait', task_wait)


def iterate_until(cond, timeout=30):
    ctx = GLib.MainContext.default()
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError('timed out')
        ctx.iteration(False) or time.sleep(0.01)


class PoolStatsTest(unittest.TestCase):
    def setUp(self):
        self.pool = ACpu.ProcessTaskPool.new(None, 2)

    def tearDown(self):
        self.pool.props.cancel_tasks_when_shutdown = True
        self.pool.shutdown(None)

    def run_many(self, name, values, cancellable=None):
        results = {}

        def done(pool, result, i):
            try:
                results[i] = pool.run_finish(result)
            except GLib.Error as e:
                results[i] = e

        for i, v in enumerate(values):
            self.pool.run_async(name, GLib.Variant('(x)', (v,)) if v is not None else None,
                                cancellable, done, i)
        return results

    def test_stats_properties(self):
        results = self.run_many('square', range(20))
        iterate_until(lambda: len(results) == 20)
        stats = self.pool.get_stats()
        self.assertIsInstance(stats, ACpu.PoolStats)
        self.assertEqual(stats.props.submitted, 20)
        self.assertEqual(stats.props.succeeded, 20)
        self.assertEqual(stats.props.failed + stats.props.cancelled, 0)
        self.assertEqual(stats.props.n_queued + stats.props.n_running, 0)
        self.assertGreater(stats.props.run_p50, 0)
        self.assertLessEqual(stats.props.run_p50, stats.props.run_max)
        self.assertAlmostEqual(stats.get_run_time(100), stats.props.run_max)
        self.assertGreaterEqual(stats.props.worker_starts, 1)
        self.pool.reset_stats()
        self.assertEqual(self.pool.get_stats().props.succeeded, 0)

    def test_cancel_all(self):
        results = self.run_many('wait', [None] * 5)
        iterate_until(lambda: self.pool.props.n_running == 2)
        self.pool.cancel_all()
        iterate_until(lambda: len(results) == 5)
        for r in results.values():
            self.assertTrue(isinstance(r, GLib.Error) and
                            r.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), r)
        after = self.run_many('square', [7])
        iterate_until(lambda: len(after) == 1)
        self.assertEqual(after[0].unpack(), (49,))
        self.assertEqual(self.pool.get_stats().props.cancelled, 5)

    def test_worker_model(self):
        self.pool.props.worker_priority = ACpu.WorkerPriority.BATCH
        self.pool.props.min_workers = 2
        workers = self.pool.get_workers()
        self.assertIsInstance(workers, Gio.ListModel)
        self.assertEqual(workers.get_item_type(), ACpu.WorkerInfo.__gtype__)
        changes = []
        workers.connect('items-changed', lambda *a: changes.append(a[1:]))
        # min-workers starts them without a task: they show up, then idle.
        iterate_until(lambda: workers.get_n_items() == 2 and all(
            workers.get_item(i).props.state == ACpu.WorkerState.IDLE for i in range(2)))
        self.assertTrue(changes)
        pids = sorted(workers.get_item(i).props.pid for i in range(2))
        for pid in pids:
            os.kill(pid, 0)
            with open(f'/proc/{pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            self.assertEqual(int(fields[41 - 3]), 3)  # policy: SCHED_BATCH
        results = self.run_many('wait', [None])
        iterate_until(lambda: any(
            workers.get_item(i).props.state == ACpu.WorkerState.BUSY and
            workers.get_item(i).props.task_name == 'wait' for i in range(workers.get_n_items())))
        self.pool.cancel_all()
        iterate_until(lambda: len(results) == 1)


if __name__ == '__main__':
    if ACpu.Worker.is_worker_process():
        sys.exit(worker.run())
    unittest.main(verbosity=2)
