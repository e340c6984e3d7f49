// test-dropin.js — asynccpu.js, the drop-in for GJS: exported functions of an
// ES module run in generic GJS workers. This module is both the test program
// and the home of the task functions; the workers import it, and there
// isWorkerProcess() keeps the program from running.
//
// Run by meson (suite "bindings") as `gjs -m test-dropin.js` with
// GI_TYPELIB_PATH and LD_LIBRARY_PATH on the build tree. Prints TAP.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import ACpu from 'gi://ACpu?version=1.0';
import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import System from 'system';
import {CALL_TASK, ProcessTaskPool, RemoteError, WorkerDied, getCancellable, isWorkerProcess}
    from '../../bindings/gjs/asynccpu.js';
import {assert, assertEqual, readPidFile, runTests, sleep, tmpPath} from './tap.js';

// The tasks ---------------------------------------------------------------------

export function pid() {
    return Number(GLib.file_read_link('/proc/self'));
}

export function echo(...args) {
    return args;
}

// An async generator: its yields stream to the caller, its return is the end.
export async function *countTo(n, failAt = -1) {
    for (let i = 0; i < n; i++) {
        if (i === failAt)
            throw new RangeError(`failed at ${i}`);
        // eslint-disable-next-line no-await-in-loop
        await null;
        yield {i, text: `item ${i}`};
    }
    return n;
}

export function square(x) {
    return x * x;
}

// Awaited in the worker: a timer and a dynamic import need its main loop.
export async function later(ms, value) {
    await sleep(ms);
    const {default: Sys} = await import('system');
    return [value, typeof Sys.exit];
}

export const Maths = {
    cube(x) {
        return x * x * x;
    },
};

export function fail(kind, message) {
    if (kind === 'range')
        throw new RangeError(message);
    class CustomError extends Error {
        constructor(m) {
            super(m);
            this.name = 'CustomError';
        }
    }
    throw new CustomError(message);
}

export function unsendable() {
    return new Map();
}

export function crash() {
    GLib.spawn_sync(null, ['/bin/sh', '-c', 'kill -KILL $PPID'], null,
        GLib.SpawnFlags.DEFAULT, null);
    return 'not reached';
}

// Writes the pid, then spins and never looks at its cancellable.
export function spin(path) {
    GLib.file_set_contents(path, String(pid()));
    for (;;)
        GLib.usleep(1000);
}

// Writes the pid, then waits, awaiting, until its task is cancelled.
export async function waitCancel(path) {
    const cancellable = getCancellable();
    GLib.file_set_contents(path, String(pid()));
    while (!cancellable.is_cancelled())
        // eslint-disable-next-line no-await-in-loop
        await sleep(2);
    throw new Error('stopped as asked');
}

export function exitNow(code) {
    System.exit(code);
    return 'not reached';
}

// Bytes that are not UTF-8 on the worker's stderr, then a crash.
export function cafeThenCrash() {
    const stderr = new Gio.UnixOutputStream({fd: 2, close_fd: false});
    stderr.write_bytes(new GLib.Bytes(new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a])), null);
    stderr.flush(null);
    return crash();
}

// The tests ---------------------------------------------------------------------

async function rejection(promise) {
    try {
        await promise;
    } catch (e) {
        return e;
    }
    throw new Error('the promise was fulfilled');
}

const self = import.meta.url;
const here = GLib.path_get_dirname(GLib.filename_from_uri(self)[0]);

// The promise's outcome, or 'pending' if it is still pending after a minute
// (a hang detector, not a speed limit).
async function outcome(promise) {
    return Promise.race([promise.then(v => ({value: v}), e => ({error: e})),
        sleep(60000).then(() => 'pending')]);
}

const tests = {
    async 'an export runs in another process and gives its result'(pool) {
        assertEqual(await pool.createProcessTask(self, 'square', 7), 49, 'square');
        assertEqual(await pool.createProcessTask(self, 'Maths.cube', 3), 27, 'a dotted export');
        const pids = await Promise.all([1, 2, 3, 4].map(() => pool.createProcessTask(self, 'pid')));
        assert(!pids.includes(pid()), 'not this process');
    },

    async 'values round-trip with their types'(pool) {
        const values = [null, true, false, 0, -42, 2 ** 53 - 1, 1.5, -0.25, -0,
            2n ** 62n, -(2n ** 63n), 333333283333335000000n, -(10n ** 30n),
            '', 'héllo ✓', 'nul\0inside', new Uint8Array([0, 1, 255]),
            [], [1, ['a', [null]]], {}, {a: 1, b: {c: [true, 'd']}, 'with space': 2n ** 70n}];
        const back = await pool.createProcessTask(self, 'echo', ...values);
        // -0 is a double; undefined becomes null.
        assertEqual(back, values, 'values');
        assert(Object.is(back[8], -0), '-0');
        assert(back[16] instanceof Uint8Array, 'a Uint8Array');
        assert(typeof back[9] === 'bigint' && typeof back[3] === 'number', 'BigInt and Number');
        const [undef] = await pool.createProcessTask(self, 'echo', undefined);
        assert(undef === null, 'undefined → null');
        const big = new Uint8Array(256 * 1024).map((_, i) => i & 0xff);
        const [bigBack] = await pool.createProcessTask(self, 'echo', big);
        assertEqual(bigBack.length, big.length, 'a large Uint8Array (through a memfd)');
        assert(bigBack.every((b, i) => b === big[i]), 'its bytes');
    },

    async '10 MiB of bytes to a task and back, as Uint8Arrays'(pool) {
        const big = new Uint8Array(10 * 1024 * 1024);
        for (let i = 0; i < big.length; i += 4096)
            big[i] = (i / 4096) & 0xff;
        big[big.length - 1] = 7;
        const [back] = await pool.createProcessTask(self, 'echo', big);
        assert(back instanceof Uint8Array, 'a Uint8Array');
        assertEqual(back.length, big.length, 'length');
        assertEqual(back[4096 * 3], 3, 'a byte');
        assertEqual(back[big.length - 1], 7, 'the last byte');
    },

    async 'an async export is awaited in the worker'(pool) {
        assertEqual(await pool.createProcessTask(self, 'later', 50, 'done'), ['done', 'function'],
            'result');
    },

    async 'what cannot be sent is refused at once with a TypeError'(pool) {
        for (const bad of [() => 1, new Map(), Symbol('s'), new Date(), [new Set()], {f() {}}]) {
            let caught = null;
            try {
                pool.createProcessTask(self, 'echo', bad);
            } catch (e) {
                caught = e;
            }
            assert(caught instanceof TypeError, `${String(bad)} refused with a TypeError`);
        }
        for (const [uri, name] of [['relative.js', 'f'], [self, ''], [42, 'f']]) {
            let caught = null;
            try {
                pool.createProcessTask(uri, name);
            } catch (e) {
                caught = e;
            }
            assert(caught instanceof TypeError, `module ${uri}, export “${name}” refused`);
        }
        // A result that cannot be sent fails its task in the worker.
        const e = await rejection(pool.createProcessTask(self, 'unsendable'));
        assert(e instanceof TypeError && /Map/.test(e.message), `${e}`);
    },

    async 'an exception keeps its class, message and the worker\'s stack'(pool) {
        const e = await rejection(pool.createProcessTask(self, 'fail', 'range', 'out of range'));
        assert(e instanceof RangeError, `a RangeError, got ${e}`);
        assertEqual(e.message, 'out of range', 'message');
        assert(/fail@.*test-dropin\.js/.test(e.cause?.message), `stack in cause: ${e.cause}`);

        const custom = await rejection(pool.createProcessTask(self, 'fail', 'custom', 'mine'));
        assert(custom instanceof RemoteError, `a RemoteError, got ${custom}`);
        assertEqual([custom.remoteName, custom.remoteMessage], ['CustomError', 'mine'], 'fields');

        const missing = await rejection(pool.createProcessTask(self, 'noSuchExport'));
        assert(missing instanceof ReferenceError && /noSuchExport/.test(missing.message),
            `${missing}`);
        const noModule = await rejection(pool.createProcessTask('file:///nonexistent/m.js', 'f'));
        assert(noModule instanceof Error, `${noModule}`);

        // A request of the wrong type, from a caller not using asynccpu.js,
        // is answered with an error, and the worker goes on.
        const reply = await new Promise((resolve, reject) => pool.pool.run_async(CALL_TASK,
            new GLib.Variant('(s)', ['x']), null, (p, res) => {
                try {
                    resolve(p.run_finish(res));
                } catch (e) {
                    reject(e);
                }
            }));
        const [status, error] = reply.recursiveUnpack();
        assertEqual([status, error.name], [1, 'TypeError'], 'reply');
        assertEqual(await pool.createProcessTask(self, 'square', 4), 16, 'the next task');
    },

    async 'a crash fails only its task, with WorkerDied naming the signal'() {
        const pool = new ProcessTaskPool({maxWorkers: 1});
        const other = pool.createProcessTask(self, 'later', 0, 'before');
        const e = await rejection(pool.createProcessTask(self, 'crash'));
        assert(e instanceof WorkerDied, `a WorkerDied, got ${e}`);
        assertEqual(e.signal, 9, 'signal');
        assertEqual(e.exitStatus, null, 'exit status');
        assert(e.pid > 0, `pid ${e.pid}`);
        assert(/SIGKILL/.test(e.message), e.message);
        assertEqual(await other, ['before', 'function'], 'the task before it');
        assertEqual(await pool.createProcessTask(self, 'square', 5), 25, 'the next task');
        await pool.shutdown();
    },

    async 'cancel reaches an awaiting export, which keeps its worker'() {
        const pool = new ProcessTaskPool({maxWorkers: 1});
        pool.pool.cancel_grace_period = 60000;
        const path = tmpPath('wait');
        const cancellable = new Gio.Cancellable();
        const promise = pool.run(self, 'waitCancel', [path], {cancellable});
        const worker = await readPidFile(path);
        cancellable.cancel();
        const e = await rejection(promise);
        assert(e.matches?.(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED), `${e}`);
        assertEqual(await pool.createProcessTask(self, 'pid'), worker, 'same worker');
        await pool.shutdown();
    },

    async 'cancel stops a spinning export by killing its worker'() {
        const pool = new ProcessTaskPool({maxWorkers: 1});
        pool.pool.cancel_grace_period = 100;
        const path = tmpPath('spin');
        const cancellable = new Gio.Cancellable();
        const promise = pool.run(self, 'spin', [path], {cancellable});
        const worker = await readPidFile(path);
        cancellable.cancel();
        const e = await rejection(promise);
        assert(e.matches?.(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED), `${e}`);
        const next = await pool.createProcessTask(self, 'pid');
        assert(next !== worker, 'a new worker');
        assert(!GLib.file_test(`/proc/${worker}`, GLib.FileTest.EXISTS), 'the old one is gone');
        await pool.shutdown();
    },

    async 'System.exit() in an export or a module\'s top level rejects with WorkerDied'() {
        // Before: the worker went on and the Promise stayed pending forever.
        const pool = new ProcessTaskPool({maxWorkers: 1});
        for (const [uri, name, args] of [[self, 'exitNow', [3]], [self, 'exitNow', [0]],
            [`${here}/exit-on-import.js`, 'neverCalled', []]]) {
            // eslint-disable-next-line no-await-in-loop
            const got = await outcome(pool.run(uri, name, args));
            assert(got.error instanceof WorkerDied, `${name}(${args}): ${got.error ?? got}`);
            assert(/exit/.test(got.error.message), got.error.message);
        }
        assertEqual(await pool.createProcessTask(self, 'square', 6), 36, 'the next task');
        await pool.shutdown();
    },

    async 'a crash after stderr bytes that are not UTF-8 rejects with WorkerDied'() {
        // Before: TypeError: malformed UTF-8 (needs the library's valid UTF-8 messages).
        const pool = new ProcessTaskPool({maxWorkers: 1});
        const got = await outcome(pool.createProcessTask(self, 'cafeThenCrash'));
        assert(got.error instanceof WorkerDied, `${got.error ?? got}`);
        assertEqual(got.error.signal, 9, 'signal');
        assert(got.error.stderrTail.includes('caf'), `stderr tail: ${got.error.stderrTail}`);
        assertEqual(await pool.createProcessTask(self, 'square', 2), 4, 'the next task');
        await pool.shutdown();
    },

    async 'replies no generic worker sends reject, they never hang or crash'() {
        // Before: get_byte() on a (s) reply, a critical (fatal in this suite).
        const pool = new ProcessTaskPool({maxWorkers: 1});
        pool.pool = ACpu.ProcessTaskPool.new([GLib.file_read_link('/proc/self/exe'), '-m',
            `${here}/bogus-worker.js`], 1);
        for (const name of ['wrongType', 'errorNotDict', 'unknownTag']) {
            // eslint-disable-next-line no-await-in-loop
            const got = await outcome(pool.createProcessTask(self, name));
            assert(got.error instanceof TypeError, `${name}: ${got.error ?? got}`);
        }
        assertEqual(await pool.createProcessTask(self, 'fine'), 'fine', 'a good reply');
        await pool.shutdown();
    },

    async 'allowedModules: other modules are refused before they are imported'() {
        // Before: no allow-list, any URI a request named was imported.
        const pool = new ProcessTaskPool({maxWorkers: 1, allowedModules: [self, `${here}/sub/`]});
        const worker = await pool.createProcessTask(self, 'pid');
        const dirUri = GLib.filename_to_uri(here, null);
        for (const uri of [`${dirUri}/exit-on-import.js`, `${dirUri}/sub/../exit-on-import.js`,
            `${dirUri}/sub/%2e%2e/exit-on-import.js`]) {
            // eslint-disable-next-line no-await-in-loop
            const got = await outcome(pool.createProcessTask(uri, 'neverCalled'));
            assert(/allowedModules/.test(got.error?.message), `${uri}: ${got.error ?? got}`);
        }
        assertEqual(await pool.createProcessTask(self, 'pid'), worker, 'the same worker');
        await pool.shutdown();
        let caught = null;
        try {
            new ProcessTaskPool({allowedModules: 'file:///x.js'});
        } catch (e) {
            caught = e;
        }
        assert(caught instanceof TypeError, `a string is refused: ${caught}`);
    },

    async 'an async generator export streams its yields, in order, for await'(pool) {
        const got = [];
        for await (const item of pool.stream(self, 'countTo', [50]))
            got.push(item);
        assertEqual(got.length, 50, 'all of them');
        assertEqual(got.map(x => x.i), [...Array(50).keys()], 'in order');
        assertEqual(got[7].text, 'item 7', 'decoded');

        const seen = [];
        let caught = null;
        try {
            for await (const item of pool.stream(self, 'countTo', [10, 4]))
                seen.push(item.i);
        } catch (e) {
            caught = e;
        }
        assertEqual(seen, [0, 1, 2, 3], 'the values before the error');
        assert(caught instanceof RangeError, `the generator's error: ${caught}`);
    },

    async 'shutdown with cancelTasksWhenShutdown leaves no worker'() {
        const pool = new ProcessTaskPool({maxWorkers: 1, cancelTasksWhenShutdown: true});
        const path = tmpPath('spin2');
        const promise = pool.createProcessTask(self, 'spin', path);
        const worker = await readPidFile(path);
        await pool.shutdown();
        const e = await rejection(promise);
        assert(e.matches?.(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED), `${e}`);
        assert(!GLib.file_test(`/proc/${worker}`, GLib.FileTest.EXISTS), 'worker gone');
    },
};

if (!isWorkerProcess()) {
    runTests(tests, {
        setUp: async () => new ProcessTaskPool({maxWorkers: 2}),
        tearDown: pool => pool.shutdown(),
    });
}
