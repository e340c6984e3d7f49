# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints the pid of its one worker, waits for a line on stdin (the test
sends SIGINT to the idle worker meanwhile), then prints the pid of the worker
that runs the next task."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dropin_tasks  # noqa: E402
from asynccpu_glib import ProcessTaskPoolExecutor  # noqa: E402

if __name__ == "__main__":
    with ProcessTaskPoolExecutor(max_workers=1) as executor:
        print(executor.submit(dropin_tasks.getpid).result(timeout=60), flush=True)
        sys.stdin.readline()
        try:
            print(executor.submit(dropin_tasks.getpid).result(timeout=60), flush=True)
        except Exception as e:  # noqa: BLE001
            print("failed: %r" % e, flush=True)
