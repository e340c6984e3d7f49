#!/usr/bin/python3
# check-quickstart.py — runs a quick start and checks its output.
#
# Usage: check-quickstart.py COMMAND…
#
# Every quick start (examples/quickstart.{c,py,js,vala}) must print exactly
# the ten lines of asynccpu's: `task_id: N, result: 333333283333335000000`,
# N = 0..9, in order, and exit with 0. Needs no gi: any python3 will do.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import subprocess
import sys

# sum(i * i for i in range(10 ** 7))
EXPECTED = ['task_id: %d, result: 333333283333335000000' % n for n in range(10)]


def main(argv):
    if len(argv) < 2:
        print('Usage: %s COMMAND…' % argv[0], file=sys.stderr)
        return 2
    proc = subprocess.run(argv[1:], stdout=subprocess.PIPE, text=True)
    lines = proc.stdout.splitlines()
    print(proc.stdout, end='')
    if proc.returncode != 0:
        print('FAIL: exit status %d' % proc.returncode, file=sys.stderr)
        return 1
    if lines != EXPECTED:
        print('FAIL: expected:\n' + '\n'.join(EXPECTED), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
