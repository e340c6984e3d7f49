// matrix-worker.js — the JavaScript worker of the cross-language matrix.
//
// Usage: gjs -m matrix-worker.js   (started by an ACpuProcessTaskPool)
//
// The same tasks as tests/acpu-test-worker.c where the matrix uses them
// (echo, pid, error, wait-cancel), plus `raise`, a JavaScript exception.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import GLib from 'gi://GLib';
import ACpu from 'gi://ACpu?version=1.0';
import System from 'system';

const getPid = () => Number(GLib.file_read_link('/proc/self'));

const worker = ACpu.Worker.new();
worker.register('echo', args => args);
worker.register('pid', () => new GLib.Variant('(i)', [getPid()]));
worker.register('error', args => {
    const [domain, code, message] = args.deepUnpack();
    throw new GLib.Error(GLib.quark_from_string(domain), code, message);
});
worker.register('raise', args => {
    const [message] = args.deepUnpack();
    throw new TypeError(message);
});
worker.register('wait-cancel', (args, cancellable) => {
    const [path] = args.deepUnpack();
    GLib.file_set_contents(path, String(getPid()));
    while (!cancellable.is_cancelled())
        GLib.usleep(1000);
    cancellable.set_error_if_cancelled();
    return null;
});
System.exit(worker.run());
