// test-launcher.js — asynccpu.js's `launcher` option (issue 14): the GJS
// drop-in's workers started through bubblewrap, with the bwrap engine of the
// launcher tests (tests/engines/bwrap.sh: the system read-only, no network,
// a session of its own) and with the sandbox preset. This module is both the
// test program and the home of the task functions; in the sandbox a worker
// sees it because it is in allowedModules.
//
// Run by meson (suites "bindings" and "engines") as `gjs -m
// test-launcher.js`; a machine where bwrap cannot run is a skip. Prints TAP.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import ACpu from 'gi://ACpu?version=1.0';
import GLib from 'gi://GLib';
import System from 'system';
import {ProcessTaskPool, isWorkerProcess} from '../../bindings/gjs/asynccpu.js';
import {assert, assertEqual, runTests} from './tap.js';

// The tasks ---------------------------------------------------------------------

// Where the worker runs: its pid, its network namespace, and whether it
// sees the process given (the pool's) and a file given.
export function whereAmI(parentPid, file) {
    return {
        pid: Number(GLib.file_read_link('/proc/self')),
        netns: GLib.file_read_link('/proc/self/ns/net'),
        seesParent: GLib.file_test(`/proc/${parentPid}`, GLib.FileTest.EXISTS),
        readsFile: GLib.file_test(file, GLib.FileTest.EXISTS),
    };
}

export function echo(...args) {
    return args;
}

// The tests ---------------------------------------------------------------------

const here = GLib.path_get_dirname(GLib.filename_from_uri(import.meta.url)[0]);
const bwrapScript = GLib.build_filenamev([here, '..', 'engines', 'bwrap.sh']);
const myPid = Number(GLib.file_read_link('/proc/self'));
const myNetns = GLib.file_read_link('/proc/self/ns/net');

// The engine's bwrap prefix, or null with why not (a skip).
function enginePrefix() {
    if (GLib.find_program_in_path('bwrap') === null)
        return [null, 'bwrap is not installed (tools/install-deps.sh all)'];
    const [, , err, status] = GLib.spawn_sync(null, ['bash', bwrapScript, 'start'], null,
        GLib.SpawnFlags.SEARCH_PATH, null);
    if (status !== 0)
        return [null, new TextDecoder().decode(err).trim()];
    const [, out] = GLib.spawn_sync(null, ['bash', bwrapScript, 'env'], null,
        GLib.SpawnFlags.SEARCH_PATH, null);
    const line = new TextDecoder().decode(out).trim();
    const value = GLib.shell_unquote(line.slice(line.indexOf('=') + 1));
    return [GLib.shell_parse_argv(value)[1], null];
}

async function withPool(options, body) {
    const pool = new ProcessTaskPool(options);
    try {
        await body(pool);
    } finally {
        pool.pool.cancel_tasks_when_shutdown = true;
        await pool.shutdown();
    }
}

const tests = {
    async 'through the bwrap engine: results, in another network namespace'(prefix) {
        const launcher = ACpu.Launcher.new(prefix);
        await withPool({maxWorkers: 2, launcher}, async pool => {
            assertEqual(pool.pool.max_workers, 2, 'max_workers');
            assertEqual(await pool.createProcessTask(import.meta.url, 'echo', 1, 'two', [3n]),
                [1, 'two', [3]], 'echo');
            const where = await pool.createProcessTask(import.meta.url, 'whereAmI', myPid,
                bwrapScript);
            assert(where.pid !== myPid, 'in another process');
            assert(where.netns !== myNetns, `in another network namespace (${where.netns})`);
            // Both workers run through the launcher: none here.
            const both = await Promise.all([1, 2].map(() =>
                pool.createProcessTask(import.meta.url, 'whereAmI', myPid, bwrapScript)));
            assert(both.every(w => w.netns !== myNetns), 'every worker in the sandbox');
        });
    },

    async 'the sandbox preset sees the allowed module, not the pool'() {
        const launcher = ACpu.Launcher.new_bwrap_sandbox();
        await withPool({maxWorkers: 1, launcher, allowedModules: [import.meta.url]}, async pool => {
            const where = await pool.createProcessTask(import.meta.url, 'whereAmI', myPid,
                bwrapScript);
            assert(where.netns !== myNetns, 'in another network namespace');
            assert(!where.seesParent, 'cannot see the pool\'s pid');
            // Only the allowed module's folder (tests/gjs) is there, not tests/engines.
            assert(!where.readsFile, `cannot see ${bwrapScript}`);
        });
    },

    async 'a launcher that is not an ACpu.Launcher is a TypeError'() {
        let caught = null;
        try {
            new ProcessTaskPool({launcher: 'bwrap'}); // eslint-disable-line no-new
        } catch (e) {
            caught = e;
        }
        assert(caught instanceof TypeError, `${caught}`);
        assert(caught.message.includes('launcher'), caught.message);
    },
};

if (!isWorkerProcess()) {
    const [prefix, why] = enginePrefix();
    if (prefix === null) {
        print(`1..0 # SKIP ${why}`);
        System.exit(0);
    }
    runTests(tests, {
        setUp: () => prefix,
        tearDown: () => {},
    });
}
