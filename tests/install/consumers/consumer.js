// consumer.js — a GJS program using asynccpu-glib through gi://ACpu and the
// asynccpu.js drop-in (tests/install).
//
// Usage: gjs -m consumer.js [INSTALLED-UNDER]
//
// A template: the test replaces @GJSMODULEDIR@ with where asynccpu.js is
// (`pkg-config --variable=gjsmoduledir asynccpu-glib-1`), as a user writes
// that path in the import. (A computed `await import()` at the top level
// would do, but the drop-in's generic worker hangs importing a module that
// awaits at its top level.) Runs a task through the drop-in, checks that an
// out-of-range maxWorkers throws a RangeError, and, given INSTALLED-UNDER,
// that the typelib and the library come from there. Prints "gjs: 49".
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import GLib from 'gi://GLib';
import GIRepository from 'gi://GIRepository?version=2.0';
import ACpu from 'gi://ACpu?version=1.0';
import System from 'system';
import {ProcessTaskPool, isWorkerProcess} from 'file://@GJSMODULEDIR@/asynccpu.js';

const [root] = ARGV;

export function square(x) {
    return x * x;
}

function expectThrow(type, f, word) {
    try {
        f();
    } catch (e) {
        if (!(e instanceof type) || !e.message.includes(word))
            throw new Error(`expected a ${type.name} about ${word}, got ${e}`);
        return;
    }
    throw new Error(`no ${type.name} from ${f}`);
}

if (!isWorkerProcess()) {
    if (root) {
        const typelib = GIRepository.Repository.get_default().get_typelib_path('ACpu');
        if (!typelib.startsWith(`${root}/`))
            throw new Error(`typelib from ${typelib}, not under ${root}`);
        ACpu.ProcessTaskPool.new(null, 1).shutdown(null);   // loads the library
        const [, maps] = GLib.file_get_contents('/proc/self/maps');
        const libs = new TextDecoder().decode(maps).split('\n')
            .filter(l => l.includes('libasynccpu-glib-1.so')).map(l => l.split(/\s+/).pop());
        if (libs.length === 0 || libs.some(l => !l.startsWith(`${root}/`)))
            throw new Error(`library from ${libs}, not under ${root}`);
    }
    expectThrow(RangeError, () => new ProcessTaskPool({maxWorkers: -1}), 'maxWorkers');
    expectThrow(RangeError, () => new ProcessTaskPool({maxWorkers: 1.5}), 'maxWorkers');
    expectThrow(TypeError, () => new ProcessTaskPool({maxWorkers: '2'}), 'maxWorkers');

    const loop = new GLib.MainLoop(null, false);
    const pool = new ProcessTaskPool({maxWorkers: 1});
    let status = 1;
    pool.createProcessTask(import.meta.url, 'square', 7)
        .then(y => {
            print(`gjs: ${y}`);
            status = 0;
        })
        .catch(logError)
        .finally(() => pool.shutdown().then(() => loop.quit()));
    loop.run();
    System.exit(status);
}
