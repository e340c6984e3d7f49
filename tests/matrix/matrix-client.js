// matrix-client.js — the JavaScript client of the cross-language matrix.
//
// Usage: gjs -m matrix-client.js LANG WORKER-ARGV…
//
// The checks of matrix-client.c, from GJS with async/await: a result, a task
// error as a GLib.Error, an exception of the worker's language, the cancel
// of a running task. Prints TAP.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import ACpu from 'gi://ACpu?version=1.0';
import System from 'system';

Gio._promisify(ACpu.ProcessTaskPool.prototype, 'run_async', 'run_finish');
Gio._promisify(ACpu.ProcessTaskPool.prototype, 'shutdown_async', 'shutdown_finish');

const MATRIX_ERROR_DOMAIN = 'acpu-matrix-error-quark';
const getPid = () => Number(GLib.file_read_link('/proc/self'));

class Skip extends Error {}

function assert(condition, what) {
    if (!condition)
        throw new Error(`assertion failed: ${what}`);
}

function poolNew(workerArgv) {
    const pool = ACpu.ProcessTaskPool.new(workerArgv, 1);
    // Long enough that only a worker which never looks at its cancellable is
    // killed: the cancel check tells the two apart by the worker's pid.
    pool.cancel_grace_period = 60000;
    pool.cancel_tasks_when_shutdown = true;
    // No wall-clock limit a loaded machine could hit: meson's timeout is.
    pool.handshake_timeout = 0;
    return pool;
}

async function pidOf(pool) {
    const value = await pool.run_async('pid', null, null);
    assert(value.get_type_string() === '(i)', value.get_type_string());
    return value.deepUnpack()[0];
}

async function caught(promise) {
    try {
        await promise;
    } catch (e) {
        return e;
    }
    throw new Error('no error');
}

function sleep(msec) {
    return new Promise(resolve => GLib.timeout_add(GLib.PRIORITY_DEFAULT, msec, () => {
        resolve();
        return GLib.SOURCE_REMOVE;
    }));
}

const checks = {
    async checkResult(lang, pool) {
        const args = GLib.Variant.parse(null,
            "('text ✓', int64 -42, [1.5, 2.5], {'k': <uint32 7>}, b'bytes')", null, null);
        const value = await pool.run_async('echo', args, null);
        assert(value instanceof GLib.Variant, `${value}`);
        assert(value.equal(args), value.print(true));
        // The blocking call too.
        assert(pool.run('echo', args, null).equal(args), 'blocking');
        assert(await pidOf(pool) !== getPid(), 'another process');
    },

    async checkError(lang, pool) {
        const e = await caught(pool.run_async('error',
            new GLib.Variant('(sis)', [MATRIX_ERROR_DOMAIN, 42, 'matrix error']), null));
        assert(e instanceof GLib.Error, `${e}`);
        assert(GLib.quark_to_string(e.domain) === MATRIX_ERROR_DOMAIN,
            GLib.quark_to_string(e.domain));
        assert(e.code === 42, e.code);
        assert(e.message === 'matrix error', e.message);
    },

    async checkException(lang, pool) {
        if (lang === 'c')
            throw new Skip('C has no exceptions');
        const pid = await pidOf(pool);
        const e = await caught(pool.run_async('raise',
            new GLib.Variant('(s)', ['matrix exception']), null));
        if (lang === 'python') {
            assert(e instanceof GLib.Error, `${e}`);
            assert(e.matches(ACpu.error_quark(), ACpu.Error.FAILED), `${e}`);
            assert(e.message.startsWith('ValueError: matrix exception (File "'), e.message);
            assert(e.message.includes('matrix-worker.py", line '), e.message);
        } else {
            // GJS gives back the class it turned into a GError in the worker.
            assert(e instanceof TypeError, `${e}`);
            assert(e.message === 'matrix exception', e.message);
        }
        // The worker survived its exception.
        assert(await pidOf(pool) === pid, 'same worker');
    },

    async checkCancel(lang, pool) {
        const tmpdir = GLib.dir_make_tmp('acpu-matrix-XXXXXX');
        const path = GLib.build_filenamev([tmpdir, 'pid']);
        const cancellable = new Gio.Cancellable();
        let settled = false;
        const promise = pool.run_async('wait-cancel', new GLib.Variant('(s)', [path]),
            cancellable).finally(() => (settled = true));
        try {
            // Running when the worker has written its pid.
            while (!GLib.file_test(path, GLib.FileTest.EXISTS))
                await sleep(5); // eslint-disable-line no-await-in-loop
            const pid = Number(new TextDecoder().decode(GLib.file_get_contents(path)[1]));
            assert(!settled, 'still running');
            cancellable.cancel();
            const e = await caught(promise);
            assert(e instanceof GLib.Error && e.matches(Gio.IOErrorEnum,
                Gio.IOErrorEnum.CANCELLED), `${e}`);
            // The task saw its cancellable and returned: the same worker, not
            // a replacement for a killed one, runs the next task.
            assert(await pidOf(pool) === pid, 'same worker');
        } finally {
            GLib.unlink(path);
            GLib.rmdir(tmpdir);
        }
    },
};

const [lang, ...workerArgv] = ARGV;
if (!lang || workerArgv.length === 0) {
    printerr('Usage: gjs -m matrix-client.js LANG WORKER-ARGV…');
    System.exit(2);
}

const loop = new GLib.MainLoop(null, false);
let failed = 0;

(async () => {
    const names = Object.keys(checks);
    print(`1..${names.length}`);
    for (const [i, name] of names.entries()) {
        const pool = poolNew(workerArgv);
        const title = `${name} against a ${lang} worker`;
        try {
            await checks[name](lang, pool); // eslint-disable-line no-await-in-loop
            print(`ok ${i + 1} - ${title}`);
        } catch (e) {
            if (e instanceof Skip) {
                print(`ok ${i + 1} - ${title} # SKIP ${e.message}`);
            } else {
                failed++;
                print(`not ok ${i + 1} - ${title}`);
                for (const line of `${e}\n${e.stack ?? ''}`.split('\n'))
                    print(`# ${line}`);
            }
        }
        await pool.shutdown_async(null); // eslint-disable-line no-await-in-loop
    }
})().catch(e => {
    failed++;
    print(`Bail out! ${e}`);
}).finally(() => loop.quit());

loop.run();
System.exit(failed ? 1 : 0);
