#!/usr/bin/python3
# The quick start of asynccpu's README, run on asynccpu-glib: only the import
# line differs from the original program.
import asyncio

from asynccpu_glib import ProcessTaskPoolExecutor


async def process_cpu_bound(task_id):
    """
    CPU-bound operations will block the event loop:
    in general it is preferable to run them in a process pool.
    """
    return f"task_id: {task_id}, result: {sum(i * i for i in range(10 ** 7))}"


async def main():
    with ProcessTaskPoolExecutor(max_workers=3, cancel_tasks_when_shutdown=True) as executor:
        awaitables = {executor.create_process_task(process_cpu_bound, x) for x in range(10)}
        results = await asyncio.gather(*awaitables)
        for result in results:
            print(result)


asyncio.run(main())
