# SPDX-License-Identifier: LGPL-2.1-or-later
"""No `if __name__ == "__main__":` guard: workers stop running this script
where it creates the executor; `late` is defined after that point."""
import asyncio

from asynccpu_glib import ProcessTaskPoolExecutor


def early(x):
    return x + 1


executor = ProcessTaskPoolExecutor(max_workers=1)


def late(x):
    return x


async def main():
    with executor:
        print(await executor.create_process_task(early, 1))
        try:
            await executor.create_process_task(late, 1)
        except AttributeError as e:
            print("AttributeError:", e)


asyncio.run(main())
