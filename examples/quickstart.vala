/* quickstart.vala — asynccpu's quick start, in Vala, in one file.
 *
 * Usage: quickstart-vala
 *
 * Ten CPU-bound tasks run in a pool of three worker processes while the main
 * loop stays free; each is awaited with `yield pool.run_async (…)` and the
 * results are printed in order. The program is its own worker: the pool
 * starts it again, and there ACpu.Worker.is_worker_process () is true.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

const int N_TASKS = 10;
const uint64 BASE = 1000000000000000000; /* 10^18 */

/* sum(i * i for i in range(10 ** 7)), exactly: it needs more than 64 bits,
 * so it is kept in two parts, high * 10^18 + low. */
Variant? process_cpu_bound (Variant args, Cancellable? cancellable) throws Error {
    int64 task_id;
    uint64 high = 0, low = 0;

    args.get ("(x)", out task_id);
    for (uint64 i = 0; i < 10000000; i++) {
        low += i * i;
        if (low >= BASE) {
            high += low / BASE;
            low %= BASE;
        }
        if ((i & 0xfffff) == 0 && cancellable != null)
            cancellable.set_error_if_cancelled ();
    }

    string sum = high > 0 ? "%llu%018llu".printf (high, low) : "%llu".printf (low);
    return new Variant.string ("task_id: %lld, result: %s".printf (task_id, sum));
}

/* One task, awaited. */
async string run_one (ACpu.ProcessTaskPool pool, int64 task_id) throws Error {
    Variant result = yield pool.run_async ("process_cpu_bound", new Variant ("(x)", task_id));
    return result.get_string ();
}

int main (string[] args) {
    var worker = new ACpu.Worker ();
    worker.register ("process_cpu_bound", process_cpu_bound);
    if (ACpu.Worker.is_worker_process ())
        return worker.run ();

    if (args.length > 1) {
        printerr ("Usage: %s\n", args[0]);
        return 2;
    }

    var loop = new MainLoop ();
    var results = new string[N_TASKS];
    int pending = N_TASKS;
    int status = 0;

    /* null: the workers are this program. */
    var pool = new ACpu.ProcessTaskPool (null, 3);
    pool.cancel_tasks_when_shutdown = true;

    for (int i = 0; i < N_TASKS; i++) {
        int index = i;
        run_one.begin (pool, index, (obj, res) => {
            try {
                results[index] = run_one.end (res);
            } catch (Error e) {
                printerr ("task %d: %s\n", index, e.message);
                status = 1;
            }
            if (--pending == 0)
                loop.quit ();
        });
    }
    loop.run ();

    foreach (unowned string? line in results) {
        if (line != null)
            print ("%s\n", line);
    }

    try {
        pool.shutdown ();
    } catch (Error e) {
        printerr ("%s\n", e.message);
        return 1;
    }
    return status;
}
