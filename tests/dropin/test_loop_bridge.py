# SPDX-License-Identifier: LGPL-2.1-or-later
"""_LoopBridge, the asyncio loop's own line to the pool, found both ways:
from PyGObject's wrapper layout (checked on one release only) and from
GLib's g_main_context_get_thread_default() (any release). Run once as is and
once with ASYNCCPU_GLIB_LOOP_BRIDGE=fallback (tests/dropin/meson.build)."""

import asyncio
import os
import signal

import gi
import pytest

import dropin_tasks as T
from asynccpu_glib import ProcessTaskPoolExecutor, WorkerDied
from asynccpu_glib import _executor

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
            for fd in bridge.watched:
                bridge.loop.remove_reader(fd)
            bridge.ctx.release()
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
