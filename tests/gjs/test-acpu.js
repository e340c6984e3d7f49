// test-acpu.js — ACpu from GJS, both sides: this module is the client and,
// started again by the pool (worker_argv null), its own worker.
//
// Run by meson (suite "bindings") as `gjs -m test-acpu.js` with
// GI_TYPELIB_PATH and LD_LIBRARY_PATH on the build tree. Prints TAP.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import ACpu from 'gi://ACpu?version=1.0';
import System from 'system';

import GObject from 'gi://GObject';
import {partialValues} from '../../bindings/gjs/asynccpu.js';
import {assert, assertEqual, readPidFile, runTests, tmpPath} from './tap.js';

const TEST_ERROR_DOMAIN = 'acpu-test-gjs-error-quark';

// The tasks, run in the worker processes ------------------------------------

function getPid() {
    // /proc/self is this process; its target is the pid.
    return Number(GLib.file_read_link('/proc/self'));
}

const worker = ACpu.Worker.new();
worker.register('square', args => {
    const [x] = args.deepUnpack();
    return new GLib.Variant('(x)', [x * x]);
});
worker.register('pid', () => new GLib.Variant('(i)', [getPid()]));
worker.register('throw', args => {
    const [message] = args.deepUnpack();
    throw new TypeError(message);
});
worker.register('gerror', args => {
    const [code, message] = args.deepUnpack();
    throw new GLib.Error(GLib.quark_from_string(TEST_ERROR_DOMAIN), code, message);
});
worker.register('closure', (() => {
    let calls = 0;
    return () => new GLib.Variant('(u)', [++calls]);
})());
worker.register('wait-cancel', (args, cancellable) => {
    // Writes the pid to a file, then waits until cancelled, cooperatively.
    const [path] = args.deepUnpack();
    GLib.file_set_contents(path, String(getPid()));
    while (!cancellable.is_cancelled())
        GLib.usleep(1000);
    cancellable.set_error_if_cancelled();
    return new GLib.Variant('(s)', ['not reached']);
});

worker.register('reverse-bytes', args => {
    // 'ay' unpacks to a Uint8Array in one copy; one goes back as 'ay'.
    const [data] = args.deepUnpack();
    if (!(data instanceof Uint8Array))
        throw new TypeError(`got ${data?.constructor?.name}, not a Uint8Array`);
    return new GLib.Variant('(ay)', [data.slice().reverse()]);
});

// Declared types: a request of another type never reaches the function
// (deepUnpack() of '(s)' or '()' would give it garbage to square).
worker.register('typed-square', args => {
    const [x] = args.deepUnpack();
    return new GLib.Variant('(x)', [x * x]);
});
worker.set_task_types('typed-square', '(x)', '(x)');
worker.register('returns-number', () => 42);

worker.register('say-and-abort', args => {
    const [text] = args.deepUnpack();
    printerr(text);
    // SIGKILL: SpiderMonkey's fault handlers swallow a SIGSEGV sent to GJS.
    GLib.spawn_command_line_sync(`kill -9 ${getPid()}`);
    return new GLib.Variant('(s)', ['not reached']);
});

worker.register('rows', args => {
    // Progress and partial values, through the running worker.
    const [n] = args.deepUnpack();
    const running = ACpu.Worker.get_running();
    for (let i = 0; i < n; i++) {
        running.report_progress((i + 1) / n, `row ${i}`);
        running.send_partial(new GLib.Variant('(us)', [i, `row ${i}`]));
    }
    return new GLib.Variant('(u)', [n]);
});

if (ACpu.Worker.is_worker_process())
    System.exit(worker.run());

// A stand-in for a progress bar: any object with a double property.
const Bar = GObject.registerClass({
    Properties: {
        fraction: GObject.ParamSpec.double('fraction', null, null,
            GObject.ParamFlags.READWRITE, 0, 1, 0),
    },
}, class Bar extends GObject.Object {});

// The client side -------------------------------------------------------------

Gio._promisify(ACpu.ProcessTaskPool.prototype, 'run_async', 'run_finish');
Gio._promisify(ACpu.ProcessTaskPool.prototype, 'shutdown_async', 'shutdown_finish');

// A pool of this module's workers, with no wall-clock limit of its own that a
// loaded machine could hit: the meson timeout is the only one.
function newPool(maxWorkers) {
    const pool = ACpu.ProcessTaskPool.new(null, maxWorkers);
    pool.handshake_timeout = 0;
    return pool;
}

const tests = {
    async 'a task handle streams partial values for await, and binds progress'(pool) {
        const bar = new Bar();
        const states = [];
        const task = pool.start('rows', new GLib.Variant('(u)', [40]), GLib.PRIORITY_HIGH, null);
        task.connect('notify::state', t => states.push(t.state));
        task.bind_property('progress', bar, 'fraction', GObject.BindingFlags.SYNC_CREATE);
        const rows = [];
        for await (const value of partialValues(task))
            rows.push(value.deepUnpack());
        assertEqual(rows.length, 40, 'all rows');
        assertEqual(rows[39], [39, 'row 39'], 'in order, the last');
        assertEqual(rows.map(r => r[0]), [...Array(40).keys()], 'in order');
        assertEqual(task.state, ACpu.TaskState.SUCCEEDED, 'succeeded');
        assertEqual(states, [ACpu.TaskState.RUNNING, ACpu.TaskState.SUCCEEDED], 'states');
        assertEqual(task.get_result().deepUnpack(), [40], 'result');
        assertEqual(bar.fraction, 1, 'the bound bar is full');
        assert(task.worker_pid > 0 && task.worker_pid !== getPid(), 'a worker pid');
    },

    async 'cancel through the handle'(pool) {
        const path = tmpPath('task-cancel');
        const task = pool.start('wait-cancel', new GLib.Variant('(s)', [path]),
            GLib.PRIORITY_DEFAULT, null);
        await readPidFile(path);
        task.cancel();
        for await (const _ of partialValues(task))
            ;
        assertEqual(task.state, ACpu.TaskState.CANCELLED, 'cancelled');
    },

    async 'await run_async gives the result'(pool) {
        const result = await pool.run_async('square', new GLib.Variant('(x)', [7]), null);
        assert(result instanceof GLib.Variant, 'a GLib.Variant');
        assertEqual(result.get_type_string(), '(x)', 'type');
        assertEqual(result.deepUnpack(), [49], 'value');
    },

    async 'tasks run in parallel promises, in other processes'(pool) {
        const values = await Promise.all([1, 2, 3, 4].map(i =>
            pool.run_async('square', new GLib.Variant('(x)', [i]), null)));
        assertEqual(values.map(v => v.deepUnpack()[0]), [1, 4, 9, 16], 'values');
        const [pid] = (await pool.run_async('pid', null, null)).deepUnpack();
        assert(pid !== getPid(), 'not this process');
    },

    async 'blocking run'(pool) {
        assertEqual(pool.run('square', new GLib.Variant('(x)', [-3]), null).deepUnpack(), [9],
            'value');
    },

    async 'a closure keeps its state in the worker'() {
        const pool = newPool(1);
        const first = (await pool.run_async('closure', null, null)).deepUnpack();
        const second = (await pool.run_async('closure', null, null)).deepUnpack();
        await pool.shutdown_async(null);
        assertEqual([first, second], [[1], [2]], 'calls');
    },

    async 'a dead worker\'s facts come without parsing the message'() {
        const pool = newPool(1);
        const [pid] = (await pool.run_async('pid', null, null)).deepUnpack();
        const [error, facts] = await new Promise(resolve => {
            pool.run_async('say-and-abort', new GLib.Variant('(s)', ['last words']), null,
                (p, result) => {
                    const exit = p.get_worker_exit(result);
                    try {
                        p.run_finish(result);
                        resolve([null, exit]);
                    } catch (e) {
                        resolve([e, exit]);
                    }
                });
        });
        await pool.shutdown_async(null);
        assert(error && error.matches(ACpu.error_quark(), ACpu.Error.WORKER_DIED),
            `WORKER_DIED, got ${error}`);
        assert(facts instanceof ACpu.WorkerExit, 'an ACpu.WorkerExit');
        assertEqual(facts.pid, pid, 'pid');
        assertEqual(facts.signal, 9, 'signal');
        assertEqual(facts.exited, false, 'exited');
        assertEqual(facts.exit_status, -1, 'exit status');
        assertEqual(facts.task_name, 'say-and-abort', 'task name');
        assert(facts.stderr_tail.includes('last words'), `stderr tail: ${facts.stderr_tail}`);
    },

    async 'a JS exception arrives with its class and message'() {
        const pool = newPool(1);
        const [before] = (await pool.run_async('pid', null, null)).deepUnpack();
        let caught = null;
        try {
            await pool.run_async('throw', new GLib.Variant('(s)', ['bad value']), null);
        } catch (e) {
            caught = e;
        }
        // GJS turns the exception into a GError in its gjs-js-error-quark
        // domain, and that GError back into a TypeError here.
        assert(caught instanceof TypeError, `a TypeError, got ${caught}`);
        assertEqual(caught.message, 'bad value', 'message');
        // The worker survived it.
        const [after] = (await pool.run_async('pid', null, null)).deepUnpack();
        await pool.shutdown_async(null);
        assertEqual(after, before, 'same worker');
    },

    async 'a thrown GLib.Error keeps its domain and code'(pool) {
        let caught = null;
        try {
            await pool.run_async('gerror', new GLib.Variant('(is)', [42, 'custom failure']), null);
        } catch (e) {
            caught = e;
        }
        assert(caught instanceof GLib.Error, `a GLib.Error, got ${caught}`);
        assertEqual(GLib.quark_to_string(caught.domain), TEST_ERROR_DOMAIN, 'domain');
        assertEqual(caught.code, 42, 'code');
        assertEqual(caught.message, 'custom failure', 'message');
    },

    async 'an unknown task fails with ACpu.Error.UNKNOWN_TASK'(pool) {
        let caught = null;
        try {
            await pool.run_async('no-such-task', null, null);
        } catch (e) {
            caught = e;
        }
        assert(caught?.matches(ACpu.error_quark(), ACpu.Error.UNKNOWN_TASK), `${caught}`);

        // The message names this module, not gjs, the closest name and the others.
        caught = null;
        try {
            await pool.run_async('sqaure', new GLib.Variant('(x)', [3]), null);
        } catch (e) {
            caught = e;
        }
        assert(/No task named “sqaure” in worker \S*test-acpu\.js;/.test(caught?.message),
            `names the module: ${caught}`);
        assert(caught.message.includes('did you mean “square”?'), `${caught}`);
        assert(caught.message.includes('“reverse-bytes”'), `${caught}`);
    },

    async 'max_workers out of range is a RangeError naming it (the ACpu override)'(pool) {
        // GJS alone: "Error: Argument max_workers: value is out of range for
        // uint32", and 1.5 or NaN taken without a word.
        const attempts = [
            ['new(null, -1)', () => ACpu.ProcessTaskPool.new(null, -1), RangeError],
            ['new(null, 1.5)', () => ACpu.ProcessTaskPool.new(null, 1.5), RangeError],
            ['new(null, NaN)', () => ACpu.ProcessTaskPool.new(null, NaN), RangeError],
            ['new(null, 2 ** 32)', () => ACpu.ProcessTaskPool.new(null, 2 ** 32), RangeError],
            ["new(null, '2')", () => ACpu.ProcessTaskPool.new(null, '2'), TypeError],
            ['{max_workers: -1}', () => new ACpu.ProcessTaskPool({max_workers: -1}), RangeError],
            ['set_max_workers(-1)', () => pool.set_max_workers(-1), RangeError],
            ['max_workers = -1', () => {
                pool.max_workers = -1;
            }, RangeError],
        ];
        for (const [what, attempt, Class] of attempts) {
            let caught = null;
            try {
                attempt();
            } catch (e) {
                caught = e;
            }
            assert(caught instanceof Class, `${what}: ${caught}`);
            assert(caught.message.includes('max_workers must be'), `${what}: ${caught.message}`);
        }
        assert(/from 0 \(the number of CPUs\) to 2147483647, not -1$/.test(
            (() => {
                try {
                    ACpu.ProcessTaskPool.new(null, -1);
                } catch (e) {
                    return e.message;
                }
                return '';
            })()), 'says the range and the value');
        // What is right still works, and the pool is unchanged by the refusals.
        assertEqual(pool.max_workers, 2, 'max_workers kept');
        const other = ACpu.ProcessTaskPool.new(null, 3);
        assertEqual(other.max_workers, 3, 'new(null, 3)');
        other.max_workers = 4;
        assertEqual(other.get_max_workers(), 4, 'set through the property');
        assertEqual(new ACpu.ProcessTaskPool({max_workers: 5}).max_workers, 5, 'constructor');
        await other.shutdown_async(null);
    },

    async 'a typed task refuses arguments of another type, naming both'(pool) {
        const result = await pool.run_async('typed-square', new GLib.Variant('(x)', [6]), null);
        assertEqual(result.deepUnpack()[0], 36, 'result');
        for (const [args, given] of [[new GLib.Variant('(s)', ['6']), '(s)'], [null, '()']]) {
            let caught = null;
            try {
                await pool.run_async('typed-square', args, null);
            } catch (e) {
                caught = e;
            }
            assert(caught?.matches(ACpu.error_quark(), ACpu.Error.INVALID_ARGUMENT), `${caught}`);
            assertEqual(caught.message,
                `Task “typed-square” takes arguments of type (x), not ${given}`, 'message');
        }
        // A plain number is not a GLib.Variant: the message names the task.
        let caught = null;
        try {
            await pool.run_async('returns-number', null, null);
        } catch (e) {
            caught = e;
        }
        assert(caught?.message.startsWith('Task “returns-number” must return a GLib.Variant'),
            `${caught}`);
        const [found, argsType, resultType] = pool.get_task_types('typed-square');
        assert(found, 'found');
        assertEqual(argsType, '(x)', 'args type');
        assertEqual(resultType, '(x)', 'result type');
    },

    async '10 MiB of bytes to a task and back, as Uint8Arrays'(pool) {
        const data = new Uint8Array(10 * 1024 * 1024);
        for (let i = 0; i < data.length; i += 4096)
            data[i] = (i / 4096) & 0xff;
        data[data.length - 1] = 7;
        const result = await pool.run_async('reverse-bytes', new GLib.Variant('(ay)', [data]),
            null);
        assertEqual(result.get_type_string(), '(ay)', 'type');
        const [back] = result.deepUnpack();
        assert(back instanceof Uint8Array, `a Uint8Array, got ${back?.constructor?.name}`);
        assertEqual(back.length, data.length, 'length');
        assertEqual(back[0], 7, 'first byte');
        assertEqual(back[data.length - 1 - 4096], 1, 'a byte further on');
    },

    async 'cancelling a running task'() {
        const pool = newPool(1);
        pool.cancel_grace_period = 60000;
        const path = tmpPath('pid');
        const cancellable = new Gio.Cancellable();
        const promise = pool.run_async('wait-cancel', new GLib.Variant('(s)', [path]),
            cancellable);
        const pid = await readPidFile(path);
        cancellable.cancel();
        let caught = null;
        try {
            await promise;
        } catch (e) {
            caught = e;
        }
        assert(caught?.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED), `${caught}`);
        // The task saw its cancellable and returned: the same worker, not a
        // replacement for a killed one, runs the next task.
        const [next] = (await pool.run_async('pid', null, null)).deepUnpack();
        await pool.shutdown_async(null);
        assertEqual(next, pid, 'same worker');
    },

    async 'shutdown with cancel-tasks-when-shutdown cancels a running task'() {
        const pool = newPool(1);
        pool.cancel_tasks_when_shutdown = true;
        const path = tmpPath('pid2');
        const promise = pool.run_async('wait-cancel', new GLib.Variant('(s)', [path]), null);
        const pid = await readPidFile(path);
        await pool.shutdown_async(null);
        let caught = null;
        try {
            await promise;
        } catch (e) {
            caught = e;
        }
        assert(caught?.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED), `${caught}`);
        assert(!GLib.file_test(`/proc/${pid}`, GLib.FileTest.EXISTS), 'worker gone');
    },
};

runTests(tests, {
    async setUp() {
        const pool = newPool(2);
        pool.cancel_grace_period = 60000;
        return pool;
    },
    async tearDown(pool) {
        pool.cancel_tasks_when_shutdown = true;
        await pool.shutdown_async(null);
    },
});
