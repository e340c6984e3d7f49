// fractal.js — the GTK demo (fractal.c) in GJS: a fractal computed tile by
// tile in worker processes, one progress bar per tile bound to its task,
// rows streamed in, Cancel, "Kill a worker", and the live worker list.
//
// Usage: gjs -m fractal.js [--test-mode]
//
// The module is its own worker: the pool starts it again, and there
// ACpu.Worker.is_worker_process() is true *before* GTK is imported (a
// dynamic import below), so a worker never loads GTK and starts fast.
// --test-mode drives the window by its buttons, checks the widgets, prints
// the frame lateness and PASS.
//
// SPDX-License-Identifier: LGPL-2.1-or-later

import ACpu from 'gi://ACpu?version=1.0';
import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import System from 'system';

const TILES = 4, TILE = 96, MAX_ITER = 600, SAMPLES = 2;
const IMAGE = TILES * TILE;

// One tile: (x, y) of its corner and the samples per pixel side; returns
// its RGB pixels as ay, streams its rows (uay) every 8 rows, reports
// progress after each row.
function taskTile(args, cancellable) {
    const [x0, y0, samples] = args.deepUnpack();
    const worker = ACpu.Worker.get_running();
    const step = 3.0 / IMAGE;
    const pixels = new Uint8Array(TILE * TILE * 3);
    for (let row = 0; row < TILE; row++) {
        cancellable.set_error_if_cancelled();
        for (let col = 0; col < TILE; col++) {
            let r = 0, g = 0, b = 0;
            for (let s = 0; s < samples * samples; s++) {
                const cr = -2.2 + (x0 + col + (s % samples + 0.5) / samples) * step;
                const ci = -1.5 + (y0 + row + (Math.floor(s / samples) + 0.5) / samples) * step;
                let zr = 0, zi = 0, n = 0;
                while (n < MAX_ITER && zr * zr + zi * zi < 4) {
                    const t = zr * zr - zi * zi + cr;
                    zi = 2 * zr * zi + ci;
                    zr = t;
                    n++;
                }
                if (n < MAX_ITER) {
                    const t = n / MAX_ITER;
                    r += 9 * (1 - t) * t ** 3 * 255;
                    g += 15 * (1 - t) ** 2 * t * t * 255;
                    b += 8.5 * (1 - t) ** 3 * t * 255;
                }
            }
            const i = (row * TILE + col) * 3;
            pixels[i] = r / (samples * samples);
            pixels[i + 1] = g / (samples * samples);
            pixels[i + 2] = b / (samples * samples);
        }
        if ((row + 1) % 8 === 0) {
            const first = row - 7;
            worker.send_partial(new GLib.Variant('(uay)',
                [first, pixels.subarray(first * TILE * 3, (row + 1) * TILE * 3)]));
        }
        worker.report_progress((row + 1) / TILE, null);
    }
    return new GLib.Variant('ay', pixels);
}

if (ACpu.Worker.is_worker_process()) {
    const worker = ACpu.Worker.new();
    worker.register('tile', taskTile);
    worker.set_task_types('tile', '(uuu)', 'ay');
    System.exit(worker.run());
}

// Only the application gets here: GTK is loaded now, never in a worker.
const {default: Gio} = await import('gi://Gio');
const {default: Gdk} = await import('gi://Gdk?version=4.0');
const {default: Gtk} = await import('gi://Gtk?version=4.0');

const SIGNALS = {6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM'};

class Tile {
    constructor(demo, index) {
        this.demo = demo;
        this.index = index;
        this.state = 'idle';
        this.error = null;
        this.task = null;
        this.binding = null;
        this.label = new Gtk.Label({xalign: 0});
        this.bar = new Gtk.ProgressBar();
        this.show('idle');
    }

    show(state, text = null) {
        this.state = state;
        if (state === 'idle' || state === 'queued' || state === 'done')
            this.bar.set_fraction(state === 'done' ? 1.0 : 0.0);
        this.label.set_text(`Tile ${String(this.index + 1).padStart(2)}: ${text ?? state}`);
        this.demo.updateSpinner();
    }

    corner() {
        return [(this.index % TILES) * TILE, Math.floor(this.index / TILES) * TILE];
    }

    copyRows(first, data) {
        const [x0, y0] = this.corner();
        for (let r = 0; r < data.length / (TILE * 3) && first + r < TILE; r++) {
            this.demo.pixels.set(data.subarray(r * TILE * 3, (r + 1) * TILE * 3),
                ((y0 + first + r) * IMAGE + x0) * 3);
        }
        this.demo.dirty = true; // the picture is redone once per frame
    }

    submit() {
        this.binding?.unbind();
        this.show('queued');
        const task = this.demo.pool.start('tile', new GLib.Variant('(uuu)', [...this.corner(), this.demo.samples]),
            GLib.PRIORITY_DEFAULT, null);
        this.task = task;
        this.binding = task.bind_property('progress', this.bar, 'fraction',
            GObject.BindingFlags.DEFAULT);
        task.connect('partial-value', (t, value) => {
            if (t === this.task) {
                const [first, rows] = value.deepUnpack();
                this.copyRows(first, rows);
            }
        });
        task.wait_async(null, (t, result) => this.done(t, result));
    }

    done(task, result) {
        if (task !== this.task)
            return;
        this.binding.unbind();
        this.binding = null;
        try {
            this.copyRows(0, task.wait_finish(result).deepUnpack());
            this.error = null;
            this.show('done');
        } catch (e) {
            this.error = e;
            const exit = task.get_worker_exit();
            if (e.matches?.(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED)) {
                this.show('cancelled');
            } else if (exit?.get_signal()) {
                const sig = exit.get_signal();
                this.show('failed', `failed: worker ${exit.get_pid()} killed by signal ${sig}` +
                    ` (${SIGNALS[sig] ?? '?'})`);
            } else {
                this.show('failed', `failed: ${e.message}`);
            }
        }
    }
}

// The worker list's cells: a label per property, kept current by notify.
function workerColumn(title, prop, format) {
    const factory = new Gtk.SignalListItemFactory();
    const handlers = new WeakMap();
    factory.connect('setup', (f, item) => item.set_child(new Gtk.Label({xalign: 0})));
    factory.connect('bind', (f, item) => {
        const info = item.get_item(), label = item.get_child();
        const update = () => label.set_text(format(info[prop.replaceAll('-', '_')]));
        handlers.set(item, [info, info.connect(`notify::${prop}`, update)]);
        update();
    });
    factory.connect('unbind', (f, item) => {
        const [info, id] = handlers.get(item);
        info.disconnect(id);
        handlers.delete(item);
    });
    return new Gtk.ColumnViewColumn({title, factory, expand: true});
}

class Demo {
    constructor(app, testMode) {
        this.app = app;
        this.testMode = testMode;
        this.lateness = [];
        this.lastFrame = 0;
        this.late = []; // late frames: [late, on a CPU, waiting]
        this.lastSched = [0, 0];
        this.stage = 0;
        this.samples = SAMPLES; // per pixel side; more after the first round in test mode
        this.failures = 0;
        this.killed = 0;
        this.clicking = false;
        this.dirty = false;
        this.spinner = null;
        // The pool first: its workers start while the window is built.
        this.pool = ACpu.ProcessTaskPool.new(null, 2);
        this.pool.worker_priority = ACpu.WorkerPriority.IDLE;
        this.pool.min_workers = 2;
        this.workers = this.pool.get_workers();
        this.pixels = new Uint8Array(IMAGE * IMAGE * 3).fill(0x20);

        this.window = new Gtk.ApplicationWindow({
            application: app, default_width: 1000, default_height: 720,
            title: 'asynccpu-glib: a fractal in GJS workers',
        });
        this.window.connect('realize', w => w.get_frame_clock().connect('after-paint',
            clock => this.afterPaint(clock)));
        const box = new Gtk.Box({
            spacing: 12, margin_start: 12, margin_end: 12, margin_top: 12, margin_bottom: 12,
        });
        const left = new Gtk.Box({orientation: Gtk.Orientation.VERTICAL, spacing: 8});
        this.picture = new Gtk.Picture({
            can_shrink: false, width_request: IMAGE, height_request: IMAGE,
        });
        left.append(this.picture);
        const buttons = new Gtk.Box({spacing: 6});
        this.buttons = {};
        for (const [name, label] of [['start', 'Start'], ['cancel', 'Cancel'],
            ['kill', 'Kill a worker'], ['retry', 'Retry failed']]) {
            const button = new Gtk.Button({label});
            button.connect('clicked', () => this[name]());
            buttons.append(button);
            this.buttons[name] = button;
        }
        // Spins while workers start or tiles run. Its tick makes the
        // picture anew once per frame, and in --test-mode keeps frames
        // coming, so each one's lateness is measured.
        this.spinner = new Gtk.Spinner({spinning: true});
        this.spinner.add_tick_callback(w => {
            if (this.dirty) {
                this.dirty = false;
                this.updatePicture();
            }
            if (this.testMode)
                w.queue_draw();
            return GLib.SOURCE_CONTINUE;
        });
        buttons.append(this.spinner);
        left.append(buttons);
        this.stats = new Gtk.Label({xalign: 0});
        left.append(this.stats);
        const view = new Gtk.ColumnView({model: new Gtk.NoSelection({model: this.workers})});
        const states = ['starting', 'idle', 'busy', 'closing'];
        view.append_column(workerColumn('PID', 'pid', String));
        view.append_column(workerColumn('State', 'state', s => states[s] ?? String(s)));
        view.append_column(workerColumn('Task', 'task-name', t => t ?? '—'));
        view.append_column(workerColumn('Done', 'tasks-done', String));
        view.append_column(workerColumn('CPU', 'cpu-time', t => `${t.toFixed(2)} s`));
        view.append_column(workerColumn('RSS', 'rss', GLib.format_size));
        left.append(new Gtk.ScrolledWindow({child: view, vexpand: true, height_request: 110}));
        box.append(left);
        const rows = new Gtk.Box({orientation: Gtk.Orientation.VERTICAL, spacing: 4, hexpand: true});
        this.tiles = [];
        for (let i = 0; i < TILES * TILES; i++) {
            const tile = new Tile(this, i);
            this.tiles.push(tile);
            rows.append(tile.label);
            rows.append(tile.bar);
        }
        box.append(rows);
        this.window.set_child(box);
        this.updatePicture();
        this.refreshStats();
        GLib.timeout_add(GLib.PRIORITY_DEFAULT, 250, () => this.refreshStats());
        if (testMode)
            GLib.timeout_add(GLib.PRIORITY_DEFAULT, 50, () => this.testStep());
        this.window.present();
    }

    *workerInfos() {
        for (let i = 0; i < this.workers.get_n_items(); i++)
            yield this.workers.get_item(i);
    }

    updateSpinner() {
        if (!this.spinner)
            return;
        const busy = this.tiles?.some(t => t.state === 'queued') ||
            this.workers.get_n_items() < this.pool.min_workers ||
            [...this.workerInfos()].some(i => i.state === ACpu.WorkerState.STARTING);
        this.spinner.spinning = busy;
    }

    updatePicture() {
        const texture = Gdk.MemoryTexture.new(IMAGE, IMAGE, Gdk.MemoryFormat.R8G8B8,
            new GLib.Bytes(this.pixels), IMAGE * 3);
        this.picture.set_paintable(texture);
    }

    refreshStats() {
        const s = this.pool.get_stats();
        this.stats.set_text(`${s.submitted} submitted · ${s.succeeded} done · ${s.failed} failed · ` +
            `${s.cancelled} cancelled · ${s.n_running} running · ` +
            `run p50 ${(s.run_p50 * 1000).toFixed(0)} ms · busy ${(s.utilization * 100).toFixed(0)} %`);
        this.updateSpinner();
        return GLib.SOURCE_CONTINUE;
    }

    // The main thread's time on a CPU and waiting for one, in µs.
    static sched() {
        try {
            const [, bytes] = GLib.file_get_contents('/proc/thread-self/schedstat');
            const [run, wait] = new TextDecoder().decode(bytes).split(' ');
            return [Number(run) / 1000, Number(wait) / 1000];
        } catch (e) {
            return [0, 0];
        }
    }

    afterPaint(clock) {
        const now = GLib.get_monotonic_time(), sched = Demo.sched();
        if (this.lastFrame) {
            const late = Math.max(0, now - this.lastFrame - 16667);
            this.lateness.push(late);
            if (late > 16667) { // where did the time go?
                this.late.push([late, sched[0] - this.lastSched[0],
                    sched[1] - this.lastSched[1]]);
            }
        }
        this.lastFrame = now;
        this.lastSched = sched;
    }

    start() {
        this.clicking = false;
        this.pixels.fill(0x20);
        this.updatePicture();
        for (const tile of this.tiles)
            tile.submit();
    }

    cancel() {
        this.clicking = false;
        this.pool.cancel_all();
    }

    kill() {
        this.clicking = false;
        for (const info of this.workerInfos()) {
            if (info.state === ACpu.WorkerState.BUSY) {
                this.killed = info.pid;
                // GJS has no kill(): kill(1), started without waiting for it.
                Gio.Subprocess.new(['kill', '-KILL', String(info.pid)], Gio.SubprocessFlags.NONE);
                return;
            }
        }
    }

    retry() {
        this.clicking = false;
        for (const tile of this.tiles) {
            if (tile.state === 'failed' || tile.state === 'cancelled')
                tile.submit();
        }
    }

    // --test-mode ------------------------------------------------------------

    check(cond, what) {
        if (!cond) {
            printerr(`FAILED: ${what}`);
            this.failures++;
        }
    }

    count(state) {
        return this.tiles.filter(t => t.state === state).length;
    }

    busy() {
        return [...this.workerInfos()].filter(i => i.state === ACpu.WorkerState.BUSY).length;
    }

    // After the first round: the script's clicks come a moment after it sees
    // tiles running ("clicked" some 250 ms after an activation), so the
    // rounds in which it kills a worker and cancels must last longer than
    // that on any machine. A round's work grows with the square of the
    // samples per pixel side: enough for about 3 s, as the first round went.
    slowDown() {
        const firstS = (GLib.get_monotonic_time() - this.roundStart) / 1e6;
        while (this.samples < 16 && firstS * this.samples ** 2 / SAMPLES ** 2 < 3)
            this.samples++;
        print(`step: the first round took ${firstS.toFixed(2)} s; ${this.samples} samples per pixel side from now on`);
    }

    click(name) {
        this.clicking = true;
        this.buttons[name].activate();
    }

    testStep() {
        if (this.clicking)
            return GLib.SOURCE_CONTINUE;
        const final = this.count('queued') === 0;
        const n = this.tiles.length;
        switch (this.stage) {
        case 0: // The workers are pre-started (min-workers).
            if (this.workers.get_n_items() < 2 || this.busy())
                return GLib.SOURCE_CONTINUE;
            print('step: start');
            this.roundStart = GLib.get_monotonic_time();
            this.click('start');
            break;
        case 1: // Every tile done, every bar full.
            if (!final)
                return GLib.SOURCE_CONTINUE;
            this.check(this.count('done') === n, `${this.count('done')} tiles done`);
            this.check(this.tiles.every(t => t.bar.get_fraction() === 1.0), 'bars not full');
            this.slowDown();
            print(`step: all ${n} tiles done; start again, and kill a busy worker`);
            this.click('start');
            break;
        case 2: // Some tiles done, a worker busy: kill it.
            if (this.count('done') < 2 || !this.busy())
                return GLib.SOURCE_CONTINUE;
            this.click('kill');
            break;
        case 3: { // That tile failed with WORKER_DIED, all the others completed.
            // "clicked" comes a moment after the activation: the busy worker
            // may have finished meanwhile. Try again while tiles run.
            if (!this.killed && !final) {
                if (this.busy())
                    this.click('kill');
                return GLib.SOURCE_CONTINUE;
            }
            if (!final)
                return GLib.SOURCE_CONTINUE;
            this.check(this.killed > 0, 'no busy worker to kill');
            print(`step: killed worker ${this.killed}`);
            const failed = this.tiles.filter(t => t.state === 'failed');
            this.check(failed.length === 1 && this.count('done') === n - 1,
                `${failed.length} failed, ${this.count('done')} done`);
            for (const t of failed) {
                this.check(t.error.matches?.(ACpu.error_quark(), ACpu.Error.WORKER_DIED), t.error);
                this.check(t.label.get_text().includes('SIGKILL'), t.label.get_text());
                print(`step: ${t.label.get_text()}`);
            }
            print('step: retry');
            this.click('retry');
            break;
        }
        case 4:
            if (!final)
                return GLib.SOURCE_CONTINUE;
            this.check(this.count('done') === n, 'retry did not complete');
            print('step: retried; start again, and cancel');
            this.click('start');
            break;
        case 5: // Cancel while tiles run.
            if (!this.busy() || this.count('done') < 1)
                return GLib.SOURCE_CONTINUE;
            this.click('cancel');
            break;
        case 6:
            if (!final)
                return GLib.SOURCE_CONTINUE;
            this.check(this.count('cancelled') >= 1, 'no tile cancelled');
            this.check(this.count('failed') === 0, `${this.count('failed')} tiles failed`);
            this.check(this.count('cancelled') + this.count('done') === n,
                'tiles neither done nor cancelled');
            for (const t of this.tiles.filter(x => x.state === 'cancelled'))
                this.check(t.label.get_text().includes('cancelled'), t.label.get_text());
            print(`step: ${this.count('cancelled')} tiles cancelled, ${this.count('done')} done`);
            break;
        case 7: { // The worker rows are the live workers.
            const items = [...this.workerInfos()];
            if (!items.length || items.length !== this.pool.n_workers ||
                items.some(i => i.state !== ACpu.WorkerState.IDLE))
                return GLib.SOURCE_CONTINUE;
            for (const info of items) {
                this.check(GLib.file_test(`/proc/${info.pid}`, GLib.FileTest.EXISTS),
                    `worker row: pid ${info.pid} is not alive`);
                this.check(info.pid !== this.killed, `the killed worker ${info.pid} is still listed`);
            }
            print(`step: ${items.length} worker rows, all live processes`);
            const late = this.lateness.sort((a, b) => a - b);
            if (!late.length)
                late.push(0);
            const ms = v => (v / 1000).toFixed(1);
            print(`frames: ${late.length}; lateness p50 ${ms(late[late.length >> 1])} ms, ` +
                `p99 ${ms(late[Math.min(late.length - 1, Math.floor(late.length * 0.99))])} ms, ` +
                `max ${ms(late[late.length - 1])} ms (targets: p99 <= 16.7, max <= 50)`);
            if (this.late.length) {
                const n = this.late.length;
                const [l, run, wait] = [0, 1, 2].map(i =>
                    ms(this.late.reduce((sum, x) => sum + x[i], 0) / n));
                print(`late frames (> 16.7 ms late): ${n}, each on average ${l} ms late; ` +
                    `in its interval the main thread was on a CPU ${run} ms and waited for one ${wait} ms`);
            }
            print(this.failures ? `FAIL: ${this.failures} checks` : 'PASS');
            this.app.quit();
            return GLib.SOURCE_REMOVE;
        }
        }
        this.stage++;
        return GLib.SOURCE_CONTINUE;
    }
}

const testMode = System.programArgs.includes('--test-mode');
const app = new Gtk.Application({
    application_id: 'org.asynccpu.FractalJs', flags: Gio.ApplicationFlags.NON_UNIQUE,
});
let demo = null;
app.connect('activate', a => {
    demo = new Demo(a, testMode);
});
let status = app.run([System.programInvocationName]);
if (demo) {
    demo.pool.cancel_tasks_when_shutdown = true;
    demo.pool.shutdown(null);
}
if (testMode && (!demo || demo.failures || demo.stage !== 7))
    status = 1;
System.exit(status);
