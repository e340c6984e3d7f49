# SPDX-License-Identifier: LGPL-2.1-or-later
"""A __main__ script whose task functions live in __main__ (guarded)."""
import asyncio
import os
import sys

from asynccpu_glib import ProcessTaskPoolExecutor


def double(x):
    return 2 * x


async def where():
    return __name__, os.getpid()


async def main():
    with ProcessTaskPoolExecutor(max_workers=1) as executor:
        print(await executor.create_process_task(double, 21))
        name, pid = await executor.create_process_task(where)
        print(name, pid != os.getpid())


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
