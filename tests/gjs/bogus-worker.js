// bogus-worker.js — serves asynccpu.js's task with replies no generic worker
// sends (test-dropin.js): the export name says which. The client must settle
// every Promise with an error, never leave one pending or log a critical.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import ACpu from 'gi://ACpu?version=1.0';
import GLib from 'gi://GLib';
import System from 'system';

const replies = {
    wrongType: () => new GLib.Variant('(s)', ['not (yv)']),
    errorNotDict: () => new GLib.Variant('(yv)', [1, new GLib.Variant('i', 5)]),
    unknownTag: () => new GLib.Variant('(yv)', [0, new GLib.Variant('(sv)',
        ['nope', new GLib.Variant('i', 1)])]),
    fine: () => new GLib.Variant('(yv)', [0, new GLib.Variant('s', 'fine')]),
};

const worker = ACpu.Worker.new();
worker.register('asynccpu_glib.js_call', request => {
    return replies[request.get_child_value(1).get_string()[0]]();
});
System.exit(worker.run());
