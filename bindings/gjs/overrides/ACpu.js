// overrides/ACpu.js — GJS overrides for ACpu (asynccpu-glib): argument
// checks in JavaScript's terms where GJS's own conversion is unclear or
// silent. GJS loads it when a program imports gi://ACpu, from an
// `overrides` folder on its search path: `$datadir/gjs-1.0` of the prefix
// (installed there), or a folder in GJS_PATH.
//
// - max_workers: GJS says “Argument max_workers: value is out of range for
//   uint32” (a plain Error) for -1, and takes 1.5 as 1 and NaN as 0 (every
//   CPU) without a word; in the constructor's properties and as a property,
//   -1 becomes 4294967295, which GObject refuses with a warning only. Here
//   they are a TypeError (not a number) or a RangeError that names
//   max_workers and its range, as Python's override raises ValueError.
//
// A legacy (not ES module) script: GJS's override loader wants one.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

/* exported _init */

// The range of the max-workers property (0: the number of CPUs).
const MAX_WORKERS_LIMIT = 0x7fffffff;

function checkMaxWorkers(maxWorkers, where) {
    if (typeof maxWorkers !== 'number') {
        throw new TypeError(`${where}: max_workers must be a number, not ` +
            `${maxWorkers === null ? 'null' : typeof maxWorkers}`);
    }
    if (!Number.isInteger(maxWorkers) || maxWorkers < 0 || maxWorkers > MAX_WORKERS_LIMIT) {
        throw new RangeError(`${where}: max_workers must be an integer from 0 (the number ` +
            `of CPUs) to ${MAX_WORKERS_LIMIT}, not ${maxWorkers}`);
    }
}

function _init() {
    const ACpu = this;
    const Pool = ACpu.ProcessTaskPool;

    const originalNew = Pool.new;
    Pool.new = function (workerArgv, maxWorkers) {
        checkMaxWorkers(maxWorkers, 'ACpu.ProcessTaskPool.new()');
        return originalNew.call(this, workerArgv, maxWorkers);
    };

    const originalSet = Pool.prototype.set_max_workers;
    Pool.prototype.set_max_workers = function (maxWorkers) {
        checkMaxWorkers(maxWorkers, 'ACpu.ProcessTaskPool.set_max_workers()');
        return originalSet.call(this, maxWorkers);
    };

    const originalInit = Pool.prototype._init;
    Pool.prototype._init = function (props, ...rest) {
        if (props !== null && typeof props === 'object') {
            for (const key of ['max_workers', 'maxWorkers', 'max-workers']) {
                if (Object.hasOwn(props, key))
                    checkMaxWorkers(props[key], 'new ACpu.ProcessTaskPool()');
            }
        }
        return originalInit.call(this, props, ...rest);
    };

    const maxWorkersProperty = {
        get() {
            return this.get_max_workers();
        },
        set(maxWorkers) {
            checkMaxWorkers(maxWorkers, 'ACpu.ProcessTaskPool.max_workers');
            originalSet.call(this, maxWorkers);
        },
        configurable: true,
        enumerable: false,
    };
    for (const key of ['max_workers', 'maxWorkers'])
        Object.defineProperty(Pool.prototype, key, maxWorkersProperty);
}
