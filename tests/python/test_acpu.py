#!/usr/bin/python3
# test_acpu.py — ACpu from Python, both sides: this file is the client and,
# started again by the pool (worker_argv None), its own worker.
#
# Run by meson (suite "bindings") with GI_TYPELIB_PATH and LD_LIBRARY_PATH
# on the build tree and PYTHONPATH on bindings/pygobject for the overrides.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import sys
import tempfile
import time
import unittest

import gi

gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, Gio, GLib  # noqa: E402

TEST_ERROR_DOMAIN = 'acpu-test-python-error-quark'


# The tasks, run in the worker processes --------------------------------------

def task_square(args, cancellable):
    (x,) = args.unpack()
    return (x * x,)


def task_pid(args, cancellable):
    return (os.getpid(),)


def task_plain(args, cancellable):
    # Hands back whatever came, as plain Python values, converted again.
    return args.unpack()


def task_none(args, cancellable):
    pass


def task_raise(args, cancellable):
    (message,) = args.unpack()
    raise ValueError(message)


def task_gerror(args, cancellable):
    (code, message) = args.unpack()
    raise GLib.Error.new_literal(GLib.quark_from_string(TEST_ERROR_DOMAIN),
                                 message, code)


def task_bad_result(args, cancellable):
    return object()


def task_say_and_abort(args, cancellable):
    (text,) = args.unpack()
    sys.stderr.write(text + '\n')
    sys.stderr.flush()
    os.abort()


def task_reverse_bytes(args, cancellable):
    # A byte array comes as bytes and goes back as 'ay', each in one copy.
    (data,) = ACpu.unpack(args)
    if type(data) is not bytes:
        raise TypeError('got %s, not bytes' % type(data).__name__)
    return (data[::-1],)


def task_user_data(args, cancellable, first, second):
    return (first, second)


def task_sleep(args, cancellable):
    (msec,) = args.unpack()
    time.sleep(msec / 1000)
    return 'slept'


def task_wait_cancel(args, cancellable):
    """Writes the pid to a file, then waits until cancelled, cooperatively."""
    (path,) = args.unpack()
    with open(path + '.tmp', 'w') as f:
        f.write(str(os.getpid()))
    os.rename(path + '.tmp', path)
    while not cancellable.is_cancelled():
        time.sleep(0.001)
    cancellable.set_error_if_cancelled()
    return 'not reached'


def task_later(worker, args, cancellable):
    """Asynchronous: returns its argument doubled from the main loop."""
    (n,) = args.unpack()

    def later():
        worker.return_value(('later', n * 2))
        return GLib.SOURCE_REMOVE

    GLib.timeout_add(20, later)


def task_later_raise(worker, args, cancellable):
    raise KeyError('no such key')


def task_rows(args, cancellable):
    """A generator: yields n rows, reporting progress, returns n."""
    (n,) = args.unpack()
    running = ACpu.Worker.get_running()
    for i in range(n):
        running.report_progress((i + 1) / n, 'row %d' % i)
        yield (i, 'row %d' % i)
    return (n,)


def task_progress(args, cancellable):
    (n,) = args.unpack()
    running = ACpu.Worker.get_running()
    for i in range(1, n + 1):
        running.report_progress(i / n)
    return (n,)


worker = ACpu.Worker.new()
worker.register('rows', task_rows)
worker.register('progress', task_progress)
worker.register_async('later', task_later)
worker.register_async('later-raise', task_later_raise)
worker.register('square', task_square)
worker.register('pid', task_pid)
worker.register('plain', task_plain)
worker.register('none', task_none)
worker.register('raise', task_raise)
worker.register('say-and-abort', task_say_and_abort)
worker.register('gerror', task_gerror)
worker.register('bad-result', task_bad_result)
worker.register('user-data', task_user_data, 'one', 2)
worker.register('reverse-bytes', task_reverse_bytes)
worker.register('typed-square', task_square, args_type='(x)', result_type='(x)')
worker.register('typed-plain', task_plain, args_type='(*)', result_type='(s)')
worker.register('sleep', task_sleep)
worker.register('wait-cancel', task_wait_cancel)


# The client side --------------------------------------------------------------

def new_pool(max_workers):
    """A pool of this program's workers, with no wall-clock limit of its own
    that a loaded machine could hit: the meson timeout is the only one."""
    pool = ACpu.ProcessTaskPool.new(None, max_workers)
    pool.props.handshake_timeout = 0
    return pool


def iterate_until(predicate):
    context = GLib.MainContext.default()
    while not predicate():
        context.iteration(True)


def wait_for_file(path):
    """Polls for a file a task writes; the meson timeout is the only limit."""
    while not os.path.exists(path):
        time.sleep(0.005)
    with open(path) as f:
        return int(f.read())


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class ConversionTest(unittest.TestCase):
    """The plain-value mapping of the overrides, without a worker."""

    def check(self, value, type_string):
        variant = ACpu.to_variant(value)
        self.assertEqual(variant.get_type_string(), type_string, repr(value))

    def test_mapping(self):
        self.check(None, '()')
        self.check(True, 'b')
        self.check(-3, 'x')
        self.check(2 ** 63, 't')
        self.check(0.5, 'd')
        self.check('text', 's')
        self.check(b'\0\1', 'ay')
        self.check(bytearray(b'x'), 'ay')
        self.check((1, 'a', 2.0), '(xsd)')
        self.check([1, 2], 'ax')
        self.check([1, 'a'], 'av')
        self.check([], 'av')
        self.check({'a': 1, 'b': 2}, 'a{sx}')
        self.check({'a': 1, 'b': 'x'}, 'a{sv}')
        self.check({}, 'a{sv}')
        self.check({1: [0.5]}, 'a{xad}')
        variant = GLib.Variant('(u)', (7,))
        self.assertIs(ACpu.to_variant(variant), variant)

    def test_unpack_bytes(self):
        """ACpu.unpack() is unpack() but for byte arrays, which are bytes,
        wherever they are nested."""
        value = GLib.Variant('(aysa{sv}mayav)', (
            b'\0ab', 'text', {'k': GLib.Variant('ay', b'xy'), 'n': GLib.Variant('x', 3)},
            b'm', [GLib.Variant('ay', b'')]))
        self.assertEqual(ACpu.unpack(value),
                         (b'\0ab', 'text', {'k': b'xy', 'n': 3}, b'm', [b'']))
        self.assertEqual(ACpu.unpack(GLib.Variant('(xas)', (1, ['a']))), (1, ['a']))
        self.assertEqual(ACpu.unpack(GLib.Variant('aay', [b'a', b'bc'])), [b'a', b'bc'])
        with self.assertRaises(TypeError):
            ACpu.unpack(b'not a variant')

    def test_refused(self):
        with self.assertRaises(OverflowError):
            ACpu.to_variant(2 ** 64)
        with self.assertRaises(TypeError):
            ACpu.to_variant(object())
        with self.assertRaises(TypeError):
            ACpu.to_variant({(1,): 2})
        with self.assertRaises(TypeError):
            ACpu.to_variant({1: 1, 'a': 2})


class PoolTest(unittest.TestCase):

    def setUp(self):
        self.pool = new_pool(2)
        self.pool.props.cancel_grace_period = 60000
        self.tmpdir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.pool.props.cancel_tasks_when_shutdown = True
        self.assertTrue(self.pool.shutdown(None))
        self.tmpdir.cleanup()

    def test_run_blocking(self):
        result = self.pool.run('square', (7,))
        self.assertIsInstance(result, GLib.Variant)
        self.assertEqual(result.get_type_string(), '(x)')
        self.assertEqual(result.unpack(), (49,))
        # A GLib.Variant is passed through as it is.
        self.assertEqual(self.pool.run('square', GLib.Variant('(x)', (-5,))).unpack(), (25,))

    def test_runs_in_other_processes(self):
        (pid,) = self.pool.run('pid').unpack()
        self.assertNotEqual(pid, os.getpid())

    def test_run_async_main_loop(self):
        loop = GLib.MainLoop.new(None, False)
        results = {}

        def done_cb(pool, result, index):
            self.assertIs(pool, self.pool)
            results[index] = pool.run_finish(result).unpack()
            if len(results) == 5:
                loop.quit()

        for i in range(5):
            self.pool.run_async('square', (i,), None, done_cb, i)
        loop.run()
        self.assertEqual(results, {i: (i * i,) for i in range(5)})

    def test_plain_values_round_trip(self):
        value = {'name': 'x', 'sizes': [1, 2, 3], 'ratio': 0.25, 'ok': True,
                 'data': b'\0\xff', 'pair': (1, 'b')}
        result = self.pool.run('plain', value)
        self.assertEqual(result.get_type_string(), 'a{sv}')
        unpacked = result.unpack()
        unpacked['data'] = bytes(unpacked['data'])
        self.assertEqual(unpacked, value)

    def test_none_result_is_unit(self):
        self.assertEqual(self.pool.run('none').get_type_string(), '()')

    def test_user_data(self):
        self.assertEqual(self.pool.run('user-data').unpack(), ('one', 2))

    def test_worker_exit_facts(self):
        (pid,) = self.pool.run('pid').unpack()
        loop = GLib.MainLoop.new(None, False)
        seen = {}

        def done_cb(pool, result, data):
            seen['exit'] = pool.get_worker_exit(result)
            try:
                pool.run_finish(result)
            except GLib.Error as e:
                seen['error'] = e
            loop.quit()

        self.pool.run_async('say-and-abort', ('last words',), None, done_cb, None)
        loop.run()
        self.assertTrue(seen['error'].matches(ACpu.error_quark(), ACpu.Error.WORKER_DIED))
        facts = seen['exit']
        self.assertIsInstance(facts, ACpu.WorkerExit)
        self.assertEqual(facts.props.pid, pid)
        self.assertEqual(facts.props.signal, 6)
        self.assertFalse(facts.props.exited)
        self.assertEqual(facts.props.exit_status, -1)
        self.assertEqual(facts.props.task_name, 'say-and-abort')
        self.assertIn('last words', facts.props.stderr_tail)

        seen.clear()
        self.pool.run_async('pid', None, None, done_cb, None)
        loop.run()
        self.assertIsNone(seen['exit'])

    def test_exception_becomes_gerror(self):
        (pid,) = self.pool.run('pid').unpack()
        with self.assertRaises(GLib.Error) as caught:
            self.pool.run('raise', ('bad value',))
        error = caught.exception
        self.assertTrue(error.matches(ACpu.error_quark(), ACpu.Error.FAILED), error)
        self.assertTrue(error.message.startswith('ValueError: bad value (File "'),
                        error.message)
        self.assertIn(os.path.basename(__file__), error.message)
        self.assertTrue(error.message.endswith(', in task_raise)'), error.message)
        # The worker survived it. (Both tasks go to the first idle worker.)
        pool = new_pool(1)
        try:
            (before,) = pool.run('pid').unpack()
            with self.assertRaises(GLib.Error):
                pool.run('raise', ('again',))
            self.assertEqual(pool.run('pid').unpack(), (before,))
        finally:
            pool.shutdown(None)

    def test_exception_async(self):
        loop = GLib.MainLoop.new(None, False)
        caught = []

        def done_cb(pool, result):
            try:
                pool.run_finish(result)
            except GLib.Error as error:
                caught.append(error)
            loop.quit()

        self.pool.run_async('raise', ('async bad',), None, done_cb)
        loop.run()
        self.assertEqual(len(caught), 1)
        self.assertTrue(caught[0].message.startswith('ValueError: async bad'))

    def test_register_async(self):
        pool = new_pool(1)
        try:
            self.assertEqual(pool.run('later', (21,)).unpack(), ('later', 42))
            with self.assertRaises(GLib.Error) as caught:
                pool.run('later-raise')
            error = caught.exception
            self.assertTrue(error.matches(ACpu.error_quark(), ACpu.Error.FAILED), error)
            self.assertTrue(error.message.startswith("KeyError: 'no such key' (File"),
                            error.message)
            # The worker goes on.
            self.assertEqual(pool.run('later', (1,)).unpack(), ('later', 2))
        finally:
            pool.shutdown(None)

    def test_unconvertible_result(self):
        with self.assertRaises(GLib.Error) as caught:
            self.pool.run('bad-result')
        error = caught.exception
        self.assertTrue(error.matches(ACpu.error_quark(), ACpu.Error.INVALID_ARGUMENT), error)
        self.assertIn('“bad-result”', error.message)
        self.assertIn('cannot convert object', error.message)

    def test_gerror_keeps_domain_and_code(self):
        with self.assertRaises(GLib.Error) as caught:
            self.pool.run('gerror', (42, 'custom failure'))
        self.assertEqual(caught.exception.domain, TEST_ERROR_DOMAIN)
        self.assertEqual(caught.exception.code, 42)
        self.assertEqual(caught.exception.message, 'custom failure')

    def test_unknown_task(self):
        with self.assertRaises(GLib.Error) as caught:
            self.pool.run('no-such-task')
        self.assertTrue(caught.exception.matches(ACpu.error_quark(),
                                                 ACpu.Error.UNKNOWN_TASK))
        # The message names this script (not the interpreter), the closest
        # name and what the worker has.
        with self.assertRaises(GLib.Error) as caught:
            self.pool.run('sqaure', (3,))
        message = caught.exception.message
        self.assertIn('No task named “sqaure” in worker %s' % sys.argv[0], message)
        self.assertIn('did you mean “square”?', message)
        self.assertIn('“reverse-bytes”', message)
        self.assertNotIn('python3', message)

    def test_typed_tasks(self):
        """Declared types: a request or a result of another type fails with
        INVALID_ARGUMENT naming the task and both types; the caller sees them."""
        self.assertEqual(self.pool.run('typed-square', (6,)).unpack(), (36,))
        with self.assertRaises(GLib.Error) as caught:
            self.pool.run('typed-square', ('6',))
        self.assertTrue(caught.exception.matches(ACpu.error_quark(),
                                                 ACpu.Error.INVALID_ARGUMENT))
        self.assertEqual(caught.exception.message,
                         'Task “typed-square” takes arguments of type (x), not (s)')
        self.assertEqual(self.pool.run('typed-plain', ('ok',)).unpack(), ('ok',))
        with self.assertRaises(GLib.Error) as caught:
            self.pool.run('typed-plain', (1,))
        self.assertEqual(caught.exception.message,
                         'Task “typed-plain” returned a value of type (x), but it declares '
                         'results of type (s)')
        self.assertEqual(self.pool.get_task_types('typed-square'), (True, '(x)', '(x)'))
        self.assertEqual(self.pool.get_task_types('square'), (True, None, None))
        self.assertEqual(self.pool.get_task_types('no-such-task'), (False, None, None))
        with self.assertRaises(ValueError):
            ACpu.Worker.new().register('bad', task_square, args_type='(x')

    def test_bytes_both_ways(self):
        """10 MiB of bytes to a task and back, as bytes."""
        data = os.urandom(10 * 1024 * 1024)
        result = self.pool.run('reverse-bytes', (data,))
        self.assertEqual(result.get_type_string(), '(ay)')
        (back,) = ACpu.unpack(result)
        self.assertIs(type(back), bytes)
        self.assertEqual(back, data[::-1])

    def test_cancel_running_task(self):
        pool = new_pool(1)
        pool.props.cancel_grace_period = 60000
        path = os.path.join(self.tmpdir.name, 'pid')
        cancellable = Gio.Cancellable.new()
        caught = []

        def done_cb(pool, result):
            try:
                caught.append(pool.run_finish(result))
            except GLib.Error as error:
                caught.append(error)

        try:
            pool.run_async('wait-cancel', (path,), cancellable, done_cb)
            pid = wait_for_file(path)
            cancellable.cancel()
            iterate_until(lambda: caught)
            self.assertIsInstance(caught[0], GLib.Error)
            self.assertTrue(caught[0].matches(Gio.io_error_quark(),
                                              Gio.IOErrorEnum.CANCELLED))
            # The task saw its cancellable and returned: the same worker
            # (not a replacement for a killed one) runs the next task.
            self.assertEqual(pool.run('pid').unpack(), (pid,))
        finally:
            pool.shutdown(None)

    def test_blocking_run_cancelled_from_another_thread(self):
        import threading
        path = os.path.join(self.tmpdir.name, 'pid')
        cancellable = Gio.Cancellable.new()

        def cancel_when_running():
            wait_for_file(path)
            cancellable.cancel()

        thread = threading.Thread(target=cancel_when_running)
        thread.start()
        with self.assertRaises(GLib.Error) as caught:
            self.pool.run('wait-cancel', (path,), cancellable)
        thread.join()
        self.assertTrue(caught.exception.matches(Gio.io_error_quark(),
                                                 Gio.IOErrorEnum.CANCELLED))


class ContextManagerTest(unittest.TestCase):

    def setUp(self):
        self.tmpdir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmpdir.cleanup()

    def collect(self, caught):
        def done_cb(pool, result):
            try:
                caught.append(pool.run_finish(result))
            except GLib.Error as error:
                caught.append(error)
        return done_cb

    def test_with_waits_for_tasks(self):
        caught = []
        with new_pool(1) as pool:
            self.assertFalse(pool.props.cancel_tasks_when_shutdown)
            pool.run_async('sleep', (200,), None, self.collect(caught))
            pool.run_async('square', (3,), None, self.collect(caught))
        # Both ran to the end although the block left at once.
        iterate_until(lambda: len(caught) == 2)
        self.assertEqual([c.unpack() for c in caught], ['slept', (9,)])
        with self.assertRaises(GLib.Error) as closed:
            pool.run('square', (1,))
        self.assertTrue(closed.exception.matches(ACpu.error_quark(), ACpu.Error.CLOSED))

    def test_with_cancels_tasks(self):
        caught = []
        path = os.path.join(self.tmpdir.name, 'pid')
        with new_pool(1) as pool:
            pool.props.cancel_tasks_when_shutdown = True
            pool.run_async('wait-cancel', (path,), None, self.collect(caught))
            pool.run_async('square', (3,), None, self.collect(caught))
            pid = wait_for_file(path)
        # Leaving the block cancelled both, and no worker is left.
        self.assertFalse(process_exists(pid))
        iterate_until(lambda: len(caught) == 2)
        for error in caught:
            self.assertIsInstance(error, GLib.Error)
            self.assertTrue(error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED),
                            error)

    def test_with_shuts_down_on_exception(self):
        with self.assertRaises(KeyError):
            with new_pool(1) as pool:
                (pid,) = pool.run('pid').unpack()
                raise KeyError('out')
        self.assertFalse(process_exists(pid))
        with self.assertRaises(GLib.Error):
            pool.run('square', (1,))


class TaskTest(unittest.TestCase):
    """ACpu.Task: a handle's state, progress and partial values."""

    def setUp(self):
        self.pool = new_pool(1)

    def tearDown(self):
        self.pool.shutdown(None)

    def test_partial_values_async_for(self):
        import asyncio

        async def consume():
            task = self.pool.start('rows', (40,))
            rows = [v.unpack() async for v in task.partial_values()]
            return task, rows

        task, rows = asyncio.run(consume())
        self.assertEqual(rows, [(i, 'row %d' % i) for i in range(40)])
        self.assertEqual(task.get_state(), ACpu.TaskState.SUCCEEDED)
        self.assertEqual(task.get_result().unpack(), (40,))
        self.assertEqual(task.props.progress, 1.0)
        self.assertEqual(task.props.status_text, 'row 39')
        self.assertGreater(task.props.worker_pid, 0)

    def test_bind_property_and_states(self):
        from gi.repository import GObject

        class Bar(GObject.Object):
            fraction = GObject.Property(type=float, default=0.0)

        bar = Bar()
        seen = []
        states = []
        bar.connect('notify::fraction', lambda b, _p: seen.append(b.props.fraction))
        task = self.pool.start('progress', (200000,), GLib.PRIORITY_HIGH)
        task.connect('notify::state', lambda t, _p: states.append(t.props.state))
        task.bind_property('progress', bar, 'fraction', GObject.BindingFlags.SYNC_CREATE)
        iterate_until(task.is_finished)
        self.assertEqual(states, [ACpu.TaskState.RUNNING, ACpu.TaskState.SUCCEEDED])
        self.assertEqual(bar.props.fraction, 1.0)
        # Coalesced: far fewer notifications than reports, never backwards.
        self.assertLess(len(seen), 200000 // 10)
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(task.props.priority, GLib.PRIORITY_HIGH)

    def test_cancel(self):
        task = self.pool.start('sleep', (60000,))
        iterate_until(lambda: task.props.state == ACpu.TaskState.RUNNING)
        task.cancel()
        iterate_until(task.is_finished)
        self.assertEqual(task.props.state, ACpu.TaskState.CANCELLED)
        with self.assertRaises(GLib.Error) as caught:
            task.get_result()
        self.assertTrue(caught.exception.matches(Gio.io_error_quark(),
                                                 Gio.IOErrorEnum.CANCELLED))


if __name__ == '__main__':
    if ACpu.Worker.is_worker_process():
        sys.exit(worker.run())
    unittest.main(verbosity=2)
