// worker.js — the generic GJS worker of asynccpu.js: serves the task
// asynccpu_glib.js_call, which imports an ES module by its URI and calls one
// of its exports. A ProcessTaskPool of asynccpu.js starts it as
// `gjs -m worker.js [options as JSON [paths]]` (`{"allowedModules": [...]}`,
// then, through a launcher, the allowed modules' paths: they are for the
// sandbox, which shows the worker the files named on its command line); it
// is not meant to be run by hand.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import ACpu from 'gi://ACpu?version=1.0';
import GLib from 'gi://GLib';
import System from 'system';

import {registerCallTask} from './asynccpu.js';

GLib.set_prgname('asynccpu-gjs-worker');
const worker = ACpu.Worker.new();
registerCallTask(worker, System.programArgs.length ? JSON.parse(System.programArgs[0]) : {});
System.exit(worker.run());
