// tap.js — what the GJS tests share: assertions, waiting for a worker's pid
// file, a scratch folder, and the TAP runner. No side effects on import: the
// test modules are imported by workers too.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import GLib from 'gi://GLib';
import System from 'system';

export function assert(condition, what) {
    if (!condition)
        throw new Error(`assertion failed: ${what}`);
}

// JSON, with what JSON cannot show: BigInts, Uint8Arrays, -0.
function show(value) {
    return JSON.stringify(value, (k, v) => {
        if (typeof v === 'bigint')
            return `${v}n`;
        if (v instanceof Uint8Array)
            return `Uint8Array[${[...v]}]`;
        if (Object.is(v, -0))
            return '-0';
        return v;
    });
}

export function assertEqual(actual, expected, what) {
    const a = show(actual), e = show(expected);
    if (a !== e)
        throw new Error(`${what}: got ${a}, expected ${e}`);
}

export function sleep(ms) {
    return new Promise(resolve => GLib.timeout_add(GLib.PRIORITY_DEFAULT, ms, () => {
        resolve();
        return GLib.SOURCE_REMOVE;
    }));
}

// Polls for the pid file a task writes; the meson timeout is the only limit.
export async function readPidFile(path) {
    while (!GLib.file_test(path, GLib.FileTest.EXISTS))
        // eslint-disable-next-line no-await-in-loop
        await sleep(5);
    return Number(new TextDecoder().decode(GLib.file_get_contents(path)[1]));
}

let scratch = null;

// A path in a scratch folder that runTests() removes at the end.
export function tmpPath(name) {
    scratch ??= GLib.dir_make_tmp('acpu-gjs-XXXXXX');
    return GLib.build_filenamev([scratch, name]);
}

/**
 * Runs each of @tests (name → async function of the fixture) in order and
 * prints TAP; then exits, with 1 if any failed. @setUp gives the fixture,
 * @tearDown(fixture) ends it after the last test.
 */
export function runTests(tests, {setUp, tearDown}) {
    const loop = new GLib.MainLoop(null, false);
    let failed = 0;

    (async () => {
        const fixture = await setUp();
        const names = Object.keys(tests);
        print(`1..${names.length}`);
        for (const [i, name] of names.entries()) {
            try {
                // eslint-disable-next-line no-await-in-loop
                await tests[name](fixture);
                print(`ok ${i + 1} - ${name}`);
            } catch (e) {
                failed++;
                print(`not ok ${i + 1} - ${name}`);
                for (const line of `${e}\n${e.stack ?? ''}`.split('\n'))
                    print(`# ${line}`);
            }
        }
        await tearDown(fixture);
    })().catch(e => {
        failed++;
        print(`Bail out! ${e}`);
    }).finally(() => {
        if (scratch !== null)
            GLib.spawn_command_line_sync(`rm -rf ${GLib.shell_quote(scratch)}`);
        loop.quit();
    });

    loop.run();
    System.exit(failed ? 1 : 0);
}
