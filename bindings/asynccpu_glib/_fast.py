# SPDX-License-Identifier: LGPL-2.1-or-later
"""The drop-in's hot path through ctypes: a trivial task's round trip spends
more in PyGObject's marshalling than in the pool. A call through
gi.repository.ACpu makes a libffi closure for its callback, and the callback
wraps the pool and the GAsyncResult in Python objects; the worker's task
function is called the same way, with a GVariant and a GCancellable to wrap.
Here both ends call the library's C functions with plain pointers and one
callback made once: a round trip of 254–285 µs became 214–236 µs, and
throughput went from 17,000–22,000 to 24,000–29,000 tasks/s
(bench/python/bench.py, 2026-11-29; docs/dropin.md).

Only on the PyGObject release whose object layout the loop bridge checked
(LAYOUT_CHECKED), since a wrapper's GObject pointer is read from
that layout (and must equal what hash() says, PyGObject's hash of a GObject
being its address); anywhere else, or with ASYNCCPU_GLIB_LOOP_BRIDGE set to
"fallback" or "off" (or ASYNCCPU_GLIB_FAST=0), callers use
gi.repository.ACpu, as before. What a worker sends is read by _gvs as
always, checked the same way.

Threads: a Caller is used on one loop bridge's thread (the pool's
callbacks come in its context); a task registered with
register_worker_task() runs on a worker's main thread, its cancellable's
handlers on the worker's control thread.
"""

import ctypes
import itertools
import os

import gi

__all__ = ["load", "Caller", "register_worker_task"]

# The PyGObject release whose wrapper layout was checked (3.42.2, Debian 12);
# the loop bridge reads its GMainContext pointer the same way.
LAYOUT_CHECKED = (3, 42)

_vp = ctypes.c_void_p
# GAsyncReadyCallback and ACpuTaskFunc.
_READY = ctypes.CFUNCTYPE(None, _vp, _vp, _vp)
_TASK = ctypes.CFUNCTYPE(_vp, _vp, _vp, _vp, _vp)
_CANCELLED = ctypes.CFUNCTYPE(None, _vp, _vp)


class _GError(ctypes.Structure):
    _fields_ = [("domain", ctypes.c_uint32), ("code", ctypes.c_int), ("message", ctypes.c_char_p)]


class _Lib:
    """The C functions, with their types."""

    def __init__(self):
        lib = ctypes.CDLL("libasynccpu-glib-1.so.0")
        glib = ctypes.CDLL("libglib-2.0.so.0")
        gobject = ctypes.CDLL("libgobject-2.0.so.0")
        gio = ctypes.CDLL("libgio-2.0.so.0")

        def f(library, name, restype, *argtypes):
            fn = getattr(library, name)
            fn.restype = restype
            fn.argtypes = list(argtypes)
            return fn

        self.run_async = f(lib, "acpu_process_task_pool_run_async", None,
                           _vp, ctypes.c_char_p, _vp, _vp, _READY, _vp)
        self.run_finish = f(lib, "acpu_process_task_pool_run_finish", _vp, _vp, _vp, _vp)
        self.get_worker_exit = f(lib, "acpu_process_task_pool_get_worker_exit", _vp, _vp, _vp)
        self.exit_pid = f(lib, "acpu_worker_exit_get_pid", ctypes.c_int, _vp)
        self.exit_exited = f(lib, "acpu_worker_exit_get_exited", ctypes.c_int, _vp)
        self.exit_status = f(lib, "acpu_worker_exit_get_exit_status", ctypes.c_int, _vp)
        self.exit_signal = f(lib, "acpu_worker_exit_get_signal", ctypes.c_int, _vp)
        self.exit_stderr_tail = f(lib, "acpu_worker_exit_get_stderr_tail", ctypes.c_char_p, _vp)
        self.register = f(lib, "acpu_worker_register", None, _vp, ctypes.c_char_p, _TASK, _vp, _vp)
        self.bytes_new = f(glib, "g_bytes_new", _vp, ctypes.c_char_p, ctypes.c_size_t)
        self.bytes_unref = f(glib, "g_bytes_unref", None, _vp)
        self.variant_new_from_bytes = f(glib, "g_variant_new_from_bytes", _vp,
                                        ctypes.c_char_p, _vp, ctypes.c_int)
        self.variant_get_type_string = f(glib, "g_variant_get_type_string", ctypes.c_char_p, _vp)
        self.variant_get_data = f(glib, "g_variant_get_data", _vp, _vp)
        self.variant_get_size = f(glib, "g_variant_get_size", ctypes.c_size_t, _vp)
        self.variant_unref = f(glib, "g_variant_unref", None, _vp)
        self.quark_to_string = f(glib, "g_quark_to_string", ctypes.c_char_p, ctypes.c_uint32)
        self.error_free = f(glib, "g_error_free", None, _vp)
        self.object_unref = f(gobject, "g_object_unref", None, _vp)
        self.cancellable_new = f(gio, "g_cancellable_new", _vp)
        self.cancellable_cancel = f(gio, "g_cancellable_cancel", None, _vp)
        self.cancellable_is_cancelled = f(gio, "g_cancellable_is_cancelled", ctypes.c_int, _vp)
        self.cancellable_connect = f(gio, "g_cancellable_connect", ctypes.c_ulong,
                                     _vp, _CANCELLED, _vp, _vp)
        self.cancellable_disconnect = f(gio, "g_cancellable_disconnect", None,
                                        _vp, ctypes.c_ulong)

    def variant_bytes(self, variant):
        """Any thread: the serialised bytes of a GVariant pointer."""
        return ctypes.string_at(self.variant_get_data(variant), self.variant_get_size(variant))

    def variant_new(self, type_string, data):
        """Any thread: a new floating GVariant of @type_string holding a copy
        of @data (bytes), not trusted to be in normal form."""
        b = self.bytes_new(data, len(data))
        try:
            return self.variant_new_from_bytes(type_string, b, 0)
        finally:
            self.bytes_unref(b)


_lib = None
_tried = False


def layout_known(choice):
    """Any thread: whether wrappers may be read by their layout, given the
    ASYNCCPU_GLIB_LOOP_BRIDGE @choice ("fallback" forbids it)."""
    return choice != "fallback" and tuple(gi.version_info[:2]) == LAYOUT_CHECKED


def layout_pointer(obj):
    """Any thread: the C pointer a PyGObject wrapper holds right after
    PyObject_HEAD (a GObject's, a boxed type's), on the checked release."""
    return ctypes.c_void_p.from_address(id(obj) + object.__basicsize__).value


def load():
    """Any thread: the C functions, or None when the fast path is off here."""
    global _lib, _tried
    if not _tried:
        _tried = True
        choice = os.environ.get("ASYNCCPU_GLIB_LOOP_BRIDGE", "")
        if (layout_known(choice) and choice != "off"
                and os.environ.get("ASYNCCPU_GLIB_FAST", "1") != "0"):
            try:
                _lib = _Lib()
            except (OSError, AttributeError):
                _lib = None
    return _lib


def pointer(obj):
    """Any thread: the GObject pointer of a PyGObject wrapper
    (layout_pointer()), or None unless hash() agrees."""
    ptr = layout_pointer(obj)
    if not ptr or ptr != hash(obj) & ((1 << (8 * ctypes.sizeof(ctypes.c_void_p))) - 1):
        return None
    return ptr


class WorkerExit:
    """The facts of an ACpu.WorkerExit, read through C (the attributes the
    executor reads from the GObject's props)."""
    __slots__ = ("pid", "exited", "exit_status", "signal", "stderr_tail")

    def __init__(self, lib, exit_ptr):
        self.pid = lib.exit_pid(exit_ptr)
        self.exited = bool(lib.exit_exited(exit_ptr))
        self.exit_status = lib.exit_status(exit_ptr)
        self.signal = lib.exit_signal(exit_ptr)
        tail = lib.exit_stderr_tail(exit_ptr)
        self.stderr_tail = tail.decode("utf-8", "replace") if tail else ""

    @property
    def props(self):
        return self


# Calls on their way, by the key their callback gets as user data (loops
# on several threads may share an executor: next() of a count and the
# dict's operations are atomic under the GIL). The callback is made once and
# never freed: a pool may call it as late as its own finalization.
_calls = {}
_keys = itertools.count(1)


def _release(call):
    """Lets go of a call's cancellable: its reference, or the Python
    wrapper that holds one."""
    lib, cancellable, wrapper = call[:3]
    if wrapper is None:
        lib.object_unref(cancellable)


def _ready(pool, result, key):
    # The thread that made the call, in its context's dispatch. Never raises
    # (an exception would be printed and lost, and the future never settled).
    call = _calls.pop(key, None)
    if call is None:
        return
    lib, done, data = call[0], call[3], call[4]
    try:
        outcome = _finish(lib, pool, result)
    except BaseException as e:  # noqa: BLE001
        outcome = (False, e, None)
    finally:
        _release(call)
    try:
        done(data, *outcome)
    except BaseException:  # noqa: BLE001
        pass


_ready_cb = _READY(_ready)


def _finish(lib, pool, result):
    """(True, reply bytes, None), (False, (domain, code, message), facts)
    for a GError, or (False, what is wrong, None) for a reply of no use."""
    error = ctypes.POINTER(_GError)()
    reply = lib.run_finish(pool, result, ctypes.byref(error))
    if reply:
        try:
            type_string = lib.variant_get_type_string(reply)
            if type_string != b"(yvav)":
                return False, ("the worker replied %s, not (yvav)"
                               % type_string.decode("ascii", "replace")), None
            return True, lib.variant_bytes(reply), None
        finally:
            lib.variant_unref(reply)
    if not error:
        return False, "the pool gave neither a result nor an error", None
    try:
        e = error.contents
        domain = (lib.quark_to_string(e.domain) or b"").decode("utf-8", "replace")
        message = (e.message or b"").decode("utf-8", "replace")
        code = e.code
    finally:
        lib.error_free(error)
    facts = None
    exit_ptr = lib.get_worker_exit(pool, result)
    if exit_ptr:
        try:
            facts = WorkerExit(lib, exit_ptr)
        finally:
            lib.object_unref(exit_ptr)
    return False, (domain, code, message), facts


class Caller:
    """Runs the drop-in's task on one pool through C. A call's methods are
    used on the thread that made it (a loop bridge's, or the executor's own
    thread for submit()), where the pool calls back."""

    def __init__(self, lib, pool):
        self.lib = lib
        self.pool = pointer(pool)
        if self.pool is None:
            raise RuntimeError("cannot find the pool's pointer")
        self._keep = pool  # the pointer is valid while the wrapper holds a ref

    def new_call(self, done, data, cancellable=None):
        """A call that submit() hands to the pool: its key. Its cancellable is
        @cancellable (a Gio.Cancellable, which any thread may cancel), or
        one of its own that cancel() cancels. done(data, ok, value, facts)
        gets (True, reply bytes, None), or False and the pool's (domain,
        code, message), a text saying what is wrong or an exception, and
        the worker's end or None."""
        if cancellable is None:
            entry = (self.lib, self.lib.cancellable_new(), None, done, data)
        else:
            ptr = pointer(cancellable)
            if ptr is None:
                raise RuntimeError("cannot find the cancellable's pointer")
            entry = (self.lib, ptr, cancellable, done, data)
        key = next(_keys)
        _calls[key] = entry
        return key

    def submit(self, key, task, data):
        """Hands the call of @key to the pool: the task @task (bytes), the
        serialised ``(ssav)`` @data, from the thread-default context (the
        bridge's, pushed, or the executor's thread's), where done() will
        run."""
        lib = self.lib
        try:
            args = lib.variant_new(b"(ssav)", data)
            lib.run_async(self.pool, task, args, _calls[key][1], _ready_cb, key)
        except BaseException:
            self.drop(key)
            raise

    @staticmethod
    def drop(key):
        """The thread that made the call: forgets the call of @key, which the
        pool never got (its done() will not run)."""
        call = _calls.pop(key, None)
        if call is not None:
            _release(call)

    @staticmethod
    def cancel(key):
        """The thread that made the call (the only one that may free its own
        cancellable): cancels the call of @key, if it is still on its way."""
        call = _calls.get(key)
        if call is not None:
            call[0].cancellable_cancel(call[1])


class _Cancellable:
    """What a worker's task sees of its GCancellable through C: is_cancelled()
    and a "cancelled" handler (the two uses the worker makes of it)."""
    __slots__ = ("lib", "ptr", "_handlers")

    def __init__(self, lib, ptr):
        self.lib = lib
        self.ptr = ptr
        self._handlers = {}

    def is_cancelled(self):
        return bool(self.lib.cancellable_is_cancelled(self.ptr))

    def connect_cancelled(self, handler):
        """Any thread: calls handler() once the task is cancelled (at once, on
        this thread, when it is already); returns an id for disconnect()."""
        cb = _CANCELLED(lambda _c, _d: handler())
        hid = self.lib.cancellable_connect(self.ptr, cb, None, None)
        if hid:
            self._handlers[hid] = cb
        return hid

    def disconnect(self, hid):
        """Main thread: waits for a handler running on another thread."""
        if hid:
            self.lib.cancellable_disconnect(self.ptr, hid)
            self._handlers.pop(hid, None)


# Task functions registered through C, kept for the process's life.
_tasks = []


def register_worker_task(lib, worker, name, serve):
    """Registers @name on the ACpu.Worker @worker through C: serve(buf,
    cancellable) gets the request's bytes and a _Cancellable (or None) on
    the main thread and returns the reply's bytes and type string, e.g.
    (data, b"(yvav)"), never raising. False when the worker's pointer cannot
    be had."""
    worker_ptr = pointer(worker)
    if worker_ptr is None:
        return False

    def task(args, cancellable, _user_data, _error):
        # Main thread. Returns a floating GVariant, which the worker takes;
        # serve() never raises (it replies with the error instead), and NULL
        # here is "returned neither a value nor an error" all the same.
        try:
            data, type_string = serve(lib.variant_bytes(args),
                                      _Cancellable(lib, cancellable) if cancellable else None)
            return lib.variant_new(type_string, data)
        except BaseException:  # noqa: BLE001
            return None

    cb = _TASK(task)
    _tasks.append(cb)
    lib.register(worker_ptr, name.encode("utf-8"), cb, None, None)
    return True
