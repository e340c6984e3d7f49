# SPDX-License-Identifier: LGPL-2.1-or-later
"""_LoopBridge, the asyncio loop's own line to the pool, found both ways:
from PyGObject's wrapper layout (checked on one release only) and from
GLib's g_main_context_get_thread_default() (any release). Run once as is and
once with ASYNCCPU_GLIB_LOOP_BRIDGE=fallback (tests/dropin/meson.build)."""

import asyncio
import os
import signal
import time

import gi
import pytest
from gi.repository import GLib

import dropin_tasks as T
from asynccpu_glib import ProcessTaskPoolExecutor, WorkerDied
from asynccpu_glib import _executor, _fast

FORCED = os.environ.get("ASYNCCPU_GLIB_LOOP_BRIDGE", "")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


@pytest.fixture(scope="module")
def executor():
    with ProcessTaskPoolExecutor(max_workers=2) as ex:
        yield ex


def test_pointer_source_follows_the_version_and_the_environment(monkeypatch):
    expected = ("thread-default" if FORCED == "fallback"
                or tuple(gi.version_info[:2]) != _executor._LAYOUT_CHECKED else "layout")
    assert _executor._pointer_source() == expected
    # Any release but the checked one asks GLib, whatever the environment.
    monkeypatch.setattr(gi, "version_info", (3, 99, 0))
    assert _executor._pointer_source() == "thread-default"
    monkeypatch.setattr(gi, "version_info", (4, 42, 0))
    assert _executor._pointer_source() == "thread-default"


@pytest.mark.parametrize("choice", ["", "fallback"])
def test_both_ways_find_the_same_context(monkeypatch, choice):
    monkeypatch.setattr(_executor, "_bridge_choice", choice)

    async def main():
        bridge = _executor._LoopBridge(asyncio.get_running_loop())
        try:
            bridge.ctx.push_thread_default()
            try:
                assert bridge.glib.g_main_context_get_thread_default() == bridge.ptr
            finally:
                bridge.ctx.pop_thread_default()
            return bridge.how
        finally:
            bridge.close()
    how = run(main())
    assert how == ("thread-default" if choice == "fallback" else _executor._pointer_source())


def test_tasks_go_through_the_bridge(executor):
    async def main():
        loop = asyncio.get_running_loop()
        first = await executor.create_process_task(T.add, 1, 2)
        bridge = _executor._bridge_for(loop)
        assert bridge is not None, "the loop fell back to the executor's thread"
        # Many at once, some replies read by this thread on the direct path
        # (the bridge then watches the descriptor the pool adds).
        many = await asyncio.gather(*(executor.create_process_task(T.add, i, i)
                                      for i in range(200)))
        return first, many, bridge.how
    first, many, how = run(main())
    assert first == 3
    assert many == [2 * i for i in range(200)]
    assert how == _executor._pointer_source()


def test_a_crash_and_a_cancel_arrive_through_the_bridge():
    with ProcessTaskPoolExecutor(max_workers=2) as ex:
        async def main():
            with pytest.raises(WorkerDied):
                await ex.create_process_task(T.crash, int(signal.SIGKILL))
            task = ex.create_process_task(T.sleep_forever)
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await ex.create_process_task(T.add, 20, 22) == 42
            assert _executor._bridge_for(asyncio.get_running_loop()) is not None
        run(main())


def test_a_descriptor_the_context_no_longer_polls_does_not_spin_the_loop(executor):
    """The bridge's epoll set may keep a descriptor the context stopped
    polling; when it wakes the loop with nothing to dispatch, it is dropped,
    and one that cannot be dropped by its number (its number closed, its
    open file still readable through another) makes the set be rebuilt."""
    async def main():
        loop = asyncio.get_running_loop()
        assert await executor.create_process_task(T.add, 1, 1) == 2
        bridge = _executor._bridge_for(loop)
        assert bridge is not None
        pumps = []
        real_pump = bridge.pump

        def counting_pump():
            pumps.append(1)
            real_pump()
        loop.remove_reader(bridge.epoll.fileno())
        loop.add_reader(bridge.epoll.fileno(), counting_pump)
        r, w = os.pipe()
        try:
            os.write(w, b"x")  # readable for good
            bridge._register(r)
            assert r in bridge.watched
            await asyncio.sleep(0.1)
            assert r not in bridge.watched
            assert 1 <= len(pumps) <= 3
            # A stale entry: epoll keeps it while its open file lives on
            # through r, and unregister(r2) cannot reach it any more.
            r2 = os.dup(r)
            bridge._register(r2)
            os.close(r2)
            del pumps[:]
            await asyncio.sleep(0.2)
            # Rebuilt after a few idle wakeups, not woken thousands of times.
            assert len(pumps) <= 10, len(pumps)
            assert await executor.create_process_task(T.add, 2, 3) == 5
        finally:
            os.close(r)
            os.close(w)
    run(main())


def test_a_source_still_ready_after_a_watch_is_dispatched(executor):
    """GLib runs a source that stays ready at the next iteration, without a
    wakeup: the pool's delivery source does so when its time budget runs
    out, and the results the I/O thread adds to it wake nobody. watch()
    dispatches once; before, a source still ready after that waited for an
    unrelated wakeup (a crash, a cancel and a third task under a CPU hog:
    the third task's result waited until the test's 60 s ran out)."""
    async def main():
        loop = asyncio.get_running_loop()
        assert await executor.create_process_task(T.add, 1, 1) == 2
        bridge = _executor._bridge_for(loop)
        assert bridge is not None
        runs = []

        def twice(*_):
            runs.append(1)
            return len(runs) < 2  # ready again after its first dispatch
        # Attached by the context's owner: GLib signals no wakeup.
        source = GLib.idle_source_new()
        source.set_callback(twice)
        source.attach(bridge.ctx)
        bridge.watch()  # dispatches it once
        assert len(runs) == 1
        # One turn of the loop runs what watch() scheduled (call_soon).
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(runs) == 2, "a source still ready was not dispatched again"
    run(main())


def test_a_burst_is_watched_once_and_every_future_settles(executor):
    async def main():
        loop = asyncio.get_running_loop()
        await executor.create_process_task(T.add, 0, 0)
        bridge = _executor._bridge_for(loop)
        watches = []
        real_watch = bridge.watch

        def counting_watch():
            watches.append(1)
            real_watch()
        bridge.watch = counting_watch
        try:
            futs = [executor.create_process_task(T.add, i, 1) for i in range(300)]
            submitted = len(watches)
            results = await asyncio.gather(*futs)
        finally:
            del bridge.watch
        return submitted, results
    submitted, results = run(main())
    assert results == [i + 1 for i in range(300)]
    # The first call watches at once; the other 299 share one deferred watch.
    assert submitted == 1


def test_a_burst_still_waiting_runs_before_the_shutdown():
    """The calls of a burst wait on the loop's thread until it is done
    submitting; leaving the `with` block right after them (no await in
    between) hands them to the pool first, so they run, as they did when each
    call went to the pool at once."""
    async def main():
        with ProcessTaskPoolExecutor(max_workers=2) as ex:
            futs = [ex.create_process_task(T.add, i, 1) for i in range(50)]
        return await asyncio.gather(*futs)
    assert run(main()) == [i + 1 for i in range(50)]


def test_a_burst_call_the_pool_refuses_still_settles(executor, monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()
        slow = executor.create_process_task(T.sleep_then_return, 0.5, "slow")
        bridge = _executor._bridge_for(loop)
        real_submit = bridge._submit_burst

        def refuse():
            raise TypeError("refused")
        calls = []

        def refusing_submit(*a):
            # Each waiting call is (call, failed): the pool refuses the call.
            calls.extend(bridge._burst)
            bridge._burst[:] = [(refuse, failed) for _call, failed in bridge._burst]
            return real_submit(*a)
        monkeypatch.setattr(bridge, "_submit_burst", refusing_submit)
        # In flight already: this one waits in the burst list.
        fut = executor.create_process_task(T.add, 1, 2)
        with pytest.raises(Exception, match="refused"):
            await fut
        monkeypatch.undo()
        return calls, await slow, executor._direct
    calls, slow, direct = run(main())
    assert len(calls) == 1 and slow == "slow" and direct == 0
    assert not _fast._calls  # through C: the refused call is forgotten


# The hot path through C (asynccpu_glib._fast) ---------------------------------

def _through_c_expected():
    return (_executor._pointer_source() == "layout"
            and os.environ.get("ASYNCCPU_GLIB_FAST", "1") != "0")


def test_the_hot_path_calls_c_where_the_layout_is_known(executor):
    """Where the bridge reads PyGObject's layout (its checked release), the
    executor and its workers call the library through C, with no gi
    marshalling on a round trip; anywhere else, or with the fallback
    forced, through gi.repository.ACpu."""
    expected = _through_c_expected()
    assert (executor._fast is not None) == expected

    async def main():
        return await executor.create_process_task(T.registered_through_c)
    assert run(main()) == expected


def test_a_cancel_that_comes_after_the_reply_touches_nothing(executor):
    """The future's cancel callback is scheduled for the next loop turn; when
    the reply is dispatched in this one, the call is over when it runs. It
    must then find nothing to cancel (through C, the call's GCancellable is
    gone by then), and no call may stay in the table of calls on their way."""
    async def main():
        loop = asyncio.get_running_loop()
        await executor.create_process_task(T.add, 0, 0)
        bridge = _executor._bridge_for(loop)
        fut = executor.create_process_task(T.add, 1, 2)
        deadline = time.monotonic() + 30
        # The reply arrives while the loop is kept from reading it.
        while not fut.done() and not bridge._is_pending(bridge.ptr) and time.monotonic() < deadline:
            time.sleep(0.01)
        fut.cancel()
        bridge.pump()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return fut.cancelled(), await executor.create_process_task(T.add, 2, 3)
    cancelled, after = run(main())
    assert cancelled and after == 5
    assert not _fast._calls


def test_loops_on_two_threads_share_one_executor(executor):
    """Each loop has its own bridge, and its calls come back to it: every
    result to the thread that asked, none left on its way."""
    import threading

    results = {}

    def one_thread(n):
        async def main():
            got = [await executor.create_process_task(T.add, n, i) for i in range(200)]
            got += await asyncio.gather(*(executor.create_process_task(T.add, n, i)
                                          for i in range(200)))
            return got, _executor._bridge_for(asyncio.get_running_loop()).thread
        results[n] = run(main())

    threads = [threading.Thread(target=one_thread, args=(n,)) for n in (1000, 2000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for n, t in zip((1000, 2000), threads):
        got, bridge_thread = results[n]
        assert got == [n + i for i in range(200)] * 2
        assert bridge_thread == t.ident
    assert not _fast._calls


def test_submit_calls_c_too(executor):
    """submit() goes through the executor's own thread, and from there
    through C as well where the layout is known (its cancellable a
    Gio.Cancellable, which any thread may cancel)."""
    first = next(_fast._keys)
    assert executor.submit(T.add, 1, 2).result(timeout=60) == 3
    taken = next(_fast._keys) - first - 1
    assert taken == (1 if _through_c_expected() else 0)
    assert not _fast._calls
