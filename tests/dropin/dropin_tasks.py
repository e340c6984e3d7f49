# SPDX-License-Identifier: LGPL-2.1-or-later
"""Module-level task functions for the drop-in tests (imported by workers)."""

import asyncio
import logging
import os
import signal
import sys
import time

import asynccpu_glib


def identity(x):
    return x


def reverse_bytes(data):
    # Bytes arrive as bytes (one copy, not a list of ints) and go back so.
    if type(data) is not bytes:
        raise TypeError("got %s, not bytes" % type(data).__name__)
    return data[::-1]


def add(a, b):
    return a + b


async def async_square(x):
    await asyncio.sleep(0)
    return x * x


def count_to(n, fail_at=-1):
    """A generator: its yields stream to the caller."""
    for i in range(n):
        if i == fail_at:
            raise ValueError("failed at %d" % i)
        yield (i, "item %d" % i)


async def acount_to(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i * i


def getpid():
    return os.getpid()


def raise_builtin(kind, message):
    exc = {"ValueError": ValueError, "KeyError": KeyError,
           "ZeroDivisionError": ZeroDivisionError, "OSError": OSError}[kind]
    raise exc(message)


def divide(a, b):
    return a / b


class CustomError(Exception):
    pass


def raise_custom(message):
    raise CustomError(message)


def return_set():
    return {1, 2}


def crash(signum):
    os.kill(os.getpid(), signum)
    time.sleep(10)


def sleep_forever():
    """Ignores cancellation: only killing the worker stops it."""
    while True:
        time.sleep(0.05)


def sleep_then_return(seconds, value):
    time.sleep(seconds)
    return value


def spin_until_cancelled(seconds):
    """Cooperative plain function: looks at current_task_cancelled()."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if asynccpu_glib.current_task_cancelled():
            return "noticed"
        time.sleep(0.01)
    return "timeout"


async def async_wait_cancel(marker):
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        raise
    return "not cancelled"


def log_something(tag):
    logging.getLogger("dropin.test").warning("warning from %s", tag)
    logging.getLogger("dropin.test").info("info from %s", tag)
    logging.getLogger("dropin.test").debug("debug from %s", tag)
    return os.getpid()


def configurer():
    logging.getLogger("dropin.test").setLevel(logging.INFO)
    logging.getLogger("dropin.test").info("configured in %d", os.getpid())


def initializer(path, text):
    with open(path, "a") as f:
        f.write(text + "\n")


class Holder:
    @staticmethod
    def static_add(a, b):
        return a + b

    @classmethod
    def class_name(cls):
        return cls.__name__

    def method(self):
        return 1


def log_then_crash(tag):
    logging.getLogger("dropin.test").warning("last words of %s", tag)
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)


def log_live_then_wait(tag, seconds):
    logging.getLogger("dropin.test").warning("live from %s", tag)
    time.sleep(seconds)
    return tag


# Hardening (issue 15) -----------------------------------------------------------

def cafe_then_crash():
    """Bytes that are not UTF-8 on stderr, then a crash."""
    os.write(2, b"caf\xe9\n")
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)


def registered_through_c():
    """Whether this worker serves its tasks through asynccpu_glib._fast."""
    fast = sys.modules.get("asynccpu_glib._fast")
    return bool(fast is not None and fast._tasks)


def hand_made_reply(status, value):
    """This task's reply is (status, value) made by hand, as a buggy or hostile
    worker could send it: the worker's own encoder is bypassed once."""
    from gi.repository import GLib

    from asynccpu_glib import _gvs

    real, real_bytes = _gvs.pack_reply, _gvs.reply_bytes

    def fake(*_args):
        _gvs.pack_reply, _gvs.reply_bytes = real, real_bytes
        if status is None:
            return GLib.Variant("(s)", ("not (yvav)",))
        return GLib.Variant.new_tuple(GLib.Variant.new_byte(status), asynccpu_glib.encode(value),
                                      GLib.Variant.new_array(GLib.VariantType.new("v"), []))
    # Through gi, the worker packs its reply with pack_reply(); through C
    # (asynccpu_glib._fast), with reply_bytes(), or pack_reply() when that
    # gives None.
    _gvs.pack_reply, _gvs.reply_bytes = fake, lambda *_args: None


class TwoArgError(Exception):
    """Its args are not its constructor's arguments: it cannot be rebuilt."""

    def __init__(self, a, b):
        super().__init__("%s/%s" % (a, b))


def raise_two_arg(a, b):
    raise TwoArgError(a, b)


def raise_unimported(message):
    import dropin_worker_only
    raise dropin_worker_only.OnlyHereError(message)


def raise_keyboard_interrupt():
    raise KeyboardInterrupt("not an Exception")


def cmdline():
    with open("/proc/self/cmdline", "rb") as f:
        return f.read()


_init_seen = []


def remember_initargs(*args):
    _init_seen.append(args)


def initargs_seen():
    return list(_init_seen)


def sandbox_facts(planted):
    """What a worker can reach: a planted file, an AF_INET socket."""
    import socket
    try:
        with open(planted) as f:
            read = f.read() == "secret"
    except OSError:
        read = False
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        inet = True
    except OSError:
        inet = False
    return [os.getpid(), read, inet]
