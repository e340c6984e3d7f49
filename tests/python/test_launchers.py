#!/usr/bin/python3
# test_launchers.py — launchers from Python (issue 14): this file is its own
# worker (worker_argv None), started through the bwrap sandbox, which must
# resolve /proc/self/exe and show the worker its script and modules, and
# nothing else; a source that cannot start names its launcher.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

import gi

gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, GLib  # noqa: E402


def task_where(args, cancellable):
    (planted, parent) = args.unpack()
    try:
        with open(planted) as f:
            read = f.read() == 'secret'
    except OSError:
        read = False
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        inet = True
    except OSError:
        inet = False
    return (os.getpid(), read, inet, os.path.exists('/proc/%d' % parent))


worker = ACpu.Worker.new()
worker.register('where', task_where)

HERE = os.path.dirname(os.path.abspath(__file__))


def bwrap_usable():
    if shutil.which('bwrap') is None:
        return 'bwrap is not installed'
    r = subprocess.run(['bash', os.path.join(HERE, '..', 'engines', 'bwrap.sh'), 'check'],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else 'bwrap cannot work here: ' + r.stderr.strip()


def only_through(launcher, capacity=1):
    pool = ACpu.ProcessTaskPool.new(None, 1)
    pool.add_worker_source(None, 0)
    pool.add_worker_source(launcher, capacity)
    return pool


class TestLaunchers(unittest.TestCase):
    def test_presets(self):
        srun = ACpu.Launcher.new_srun(['--partition=fast'])
        self.assertEqual(list(srun.get_prefix())[-1], '--partition=fast')
        self.assertFalse(srun.get_pass_fds())
        self.assertTrue(srun.get_remote())
        self.assertEqual(srun.describe(), 'srun')
        ssh = ACpu.Launcher.new_ssh('me@host', ['-p', '2222'])
        self.assertTrue(ssh.get_quote_argv())
        self.assertEqual(list(ssh.get_prefix())[-2:], ['--', 'me@host'])
        self.assertEqual(ssh.describe(), 'ssh to me@host')
        plain = ACpu.Launcher.new(['nice', '-n', '5'])
        self.assertTrue(plain.get_pass_fds())
        self.assertFalse(plain.get_remote())

    def test_sandbox(self):
        why = bwrap_usable()
        if why:
            self.skipTest(why)
        fd, planted = tempfile.mkstemp(prefix='acpu-secret-', dir=os.path.expanduser('~'))
        try:
            os.write(fd, b'secret')
            os.close(fd)
            args = GLib.Variant('(si)', (planted, os.getpid()))
            here = ACpu.ProcessTaskPool.new(None, 1)
            pid, read, inet, sees = here.run('where', args, None).unpack()
            here.shutdown(None)
            self.assertEqual((read, inet, sees), (True, True, True))

            pool = only_through(ACpu.Launcher.new_bwrap_sandbox())
            pid, read, inet, sees = pool.run('where', args, None).unpack()
            pool.shutdown(None)
            self.assertEqual((read, inet, sees), (False, False, False))
        finally:
            os.unlink(planted)

    def test_unreachable_source_is_named(self):
        if shutil.which('ssh') is None:
            self.skipTest('ssh is not installed')
        pool = only_through(ACpu.Launcher.new_ssh('127.0.0.1', ['-p', '1']), 2)
        with self.assertRaises(GLib.Error) as cm:
            pool.run('where', GLib.Variant('(si)', ('/', 1)), None)
        self.assertEqual(cm.exception.code, ACpu.Error.WORKER_START)
        self.assertIn('through ssh to 127.0.0.1', cm.exception.message)
        pool.shutdown(None)


if __name__ == '__main__':
    if ACpu.Worker.is_worker_process():
        sys.exit(worker.run())
    unittest.main()
