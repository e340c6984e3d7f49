// exit-on-import.js — a module whose top level calls System.exit(): importing
// it in a generic worker (test-dropin.js) must end that worker, and its task
// reject with WorkerDied.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import System from 'system';

System.exit(0);

export function neverCalled() {
    return 'not reached';
}
