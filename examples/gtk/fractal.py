#!/usr/bin/python3
# fractal.py — the GTK demo (fractal.c) in Python: a fractal computed tile
# by tile in worker processes, one progress bar per tile bound to its task,
# rows streamed in, Cancel, "Kill a worker", and the live worker list.
#
# Usage: fractal.py [--test-mode]
#
# The program is its own worker: the pool starts it again, and there
# ACpu.Worker.is_worker_process() is true *before* GTK is imported, so a
# worker never loads GTK and starts fast. --test-mode drives the window by
# its buttons, checks the widgets, prints the frame lateness and PASS.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import signal
import sys

import gi

gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, GLib, GObject  # noqa: E402

TILES, TILE, MAX_ITER = 4, 48, 160
IMAGE = TILES * TILE


def task_tile(args, cancellable):
    """One tile: (x, y) of its corner and the iterations per point; returns
    its RGB pixels as ay, streams its rows (uay) every 8 rows, reports
    progress after each row."""
    x0, y0, max_iter = args.unpack()
    worker = ACpu.Worker.get_running()
    step = 3.0 / IMAGE
    pixels = bytearray(TILE * TILE * 3)
    for row in range(TILE):
        if cancellable.is_cancelled():
            cancellable.set_error_if_cancelled()
        ci = -1.5 + (y0 + row + 0.5) * step
        for col in range(TILE):
            cr = -2.2 + (x0 + col + 0.5) * step
            zr = zi = 0.0
            n = 0
            while n < max_iter and zr * zr + zi * zi < 4:
                zr, zi = zr * zr - zi * zi + cr, 2 * zr * zi + ci
                n += 1
            if n < max_iter:
                t = n / max_iter
                i = (row * TILE + col) * 3
                pixels[i:i + 3] = bytes((int(9 * (1 - t) * t ** 3 * 255),
                                         int(15 * (1 - t) ** 2 * t * t * 255),
                                         int(8.5 * (1 - t) ** 3 * t * 255)))
        if (row + 1) % 8 == 0:
            first = row - 7
            worker.send_partial(GLib.Variant('(uay)', (first, bytes(
                pixels[first * TILE * 3:(row + 1) * TILE * 3]))))
        worker.report_progress((row + 1) / TILE)
    return GLib.Variant('ay', bytes(pixels))


if __name__ == '__main__' and ACpu.Worker.is_worker_process():
    worker = ACpu.Worker.new()
    worker.register('tile', task_tile)
    sys.exit(worker.run())

gi.require_version('Gdk', '4.0')
gi.require_version('Gtk', '4.0')
from gi.repository import Gdk, Gio, Gtk  # noqa: E402


class Tile:
    def __init__(self, demo, index):
        self.demo, self.index = demo, index
        self.state, self.error, self.task, self.binding = 'idle', None, None, None
        self.label = Gtk.Label(xalign=0)
        self.bar = Gtk.ProgressBar()
        self.show('idle')

    def show(self, state, text=None):
        self.state = state
        if state in ('idle', 'queued', 'done'):
            self.bar.set_fraction(1.0 if state == 'done' else 0.0)
        self.label.set_text(f'Tile {self.index + 1:2}: {text or state}')

    def corner(self):
        return (self.index % TILES) * TILE, (self.index // TILES) * TILE

    def copy_rows(self, first, data):
        x0, y0 = self.corner()
        for r in range(len(data) // (TILE * 3)):
            start = ((y0 + first + r) * IMAGE + x0) * 3
            self.demo.pixels[start:start + TILE * 3] = data[r * TILE * 3:(r + 1) * TILE * 3]
        self.demo.dirty = True  # the picture is redone once per frame

    def submit(self):
        if self.binding:
            self.binding.unbind()
        self.show('queued')
        args = GLib.Variant('(uuu)', (*self.corner(), self.demo.max_iter))
        task = self.demo.pool.start('tile', args, GLib.PRIORITY_DEFAULT, None)
        self.task = task
        self.binding = task.bind_property('progress', self.bar, 'fraction',
                                          GObject.BindingFlags.DEFAULT)
        task.connect('partial-value', lambda t, v: t is self.task and
                     self.copy_rows(v[0], v.get_child_value(1).get_data_as_bytes().get_data()))
        task.wait_async(None, self.done)

    def done(self, task, result):
        if task is not self.task:
            return
        self.binding.unbind()
        self.binding = None
        try:
            self.copy_rows(0, task.wait_finish(result).get_data_as_bytes().get_data())
            self.error = None
            self.show('done')
        except GLib.Error as e:
            self.error = e
            exit = task.get_worker_exit()
            if e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                self.show('cancelled')
            elif exit is not None and exit.get_signal():
                self.show('failed', f'failed: worker {exit.get_pid()} killed by '
                          f'{signal.Signals(exit.get_signal()).name}')
            else:
                self.show('failed', f'failed: {e.message}')


class Demo:
    def __init__(self, app, test_mode):
        self.app, self.test_mode = app, test_mode
        self.lateness, self.last_frame, self.stage, self.failures = [], 0, 0, 0
        self.max_iter = MAX_ITER  # more after the first round in test mode
        self.round_start = 0
        self.late, self.last_sched = [], (0, 0)  # late frames: (late, on a CPU, waiting)
        self.killed, self.clicking, self.dirty = 0, False, False
        # The pool first: its workers start while the window is built.
        self.pool = ACpu.ProcessTaskPool.new(None, 2)
        self.pool.props.worker_priority = ACpu.WorkerPriority.IDLE
        self.pool.props.min_workers = 2
        self.workers = self.pool.get_workers()
        self.pixels = bytearray(b'\x20' * (IMAGE * IMAGE * 3))

        self.window = Gtk.ApplicationWindow(application=app, default_width=900, default_height=600,
                                            title='asynccpu-glib: a fractal in Python workers')
        self.window.connect('realize', lambda w: w.get_frame_clock().connect(
            'after-paint', self.after_paint))
        box = Gtk.Box(spacing=12, margin_start=12, margin_end=12, margin_top=12, margin_bottom=12)
        left = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=8)
        self.picture = Gtk.Picture(can_shrink=False, width_request=IMAGE * 2,
                                   height_request=IMAGE * 2)
        left.append(self.picture)
        buttons = Gtk.Box(spacing=6)
        self.buttons = {}
        for name, label in (('start', 'Start'), ('cancel', 'Cancel'),
                            ('kill', 'Kill a worker'), ('retry', 'Retry failed')):
            button = Gtk.Button(label=label)
            button.connect('clicked', getattr(self, 'on_' + name))
            buttons.append(button)
            self.buttons[name] = button
        spinner = Gtk.Spinner(spinning=True)
        spinner.add_tick_callback(self.tick)
        buttons.append(spinner)
        left.append(buttons)
        self.stats = Gtk.Label(xalign=0)
        left.append(self.stats)
        view = Gtk.ColumnView(model=Gtk.NoSelection(model=self.workers), vexpand=True)
        for title, prop in (('PID', 'pid'), ('State', 'state'), ('Task', 'task-name'),
                            ('Done', 'tasks-done'), ('CPU s', 'cpu-time')):
            factory = Gtk.SignalListItemFactory()
            factory.connect('setup', lambda f, item: item.set_child(Gtk.Label(xalign=0)))
            factory.connect('bind', self.bind_cell, prop)
            view.append_column(Gtk.ColumnViewColumn(title=title, factory=factory, expand=True))
        left.append(view)
        box.append(left)
        rows = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4, hexpand=True)
        self.tiles = [Tile(self, i) for i in range(TILES * TILES)]
        for tile in self.tiles:
            rows.append(tile.label)
            rows.append(tile.bar)
        box.append(rows)
        self.window.set_child(box)
        self.update_picture()
        self.refresh_stats()
        GLib.timeout_add(250, self.refresh_stats)
        if test_mode:
            GLib.timeout_add(50, self.test_step)
        self.window.present()

    @staticmethod
    def bind_cell(factory, item, prop):
        info, label = item.get_item(), item.get_child()

        def update(*_):
            value = info.get_property(prop)
            if prop == 'state':
                value = value.value_nick
            elif prop == 'cpu-time':
                value = f'{value:.2f}'
            label.set_text('—' if value is None else str(value))
        # The handler goes with the item: rows are few and short-lived here.
        info.connect('notify::' + prop, update)
        update()

    def tick(self, widget, clock):
        # The picture anew once per frame; in --test-mode, frames keep
        # coming, so each one's lateness is measured.
        if self.dirty:
            self.dirty = False
            self.update_picture()
        if self.test_mode:
            widget.queue_draw()
        return True

    def update_picture(self):
        texture = Gdk.MemoryTexture.new(IMAGE, IMAGE, Gdk.MemoryFormat.R8G8B8,
                                        GLib.Bytes.new(bytes(self.pixels)), IMAGE * 3)
        self.picture.set_paintable(texture)

    def refresh_stats(self):
        s = self.pool.get_stats().props
        self.stats.set_text(f'{s.submitted} submitted · {s.succeeded} done · {s.failed} failed · '
                            f'{s.cancelled} cancelled · {s.n_running} running · '
                            f'run p50 {s.run_p50 * 1000:.0f} ms · busy {s.utilization:.0%}')
        return True

    @staticmethod
    def sched():
        """The main thread's time on a CPU and waiting for one, in µs."""
        try:
            with open('/proc/thread-self/schedstat') as f:
                run, wait = f.read().split()[:2]
            return int(run) // 1000, int(wait) // 1000
        except (OSError, ValueError):
            return 0, 0

    def after_paint(self, clock):
        now, sched = GLib.get_monotonic_time(), self.sched()
        if self.last_frame:
            late = max(0, now - self.last_frame - 16667)
            self.lateness.append(late)
            if late > 16667:  # where did the time go?
                self.late.append((late, sched[0] - self.last_sched[0],
                                  sched[1] - self.last_sched[1]))
        self.last_frame, self.last_sched = now, sched

    def on_start(self, button):
        self.clicking = False
        self.pixels[:] = b'\x20' * len(self.pixels)
        self.update_picture()
        for tile in self.tiles:
            tile.submit()

    def on_cancel(self, button):
        self.clicking = False
        self.pool.cancel_all()

    def on_kill(self, button):
        self.clicking = False
        for i in range(self.workers.get_n_items()):
            info = self.workers.get_item(i)
            if info.props.state == ACpu.WorkerState.BUSY:
                self.killed = info.props.pid
                os.kill(self.killed, signal.SIGKILL)
                return

    def on_retry(self, button):
        self.clicking = False
        for tile in self.tiles:
            if tile.state in ('failed', 'cancelled'):
                tile.submit()

    # --test-mode ------------------------------------------------------------

    def check(self, cond, what):
        if not cond:
            print('FAILED:', what, file=sys.stderr)
            self.failures += 1

    def count(self, state):
        return sum(t.state == state for t in self.tiles)

    def busy(self):
        return sum(self.workers.get_item(i).props.state == ACpu.WorkerState.BUSY
                   for i in range(self.workers.get_n_items()))

    def slow_down(self):
        """After the first round: the script's clicks come a moment after it
        sees tiles running ("clicked" some 250 ms after an activation), so
        the rounds in which it kills a worker and cancels must last longer
        than that on any machine. The tiles inside the set take time in
        proportion to the iterations: enough for about 3 s, as the first
        round went."""
        first = (GLib.get_monotonic_time() - self.round_start) / 1e6
        while self.max_iter < 16 * MAX_ITER and first * self.max_iter / MAX_ITER < 3:
            self.max_iter *= 2
        print(f'step: the first round took {first:.2f} s; {self.max_iter} iterations from now on')

    def click(self, name):
        self.clicking = True
        self.buttons[name].activate()

    def test_step(self):
        if self.clicking:
            return True
        final = self.count('queued') == 0
        n = len(self.tiles)
        if self.stage == 0:
            if self.workers.get_n_items() < 2:
                return True
            self.round_start = GLib.get_monotonic_time()
            self.click('start')
        elif self.stage == 1:
            if not final:
                return True
            self.check(self.count('done') == n, f'{self.count("done")} tiles done')
            self.check(all(t.bar.get_fraction() == 1.0 for t in self.tiles), 'bars not full')
            self.slow_down()
            print('step: all tiles done; again, and kill a busy worker')
            self.click('start')
        elif self.stage == 2:
            if self.count('done') < 2 or not self.busy():
                return True
            self.click('kill')
        elif self.stage == 3:
            # "clicked" comes a moment after the activation: the busy worker
            # may have finished meanwhile. Try again while tiles run.
            if not self.killed and not final:
                if self.busy():
                    self.click('kill')
                return True
            if not final:
                return True
            failed = [t for t in self.tiles if t.state == 'failed']
            self.check(len(failed) == 1 and self.count('done') == n - 1,
                       f'{len(failed)} failed, {self.count("done")} done')
            for t in failed:
                self.check(t.error.matches(ACpu.error_quark(), ACpu.Error.WORKER_DIED), t.error)
                self.check('SIGKILL' in t.label.get_text(), t.label.get_text())
                print('step:', t.label.get_text())
            self.click('retry')
        elif self.stage == 4:
            if not final:
                return True
            self.check(self.count('done') == n, 'retry did not complete')
            self.click('start')
        elif self.stage == 5:
            if not self.busy() or self.count('done') < 1:
                return True
            self.click('cancel')
        elif self.stage == 6:
            if not final:
                return True
            self.check(self.count('cancelled') >= 1, 'no tile cancelled')
            self.check(self.count('cancelled') + self.count('done') == n, 'tiles failed')
            print(f'step: {self.count("cancelled")} cancelled, {self.count("done")} done')
        elif self.stage == 7:
            items = [self.workers.get_item(i) for i in range(self.workers.get_n_items())]
            if not items or len(items) != self.pool.props.n_workers or any(
                    i.props.state != ACpu.WorkerState.IDLE for i in items):
                return True
            for info in items:
                self.check(os.path.exists(f'/proc/{info.props.pid}'), f'pid {info.props.pid}')
                self.check(info.props.pid != self.killed, 'killed worker still listed')
            late = sorted(self.lateness) or [0]
            print(f'frames: {len(late)}; lateness p50 {late[len(late) // 2] / 1000:.1f} ms, '
                  f'p99 {late[min(len(late) - 1, int(len(late) * 0.99))] / 1000:.1f} ms, '
                  f'max {late[-1] / 1000:.1f} ms (targets: p99 <= 16.7, max <= 50)')
            if self.late:
                n = len(self.late)
                late, run, wait = (sum(x[i] for x in self.late) / n / 1000 for i in range(3))
                print(f'late frames (> 16.7 ms late): {n}, each on average {late:.1f} ms late; '
                      f'in its interval the main thread was on a CPU {run:.1f} ms '
                      f'and waited for one {wait:.1f} ms')
            print('PASS' if not self.failures else f'FAIL: {self.failures} checks')
            self.app.quit()
            return False
        self.stage += 1
        return True


def main():
    test_mode = '--test-mode' in sys.argv
    app = Gtk.Application(application_id='org.asynccpu.FractalPy',
                          flags=Gio.ApplicationFlags.NON_UNIQUE)
    demos = []
    app.connect('activate', lambda a: demos.append(Demo(a, test_mode)))
    status = app.run([sys.argv[0]])
    for demo in demos:
        demo.pool.props.cancel_tasks_when_shutdown = True
        demo.pool.shutdown(None)
    if test_mode and (not demos or demos[0].failures or demos[0].stage != 7):
        return 1
    return status


if __name__ == '__main__':
    sys.exit(main())
