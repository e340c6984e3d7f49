#!/usr/bin/python3
# matrix-client.py — the Python client of the cross-language matrix.
#
# Usage: matrix-client.py LANG WORKER-ARGV…
#
# The checks of matrix-client.c, from Python (with the overrides): a result,
# a task error as a GLib.Error, an exception of the worker's language, the
# cancel of a running task. Prints TAP.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import shutil
import sys
import tempfile
import time
import traceback

import gi

gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, Gio, GLib  # noqa: E402

MATRIX_ERROR_DOMAIN = 'acpu-matrix-error-quark'


class Skip(Exception):
    pass


def pool_new(worker_argv):
    pool = ACpu.ProcessTaskPool.new(worker_argv, 1)
    # Long enough that only a worker which never looks at its cancellable
    # is killed: the cancel check tells the two apart by the worker's pid.
    pool.props.cancel_grace_period = 60000
    pool.props.cancel_tasks_when_shutdown = True
    # No wall-clock limit a loaded machine could hit: meson's timeout is.
    pool.props.handshake_timeout = 0
    return pool


def run_async_and_wait(pool, name, args, cancellable=None, before_wait=None):
    outcome = []

    def done_cb(pool, result):
        try:
            outcome.append(pool.run_finish(result))
        except GLib.Error as error:
            outcome.append(error)

    pool.run_async(name, args, cancellable, done_cb)
    if before_wait:
        before_wait()
    context = GLib.MainContext.default()
    while not outcome:
        context.iteration(True)
    return outcome[0]


def pid_of(pool):
    value = pool.run('pid')
    assert value.get_type_string() == '(i)', value.get_type_string()
    return value.unpack()[0]


def check_result(lang, worker_argv):
    args = GLib.Variant('(sxada{sv}ay)', ('text ✓', -42, [1.5, 2.5],
                                         {'k': GLib.Variant('u', 7)}, b'bytes'))
    with pool_new(worker_argv) as pool:
        value = run_async_and_wait(pool, 'echo', args)
        assert isinstance(value, GLib.Variant), value
        assert value.equal(args), value
        # Plain Python values, converted by the overrides.
        value = pool.run('echo', ('plain', 7, [1, 2]))
        assert value.get_type_string() == '(sxax)', value.get_type_string()
        assert value.unpack() == ('plain', 7, [1, 2]), value
        assert pid_of(pool) != os.getpid()


def check_error(lang, worker_argv):
    with pool_new(worker_argv) as pool:
        error = run_async_and_wait(pool, 'error', (MATRIX_ERROR_DOMAIN, GLib.Variant('i', 42),
                                                   'matrix error'))
        assert isinstance(error, GLib.Error), error
        assert error.domain == MATRIX_ERROR_DOMAIN, error.domain
        assert error.code == 42, error.code
        assert error.message == 'matrix error', error.message
        # And with the blocking call.
        try:
            pool.run('error', GLib.Variant('(sis)', (MATRIX_ERROR_DOMAIN, 43, 'again')))
        except GLib.Error as e:
            assert (e.domain, e.code, e.message) == (MATRIX_ERROR_DOMAIN, 43, 'again'), e
        else:
            raise AssertionError('no error')


def check_exception(lang, worker_argv):
    if lang == 'c':
        raise Skip('C has no exceptions')
    with pool_new(worker_argv) as pool:
        pid = pid_of(pool)
        try:
            pool.run('raise', ('matrix exception',))
        except GLib.Error as e:
            error = e
        else:
            raise AssertionError('no error')
        if lang == 'python':
            assert error.matches(ACpu.error_quark(), ACpu.Error.FAILED), error
            assert error.message.startswith('ValueError: matrix exception (File "'), error.message
            assert 'matrix-worker.py", line ' in error.message, error.message
        else:
            # GJS's own GError for a TypeError (GJS_JS_ERROR_TYPE_ERROR).
            assert error.domain == 'gjs-js-error-quark', error.domain
            assert error.code == 7, error.code
            assert error.message == 'matrix exception', error.message
        # The worker survived its exception.
        assert pid_of(pool) == pid


def check_cancel(lang, worker_argv):
    tmpdir = tempfile.mkdtemp(prefix='acpu-matrix-')
    path = os.path.join(tmpdir, 'pid')
    cancellable = Gio.Cancellable.new()
    running = {}

    def cancel_when_running():
        # Running when the worker has written its pid; the callback cannot
        # have run yet: this main context is not iterated until we return.
        while not os.path.exists(path):
            time.sleep(0.005)
        with open(path) as f:
            running['pid'] = int(f.read())
        cancellable.cancel()

    try:
        with pool_new(worker_argv) as pool:
            error = run_async_and_wait(pool, 'wait-cancel', (path,), cancellable,
                                       cancel_when_running)
            assert isinstance(error, GLib.Error), error
            assert error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED), error
            # The task saw its cancellable and returned: the same worker,
            # not a replacement for a killed one, runs the next task.
            assert pid_of(pool) == running['pid']
    finally:
        shutil.rmtree(tmpdir)


def main(argv):
    if len(argv) < 3:
        print('Usage: %s LANG WORKER-ARGV…' % argv[0], file=sys.stderr)
        return 2
    lang, worker_argv = argv[1], argv[2:]
    checks = [check_result, check_error, check_exception, check_cancel]
    failed = 0
    print('1..%d' % len(checks))
    for number, check in enumerate(checks, 1):
        name = '%s against a %s worker' % (check.__name__, lang)
        try:
            check(lang, worker_argv)
        except Skip as skip:
            print('ok %d - %s # SKIP %s' % (number, name, skip))
        except Exception:  # noqa: BLE001 — reported as TAP
            failed += 1
            print('not ok %d - %s' % (number, name))
            for line in traceback.format_exc().splitlines():
                print('# ' + line)
        else:
            print('ok %d - %s' % (number, name))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
