#!/usr/bin/python3
# quickstart.py — asynccpu's quick start, in Python, in one file.
#
# Usage: quickstart.py
#
# Ten CPU-bound tasks run in a pool of three worker processes — real
# parallelism, no GIL between them — while the main loop stays free; the
# results are gathered and printed in order. The program is its own worker:
# the pool starts it again (same interpreter, same arguments), and there
# ACpu.Worker.is_worker_process() is True.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import sys

import gi

gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, GLib  # noqa: E402

N_TASKS = 10


def process_cpu_bound(args, cancellable):
    (task_id,) = args.unpack()
    result = sum(i * i for i in range(10 ** 7))
    # The sum needs more than 64 bits: it travels as text.
    return 'task_id: %d, result: %d' % (task_id, result)


def main(argv):
    worker = ACpu.Worker.new()
    worker.register('process_cpu_bound', process_cpu_bound)
    if ACpu.Worker.is_worker_process():
        return worker.run()

    if len(argv) > 1:
        print('Usage: %s' % argv[0], file=sys.stderr)
        return 2

    loop = GLib.MainLoop.new(None, False)
    results = [None] * N_TASKS
    status = 0

    def task_done_cb(pool, result, index):
        nonlocal status
        try:
            results[index] = pool.run_finish(result).unpack()
        except GLib.Error as error:
            print('task %d: %s' % (index, error.message), file=sys.stderr)
            status = 1
            results[index] = ''
        if all(r is not None for r in results):
            loop.quit()

    # None: the workers are this program. `with` shuts the pool down.
    with ACpu.ProcessTaskPool.new(None, 3) as pool:
        pool.props.cancel_tasks_when_shutdown = True
        for i in range(N_TASKS):
            pool.run_async('process_cpu_bound', (i,), None, task_done_cb, i)
        loop.run()

    for line in results:
        if line:
            print(line)
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv))
