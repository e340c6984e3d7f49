# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs two never-ending tasks and waits; the test then signals this process.

argv[1]: "plain" (no handler), "handler" (executor.shutdown_on_signal()).
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dropin_tasks  # noqa: E402
from asynccpu_glib import ProcessTaskPoolExecutor  # noqa: E402


async def main(mode):
    with ProcessTaskPoolExecutor(max_workers=2, cancel_tasks_when_shutdown=False) as executor:
        if mode == "handler":
            executor.shutdown_on_signal()
        tasks = [executor.create_process_task(dropin_tasks.sleep_forever) for _ in range(2)]
        while executor.pool.props.n_workers < 2 or executor.pool.props.n_running < 2:
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
