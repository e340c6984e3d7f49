#!/usr/bin/python3
# consumer.py — a Python program using asynccpu-glib through PyGObject, the
# ACpu overrides and the asynccpu_glib drop-in (tests/install).
#
# Usage: consumer.py [--installed-under DIR]
#
# Runs a task in a Python worker (this program) and one through the drop-in,
# checks that out-of-range max_workers raise ValueError naming the argument,
# and, with --installed-under, that the typelib, the library, the overrides
# and asynccpu_glib all come from DIR (an install, not the source tree).
# Prints "python: 49 120".
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import asyncio
import math
import os
import sys

import gi

gi.require_version('ACpu', '1.0')
gi.require_version('GIRepository', '2.0')
from gi.repository import ACpu, GIRepository  # noqa: E402


def square(args, cancellable):
    (x,) = args.unpack()
    return (x * x,)


def expect(exception, function, *words):
    try:
        function()
    except exception as error:
        for word in words:
            assert word in str(error), f"{word!r} not in {error!r}"
        return
    raise AssertionError(f"no {exception.__name__} from {function}")


def check_origin(root):
    import asynccpu_glib
    import gi.overrides.ACpu as overrides

    typelib = GIRepository.Repository.get_default().get_typelib_path('ACpu')
    with open('/proc/self/maps') as maps:
        libraries = {line.split()[-1] for line in maps if 'libasynccpu-glib-1.so' in line}
    for what, path in [('typelib', typelib), ('overrides', overrides.__file__),
                       ('asynccpu_glib', asynccpu_glib.__file__)] + \
                      [('library', lib) for lib in libraries]:
        assert path.startswith(root + '/'), f"{what} from {path}, not under {root}"
    assert libraries, "libasynccpu-glib-1.so is not mapped"


async def dropin():
    from asynccpu_glib import ProcessTaskPoolExecutor

    expect(ValueError, lambda: ProcessTaskPoolExecutor(max_workers=-1), 'max_workers', '-1')
    with ProcessTaskPoolExecutor(max_workers=1) as executor:
        # Where PyGObject's layout is the checked one, the installed drop-in
        # calls the installed library through C (asynccpu_glib._fast): its
        # ctypes must find that library, not fall back to gi without a word.
        if tuple(gi.version_info[:2]) == (3, 42) and \
                os.environ.get('ASYNCCPU_GLIB_LOOP_BRIDGE', '') == '':
            assert executor._fast is not None, "the drop-in's C path is off in this install"
        return await executor.create_process_task(math.factorial, 5)


def main(argv):
    worker = ACpu.Worker.new()
    worker.register('square', square)
    if ACpu.Worker.is_worker_process():
        return worker.run()

    if len(argv) == 3 and argv[1] == '--installed-under':
        check_origin(argv[2].rstrip('/'))
    elif len(argv) != 1:
        print(f"Usage: {argv[0]} [--installed-under DIR]", file=sys.stderr)
        return 2

    for bad in (-1, 2 ** 31):
        expect(ValueError, lambda: ACpu.ProcessTaskPool.new(None, bad), 'max_workers', str(bad))
        expect(ValueError, lambda: ACpu.ProcessTaskPool(max_workers=bad), 'max_workers')
    expect(TypeError, lambda: ACpu.ProcessTaskPool.new(None, 1.5), 'max_workers')

    with ACpu.ProcessTaskPool.new(None, 1) as pool:
        (y,) = pool.run('square', (7,)).unpack()
    print(f"python: {y} {asyncio.run(dropin())}")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
