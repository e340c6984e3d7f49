#!/usr/bin/python3
# matrix-worker.py — the Python worker of the cross-language matrix.
#
# Usage: matrix-worker.py   (started by an ACpuProcessTaskPool)
#
# The same tasks as tests/acpu-test-worker.c where the matrix uses them
# (echo, pid, error, wait-cancel), plus `raise`, a Python exception.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import sys
import time

import gi

gi.require_version('ACpu', '1.0')
from gi.repository import ACpu, GLib  # noqa: E402


def echo(args, cancellable):
    return args


def pid(args, cancellable):
    return GLib.Variant('(i)', (os.getpid(),))


def error(args, cancellable):
    (domain, code, message) = args.unpack()
    raise GLib.Error.new_literal(GLib.quark_from_string(domain), message, code)


def raise_(args, cancellable):
    (message,) = args.unpack()
    raise ValueError(message)


def wait_cancel(args, cancellable):
    (path,) = args.unpack()
    with open(path + '.tmp', 'w') as f:
        f.write(str(os.getpid()))
    os.rename(path + '.tmp', path)
    while not cancellable.is_cancelled():
        time.sleep(0.001)
    cancellable.set_error_if_cancelled()


worker = ACpu.Worker.new()
worker.register('echo', echo)
worker.register('pid', pid)
worker.register('error', error)
worker.register('raise', raise_)
worker.register('wait-cancel', wait_cancel)
sys.exit(worker.run())
