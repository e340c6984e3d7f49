#!/usr/bin/python3
# check-guide.py — runs the complete GTK program of docs/gtk.md, unchanged,
# and checks its window the way a user would look at it.
#
# Usage: check-guide.py GUIDE.md FIRST-LINE (under Xvfb)
#
# Takes the first ```python block of GUIDE.md whose first line is
# FIRST-LINE and runs it as __main__ in this interpreter. The program is its
# own worker: the pool starts this same command line again, and there the
# program's worker branch serves tasks. In the application, a check runs
# beside the program's main loop: it finds the program's widgets by walking
# its window (it knows nothing else of the program) and expects
#   1. a Gtk.ProgressBar whose fraction reaches 1.0 and whose text says
#      "succeeded";
#   2. a worker list (a Gtk.ColumnView) with a row per worker, showing the
#      pid of each live worker process of the program (its children), and
#      their state;
#   3. a Cancel button: pressed while a second task runs (started the way
#      the program starts its task, by re-activating the application), the
#      bar says "cancelled".
# Then it quits. Exit status 0 when all holds.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import re
import sys

import gi

gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, GLib  # noqa: E402


def program_text(guide, first_line):
    with open(guide, encoding='utf-8') as f:
        text = f.read()
    blocks = [b for b in re.findall(r'^```python\n(.*?)^```', text, re.S | re.M)
              if b.split('\n', 1)[0] == first_line]
    if not blocks:
        sys.exit(f'no ```python block starting with {first_line!r} in {guide}')
    return blocks[0]


def run_program(text):
    code = compile(text, 'guide-program.py', 'exec')
    exec(code, {'__name__': '__main__'})


if ACpu.Worker.is_worker_process():
    # A worker: the program's own worker branch (it calls sys.exit()).
    run_program(program_text(sys.argv[1], sys.argv[2]))
    sys.exit('the program returned from its worker branch')

gi.require_version('Gtk', '4.0')
from gi.repository import Gtk  # noqa: E402


def widgets(root):
    yield root
    child = root.get_first_child()
    while child is not None:
        yield from widgets(child)
        child = child.get_next_sibling()


def children_pids():
    """The live processes whose parent is this one: the pool's workers."""
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != 'Z':
            pids.append(int(entry))
    return pids


class Checker:
    def __init__(self, app):
        self.app = app
        self.stage, self.failures, self.waited = 0, 0, 0
        GLib.timeout_add(100, self.step)

    def check(self, cond, what):
        if not cond:
            print('FAILED:', what, file=sys.stderr)
            self.failures += 1

    def find(self, cls):
        window = self.app.get_active_window()
        return [w for w in widgets(window) if isinstance(w, cls)] if window else []

    def step(self):
        self.waited += 1
        if self.waited > 1200:  # 2 minutes: the meson timeout is longer
            self.check(False, f'stage {self.stage} never completed')
            self.app.quit()
            return False
        bars = self.find(Gtk.ProgressBar)
        if self.stage == 0:
            # The task completes: the bar full, its text the task's state.
            if not bars or bars[0].get_text() != 'succeeded':
                return True
            self.check(len(bars) == 1, f'{len(bars)} progress bars')
            self.check(bars[0].get_fraction() == 1.0, f'bar at {bars[0].get_fraction()}')
            print(f'step: bar at {bars[0].get_fraction()}, “{bars[0].get_text()}”')
        elif self.stage == 1:
            # The worker list shows every live worker's pid, and its state.
            views = self.find(Gtk.ColumnView)
            texts = [label.get_label() for view in views for label in widgets(view)
                     if isinstance(label, Gtk.Label)]
            pids = children_pids()
            if not pids or not all(str(pid) in texts for pid in pids):
                return True
            self.check(len(views) == 1, f'{len(views)} column views')
            self.check('idle' in texts, f'no worker shows “idle”: {texts}')
            print(f'step: the worker list shows the live pids {sorted(pids)}')
        elif self.stage == 2:
            # A new window, a new task; Cancel while it runs.
            self.app.get_active_window().destroy()
            self.app.activate()
        elif self.stage == 3:
            if bars and bars[0].get_text() == 'succeeded':
                # Done between two looks: another window, another task.
                self.app.get_active_window().destroy()
                self.app.activate()
                return True
            if not bars or bars[0].get_text() != 'running':
                return True
            buttons = [b for b in self.find(Gtk.Button) if b.get_label() == 'Cancel']
            self.check(len(buttons) == 1, f'{len(buttons)} Cancel buttons')
            buttons[0].emit('clicked')  # at once: activate() clicks 250 ms later
        elif self.stage == 4:
            if not bars or bars[0].get_text() not in ('cancelled', 'failed', 'succeeded'):
                return True
            self.check(bars[0].get_text() == 'cancelled', f'the bar says {bars[0].get_text()}')
            self.check(bars[0].get_fraction() < 1.0, f'bar at {bars[0].get_fraction()}')
            print(f'step: Cancel: “{bars[0].get_text()}” at {bars[0].get_fraction():.2f}')
        elif self.stage == 5:
            print('PASS' if not self.failures else f'FAIL: {self.failures} checks')
            self.app.quit()
            return False
        self.stage += 1
        return True


checkers = []
real_run = Gtk.Application.run


def run_with_checker(app, *args):
    app.connect('activate', lambda a: checkers or checkers.append(Checker(a)))
    return real_run(app, *args)


Gtk.Application.run = run_with_checker
try:
    run_program(program_text(sys.argv[1], sys.argv[2]))
except SystemExit as e:
    if e.code not in (0, None):
        raise
sys.exit(1 if not checkers or checkers[0].failures or checkers[0].stage != 5 else 0)
