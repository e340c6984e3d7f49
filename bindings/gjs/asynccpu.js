// asynccpu.js — asynccpu's idea for GJS: run any exported function of an ES
// module in a pool of worker processes, and await its result.
//
//     import {ProcessTaskPool} from '<gjsmoduledir>/asynccpu.js';
//
//     const pool = new ProcessTaskPool({maxWorkers: 2});
//     const n = await pool.createProcessTask(import.meta.url, 'fib', 30);
//     await pool.shutdown();
//
// Each worker is a generic GJS program (worker.js, beside this file) that
// imports the module by its URI, with `await import()`, and calls the export;
// an `async` export is awaited there. Values travel as GVariants with the
// encoding of the Python package asynccpu_glib (docs/dropin.md), so a worker
// or a client in Python or C can read them.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import GLib from 'gi://GLib';
import ACpu from 'gi://ACpu?version=1.0';
import System from 'system';

/** The task the generic worker serves: `(ssav)` → `(yv)`. */
export const CALL_TASK = 'asynccpu_glib.js_call';

const MAX_DEPTH = 48; // GVariant nests at most 128 levels; a value may take 2

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const VT_X = new GLib.VariantType('x');

function tagged(tag, content) {
    return new GLib.Variant('(sv)', [tag, content]);
}

function isPlainObject(value) {
    const proto = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
}

function encodeValue(value, depth) {
    if (depth > MAX_DEPTH)
        throw new TypeError('asynccpu: value nested too deeply');
    switch (typeof value) {
    case 'undefined':
        return new GLib.Variant('mv', null);
    case 'boolean':
        return new GLib.Variant('b', value);
    case 'number':
        if (Number.isSafeInteger(value) && !Object.is(value, -0))
            return new GLib.Variant('x', value);
        return new GLib.Variant('d', value);
    case 'bigint':
        if (value >= INT64_MIN && value <= INT64_MAX)
            return GLib.Variant.parse(VT_X, value.toString(), null, null);
        return tagged('int', new GLib.Variant('s', value.toString()));
    case 'string':
        if (!value.includes('\0'))
            return new GLib.Variant('s', value);
        return tagged('str', new GLib.Variant('ay', new TextEncoder().encode(value)));
    case 'object':
        if (value === null)
            return new GLib.Variant('mv', null);
        if (value instanceof Uint8Array)
            return new GLib.Variant('ay', value);
        if (Array.isArray(value))
            return new GLib.Variant('av', value.map(v => encodeValue(v, depth + 1)));
        if (isPlainObject(value)) {
            const dict = {};
            for (const [k, v] of Object.entries(value))
                dict[k] = encodeValue(v, depth + 1);
            return new GLib.Variant('a{sv}', dict);
        }
        throw new TypeError(`asynccpu: cannot send a ${value.constructor?.name ?? 'object'}: ` +
            'values are null, booleans, numbers, BigInts, strings, Uint8Arrays, ' +
            'and arrays and plain objects of those');
    default:
        throw new TypeError(`asynccpu: cannot send a ${typeof value}: values are null, ` +
            'booleans, numbers, BigInts, strings, Uint8Arrays, and arrays and plain ' +
            'objects of those');
    }
}

/**
 * Encodes a JS value as the content of a `v` (see docs/dropin.md).
 *
 * @param {*} value null (or undefined), a boolean, number, BigInt, string,
 *   Uint8Array, or an array or plain object of those
 * @returns {GLib.Variant}
 * @throws {TypeError} for anything else
 */
export function encode(value) {
    return encodeValue(value, 0);
}

function decodeValue(inner, depth) {
    if (depth > MAX_DEPTH)
        throw new TypeError('asynccpu: value nested too deeply');
    switch (inner.get_type_string()) {
    case 'mv':
        return null;
    case 'b':
        return inner.get_boolean();
    case 'x': {
        // get_int64() would round beyond 2^53 (and warn).
        const n = BigInt(inner.print(false));
        return n >= -MAX_SAFE && n <= MAX_SAFE ? Number(n) : n;
    }
    case 'd':
        return inner.get_double();
    case 's':
        return inner.get_string()[0];
    case 'ay':
        return inner.get_data_as_bytes().toArray();
    case 'av': {
        const n = inner.n_children();
        const out = new Array(n);
        for (let i = 0; i < n; i++)
            out[i] = decodeValue(inner.get_child_value(i).get_variant(), depth + 1);
        return out;
    }
    case 'a{sv}': {
        const out = {};
        const n = inner.n_children();
        for (let i = 0; i < n; i++) {
            const entry = inner.get_child_value(i);
            const key = entry.get_child_value(0).get_string()[0];
            Object.defineProperty(out, key, {
                value: decodeValue(entry.get_child_value(1).get_variant(), depth + 1),
                enumerable: true, writable: true, configurable: true,
            });
        }
        return out;
    }
    case '(sv)': {
        const tag = inner.get_child_value(0).get_string()[0];
        const content = inner.get_child_value(1).get_variant();
        const type = content.get_type_string();
        if (tag === 'int' && type === 's')
            return BigInt(content.get_string()[0]);
        if (tag === 'tuple' && type === 'av')
            return decodeValue(content, depth);
        if (tag === 'str' && type === 'ay')
            return new TextDecoder().decode(content.get_data_as_bytes().toArray());
        break;
    }
    }
    throw new TypeError(`asynccpu: cannot decode a value of type ${inner.get_type_string()}`);
}

/**
 * Decodes what {@link encode} encoded: the content of a `v`.
 *
 * @param {GLib.Variant} variant
 * @returns {*}
 * @throws {TypeError} for a GVariant outside the encoding
 */
export function decode(variant) {
    return decodeValue(variant, 0);
}

// Errors ----------------------------------------------------------------------

const BUILT_IN_ERRORS = {
    Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
};

/**
 * An exception of a class that is not one of JavaScript's own, raised in a
 * worker. `remoteName` is its class's name, `message` its message; `cause`
 * carries the worker's stack.
 */
export class RemoteError extends Error {
    constructor(remoteName, message, options) {
        super(`${remoteName}: ${message}`, options);
        this.name = 'RemoteError';
        this.remoteName = remoteName;
        this.remoteMessage = message;
    }
}

/**
 * The worker running the task died (crashed, was killed, or exited) before
 * it replied. `signal` is the signal number that killed it, or null;
 * `exitStatus` its exit status when it exited by itself, or null; `pid` and
 * `stderrTail` (the last lines it wrote to stderr) too: the facts of the
 * pool's `ACpu.WorkerExit`, not parsed from the message.
 */
export class WorkerDied extends Error {
    constructor(message, signal = null, {exitStatus = null, pid = null, stderrTail = ''} = {}) {
        super(message);
        this.name = 'WorkerDied';
        this.signal = signal;
        this.exitStatus = exitStatus;
        this.pid = pid;
        this.stderrTail = stderrTail;
    }
}

function errorToVariant(e) {
    const isError = e instanceof Error;
    return new GLib.Variant('a{sv}', {
        name: new GLib.Variant('s', isError ? String(e.name) : typeof e),
        message: new GLib.Variant('s', isError ? String(e.message) : String(e)),
        stack: new GLib.Variant('s', isError && e.stack ? String(e.stack) : ''),
    });
}

function errorFromVariant(variant) {
    const {name = 'Error', message = '', stack = ''} = variant.recursiveUnpack();
    const cause = new Error(`Worker stack:\n${stack}`);
    cause.name = 'RemoteStack';
    const Class = Object.hasOwn(BUILT_IN_ERRORS, name) ? BUILT_IN_ERRORS[name] : null;
    const error = Class ? new Class(message, {cause}) : new RemoteError(name, message, {cause});
    error.remoteStack = stack;
    return error;
}

// `facts`: the ACpu.WorkerExit of a task whose worker died, or null.
function convertGError(e, facts) {
    if (e instanceof GLib.Error && e.matches(ACpu.Error, ACpu.Error.WORKER_DIED)) {
        const died = facts
            ? new WorkerDied(e.message, facts.signal || null, {
                exitStatus: facts.exited ? facts.exit_status : null,
                pid: facts.pid,
                stderrTail: facts.stderr_tail,
            })
            : new WorkerDied(e.message);
        died.cause = e;
        return died;
    }
    return e;
}

// The outcome of a reply, `(yv)`; anything else a worker sends is an error.
function settleReply(reply, resolve, reject) {
    if (reply?.get_type_string() !== '(yv)')
        throw new TypeError(`asynccpu: the worker replied ${reply?.get_type_string()}, not (yv)`);
    const status = reply.get_child_value(0).get_byte();
    const value = reply.get_child_value(1).get_variant();
    if (status === 0)
        resolve(decode(value));
    else if (value.get_type_string() === 'a{sv}')
        reject(errorFromVariant(value));
    else
        throw new TypeError(`asynccpu: the worker's error is ${value.get_type_string()}, not a{sv}`);
}

// The worker side ---------------------------------------------------------------

let currentCancellable = null;

/**
 * In a worker, the GCancellable of the task running now: cancelled when the
 * caller cancels it. A long synchronous export can poll it
 * (`getCancellable()?.is_cancelled()`); one that never looks is stopped by
 * killing its worker after the pool's grace period.
 *
 * @returns {Gio.Cancellable|null}
 */
export function getCancellable() {
    return currentCancellable;
}

/**
 * True in a generic worker process. A module that is both a program and the
 * home of its task functions guards its program with it, as a Python script
 * does with `if __name__ == "__main__"`: the worker imports the module.
 *
 * @returns {boolean}
 */
export function isWorkerProcess() {
    return globalThis.__asynccpuGlibWorker === true;
}

// The URI with its dot segments (also %2e ones) removed, as GLib parses it;
// what the allow-list checks is what is imported.
function normalizeUri(uri) {
    return GLib.Uri.parse(uri, GLib.UriFlags.NONE).to_string();
}

// Whether an allow-list (URIs; one ending with "/" is a prefix) lets a
// request import @uri, a normalized URI.
function uriAllowed(allowed, uri) {
    return allowed.some(a => a.endsWith('/') ? uri.startsWith(a) : uri === a);
}

// Whether @value is something to stream: an async or a plain generator
// (any iterator made by a generator function), not an array or a string.
function isStream(value) {
    if (value === null || typeof value !== 'object')
        return false;
    const tag = Object.prototype.toString.call(value);
    return tag === '[object AsyncGenerator]' || tag === '[object Generator]';
}

// Sends each value @stream yields to the caller as a partial value (waiting,
// in ACpu.Worker.send_partial(), while the caller is 16 values behind); the
// generator's return value is the result.
async function sendStream(worker, stream) {
    for (;;) {
        // eslint-disable-next-line no-await-in-loop
        const {value, done} = await stream.next();
        if (done)
            return value;
        worker.send_partial(encode(value));
    }
}

// Runs one request, `(ssav)`: module URI, export name, arguments.
async function callExport(worker, request, allowed) {
    if (request.get_type_string() !== '(ssav)')
        throw new TypeError(`${CALL_TASK} takes (ssav), not ${request.get_type_string()}`);
    let uri = request.get_child_value(0).get_string()[0];
    const exportName = request.get_child_value(1).get_string()[0];
    const args = decode(request.get_child_value(2));
    if (allowed) {
        uri = normalizeUri(uri);
        if (!uriAllowed(allowed, uri))
            throw new Error(`asynccpu: module ${uri} is not in the pool's allowedModules`);
    }
    const module = await import(uri);
    let target = module;
    let owner = null;
    for (const part of exportName.split('.')) {
        if (target === null || target === undefined || !Object.hasOwn(target, part))
            throw new ReferenceError(`${uri} has no export ${exportName}`);
        owner = target;
        target = target[part];
    }
    if (typeof target !== 'function')
        throw new TypeError(`${exportName} in ${uri} is not a function`);
    const result = target.apply(owner === module ? undefined : owner, args);
    return isStream(result) ? sendStream(worker, result) : result;
}

let exitCode = null;
let exitInstalled = false;
let running = false;

// Makes System.exit() end the worker. GJS's own only drops the promise job
// it is called from when that job is not run by GJS's main program (every
// export runs in one, under ACpuWorker's main loop): the process went on and
// the task never replied. From a GLib callback GJS exits at once, so the
// exit is made there, and the task is never answered: the pool sees a
// worker that exited with a task in hand (WorkerDied).
function installExit() {
    if (exitInstalled)
        return;
    exitInstalled = true;
    const gjsExit = System.exit;
    System.exit = (code = 0) => {
        if (!running)  // worker.js once ACpuWorker.run() returns
            gjsExit(code);
        if (exitCode === null) {
            exitCode = code;
            GLib.idle_add(GLib.PRIORITY_HIGH, () => gjsExit(exitCode));
        }
        // Unwinds the export like GJS's exit does (a catch may see it).
        throw new Error(`asynccpu: the worker exits (System.exit(${code}))`);
    };
}

/**
 * Serves the generic worker's task on @worker: used by worker.js.
 *
 * @param {ACpu.Worker} worker
 * @param {object} [options]
 * @param {string[]} [options.allowedModules] module URIs the requests may
 *   name (one ending with `/` allows every URI under it); null allows any
 */
export function registerCallTask(worker, {allowedModules = null} = {}) {
    globalThis.__asynccpuGlibWorker = true;
    const allowed = allowedModules ? allowedModules.map(normalizeUri) : null;
    installExit();
    worker.register_async(CALL_TASK, (w, request, cancellable) => {
        currentCancellable = cancellable;
        running = true;
        // Whatever goes wrong, from decoding to encoding, is the reply.
        callExport(w, request, allowed)
            .then(result => new GLib.Variant('(yv)', [0, encode(result)]))
            .catch(e => new GLib.Variant('(yv)', [1, errorToVariant(e)]))
            .then(reply => {
                currentCancellable = null;
                running = false;
                if (exitCode === null)
                    w.return_value(reply);
            });
    });
}

// The client side ---------------------------------------------------------------

/**
 * The partial values of an ACpu.Task (from ACpu.ProcessTaskPool.start()), in
 * order, as an async iterator for `for await`; it ends when the task does
 * (then task.get_result() tells how). Call it before the main loop runs
 * again after start(): values come from the task's `partial-value` signal.
 *
 * @param {ACpu.Task} task
 * @returns {AsyncIterableIterator<GLib.Variant>}
 */
export function partialValues(task) {
    const values = [];
    let wake = null;
    const wakeUp = () => {
        if (wake) {
            const w = wake;
            wake = null;
            w();
        }
    };
    const ids = [
        task.connect('partial-value', (_task, value) => {
            values.push(value);
            wakeUp();
        }),
        task.connect('notify::state', wakeUp),
    ];
    const stop = () => {
        ids.splice(0).forEach(id => task.disconnect(id));
        return {value: undefined, done: true};
    };
    return {
        [Symbol.asyncIterator]() {
            return this;
        },
        async next() {
            while (values.length === 0 && !task.is_finished())
                // eslint-disable-next-line no-await-in-loop
                await new Promise(resolve => {
                    wake = resolve;
                });
            if (values.length > 0)
                return {value: values.shift(), done: false};
            return stop();
        },
        // eslint-disable-next-line require-await
        async return() {
            return stop();
        },
    };
}

const WORKER_PATH = GLib.build_filenamev([
    GLib.path_get_dirname(GLib.filename_from_uri(import.meta.url)[0]), 'worker.js']);

function moduleUriOf(module) {
    if (typeof module !== 'string' || module === '')
        throw new TypeError('asynccpu: the module is a URI (import.meta.url) or an absolute path');
    if (module.startsWith('/'))
        return GLib.filename_to_uri(module, null);
    if (GLib.uri_peek_scheme(module) === null)
        throw new TypeError(`asynccpu: “${module}” is neither a URI nor an absolute path`);
    return module;
}

/**
 * A pool of GJS worker processes that run exported functions of ES modules.
 *
 * The options are `maxWorkers` (0, the default, means the number of CPUs),
 * `cancelTasksWhenShutdown` (false: {@link shutdown} waits for the tasks),
 * `allowedModules` (null: any module; else the module URIs or absolute paths
 * the workers may import, one ending with `/` allowing everything under it,
 * checked in the worker before the import; see docs/security.md) and
 * `launcher` (null: the workers run here; else an ACpu.Launcher that starts
 * all `maxWorkers` of them: `ACpu.Launcher.new_bwrap_sandbox()`,
 * `new_ssh()`, `new_srun()`, see docs/launchers.md). In the sandbox a worker
 * sees only the files named on its command line: give `allowedModules`,
 * whose files and folders it then sees, read-only. Elsewhere (ssh, srun)
 * the modules must be at the same paths there.
 * `pool` is the underlying ACpu.ProcessTaskPool, for every other property.
 */
export class ProcessTaskPool {
    constructor({maxWorkers = 0, cancelTasksWhenShutdown = false, allowedModules = null,
        launcher = null} = {}) {
        // GJS would wrap -1 to 4294967295 and GObject refuse it with a critical.
        if (typeof maxWorkers !== 'number')
            throw new TypeError(`asynccpu: maxWorkers must be a number, not ${typeof maxWorkers}`);
        if (!Number.isInteger(maxWorkers) || maxWorkers < 0 || maxWorkers > 0x7fffffff)
            throw new RangeError('asynccpu: maxWorkers must be an integer from 0 (the number of ' +
                                 `CPUs) to ${0x7fffffff}, not ${maxWorkers}`);
        if (launcher !== null && !(launcher instanceof ACpu.Launcher))
            throw new TypeError('asynccpu: launcher is an ACpu.Launcher (new_bwrap_sandbox(), ' +
                                `new_ssh(), new_srun(), new()) or null, not ${launcher}`);
        const argv = [GLib.file_read_link('/proc/self/exe'), '-m', WORKER_PATH];
        if (allowedModules !== null) {
            if (!Array.isArray(allowedModules) ||
                !allowedModules.every(m => typeof m === 'string' && m !== ''))
                throw new TypeError('asynccpu: allowedModules is an array of module URIs');
            const uris = allowedModules.map(moduleUriOf);
            argv.push(JSON.stringify({allowedModules: uris}));
            // worker.js reads only the JSON; the sandbox shows the worker
            // the files and folders named after it.
            if (launcher !== null) {
                for (const uri of uris) {
                    if (GLib.uri_peek_scheme(uri) === 'file')
                        argv.push(GLib.filename_from_uri(uri)[0]);
                }
            }
        }
        this.pool = ACpu.ProcessTaskPool.new(argv, maxWorkers);
        this.pool.cancel_tasks_when_shutdown = cancelTasksWhenShutdown;
        if (launcher !== null) {
            // max_workers is the number of CPUs when maxWorkers is 0.
            const capacity = this.pool.get_max_workers();
            this.pool.add_worker_source(null, 0);
            this.pool.add_worker_source(launcher, capacity);
        }
    }

    /**
     * Runs `exportName` of the module at `moduleUri` in a worker with `args`.
     *
     * @param {string} moduleUri the module's URI (`import.meta.url`), or an
     *   absolute path
     * @param {string} exportName the export, e.g. `'fib'` or `'Maths.fib'`
     * @param {...*} args the arguments (see {@link encode})
     * @returns {Promise<*>} the function's result; rejects with the error it
     *   threw (same class for JavaScript's own errors, else a RemoteError),
     *   a WorkerDied, or a GLib.Error (Gio.IOErrorEnum.CANCELLED …)
     * @throws {TypeError} at once, for an argument that cannot be sent
     */
    createProcessTask(moduleUri, exportName, ...args) {
        return this.run(moduleUri, exportName, args);
    }

    /**
     * {@link createProcessTask} with the arguments in an array and options:
     * `cancellable`, a Gio.Cancellable that cancels the task (cooperatively
     * through {@link getCancellable}, then by killing its worker after the
     * pool's grace period).
     */
    run(moduleUri, exportName, args = [], {cancellable = null} = {}) {
        const uri = moduleUriOf(moduleUri);
        if (typeof exportName !== 'string' || exportName === '')
            throw new TypeError('asynccpu: the export is a non-empty string');
        const request = new GLib.Variant('(ssav)', [uri, exportName,
            args.map(v => encode(v))]);
        return new Promise((resolve, reject) => {
            this.pool.run_async(CALL_TASK, request, cancellable, (pool, res) => {
                // Settled whatever happens here.
                let reply;
                try {
                    reply = pool.run_finish(res);
                } catch (e) {
                    try {
                        reject(convertGError(e, pool.get_worker_exit(res)));
                    } catch {
                        reject(e);
                    }
                    return;
                }
                try {
                    settleReply(reply, resolve, reject);
                } catch (e) {
                    reject(e);
                }
            });
        });
    }

    /**
     * Runs `exportName`, an async generator function (or a generator
     * function), and streams what it yields: an async iterator of the
     * decoded values, for `for await`. The worker waits while the caller is
     * 16 values behind. The iteration ends when the function returns, and
     * throws what {@link run} would reject with when it fails.
     *
     * @param {string} moduleUri the module's URI, or an absolute path
     * @param {string} exportName the export
     * @param {Array} [args] the arguments
     * @param {object} [options] `cancellable`, and `ioPriority` (GLib's
     *   priorities: lower runs first)
     * @returns {AsyncIterable<*>}
     */
    stream(moduleUri, exportName, args = [],
        {cancellable = null, ioPriority = GLib.PRIORITY_DEFAULT} = {}) {
        const uri = moduleUriOf(moduleUri);
        if (typeof exportName !== 'string' || exportName === '')
            throw new TypeError('asynccpu: the export is a non-empty string');
        const request = new GLib.Variant('(ssav)', [uri, exportName,
            args.map(v => encode(v))]);
        const task = this.pool.start(CALL_TASK, request, ioPriority, cancellable);
        const values = partialValues(task);
        return (async function *() {
            for await (const value of values)
                yield decode(value);
            let reply;
            try {
                reply = task.get_result();
            } catch (e) {
                throw convertGError(e, task.get_worker_exit());
            }
            await new Promise((resolve, reject) => settleReply(reply, resolve, reject));
        })();
    }

    /**
     * Shuts the pool down: waits for the tasks, or cancels them when
     * `cancelTasksWhenShutdown` was given; no worker is left afterwards.
     *
     * @returns {Promise<void>}
     */
    shutdown() {
        return new Promise((resolve, reject) => {
            this.pool.shutdown_async(null, (pool, res) => {
                try {
                    pool.shutdown_finish(res);
                    resolve();
                } catch (e) {
                    reject(e);
                }
            });
        });
    }
}
