# SPDX-License-Identifier: LGPL-2.1-or-later
"""ProcessTaskPoolExecutor(launcher=...): every worker through an
ACpu.Launcher (issue 14), here the bwrap sandbox (tests/engines/bwrap.sh
says whether bwrap works on this machine) and a plain prefix."""

import asyncio
import logging
import os
import shutil
import subprocess
import tempfile

import gi
import pytest

import dropin_tasks as T
from asynccpu_glib import ProcessTaskPoolExecutor, WorkerDied

gi.require_version("ACpu", "1.0")
from gi.repository import ACpu  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def bwrap_problem():
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
    r = subprocess.run(["bash", os.path.join(HERE, "..", "engines", "bwrap.sh"), "check"],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else "bwrap cannot work here: " + r.stderr.strip()


def test_launcher_must_be_a_launcher():
    with pytest.raises(TypeError, match="ACpu.Launcher"):
        ProcessTaskPoolExecutor(1, launcher=["bwrap"])


def test_a_prefix_launcher_runs_every_worker(caplog):
    # `env` in front of the worker: a launcher that changes nothing else.
    with ProcessTaskPoolExecutor(2, launcher=ACpu.Launcher.new(["env"])) as ex:
        assert ex.submit(T.add, 2, 3).result(timeout=60) == 5
        with caplog.at_level(logging.WARNING, logger="dropin.test"):
            pid = ex.submit(T.log_something, "prefixed").result(timeout=60)
        assert pid != os.getpid()
    recs = [r for r in caplog.records if r.name == "dropin.test"]
    assert [r.getMessage() for r in recs] == ["warning from prefixed"]
    assert recs[0].worker_pid == pid


def test_the_bwrap_sandbox_confines_the_drop_in_workers(caplog):
    why = bwrap_problem()
    if why:
        pytest.skip(why)
    fd, planted = tempfile.mkstemp(prefix="acpu-dropin-secret-", dir=os.path.expanduser("~"))
    try:
        os.write(fd, b"secret")
        os.close(fd)
        with ProcessTaskPoolExecutor(2) as here:
            assert here.submit(T.sandbox_facts, planted).result(timeout=60)[1:] == [True, True]
        sandbox = ACpu.Launcher.new_bwrap_sandbox()
        with ProcessTaskPoolExecutor(2, launcher=sandbox) as ex:
            async def main():
                facts = await ex.create_process_task(T.sandbox_facts, planted)
                # Values, exceptions of their own class, async functions.
                with pytest.raises(ZeroDivisionError):
                    await ex.create_process_task(T.divide, 1, 0)
                square = await ex.create_process_task(T.async_square, 7)
                with caplog.at_level(logging.WARNING, logger="dropin.test"):
                    pid = await ex.create_process_task(T.log_something, "sandboxed")
                with pytest.raises(WorkerDied):
                    await ex.create_process_task(T.crash, 9)
                return facts, square, pid, await ex.create_process_task(T.add, 40, 2)
            facts, square, pid, answer = asyncio.run(asyncio.wait_for(main(), 120))
        assert facts[1:] == [False, False]  # neither the home directory nor the network
        assert square == 49 and answer == 42
        # The record came with the reply, over the pool's channel (the
        # executor's log socket is out of the sandbox's reach).
        recs = [r for r in caplog.records if r.name == "dropin.test"]
        assert [r.getMessage() for r in recs] == ["warning from sandboxed"]
        assert recs[0].worker_pid == pid
    finally:
        os.unlink(planted)
