# SPDX-License-Identifier: LGPL-2.1-or-later
"""The generic Python worker of asynccpu_glib.

Started by the executor as ``python3 -c <bootstrap> <json config>``. It serves the
task ``asynccpu_glib.call``, whose arguments are ``(ssav)``: module, qualified name
and arguments of the function to run; it imports the function, runs it (an
``async def`` one to completion in this process's event loop) and replies with
``(yvav)`` (see asynccpu_glib._values). An executor with an initializer sends
``asynccpu_glib.call_init`` instead, ``(v(ssav))``: the initializer's arguments
(which must not go on the command line) and the call.

It ignores SIGINT: a Ctrl-C meant for the parent does not interrupt it, idle or
not (a task is cancelled through the channel). With ``allowed_modules`` in its
configuration it runs only functions of those modules (docs/security.md).
"""

import inspect
import json
import logging
import os
import signal
import sys
import traceback

TASK_NAME = "asynccpu_glib.call"
INIT_TASK_NAME = "asynccpu_glib.call_init"

_config = {}
_worker = None
_loop = None
_configured = False
_configure_error = None
_records = []
_current_cancellable = None
_initargs = None


_log_socket = None


def _send_live(d):
    """Sends a record to the parent's log socket at once; False if it cannot
    (then it goes with the next reply)."""
    global _log_socket
    path = _config.get("log_socket")
    if not path:
        return False
    try:
        if _log_socket is None:
            import socket
            _log_socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        _log_socket.sendto(json.dumps(d).encode("utf-8", "surrogatepass"), path)
        return True
    except (OSError, ValueError, TypeError):
        return False


class _CaptureHandler(logging.Handler):
    """Sends the records logged in this worker to the parent: as they are
    logged through the executor's log socket, or else with the next reply."""

    def emit(self, record):
        try:
            msg = self.format(record)
            d = {}
            for k, v in record.__dict__.items():
                if v is None or type(v) in (str, int, float, bool):
                    d[k] = v
                elif k not in ("args", "exc_info", "msg"):
                    d[k] = repr(v)
            d["msg"] = msg
            d["message"] = msg
            d["args"] = None
            d["exc_info"] = None
            d["exc_text"] = None
            d["worker_pid"] = os.getpid()
            d["processName"] = "asynccpu_glib-worker-%d" % os.getpid()
            if not _send_live(d):
                _records.append(d)
        except Exception:  # noqa: BLE001
            self.handleError(record)


class _Formatter(logging.Formatter):
    """Message plus traceback text, as QueueHandler.prepare() does."""

    def format(self, record):
        msg = record.getMessage()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            msg = msg + "\n" + record.exc_text if msg else record.exc_text
        if record.stack_info:
            msg = msg + "\n" + self.formatStack(record.stack_info)
        return msg


def current_task_cancelled():
    """True when the task running in this worker has been cancelled by its caller."""
    c = _current_cancellable
    return c is not None and c.is_cancelled()


def _configure():
    global _configured, _configure_error
    if _configured:
        if _configure_error is not None:
            raise _configure_error
        return
    _configured = True
    from . import _refs, _values
    conf = _config.get("configurer")
    if conf:
        try:
            fn = _refs.resolve(conf[0], conf[1], _config.get("main"))
            fn()
        except BaseException as e:  # noqa: BLE001
            _configure_error = e
            raise
    init = _config.get("initializer")
    if init:
        try:
            if _initargs is None:
                raise RuntimeError("the initializer's arguments did not arrive (%s sends "
                                   "them)" % INIT_TASK_NAME)
            fn = _refs.resolve(init[0], init[1], _config.get("main"))
            fn(*_values.decode(_initargs))
        except BaseException as e:  # noqa: BLE001
            _configure_error = e
            raise


def _error_description(exc):
    from . import _values
    t = type(exc)
    args = []
    for a in exc.args:
        try:
            _values.encode(a)
            args.append(a)
        except TypeError:
            args = None
            break
    return {
        "type": t.__qualname__,
        "module": t.__module__,
        "message": str(exc),
        "args": args,
        "traceback": "".join(traceback.format_exception(t, exc, exc.__traceback__)),
    }


def _run_coroutine(coro, cancellable):
    import asyncio
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    task = _loop.create_task(coro) if asyncio.iscoroutine(coro) else asyncio.ensure_future(
        coro, loop=_loop)
    loop = _loop

    def on_cancelled(_c):
        # The control thread: ask the task to stop (cooperative cancel).
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:
            pass

    if cancellable is None:
        connect = disconnect = None
    elif hasattr(cancellable, "connect_cancelled"):  # through C (_fast)
        connect, disconnect = cancellable.connect_cancelled, cancellable.disconnect
    else:
        from gi.repository import GObject
        # GObject's connect: Gio.Cancellable.connect is g_cancellable_connect().
        connect = lambda handler: GObject.Object.connect(cancellable, "cancelled", handler)  # noqa: E731
        disconnect = lambda hid: GObject.Object.disconnect(cancellable, hid)  # noqa: E731
    handler = connect(lambda *_: on_cancelled(None)) if connect else 0
    try:
        if cancellable is not None and cancellable.is_cancelled():
            task.cancel()
        return _loop.run_until_complete(task)
    finally:
        if handler:
            disconnect(handler)


def _allowed(module):
    """Any thread: whether the executor's allowed_modules (if any) hold @module."""
    allowed = _config.get("allowed_modules")
    if allowed is None:
        return True
    if module == "__mp_main__":
        module = "__main__"
    return isinstance(module, str) and any(module == a or module.startswith(a + ".")
                                           for a in allowed)


def _check_allowed(module, qualname):
    """Main thread, before any import: raises PermissionError unless the
    executor's allowed_modules (if it gave any) let a request name
    module.qualname."""
    if _config.get("allowed_modules") is None:
        return
    if not _allowed(module):
        raise PermissionError("asynccpu_glib: module %r is not in the executor's allowed_modules"
                              % module)
    if any(not p or p.startswith("__") or "<" in p for p in qualname.split(".")):
        raise PermissionError("asynccpu_glib: %r of module %r is not a name allowed_modules "
                              "lets a request call" % (qualname, module))


def _check_resolved(module, qualname, fn):
    """Main thread: with allowed_modules, the function found must belong to an
    allowed module too (not, say, os.system that an allowed module imported)."""
    if _config.get("allowed_modules") is None:
        return
    owner = getattr(fn, "__module__", None)
    if inspect.ismodule(fn) or not _allowed(owner):
        raise PermissionError("asynccpu_glib: %s.%s is defined in module %r, which is not in the "
                              "executor's allowed_modules" % (module, qualname, owner))


def _call_init(args, cancellable):
    """Main thread: a call with the initializer's arguments, ``(v(ssav))``."""
    global _initargs
    if args.get_type_string() != "(v(ssav))":
        return _call(args, cancellable)  # which says what is wrong with it
    if _initargs is None:
        _initargs = args.get_child_value(0)
    return _call(args.get_child_value(1), cancellable)


# What a plain function returns most often: never awaitable, and cheaper to
# tell by type than inspect.isawaitable()'s ABC check (a trivial task's round
# trip is a few tens of microseconds in all).
_PLAIN_RESULTS = frozenset((type(None), bool, int, float, str, bytes, list, tuple, dict))


def _call(args, cancellable):
    """The task asynccpu_glib.call through gi: a GLib.Variant in and out."""
    # Imported once, not on each call (importlib's _handle_fromlist was one
    # of the larger items of a trivial task's profile).
    _gvs = (_modules or _import_modules())[0]
    return _serve(_gvs.unpack_request, args, cancellable, False)


def _call_bytes(data, cancellable):
    """The same task through C (_fast): the request's serialised bytes in,
    the reply's bytes and type string out."""
    _gvs = (_modules or _import_modules())[0]
    return _serve(_gvs.unpack_request_bytes, data, cancellable, True)


def _pack(as_bytes, status, value, records):
    """The reply: a GLib.Variant, or (@as_bytes) its bytes and type string."""
    _gvs = _modules[0]
    if as_bytes:
        data = _gvs.reply_bytes(status, value, records)
        if data is not None:
            return data, b"(yvav)"
    reply = _gvs.pack_reply(status, value, records)
    if as_bytes:  # what only GLib's own GVariant code encodes
        return _gvs._data(reply), reply.get_type_string().encode("ascii")  # noqa: SLF001
    return reply


def _serve(unpack, request, cancellable, as_bytes):
    """Main thread: runs the call that unpack(request) gives and returns its
    reply, _pack(as_bytes, ...); never raises (an error is a reply)."""
    global _current_cancellable
    _gvs, _refs = _modules or _import_modules()

    try:
        module, qualname, fargs = unpack(request)
        if _config.get("allowed_modules") is not None:
            _check_allowed(module, qualname)
        if not _configured or _configure_error is not None:
            _configure()
        fn = _refs.resolve(module, qualname, _config.get("main"))
        _check_resolved(module, qualname, fn)
        _current_cancellable = cancellable
        try:
            result = fn(*fargs)
            if type(result) not in _PLAIN_RESULTS:
                if inspect.isgenerator(result):
                    result = _stream(result, _gvs)
                elif inspect.isasyncgen(result):
                    result = _run_coroutine(_stream_async(result, _gvs), cancellable)
                elif inspect.isawaitable(result):
                    result = _run_coroutine(result, cancellable)
        finally:
            _current_cancellable = None
        records = _take_records() if _records else []
        return _pack(as_bytes, 0, result, records)
    except BaseException as exc:  # noqa: BLE001
        records = _take_records()
        try:
            return _pack(as_bytes, 1, _error_description(exc), records)
        except BaseException as exc2:  # noqa: BLE001
            return _pack(as_bytes, 1, {"type": type(exc2).__qualname__, "module": "builtins",
                                       "message": str(exc2), "args": None, "traceback": ""}, [])


_modules = None


def _stream(generator, gvs):
    """Main thread: sends what a generator function yields as partial values,
    each packed as a reply, ``(yvav)`` (ACpu.Worker.send_partial() waits while
    the caller is 16 values behind); returns what the generator returns."""
    from gi.repository import ACpu
    worker = ACpu.Worker.get_running()
    while True:
        try:
            item = next(generator)
        except StopIteration as stop:
            return stop.value
        worker.send_partial(gvs.pack_reply(0, item, []))


async def _stream_async(generator, gvs):
    """Main thread, in the task's event loop: _stream() for an async
    generator."""
    from gi.repository import ACpu
    worker = ACpu.Worker.get_running()
    result = None
    async for item in generator:
        worker.send_partial(gvs.pack_reply(0, item, []))
    return result


def _import_modules():
    global _modules
    from . import _gvs, _refs
    _modules = (_gvs, _refs)
    return _modules


def _take_records():
    records = _records[:]
    del _records[:]
    return records


def main():
    global _config, _worker
    _config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    path = _config.get("sys_path")
    if path:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        sys.path[:] = path + ([here] if here not in path else [])

    root = logging.getLogger()
    handler = _CaptureHandler()
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(_config.get("log_level", logging.WARNING))

    import gi
    gi.require_version("ACpu", "1.0")
    from gi.repository import ACpu

    # Ignored with a Python handler, not SIG_IGN, which the programs a task
    # starts would inherit.
    signal.signal(signal.SIGINT, lambda *_: None)

    _worker = ACpu.Worker.new()
    # Through C where PyGObject's layout is known (see _fast), else gi.
    from . import _fast
    lib = _fast.load()
    if lib is None or not _fast.register_worker_task(lib, _worker, TASK_NAME, _call_bytes):
        _worker.register(TASK_NAME, _call)
    _worker.register(INIT_TASK_NAME, _call_init)
    status = _worker.run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    # Run as python3 -m asynccpu_glib._worker: use the module proper, not __main__.
    import asynccpu_glib._worker as _w
    _w.main()
