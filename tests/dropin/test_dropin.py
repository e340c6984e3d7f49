# SPDX-License-Identifier: LGPL-2.1-or-later
"""The asynccpu drop-in (asynccpu_glib), with real worker processes."""

import asyncio
import enum
import functools
import logging
import math
import os
import queue
import re
import signal
import subprocess
import sys
import time

import pytest

import dropin_tasks as T
from asynccpu_glib import (AsyncCpuGlibError, ProcessTaskPoolExecutor, RemoteError,
                           RemoteTraceback, Terminated, WorkerDied, decode, encode)

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def call(ex, fn, *args):
    return await ex.create_process_task(fn, *args)


def alive(pid):
    """True while @pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(entry))
    return out


def wait_until(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@pytest.fixture(scope="module")
def executor():
    with ProcessTaskPoolExecutor(max_workers=2) as ex:
        yield ex


# 1. The package and the example ------------------------------------------------

def test_quickstart_example_prints_ten_lines():
    example = os.path.join(SRCDIR, "examples", "python", "asynccpu_quickstart.py")
    with open(example) as f:
        source = f.read()
    assert "from asynccpu_glib import ProcessTaskPoolExecutor" in source
    out = subprocess.run([sys.executable, example], capture_output=True, text=True, timeout=100,
                         check=True).stdout.splitlines()
    assert sorted(out) == sorted("task_id: %d, result: 333333283333335000000" % i
                                 for i in range(10))


def test_max_workers_default_is_cpu_count():
    with ProcessTaskPoolExecutor() as ex:
        assert ex.max_workers == os.cpu_count()
        assert ex.pool.props.max_workers == os.cpu_count()
    with pytest.raises(ValueError):
        ProcessTaskPoolExecutor(max_workers=0)


# 2. Functions by reference -----------------------------------------------------

def test_plain_async_builtin_and_class_functions(executor):
    async def main():
        return await asyncio.gather(
            executor.create_process_task(T.add, 2, 3),
            executor.create_process_task(T.async_square, 12),
            executor.create_process_task(math.factorial, 25),
            executor.create_process_task(T.Holder.static_add, 1, 1),
            executor.create_process_task(T.Holder.class_name),
            executor.create_process_task(T.getpid),
        )
    r = run(main())
    assert r[:5] == [5, 144, math.factorial(25), 2, "Holder"]
    assert r[5] != os.getpid()


def test_asyncio_loop_talks_to_the_pool_directly(executor):
    from asynccpu_glib import _executor

    async def main():
        assert await executor.create_process_task(T.add, 1, 1) == 2
        return _executor._bridge_for(asyncio.get_running_loop())
    assert run(main()) is not None


def test_refused_functions_raise_type_error_at_once(executor):
    captured = 3

    def local_function(x):
        return x + captured

    async def main():
        with pytest.raises(TypeError, match="lambda"):
            executor.create_process_task(lambda x: x, 1)
        with pytest.raises(TypeError, match="closure"):
            executor.create_process_task(local_function, 1)
        with pytest.raises(TypeError, match="instance"):
            executor.create_process_task(T.Holder().method)
        with pytest.raises(TypeError, match="partial"):
            executor.create_process_task(functools.partial(T.add, 1), 2)
        with pytest.raises(TypeError):
            executor.create_process_task(42)
    run(main())


@pytest.mark.parametrize("bridge", ["1", "0"])
def test_main_module_functions_guarded_script(bridge):
    # bridge "0": the asyncio loop does not talk to the pool itself, the
    # executor's thread relays (the path used when the bridge is unavailable)
    script = os.path.join(HERE, "scripts", "main_funcs.py")
    env = dict(os.environ, ASYNCCPU_GLIB_NO_LOOP_BRIDGE="0" if bridge == "1" else "1")
    out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=60,
                         check=True, env=env).stdout.split()
    # run as __mp_main__ in the worker, as multiprocessing's spawn does
    assert out == ["42", "__mp_main__", "True"]


def test_main_module_unguarded_script():
    script = os.path.join(HERE, "scripts", "main_unguarded.py")
    out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    assert out[0] == "2"
    assert out[1].startswith("AttributeError: late not found in the main script")
    assert 'if __name__ == "__main__"' in out[1]


# 3. Values ---------------------------------------------------------------------

VALUES = [
    None, True, False, 0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 64 - 5,
    333333283333335000000, 10 ** 100, 1.5, -0.0, float("inf"), "", "héllo ☃", "a\0b",
    "\ud800 lone", b"", b"\x00\xff\x80", [], (), (1,), [1, (2, [3, None])],
    {"a": {"b": (1, b"x")}, "": [True, 2.5]}, {"nested": [{"k": ("v",)}]},
]


def deep_types(v):
    if isinstance(v, (list, tuple)):
        return (type(v), [deep_types(x) for x in v])
    if isinstance(v, dict):
        return (dict, {k: deep_types(x) for k, x in v.items()})
    return type(v)


def test_values_encode_locally():
    for v in VALUES:
        back = decode(encode(v))
        assert back == v and deep_types(back) == deep_types(v), v
    assert encode(None).get_variant().get_type_string() == "mv"
    assert encode([1, "a"]).get_variant().get_type_string() == "av"
    assert encode({"a": 1}).get_variant().get_type_string() == "a{sv}"
    assert str(encode(2 ** 70).get_variant().print_(True)) == "('int', <'1180591620717411303424'>)"


def test_fast_serialiser_is_byte_for_byte_glib():
    from gi.repository import GLib
    from asynccpu_glib import _gvs, _values
    big = ["x" * 300, {"k" * 70000: 2}, list(range(100)), [b"z" * 70000]]
    for v in VALUES + big:
        fast = _gvs.pack_request("mod", "fn.q", [v, v])
        ref = GLib.Variant.new_tuple(GLib.Variant.new_string("mod"),
                                     GLib.Variant.new_string("fn.q"),
                                     _values.encode_args([v, v]))
        assert fast.get_data_as_bytes().get_data() == ref.get_data_as_bytes().get_data(), v
        assert fast.is_normal_form()
        module, qualname, args = _gvs.unpack_request(ref)
        assert (module, qualname, args) == ("mod", "fn.q", [v, v])
        assert deep_types(args[0]) == deep_types(v)
        reply = GLib.Variant.new_tuple(GLib.Variant.new_byte(1), _values.encode(v),
                                       _values.encode_args([{"a": 1}]))
        assert (_gvs.pack_reply(1, v, [{"a": 1}]).get_data_as_bytes().get_data() ==
                reply.get_data_as_bytes().get_data()), v
        status, value, records = _gvs.unpack_reply(reply)
        assert (status, value, records) == (1, v, [{"a": 1}])
        assert deep_types(value) == deep_types(v)


def test_values_round_trip_through_a_worker(executor):
    async def main():
        return await asyncio.gather(*[executor.create_process_task(T.identity, v)
                                      for v in VALUES])
    back = run(main())
    for v, b in zip(VALUES, back):
        assert b == v and deep_types(b) == deep_types(v), v
    nan = run(call(executor, T.identity, float("nan")))
    assert math.isnan(nan)


def test_ten_mib_of_bytes_both_ways(executor):
    data = os.urandom(10 * 1024 * 1024)
    back = run(call(executor, T.reverse_bytes, data))
    assert type(back) is bytes
    assert back == data[::-1]


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize("bad", [{1, 2}, object(), {1: "x"}, Color.RED, [1, {2}],
                                 bytearray(b"x"), 1j])
def test_unsupported_values_refused_at_submit(executor, bad):
    async def main():
        with pytest.raises(TypeError, match="cannot be sent|keys must be str"):
            executor.create_process_task(T.identity, bad)
    run(main())


def test_unsupported_result_is_a_type_error(executor):
    with pytest.raises(TypeError, match="set"):
        run(call(executor, T.return_set))


# 4. asyncio without GLib, GLib without asyncio -------------------------------

def test_submitting_does_not_block_the_event_loop():
    with ProcessTaskPoolExecutor(max_workers=1) as ex:
        async def main():
            # the only worker is busy: submitting must still return at once,
            # never waiting for a worker (asynccpu waits ~10 ms a task)
            busy = ex.create_process_task(T.sleep_then_return, 3.0, "busy")
            t = time.perf_counter()
            futs = [ex.create_process_task(T.add, i, 1) for i in range(300)]
            per_task = (time.perf_counter() - t) / 300
            assert not busy.done()
            assert per_task < 0.005, per_task
            ticks = 0
            while not busy.done():
                await asyncio.sleep(0.01)
                ticks += 1
            assert ticks > 20  # the loop kept running while the worker was busy
            assert await busy == "busy"
            assert await asyncio.gather(*futs) == [i + 1 for i in range(300)]
        run(main())


def test_glib_main_loop_without_asyncio():
    from gi.repository import GLib
    loop = GLib.MainLoop()
    results = []
    with ProcessTaskPoolExecutor(max_workers=2) as ex:
        futs = [ex.submit(T.add, i, i) for i in range(5)]

        def done(f):
            # back to the GLib main loop's thread, the GTK way
            GLib.idle_add(lambda: results.append(f.result()) or
                          (len(results) == 5 and loop.quit()) or False)
        for f in futs:
            f.add_done_callback(done)
        GLib.timeout_add_seconds(30, loop.quit)
        loop.run()
        assert sorted(results) == [0, 2, 4, 6, 8]
        assert list(ex.map(T.add, [1, 2], [3, 4])) == [4, 6]


# 5. Errors ---------------------------------------------------------------------

@pytest.mark.parametrize("kind,message", [("ValueError", "bad value"), ("KeyError", "missing"),
                                          ("ZeroDivisionError", "zero"),
                                          ("OSError", "os says no")])
def test_builtin_exceptions_keep_type_message_and_traceback(executor, kind, message):
    with pytest.raises(Exception) as info:
        run(call(executor, T.raise_builtin, kind, message))
    exc = info.value
    assert type(exc).__name__ == kind
    assert exc.args == (message,)
    assert isinstance(exc.__cause__, RemoteTraceback)
    assert "raise_builtin" in str(exc.__cause__) and "dropin_tasks.py" in str(exc.__cause__)


def test_real_zero_division(executor):
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        run(call(executor, T.divide, 1, 0))


def test_own_exception_classes_come_back_as_themselves(executor):
    # Before: a RemoteError with type_name "dropin_tasks.CustomError".
    with pytest.raises(T.CustomError) as info:
        run(call(executor, T.raise_custom, "custom message"))
    assert type(info.value) is T.CustomError and info.value.args == ("custom message",)
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "raise_custom" in str(info.value.__cause__)
    with pytest.raises(T.CustomError):
        executor.submit(T.raise_custom, "from submit").result(timeout=60)


def test_other_exceptions_are_remote_errors(executor):
    """RemoteError when the parent does not have the class (its module is not
    imported here), when it is not an Exception, or when its args do not
    rebuild it."""
    assert "dropin_worker_only" not in sys.modules
    with pytest.raises(RemoteError) as info:
        run(call(executor, T.raise_unimported, "custom message"))
    assert info.value.type_name == "dropin_worker_only.OnlyHereError"
    assert info.value.message == "custom message"
    assert "OnlyHereError" in info.value.remote_traceback
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "dropin_worker_only" not in sys.modules  # nothing was imported

    with pytest.raises(RemoteError) as info:
        run(call(executor, T.raise_two_arg, "a", "b"))
    assert info.value.type_name == "dropin_tasks.TwoArgError" and info.value.message == "a/b"

    with pytest.raises(RemoteError) as info:
        run(call(executor, T.raise_keyboard_interrupt))
    assert info.value.type_name == "KeyboardInterrupt"


def test_error_description_never_runs_what_it_names(executor, tmp_path):
    """A worker's error description names a function, not a class: nothing
    is called, the task fails with a RemoteError."""
    marker = tmp_path / "ran"
    for module, name, args in [("os", "system", ["touch %s" % marker]),
                               ("builtins", "exec", ["open(%r, 'w')" % str(marker)]),
                               ("dropin_tasks", "os.system", ["touch %s" % marker]),
                               ("dropin_tasks", "__builtins__", [])]:
        desc = {"type": name, "module": module, "message": "", "args": args, "traceback": ""}
        with pytest.raises(RemoteError) as info:
            run(call(executor, T.hand_made_reply, 1, desc))
        assert info.value.type_name == (name if module == "builtins" else module + "." + name)
    assert not marker.exists()


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGKILL, signal.SIGTERM])
def test_crash_fails_only_its_task(signum):
    with ProcessTaskPoolExecutor(max_workers=2) as ex:
        async def main():
            other = ex.create_process_task(T.sleep_then_return, 0.5, "other")
            crash = ex.create_process_task(T.crash, int(signum))
            with pytest.raises(WorkerDied) as info:
                await crash
            assert info.value.signal == signum
            assert info.value.exit_status is None
            assert info.value.pid > 0 and info.value.pid != os.getpid()
            assert isinstance(info.value, Terminated) == (signum == signal.SIGTERM)
            assert signal.Signals(signum).name in str(info.value)
            assert await other == "other"
            # and the executor keeps working
            assert await ex.create_process_task(T.add, 1, 2) == 3
        run(main())


# 6. Cancel and shutdown ----------------------------------------------------------

def test_cancel_kills_a_task_that_ignores_it():
    with ProcessTaskPoolExecutor(max_workers=1) as ex:
        async def main():
            pid = await ex.create_process_task(T.getpid)
            task = ex.create_process_task(T.sleep_forever)
            await asyncio.sleep(0.3)
            t = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - t < 1.0  # completes at once, not after the grace period
            # killed after the grace period (500 ms)
            assert await asyncio.to_thread(wait_until, lambda: not alive(pid), 5)
            pid2 = await ex.create_process_task(T.getpid)
            assert pid2 != pid
        run(main())


def test_cancel_is_cooperative_for_async_functions(tmp_path):
    marker = str(tmp_path / "cancelled")
    with ProcessTaskPoolExecutor(max_workers=1) as ex:
        async def main():
            pid = await ex.create_process_task(T.getpid)
            task = ex.create_process_task(T.async_wait_cancel, marker)
            await asyncio.sleep(0.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(wait_until, lambda: os.path.exists(marker), 5)
            with open(marker) as f:
                assert int(f.read()) == pid
            # it stopped by itself: same worker
            assert await ex.create_process_task(T.getpid) == pid
        run(main())


def test_cancel_plain_function_can_notice():
    with ProcessTaskPoolExecutor(max_workers=1) as ex:
        fut = ex.submit(T.spin_until_cancelled, 20)
        time.sleep(0.5)
        assert fut.cancel()  # a concurrent future is cancellable while it runs
        # the worker saw it (not killed): the next task runs in the same worker quickly
        assert ex.submit(T.add, 1, 1).result(timeout=10) == 2


def test_leaving_with_cancels_running_tasks_and_leaves_no_worker():
    before = set(children(os.getpid()))

    async def main():
        with ProcessTaskPoolExecutor(max_workers=2, cancel_tasks_when_shutdown=True) as ex:
            tasks = [ex.create_process_task(T.sleep_forever) for _ in range(3)]
            while ex.pool.props.n_running < 2:
                await asyncio.sleep(0.02)
            pids = set(children(os.getpid())) - before
            assert len(pids) >= 2
            t = time.monotonic()
        assert time.monotonic() - t < 5
        assert not any(alive(p) for p in pids)
        await asyncio.sleep(0)
        assert all(t.cancelled() for t in tasks)
        assert set(children(os.getpid())) - before == set()
    run(main())


def test_leaving_with_waits_without_cancel():
    before = set(children(os.getpid()))

    async def main():
        with ProcessTaskPoolExecutor(max_workers=2) as ex:
            tasks = [ex.create_process_task(T.sleep_then_return, 0.5, i) for i in range(3)]
            await asyncio.sleep(0.1)
        await asyncio.sleep(0)
        assert [t.result() for t in tasks] == [0, 1, 2]
        assert set(children(os.getpid())) - before == set()
        with pytest.raises(RuntimeError, match="shutdown"):
            ex.create_process_task(T.add, 1, 2)
    run(main())


def _signal_target(mode, signum):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "scripts", "signal_target.py"),
                             mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        workers = children(proc.pid)
        assert len(workers) == 2
        proc.send_signal(signum)
        rc = proc.wait(timeout=20)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_until(lambda: not any(alive(p) for p in workers), 10), workers
    return rc, err


def test_sigterm_leaves_no_worker():
    rc, _ = _signal_target("plain", signal.SIGTERM)
    assert rc == -signal.SIGTERM


def test_sigterm_with_shutdown_on_signal_handler():
    rc, _ = _signal_target("handler", signal.SIGTERM)
    assert rc == -signal.SIGTERM


def test_sigint_leaves_no_worker():
    rc, err = _signal_target("plain", signal.SIGINT)
    assert rc != 0
    assert "KeyboardInterrupt" in err


# 7. Logs -------------------------------------------------------------------------

def test_logs_reach_a_queue_with_configurer():
    q = queue.Queue()
    with ProcessTaskPoolExecutor(max_workers=1, queue=q, configurer=T.configurer) as ex:
        pid = run(call(ex, T.log_something, "task"))
    records = []
    while not q.empty():
        records.append(q.get_nowait())
    assert all(isinstance(r, logging.LogRecord) for r in records)
    messages = [r.getMessage() for r in records]
    assert "configured in %d" % pid in messages
    assert "warning from task" in messages and "info from task" in messages
    assert "debug from task" not in messages  # the configurer set INFO
    assert all(r.process == pid for r in records)
    assert all(r.name == "dropin.test" for r in records)


def test_logs_reach_the_parent_loggers(caplog):
    caplog.set_level(logging.WARNING)
    with ProcessTaskPoolExecutor(max_workers=1) as ex:
        pid = run(call(ex, T.log_something, "parent"))
    recs = [r for r in caplog.records if r.name == "dropin.test"]
    assert [r.getMessage() for r in recs] == ["warning from parent"]
    assert recs[0].process == pid and recs[0].worker_pid == pid


def test_initializer_runs_in_each_worker(tmp_path):
    path = str(tmp_path / "init")
    with ProcessTaskPoolExecutor(1, None, T.initializer, (path, "hello")) as ex:
        assert ex.submit(T.add, 1, 2).result(timeout=30) == 3
        assert ex.submit(T.add, 2, 2).result(timeout=30) == 4
    with open(path) as f:
        assert f.read() == "hello\n"


def test_wait_for_timeout_cancels_the_worker_task():
    with ProcessTaskPoolExecutor(max_workers=1) as ex:
        async def main():
            pid = await ex.create_process_task(T.getpid)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ex.create_process_task(T.sleep_forever), 0.3)
            assert await asyncio.to_thread(wait_until, lambda: not alive(pid), 5)
            assert await ex.create_process_task(T.add, 2, 2) == 4
        run(main())


def test_async_with_and_asynccpu_style_manager_queue_listener():
    """asynccpu's own logging scenario: a Manager queue, a QueueListener in
    the parent, a configurer in the workers."""
    import logging.handlers
    import multiprocessing

    got = []

    class Collect(logging.Handler):
        def emit(self, record):
            got.append(record)

    with multiprocessing.Manager() as manager:
        q = manager.Queue(-1)
        listener = logging.handlers.QueueListener(q, Collect())
        listener.start()

        async def main():
            async with ProcessTaskPoolExecutor(max_workers=2, queue=q,
                                               configurer=T.configurer) as ex:
                return await asyncio.gather(*[ex.create_process_task(T.log_something, i)
                                              for i in range(4)])
        pids = run(main())
        listener.stop()
    messages = [r.getMessage() for r in got]
    for i in range(4):
        assert "warning from %d" % i in messages and "info from %d" % i in messages
    assert {r.process for r in got} == set(pids)


def test_meson_installs_every_module_of_the_package():
    pkg = os.path.join(SRCDIR, "bindings", "asynccpu_glib")
    with open(os.path.join(pkg, "meson.build")) as f:
        listed = set(re.findall(r"'([\w]+\.py)'", f.read()))
    assert listed == {n for n in os.listdir(pkg) if n.endswith(".py")}


def test_logs_arrive_live_and_survive_a_crash():
    q = queue.Queue()
    with ProcessTaskPoolExecutor(max_workers=1, queue=q) as ex:
        async def main():
            task = ex.create_process_task(T.log_live_then_wait, "slow", 3.0)
            # the record is there while the task still runs
            record = await asyncio.to_thread(q.get, True, 10)
            assert record.getMessage() == "live from slow" and not task.done()
            assert await task == "slow"
            with pytest.raises(WorkerDied):
                await ex.create_process_task(T.log_then_crash, "victim")
        run(main())
    messages = []
    while not q.empty():
        messages.append(q.get_nowait().getMessage())
    assert "last words of victim" in messages


# 8. Hardening (issue 15) ---------------------------------------------------------

@pytest.mark.parametrize("how", ["create_process_task", "submit"])
def test_a_reply_the_drop_in_cannot_read_still_settles_the_future(how):
    """Before: the completion callback raised (AttributeError on an error
    description that is not a dict) and the future stayed pending forever;
    a reply of another type than (yvav) was read with criticals."""
    with ProcessTaskPoolExecutor(max_workers=1) as ex:
        for status, value in [(1, 5), (1, [1, 2]), (1, {"type": 3, "args": "x"}), (7, None),
                              (None, None)]:
            if how == "submit":
                exc = ex.submit(T.hand_made_reply, status, value).exception(timeout=60)
            else:
                with pytest.raises(Exception) as info:
                    run(call(ex, T.hand_made_reply, status, value))
                exc = info.value
            assert isinstance(exc, RemoteError if status else AsyncCpuGlibError), repr(exc)
        assert ex.submit(T.add, 1, 2).result(timeout=60) == 3


@pytest.mark.parametrize("how", ["create_process_task", "submit"])
def test_crash_after_non_utf8_stderr_is_worker_died(how):
    """Before: PyGObject could not convert the WORKER_DIED GError (raw stderr
    bytes in its message), the callback raised and the future never
    completed. Now WorkerDied (needs the library's valid UTF-8 messages)."""
    with ProcessTaskPoolExecutor(max_workers=1) as ex:
        if how == "submit":
            exc = ex.submit(T.cafe_then_crash).exception(timeout=60)
        else:
            with pytest.raises(Exception) as info:
                run(call(ex, T.cafe_then_crash))
            exc = info.value
        assert isinstance(exc, WorkerDied), repr(exc)
        assert exc.signal == signal.SIGKILL
        # The facts, not parsed from the message: the stderr tail is text.
        assert "caf" in exc.stderr_tail, repr(exc.stderr_tail)
        assert ex.submit(T.add, 1, 2).result(timeout=60) == 3


def test_initargs_are_not_on_the_worker_command_line():
    """Before: the initargs were printed into argv, readable by every local
    user in /proc/PID/cmdline."""
    secret = "s3cret-%s" % os.urandom(6).hex()
    with ProcessTaskPoolExecutor(2, None, T.remember_initargs, (secret, b"\xff", [1])) as ex:
        async def main():
            return await asyncio.gather(*[ex.create_process_task(T.cmdline) for _ in range(4)],
                                        ex.create_process_task(T.initargs_seen))
        *lines, seen = run(main())
        assert all(secret.encode() not in line for line in lines)
        assert b"asynccpu_glib" in lines[0]  # it is the worker's command line
        assert seen == [(secret, b"\xff", [1])]  # run once, with the arguments
        assert ex.submit(T.initargs_seen).result(timeout=60) == [(secret, b"\xff", [1])]


def test_sigint_to_an_idle_worker_is_ignored_quietly():
    """Before: the next task failed ("returned neither a value nor an
    error") and a KeyboardInterrupt traceback went to stderr."""
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "scripts", "sigint_idle.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        worker = int(proc.stdout.readline())
        os.kill(worker, signal.SIGINT)
        time.sleep(0.2)  # let it arrive while the worker is idle (no timing asserted)
        out, err = proc.communicate("go\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.strip() == str(worker), out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode == 0


def test_allowed_modules_refuse_other_modules_before_importing(tmp_path):
    """Before: no allowed_modules (TypeError); the generic worker imported
    and ran whatever a request named (builtins.exec)."""
    from asynccpu_glib import _gvs
    marker = tmp_path / "ran"
    with ProcessTaskPoolExecutor(1, allowed_modules=["dropin_tasks"]) as ex:
        assert ex.submit(T.add, 1, 2).result(timeout=60) == 3
        with pytest.raises(PermissionError, match="'math'.*allowed_modules"):
            ex.submit(math.factorial, 5).result(timeout=60)
        # Hand-made requests, as any user of the pool could send them.
        for module, name, args in [("builtins", "exec", ["open(%r, 'w')" % str(marker)]),
                                   ("dropin_tasks", "os.system", ["touch %s" % marker]),
                                   ("dropin_tasks", "__builtins__.exec", ["1"]),
                                   ("dropin_worker_only", "OnlyHereError", [])]:
            reply = ex.pool.run("asynccpu_glib.call", _gvs.pack_request(module, name, args), None)
            status, desc, _ = _gvs.unpack_reply(reply)
            assert status == 1 and desc["type"] == "PermissionError", desc
            assert module in desc["message"]
        assert ex.submit(T.identity, "still serving").result(timeout=60) == "still serving"
    assert not marker.exists()
    with pytest.raises(TypeError):
        ProcessTaskPoolExecutor(1, allowed_modules="dropin_tasks")


def test_a_log_record_is_not_formatted_again_in_the_parent():
    """Before: a 40-byte record whose msg is "%(a)200000000d" with args
    {"a": 1} came out of getMessage() as 200 MB (760 MB with a wider field);
    after: the message arrives as the worker sent it, never %-formatted."""
    import json
    import socket
    got = []

    class Keep(logging.Handler):
        def emit(self, record):
            got.append(record.getMessage())

    logger = logging.getLogger("dropin.hostile-record")
    logger.addHandler(Keep())
    logger.propagate = False
    try:
        with ProcessTaskPoolExecutor(1) as ex:
            record = {"name": "dropin.hostile-record", "msg": "%(a)200000000d",
                      "args": {"a": 1}, "levelno": 40, "levelname": "ERROR"}
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(json.dumps(record).encode(), ex._log_path)
            deadline = time.monotonic() + 60
            while not got and time.monotonic() < deadline:
                time.sleep(0.01)
            assert ex.submit(T.identity, "still serving").result(timeout=60) == "still serving"
    finally:
        logger.handlers.clear()
        logger.propagate = True
    assert got == ["%(a)200000000d"]


def _forked_child(ex, results):
    out = {}
    try:
        ex.submit(T.add, 1, 2).result(timeout=10)
        out["inherited"] = "ran"
    except Exception as e:  # noqa: BLE001
        out["inherited"] = "%s: %s" % (type(e).__name__, e)
    ex.shutdown()
    try:
        with ProcessTaskPoolExecutor(1) as ex2:
            ex2.submit(T.add, 1, 2).result(timeout=10)
        out["new"] = "ran"
    except Exception as e:  # noqa: BLE001
        out["new"] = "%s: %s" % (type(e).__name__, e)
    results.put(out)


def test_a_forked_child_gets_an_error_at_once_not_a_hang():
    """multiprocessing with the fork start method, after the parent used the
    drop-in. Before: the inherited executor's task never ran (TimeoutError)
    and its shutdown() waited for ever. After: both the inherited executor
    and a new one in the child fail at once, saying why (fork), and the
    parent's executor goes on."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    with ProcessTaskPoolExecutor(1) as ex:
        assert ex.submit(T.add, 1, 2).result(timeout=60) == 3
        results = ctx.Queue()
        child = ctx.Process(target=_forked_child, args=(ex, results))
        child.start()
        try:
            out = results.get(timeout=60)
        finally:
            child.join(10)
            if child.is_alive():
                child.kill()
                child.join()
        assert out["inherited"].startswith("RuntimeError") and "fork()" in out["inherited"], out
        assert out["new"].startswith("AsyncCpuGlibError") and "forked" in out["new"], out
        assert child.exitcode == 0
        assert ex.submit(T.add, 2, 3).result(timeout=60) == 5


UNGUARDED = """
import sys
import gi
gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, GLib

def task_one(args, cancellable):
    return 1

worker = ACpu.Worker.new()
worker.register('one', task_one)
# No `if ACpu.Worker.is_worker_process(): sys.exit(worker.run())` here.
pool = ACpu.ProcessTaskPool.new(None, 1)
pool.set_handshake_timeout(60000)
try:
    print(pool.run('one', None, None).unpack())
except GLib.Error as e:
    print('error:', e.message)
    sys.exit(1)
"""


def test_a_one_file_program_without_the_guard_starts_no_chain(tmp_path):
    """Before: each worker ran the client code and started workers of its
    own (9 processes after 1 s, 64 after 7 s, no error). After: the first
    worker's own pool refuses at once, the program fails and says why."""
    script = tmp_path / "one_file.py"
    script.write_text(UNGUARDED)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1, (out, err)
    assert out.startswith("error: "), out
    assert "is_worker_process()" in out + err, (out, err)


def test_generator_streams_its_yields(executor):
    got = list(executor.stream(T.count_to, 50))
    assert got == [(i, "item %d" % i) for i in range(50)]
    assert list(executor.stream(T.acount_to, 20)) == [i * i for i in range(20)]
    seen = []
    with pytest.raises(ValueError, match="failed at 4"):
        for item in executor.stream(T.count_to, 10, 4):
            seen.append(item[0])
    assert seen == [0, 1, 2, 3]
    # Leaving early cancels the task; the executor goes on.
    for item in executor.stream(T.count_to, 100000):
        break
    assert executor.submit(T.add, 2, 2).result() == 4
