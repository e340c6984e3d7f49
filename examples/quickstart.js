// quickstart.js — asynccpu's quick start, in JavaScript (GJS), in one file.
//
// Usage: gjs -m quickstart.js
//
// Ten CPU-bound tasks run in a pool of three worker processes while the main
// loop stays free; `await` gathers the results, printed in order. The
// program is its own worker: the pool starts it again (`gjs -m
// quickstart.js`), and there ACpu.Worker.is_worker_process() is true.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import ACpu from 'gi://ACpu?version=1.0';
import System from 'system';

const N_TASKS = 10;

// sum(i * i for i in range(10 ** 7)), exactly. It needs more than the 53
// bits of a Number, so it is kept in two parts: high * 10^15 + low.
function processCpuBound(args, cancellable) {
    const [taskId] = args.deepUnpack();
    let high = 0, low = 0;
    for (let i = 0; i < 1e7; i++) {
        low += i * i;
        if (low >= 1e15) {
            high += Math.floor(low / 1e15);
            low %= 1e15;
        }
        if ((i & 0xfffff) === 0)
            cancellable.set_error_if_cancelled();
    }
    const sum = high > 0 ? `${high}${String(low).padStart(15, '0')}` : String(low);
    return new GLib.Variant('s', `task_id: ${taskId}, result: ${sum}`);
}

const worker = ACpu.Worker.new();
worker.register('process_cpu_bound', processCpuBound);
if (ACpu.Worker.is_worker_process())
    System.exit(worker.run());

if (ARGV.length > 0) {
    printerr('Usage: gjs -m quickstart.js');
    System.exit(2);
}

// run_async() returns a Promise when no callback is given.
Gio._promisify(ACpu.ProcessTaskPool.prototype, 'run_async', 'run_finish');
Gio._promisify(ACpu.ProcessTaskPool.prototype, 'shutdown_async', 'shutdown_finish');

const loop = new GLib.MainLoop(null, false);
let status = 0;

async function main() {
    // null: the workers are this program.
    const pool = ACpu.ProcessTaskPool.new(null, 3);
    pool.cancel_tasks_when_shutdown = true;
    try {
        const tasks = [];
        for (let i = 0; i < N_TASKS; i++)
            tasks.push(pool.run_async('process_cpu_bound', new GLib.Variant('(x)', [i]), null));
        const results = await Promise.all(tasks);
        for (const result of results)
            print(result.unpack());
    } finally {
        await pool.shutdown_async(null);
    }
}

main().catch(e => {
    printerr(e.message);
    status = 1;
}).finally(() => loop.quit());

loop.run();
System.exit(status);
