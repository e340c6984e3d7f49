# SPDX-License-Identifier: LGPL-2.1-or-later
"""ProcessTaskPoolExecutor: asynccpu's API over ACpu.ProcessTaskPool.

Threads. create_process_task() on a running asyncio loop: the loop's thread
calls the pool itself with a private GLib.MainContext of its own pushed as
thread-default, and the loop watches that context's wakeup descriptor, so
the pool's callbacks run on the loop's thread (_LoopBridge). Otherwise
(submit(), or no bridge): the caller's thread only serialises the call and
appends it to a list; a daemon thread of the executor owns another private
GLib.MainContext, hands the calls to the pool, decodes the replies and hands
each outcome back (loop.call_soon_threadsafe() or a concurrent future).
Nothing on the caller's side waits for a worker. On PyGObject 3.42 both
ways call the pool through C (_fast), not gi.
"""

import asyncio
import atexit
import concurrent.futures
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import struct
import threading
import time
import weakref

import gi

gi.require_version("ACpu", "1.0")
from gi.repository import ACpu, Gio, GLib  # noqa: E402

from . import _fast, _gvs, _refs, _values  # noqa: E402
from ._worker import INIT_TASK_NAME, TASK_NAME  # noqa: E402

__all__ = ["ProcessTaskPoolExecutor", "AsyncCpuGlibError", "RemoteError", "RemoteTraceback",
           "WorkerDied", "Terminated"]


def _settle(fut, ok, value):
    """Completes @fut with a task's outcome, unless it is done already."""
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    elif isinstance(value, asyncio.CancelledError):
        fut.cancel()
    else:
        fut.set_exception(value)


class AsyncCpuGlibError(Exception):
    """Base class of the errors asynccpu_glib raises itself."""


class RemoteTraceback(Exception):
    """The worker's traceback, attached as ``__cause__`` of a task's exception."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return '\n"""\n%s"""' % self.tb


class RemoteError(AsyncCpuGlibError):
    """A task raised an exception whose class this process does not have (its
    module is not imported here), that is not an Exception, or that could not
    be rebuilt from its args: ``type_name`` is its qualified type name
    (``module.Class``), ``message`` its ``str()``, ``remote_args`` its args
    when they could be sent (else None), ``remote_traceback`` the worker's
    traceback text. ``str()`` gives ``"type_name: message"``."""

    def __init__(self, type_name, message, remote_args=None, remote_traceback=""):
        super().__init__(type_name, message)
        self.type_name = type_name
        self.message = message
        self.remote_args = remote_args
        self.remote_traceback = remote_traceback

    def __str__(self):
        return "%s: %s" % (self.type_name, self.message)


class WorkerDied(AsyncCpuGlibError):
    """The worker process running the task died (crashed, was killed, or
    exited) before it replied. ``signal`` is the signal number that killed it
    (or None), ``signal_name`` its name (``"SIGSEGV"``), ``exit_status`` its
    exit status when it exited by itself (else None), ``pid`` its process id,
    ``stderr_tail`` the last lines it wrote to stderr and ``message`` the
    library's description: the facts of the pool's ``ACpu.WorkerExit``, not
    parsed from the message. The executor goes on with a fresh worker."""

    def __init__(self, message, signal_number=None, exit_status=None, pid=None,
                 stderr_tail=""):
        super().__init__(message)
        self.message = message
        self.signal = signal_number
        self.exit_status = exit_status
        self.pid = pid
        self.stderr_tail = stderr_tail
        try:
            self.signal_name = signal.Signals(signal_number).name if signal_number else None
        except ValueError:
            self.signal_name = None


class Terminated(WorkerDied):
    """A WorkerDied whose worker was killed by SIGTERM (asynccpu's name)."""


_TASK_VT = GLib.VariantType.new("(ssav)")
_new_cancellable = Gio.Cancellable.new
_TASK_NAME_C = TASK_NAME.encode("ascii")
_ACPU_DOMAIN = GLib.quark_to_string(ACpu.error_quark())
_IO_DOMAIN = GLib.quark_to_string(Gio.io_error_quark())

_BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); del sys.argv[1]; "
              "import asynccpu_glib._worker as w; w.main()")


def _worker_died(message, facts):
    """A WorkerDied (or Terminated) from the pool's ACpu.WorkerExit."""
    sig = facts.props.signal or None
    cls = Terminated if sig == signal.SIGTERM else WorkerDied
    return cls(message, sig, facts.props.exit_status if facts.props.exited else None,
               facts.props.pid, facts.props.stderr_tail)


def _translate_glib_error(e, facts=None):
    domain = e.domain if isinstance(e.domain, str) else GLib.quark_to_string(e.domain)
    return _translate_error(domain, e.code, e.message, facts)


def _translate_error(domain, code, message, facts=None):
    """The exception for a GError of the pool (@facts: how the worker
    ended, an ACpu.WorkerExit or what _fast reads of one)."""
    if domain == _ACPU_DOMAIN and code == ACpu.Error.WORKER_DIED:
        if facts is not None:
            return _worker_died(message, facts)
        return WorkerDied(message)
    if domain == _IO_DOMAIN and code == Gio.IOErrorEnum.CANCELLED:
        return asyncio.CancelledError()
    if domain == _ACPU_DOMAIN and code == ACpu.Error.CLOSED:
        return RuntimeError("cannot schedule new futures after shutdown")
    return AsyncCpuGlibError("%s (%s, %d)" % (message, domain, code))


def _refused(exc):
    """The error of a call the pool would not take (run_async() raised)."""
    return AsyncCpuGlibError("the task could not be handed to the pool (%s: %s)"
                             % (type(exc).__name__, exc))


def _unreadable(exc):
    """The error of a task whose outcome could not be read."""
    return AsyncCpuGlibError("the outcome of the task cannot be read (%s: %s)"
                             % (type(exc).__name__, exc))


def _find_class(module, qualname):
    """The exception class a worker named, if this process has it: the module
    must be imported already (nothing is imported, no code runs) and the
    name must lead, through classes only, to an Exception subclass."""
    if module == "__mp_main__":  # how a worker names the parent's main script
        module = "__main__"
    elif module == "__main__":  # the worker's own main program, not this one
        return None
    obj = sys.modules.get(module)
    if obj is None or not qualname or "<" in qualname:
        return None
    for part in qualname.split("."):
        if part.startswith("__"):
            return None
        obj = getattr(obj, part, None)
        if obj is None or not isinstance(obj, type):
            return None
    return obj if issubclass(obj, Exception) else None


def _rebuild_exception(desc):
    """The exception a task raised, from the worker's description of it: its
    own class when this process has it (pickle's rule: module, qualified
    name and args, but only among the modules already imported), else a
    RemoteError. The description is untrusted: anything odd in it gives a
    RemoteError, never an exception here."""
    if not isinstance(desc, dict):
        desc = {"message": "malformed error description from the worker: %.200r" % (desc,)}
    name = desc.get("type")
    module = desc.get("module")
    message = desc.get("message")
    args = desc.get("args")
    tb = desc.get("traceback")
    name = name if isinstance(name, str) and name else "Exception"
    module = module if isinstance(module, str) else ""
    message = message if isinstance(message, str) else str(message or "")
    tb = tb if isinstance(tb, str) else ""
    exc = None
    cls = _find_class(module, name) if isinstance(args, list) else None
    if cls is not None:
        try:
            exc = cls(*args)
            if str(exc) != message:
                exc = None
        except Exception:  # noqa: BLE001
            exc = None
    if exc is None:
        full = name if module in ("builtins", "") else "%s.%s" % (module, name)
        exc = RemoteError(full, message, args if isinstance(args, list) else None, tb)
    if tb:
        exc.__cause__ = RemoteTraceback(tb)
    return exc


class _Job:
    """A call on its way. ``payload`` is the serialised request (bytes) or
    its GVariant; the GCancellable is made on the private thread, so that the
    caller's thread makes no GLib call (each one releases the GIL)."""
    __slots__ = ("payload", "cancellable", "cancelled", "sink")

    def __init__(self, payload, sink):
        self.payload = payload
        self.cancellable = None
        self.cancelled = False
        self.sink = sink

    def cancel(self):
        # Any thread. Under the GIL one of cancel() and _drain() sees the
        # other's write, and cancelling twice does no harm.
        self.cancelled = True
        c = self.cancellable
        if c is not None:
            c.cancel()


class _LoopSink:
    """Hands outcomes to one asyncio loop, in batches."""

    def __init__(self, loop):
        self.loop = loop
        self.lock = threading.Lock()
        self.items = []

    def post(self, fut, ok, value):
        with self.lock:
            self.items.append((fut, ok, value))
            first = len(self.items) == 1
        if first:
            try:
                self.loop.call_soon_threadsafe(self.flush)
            except RuntimeError:  # the loop is closed: nobody waits
                with self.lock:
                    self.items.clear()

    def flush(self):
        with self.lock:
            items, self.items = self.items, []
        for fut, ok, value in items:
            _settle(fut, ok, value)


class _WakeSource(GLib.Source):
    """Dispatches when the executor has calls waiting; the caller's thread
    appends to the list and wakes the context (one GLib call a burst)."""

    def __init__(self, executor):
        super().__init__()
        self._executor = weakref.ref(executor)
        self.set_name("[asynccpu_glib] submit")

    def prepare(self):
        ex = self._executor()
        return (ex is not None and bool(ex._pending), -1)

    def check(self):
        ex = self._executor()
        return ex is not None and bool(ex._pending)

    def dispatch(self, callback, args):
        ex = self._executor()
        if ex is not None:
            ex._drain()
        return True


class _LoopBridge:
    """Lets an asyncio loop's own thread talk to the pool with no thread in
    between: the loop thread owns a private GLib.MainContext, pushes it as
    thread-default around run_async() (so the pool's callbacks go there), and
    the loop dispatches it when one of the context's descriptors is readable.
    PyGObject cannot give a context's descriptors (MainContext.query() drops
    them), so they are read through ctypes; the bridge checks what it reads
    and is not used when anything is off.

    The loop does not watch those descriptors one by one (add_reader() and
    remove_reader() for the worker's descriptor the pool adds on its direct
    path cost two rounds of asyncio's selector bookkeeping a call): the
    bridge mirrors them in an epoll set of its own, which the loop watches
    once. A descriptor the context stopped polling may stay in that set
    until the next call (watch() drops it then); if it wakes the loop
    meanwhile, the iteration that finds nothing to dispatch drops it. epoll
    keys its entries by descriptor *and* open file, so a descriptor number
    that a closed channel left and a new one took is registered anew, and
    repeated wakeups with nothing to dispatch rebuild the set from scratch.

    ctypes needs the context's C pointer, which PyGObject does not hand out.
    ``how`` says where it came from: "layout" reads it from the wrapper
    object, right after PyObject_HEAD, a layout checked only on the PyGObject
    release in _LAYOUT_CHECKED; "thread-default" (any other release, or
    ASYNCCPU_GLIB_LOOP_BRIDGE=fallback) pushes the context as thread-default
    and asks GLib's g_main_context_get_thread_default(), documented C API
    that needs nothing of PyGObject's insides. Either way the pointer must
    equal what GLib returns for the pushed context."""

    # Idle wakeups in a row after which the epoll set is rebuilt.
    _REBUILD_AFTER = 3

    def __init__(self, loop):
        class PollFD(ctypes.Structure):
            _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_ushort),
                        ("revents", ctypes.c_ushort)]

        glib = ctypes.CDLL("libglib-2.0.so.0")
        glib.g_main_context_get_thread_default.restype = ctypes.c_void_p
        glib.g_main_context_prepare.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        glib.g_main_context_query.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                              ctypes.POINTER(ctypes.c_int),
                                              ctypes.POINTER(PollFD), ctypes.c_int]
        glib.g_main_context_check.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                              ctypes.POINTER(PollFD), ctypes.c_int]
        glib.g_main_context_dispatch.argtypes = [ctypes.c_void_p]
        glib.g_main_context_iteration.argtypes = [ctypes.c_void_p, ctypes.c_int]
        glib.g_main_context_iteration.restype = ctypes.c_int
        glib.g_main_context_pending.argtypes = [ctypes.c_void_p]
        glib.g_main_context_pending.restype = ctypes.c_int
        glib.g_main_context_push_thread_default.argtypes = [ctypes.c_void_p]
        glib.g_main_context_pop_thread_default.argtypes = [ctypes.c_void_p]

        ctx = GLib.MainContext.new()
        if not ctx.acquire():
            raise RuntimeError("cannot own a new GMainContext")
        how = _pointer_source()
        ctx.push_thread_default()
        try:
            pushed = glib.g_main_context_get_thread_default()
            if how == "layout":
                ptr = _fast.layout_pointer(ctx)
            else:
                ptr = pushed
            if not ptr or pushed != ptr:
                raise RuntimeError("cannot find the GMainContext pointer")
        finally:
            ctx.pop_thread_default()
        self.how = how
        self.ctx = ctx
        self.ptr = ptr
        self.glib = glib
        self.PollFD = PollFD
        # What watch() hands GLib, made once.
        self._prio = ctypes.c_int()
        self._timeout = ctypes.c_int()
        self._prio_ref = ctypes.byref(self._prio)
        self._timeout_ref = ctypes.byref(self._timeout)
        self._size = 8
        self._fds = (PollFD * self._size)()
        self.fd = -1
        fds = self._query()
        if len(fds) != 1:
            raise RuntimeError("unexpected descriptors in a new GMainContext")
        self.fd = fds[0]
        self._iterate = glib.g_main_context_iteration
        self._is_pending = glib.g_main_context_pending
        self._pump_soon = False
        self._push = glib.g_main_context_push_thread_default
        self._pop = glib.g_main_context_pop_thread_default
        self.loop = weakref.ref(loop)
        self.thread = threading.get_ident()
        self.epoll = None
        self.watched = set()
        self._idle = 0
        self._burst = []
        self._open_epoll(loop)

    def _open_epoll(self, loop):
        import select
        self.epoll = select.epoll()
        self.watched = set()
        self._register(self.fd)
        loop.add_reader(self.epoll.fileno(), self.pump)

    def close(self):
        """The loop's thread: stops watching (for tests and a closing loop)."""
        loop = self.loop()
        if self.epoll is not None:
            if loop is not None and not loop.is_closed():
                loop.remove_reader(self.epoll.fileno())
            self.epoll.close()
            self.epoll = None
        self.ctx.release()

    def _query(self):
        """The descriptors the context polls now. One iteration that polls
        nothing (prepare, query, check, dispatch) tells which."""
        glib, ptr = self.glib, self.ptr
        while True:
            size = self._size
            fds = self._fds
            glib.g_main_context_prepare(ptr, self._prio_ref)
            n = glib.g_main_context_query(ptr, 0x7FFFFFFF, self._timeout_ref, fds, size)
            # As if the poll had seen the context's wakeup: check()
            # acknowledges it, as GLib's own iteration does, before the
            # sources' check functions run. Adding a descriptor (the pool's,
            # on the direct path) signals that wakeup, which would otherwise
            # wake the loop once more for nothing.
            for i in range(min(n, size)):
                if fds[i].fd == self.fd:
                    fds[i].revents = 1
                    break
            glib.g_main_context_check(ptr, 0x7FFFFFFF, fds, min(n, size))
            glib.g_main_context_dispatch(ptr)
            if n <= size:
                return [fds[i].fd for i in range(n)]
            self._size = n + 8
            self._fds = (self.PollFD * self._size)()

    def _register(self, fd):
        ep = self.epoll
        try:
            # Registered already for this very open file: nothing to do.
            ep.modify(fd, 1)  # EPOLLIN
        except OSError:
            try:
                ep.register(fd, 1)
            except OSError:
                return
        self.watched.add(fd)

    def watch(self):
        """Mirrors the descriptors the context polls now in the epoll set
        (the pool adds one while this thread waits for a reply it reads
        itself); drops those it no longer polls. A source that is still
        ready after _query()'s one dispatch (the pool's delivery source
        stops after its time budget and stays ready, and results added to
        it wake nobody: GLib runs a ready source at the next iteration)
        has the loop pump the context soon: no descriptor would wake it."""
        want = self._query()
        if not self._pump_soon and self._is_pending(self.ptr):
            loop = self.loop()
            if loop is not None and not loop.is_closed():
                self._pump_soon = True
                loop.call_soon(self._pump_ready)
        watched = self.watched
        for fd in want:
            if fd not in watched or fd != self.fd:
                self._register(fd)
        if len(watched) > len(want):
            for fd in watched.difference(want):
                try:
                    self.epoll.unregister(fd)
                except OSError:
                    pass
                watched.discard(fd)

    def _pump_ready(self):
        """The loop's thread, soon after watch() saw a source still ready:
        dispatches the context until nothing is. Not a wakeup of the epoll
        set, so it does not count as an idle one if another pump was first."""
        self._pump_soon = False
        if self.epoll is not None:  # not closed meanwhile
            while self._iterate(self.ptr, 0):
                pass

    def pump(self):
        """The loop's thread, when the epoll set is readable: dispatches the
        context until nothing is ready."""
        iterate, ptr = self._iterate, self.ptr
        n = 0
        while iterate(ptr, 0):
            n += 1
        if n:
            self._idle = 0
            return
        # Woken with nothing to do: a descriptor the context no longer polls.
        self._idle += 1
        if self._idle >= self._REBUILD_AFTER:
            self._idle = 0
            loop = self.loop()
            if loop is not None and self.epoll is not None:
                loop.remove_reader(self.epoll.fileno())
                self.epoll.close()
                self._open_epoll(loop)
        self.watch()

    def run_async(self, pool, payload, cancellable, callback, data, task=TASK_NAME,
                  burst=False):
        """Runs a task with the context pushed, then watches what the pool
        added to it. With @burst (other calls of this thread are in flight:
        asyncio.gather() of many) the call waits in a list until the loop's
        thread is done submitting, and the whole list is handed to the pool
        from inside a dispatch of the context, where the pool wakes its I/O
        thread once for all of them rather than once per call (see
        acpu_core_wake_for_locked()), and watched once."""
        self.submit(lambda: pool.run_async(task, payload, cancellable, callback, data),
                    lambda e: callback.__self__._submit_failed(data, e), burst)

    def submit(self, call, failed, burst=False):
        """run_async() for any call(): a pool's run_async() made by
        call() (no argument), with failed(exception) for a burst's call that
        raises (a call alone raises to its caller)."""
        if burst:
            self._burst.append((call, failed))
            if len(self._burst) == 1:
                # Dispatched by whichever iteration of the context comes
                # first: the loop's flush just below, a pump, a shutdown.
                source = GLib.idle_source_new()
                source.set_priority(GLib.PRIORITY_HIGH)
                source.set_callback(self._submit_burst)
                source.attach(self.ctx)
                loop = self.loop()
                if loop is not None:
                    loop.call_soon(self.flush)
            return
        ptr = self.ptr
        self._push(ptr)
        try:
            call()
        finally:
            self._pop(ptr)
        self.watch()

    def _submit_burst(self, *_):
        # In a dispatch of the context: pushed as thread-default, so that
        # the pool sees the tasks come from the context it is dispatching.
        calls, self._burst = self._burst, []
        ptr = self.ptr
        self._push(ptr)
        try:
            for call, failed in calls:
                try:
                    call()
                except Exception as e:  # noqa: BLE001
                    # Its future must settle all the same.
                    failed(e)
        finally:
            self._pop(ptr)
        return False

    def flush(self):
        """The loop's thread: hands a waiting burst to the pool and watches
        the context's descriptors."""
        iterate, ptr = self._iterate, self.ptr
        while self._burst and iterate(ptr, 0):
            pass
        self.watch()


# The PyGObject release whose wrapper layout _LoopBridge may read (3.42.2,
# Debian 12); on any other, the bridge asks GLib for the pointer instead.
_LAYOUT_CHECKED = _fast.LAYOUT_CHECKED
# ASYNCCPU_GLIB_LOOP_BRIDGE: "fallback" forces the thread-default way (the
# test suite runs the drop-in tests both ways), "off" means no bridge at all.
_bridge_choice = os.environ.get("ASYNCCPU_GLIB_LOOP_BRIDGE", "")


def _pointer_source():
    """How _LoopBridge finds a GMainContext's C pointer: "layout" or
    "thread-default" (see _LoopBridge)."""
    return "layout" if _fast.layout_known(_bridge_choice) else "thread-default"


_bridges = weakref.WeakKeyDictionary()
_bridges_disabled = (os.environ.get("ASYNCCPU_GLIB_NO_LOOP_BRIDGE") not in (None, "", "0")
                     or _bridge_choice == "off")


def _bridge_for(loop):
    """The loop's bridge, made on first use from the loop's thread; None when
    it cannot be used (then the executor's own thread relays)."""
    if _bridges_disabled:
        return None
    try:
        bridge = _bridges[loop]
    except KeyError:
        if not loop.is_running():
            return None
        try:
            bridge = _LoopBridge(loop)
        except Exception:  # noqa: BLE001
            bridge = None
        _bridges[loop] = bridge or False
    if bridge and bridge.thread != threading.get_ident():
        return None
    return bridge or None


_live = weakref.WeakSet()


@atexit.register
def _shutdown_all():
    for ex in list(_live):
        try:
            ex.shutdown(wait=True)
        except Exception:  # noqa: BLE001
            pass


class ProcessTaskPoolExecutor:
    """Runs functions in a pool of worker processes and gives asyncio
    awaitables (``create_process_task``) or concurrent futures (``submit``).

    ``max_workers``: the largest number of worker processes (None: the number
    of CPUs). ``cancel_tasks_when_shutdown``: whether ``shutdown()`` and leaving
    the ``with`` block cancel the tasks left (their workers are killed) rather
    than wait for them. ``queue``: an object with ``put()`` (``queue.Queue``,
    ``multiprocessing`` queue) that receives every ``logging.LogRecord`` a
    worker logs; without it the records go to this process's own loggers.
    ``configurer``: a module-level function run in each worker before its first
    task. ``mp_context`` is accepted for compatibility and ignored;
    ``initializer(*initargs)`` runs in each worker like ``configurer`` (initargs
    travel with the requests, never on a command line). ``allowed_modules``: the
    only modules (and their submodules) whose functions a worker runs, checked
    in the worker before it imports anything (``"__main__"`` for the main
    script); None, the default, allows any (see docs/security.md).
    ``launcher``: an ``ACpu.Launcher`` that starts every worker (in a bwrap
    sandbox, over ssh, as Slurm job steps; docs/launchers.md), up to
    ``max_workers`` of them, none on this machine directly. The worker's
    log records then travel with each task's reply over the pool's own
    channel (see docs/dropin.md for what that changes).
    """

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(), *,
                 cancel_tasks_when_shutdown=False, queue=None, configurer=None,
                 allowed_modules=None, launcher=None):
        if _refs.bootstrapping:
            # A worker is running the parent's unguarded main script: stop it here.
            raise _refs._StopBootstrap()
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        if isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise TypeError(f"max_workers must be an int or None, not {type(max_workers).__name__}")
        if not 0 < max_workers < 2 ** 31:
            raise ValueError(f"max_workers must be greater than 0 (and below 2**31), not {max_workers}")
        if launcher is not None and not isinstance(launcher, ACpu.Launcher):
            raise TypeError("launcher must be an ACpu.Launcher or None, not %s"
                            % type(launcher).__name__)
        self._max_workers = max_workers
        self._cancel_when_shutdown = bool(cancel_tasks_when_shutdown)
        self._queue = queue

        config = {"sys_path": [p for p in sys.path if isinstance(p, str)]}
        try:
            config["main"] = list(_refs.main_info())
        except TypeError:
            config["main"] = None
        if configurer is not None:
            config["configurer"] = list(_refs.reference(configurer))
        # initargs never go on the command line (/proc/PID/cmdline is world
        # readable): they travel with each request, see _request().
        self._initargs = None
        if initializer is not None:
            config["initializer"] = list(_refs.reference(initializer))
            self._initargs = _values.encode(tuple(initargs))
        if allowed_modules is not None:
            if isinstance(allowed_modules, str) or not all(
                    isinstance(m, str) and m for m in allowed_modules):
                raise TypeError("allowed_modules must be a list of module names")
            config["allowed_modules"] = list(allowed_modules)
        config["log_level"] = 0 if queue is not None else logging.getLogger().getEffectiveLevel()
        # An abstract socket: nothing to clean up, even after SIGKILL. The
        # reader takes records only from processes of this user.
        self._log_path = "\0asynccpu_glib-%d-%s" % (os.getpid(), os.urandom(8).hex())
        self._log_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._log_sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._log_sock.bind(self._log_path)
        if launcher is None:
            # Through a launcher the socket is out of reach: a sandbox has a
            # network namespace of its own (abstract sockets are per
            # namespace), an ssh host is another machine. The records then
            # go with each reply, over the pool's channel.
            config["log_socket"] = self._log_path
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        argv = [sys.executable, "-c", _BOOTSTRAP, package_parent, json.dumps(config)]
        if launcher is not None:
            # The worker ignores these; a sandbox launcher shows a worker the
            # directories on its command line (read-only), so that it finds
            # the modules this process finds.
            dirs = list(config["sys_path"])
            if config["main"] and config["main"][0] == "path":
                dirs.append(os.path.dirname(config["main"][1]))
            argv += [p for p in dict.fromkeys(dirs)
                     if p and os.path.isabs(p) and os.path.isdir(p) and p != package_parent]

        self._pool = ACpu.ProcessTaskPool.new(argv, max_workers)
        if launcher is not None:
            self._pool.add_worker_source(None, 0)
            self._pool.add_worker_source(launcher, max_workers)
        self._pool.set_cancel_tasks_when_shutdown(self._cancel_when_shutdown)
        # A Python worker starts in ~0.1 s, but 10 s were reached on a 2-core
        # machine at load 10: give it a minute (the pool's default is 30 s).
        self._pool.set_handshake_timeout(60000)

        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pending = []
        self._shutdown = False
        self._shutdown_done = threading.Event()
        self._pool_shut = False
        self._in_flight = 0
        self._direct = 0
        self._bridge_ok = True
        # The loop bridge's calls through C where PyGObject's layout is known
        # (see _fast); with an initializer, through gi as its (v(ssav)) is.
        lib = _fast.load() if initializer is None else None
        try:
            self._fast = _fast.Caller(lib, self._pool) if lib is not None else None
        except RuntimeError:
            self._fast = None
        self._sinks = weakref.WeakKeyDictionary()
        self._context = GLib.MainContext.new()
        self._thread = threading.Thread(target=self._thread_main, name="asynccpu_glib",
                                        daemon=True)
        self._thread.start()
        self._log_thread = threading.Thread(target=self._log_main, name="asynccpu_glib-logs",
                                            daemon=True)
        self._log_thread.start()
        _live.add(self)

    # The private thread ------------------------------------------------------

    def _thread_main(self):
        ctx = self._context
        ctx.push_thread_default()
        source = _WakeSource(self)
        source.attach(ctx)
        try:
            while not (self._pool_shut and self._in_flight == 0):
                ctx.iteration(True)
        finally:
            source.destroy()
            ctx.pop_thread_default()
            self._stop_logs()
            self._shutdown_done.set()

    # Live log records: workers send them to a datagram socket as they log.

    def _log_main(self):
        sock = self._log_sock
        uid = os.getuid()
        cred_size = socket.CMSG_SPACE(struct.calcsize("3i"))
        while True:
            try:
                data, ancdata, _flags, _addr = sock.recvmsg(1 << 22, cred_size)
            except OSError:
                return
            sender = None
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    sender = struct.unpack("3i", cdata[:struct.calcsize("3i")])
            if sender is None or sender[1] != uid:
                continue
            if not data:  # _stop_logs(): every worker is gone, all records are in
                return
            try:
                record = json.loads(data.decode("utf-8", "surrogatepass"))
            except ValueError:
                continue
            try:
                self._handle_records([record])
            except Exception:  # noqa: BLE001
                pass

    def _stop_logs(self):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto(b"", self._log_path)
            self._log_thread.join(10)
        except OSError:
            pass
        self._log_sock.close()

    def _drain(self):
        with self._lock:
            jobs, self._pending = self._pending, []
        pool = self._pool
        for job in jobs:
            if not isinstance(job, _Job):
                job()
                continue
            cancellable = Gio.Cancellable.new()
            job.cancellable = cancellable
            if job.cancelled:
                job.sink(False, asyncio.CancelledError())
                continue
            payload, job.payload = job.payload, None
            fast = self._fast
            key = None
            if fast is not None and type(payload) is bytes:
                try:
                    key = fast.new_call(self._on_done_fast_job, job, cancellable)
                except RuntimeError:  # no pointer for it: through gi
                    pass
            if key is not None:
                self._in_flight += 1
                try:
                    fast.submit(key, _TASK_NAME_C, payload)
                except Exception as e:  # noqa: BLE001
                    self._in_flight -= 1
                    job.sink(False, _refused(e))
                continue
            task, payload = self._request(payload)
            self._in_flight += 1
            pool.run_async(task, payload, cancellable, self._on_done, job)

    def _request(self, payload):
        """Any thread, no lock: the task name and arguments of a call. With an
        initializer, each request carries its arguments too, for a worker that
        has not run it yet (they have no other way to a worker but argv)."""
        if type(payload) is bytes:
            payload = _gvs.request_from_bytes(payload)
        if self._initargs is None:
            return TASK_NAME, payload
        return INIT_TASK_NAME, GLib.Variant.new_tuple(self._initargs, payload)

    def _outcome(self, pool, result):
        try:
            reply = pool.run_finish(result)
        except GLib.Error as e:
            # How its worker died, if it did (valid after run_finish()).
            return False, _translate_glib_error(e, pool.get_worker_exit(result))
        except Exception as e:  # noqa: BLE001
            # PyGObject could not convert the pool's GError (e.g. a message
            # that is not UTF-8): "RuntimeError: Converting the GError failed".
            facts = pool.get_worker_exit(result)
            if facts is not None:
                return False, _worker_died("worker process %d died running the task"
                                           % facts.props.pid, facts)
            return False, AsyncCpuGlibError("the pool failed the task with an error that cannot "
                                            "be read (%s: %s)" % (type(e).__name__, e))
        if reply is None or reply.get_type_string() != "(yvav)":
            return False, AsyncCpuGlibError("the worker replied %s, not (yvav)"
                                            % (reply and reply.get_type_string()))
        return self._reply_outcome(_gvs.unpack_reply, reply, True)

    def _reply_outcome(self, unpack, *args):
        """(ok, value) of a worker's reply that unpack(*args) decodes."""
        try:
            status, value, records = unpack(*args)
        except Exception as e:  # noqa: BLE001
            return False, AsyncCpuGlibError("cannot decode the worker's reply: %s" % e)
        if records:
            self._handle_records(records)
        if status == 0:
            return True, value
        return False, _rebuild_exception(value)

    def _safe_outcome(self, pool, result):
        """The private thread or a loop bridge's thread, no lock: _outcome()
        that never raises, so that every future is settled whatever a worker
        sent and whatever PyGObject makes of it."""
        try:
            return self._outcome(pool, result)
        except BaseException as e:  # noqa: BLE001
            return False, _unreadable(e)

    def _on_done(self, pool, result, job):
        self._in_flight -= 1
        ok, value = self._safe_outcome(pool, result)
        job.sink(ok, value)

    def _on_done_direct(self, pool, result, data):
        # On the loop's thread, through its bridge.
        ok, value = self._safe_outcome(pool, result)
        self._finish_direct(data, ok, value)

    def _on_done_fast(self, data, ok, value, facts):
        """The loop's thread, through its bridge: a call of _fast.Caller is
        done (see _fast_outcome())."""
        ok, value = self._fast_outcome(ok, value, facts)
        self._finish_direct(data, ok, value)

    def _on_done_fast_job(self, job, ok, value, facts):
        """The executor's thread: _on_done() for a call of _fast.Caller."""
        self._in_flight -= 1
        job.sink(*self._fast_outcome(ok, value, facts))

    def _fast_outcome(self, ok, value, facts):
        """(ok, value) of a call of _fast.Caller, done with the reply's bytes,
        or the pool's (domain, code, message) and the worker's end, or an
        exception; never raises."""
        try:
            if ok:
                ok, value = self._reply_outcome(_gvs.unpack_reply_bytes, value)
            elif isinstance(value, BaseException):
                value = _unreadable(value)
            elif isinstance(value, str):
                value = AsyncCpuGlibError(value)
            else:
                value = _translate_error(*value, facts)
        except BaseException as e:  # noqa: BLE001
            ok, value = False, _unreadable(e)
        return ok, value

    def _submit_failed(self, data, exc):
        """The loop's thread: a call of a burst that the pool refused with
        an exception (not through its callback)."""
        self._finish_direct(data, False, _refused(exc))

    def _finish_direct(self, data, ok, value):
        """The loop's thread: a call through the loop bridge is done; its
        future gets @value."""
        fut, on_cancel = data
        with self._lock:
            self._direct -= 1
        # Done with the task: its cancellable is not needed any more, and a
        # done-callback left on the future would cost the loop one more
        # handle to run.
        fut.remove_done_callback(on_cancel)
        try:
            _settle(fut, ok, value)
        except RuntimeError:  # its loop is closed (pumped at exit): nobody waits
            pass

    def _handle_records(self, records):
        for d in records:
            if not isinstance(d, dict):
                continue
            record = logging.makeLogRecord(d)
            # Data from a worker (or any process of this user): its message
            # was formatted over there. Never format it again here: msg
            # "%(a)760000000d" with args {"a": 1}, a 40-byte record, made
            # 760 MB in getMessage().
            record.msg = str(record.msg)
            record.args = None
            record.exc_info = None
            if not isinstance(record.levelno, int) or isinstance(record.levelno, bool):
                record.levelno = logging.WARNING
            if self._queue is not None:
                try:
                    self._queue.put(record)
                except Exception:  # noqa: BLE001
                    pass
                continue
            name = record.name
            logger = logging.getLogger() if name in ("root", None) else logging.getLogger(name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)

    def _enqueue(self, item):
        with self._lock:
            if self._shutdown and isinstance(item, _Job):
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._pending.append(item)
            first = len(self._pending) == 1
        if first:
            self._context.wakeup()

    # Submitting --------------------------------------------------------------

    def _check_process(self):
        """Any thread, no lock (one held when the process forked stays held in
        the child): RuntimeError in a child forked after this executor was
        made, where its threads and its workers are not."""
        if os.getpid() != self._pid:
            raise RuntimeError(
                "this executor was created in process %d, and this process is a fork() of it: "
                "its threads and worker processes stayed there. Start processes that run "
                "tasks with exec (multiprocessing's 'spawn' or 'forkserver' start method)"
                % self._pid)

    @staticmethod
    def _payload(function, args):
        module, qualname = _refs.reference(function)
        data = _gvs.request_bytes(module, qualname, args)
        return data if data is not None else _gvs.pack_request(module, qualname, args)

    def create_process_task(self, function, *args):
        """Runs ``function(*args)`` in a worker and returns an asyncio future
        for its result. ``function`` is a module-level function, plain or
        ``async def``; cancelling the future cancels the task in its worker.
        Raises TypeError at once for a function or a value that cannot be
        sent, RuntimeError after shutdown."""
        self._check_process()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        payload = self._payload(function, args)
        bridge = _bridge_for(loop) if self._bridge_ok else None
        if bridge is not None:
            with self._lock:
                if self._shutdown:
                    raise RuntimeError("cannot schedule new futures after shutdown")
                burst = self._direct > 0
                self._direct += 1
            try:
                fut = loop.create_future()
                fast = self._fast
                if fast is not None and type(payload) is bytes:
                    data = [fut, None]
                    key = fast.new_call(self._on_done_fast, data)

                    def on_cancel(f):
                        if f.cancelled():
                            fast.cancel(key)
                    data[1] = on_cancel
                    fut.add_done_callback(on_cancel)

                    def failed(e):
                        fast.drop(key)
                        self._submit_failed(data, e)
                    try:
                        bridge.submit(lambda: fast.submit(key, _TASK_NAME_C, payload), failed,
                                      burst)
                    except BaseException:
                        fast.drop(key)
                        raise
                    return fut
                cancellable = _new_cancellable()
                task, payload = self._request(payload)

                def on_cancel(f):
                    if f.cancelled():
                        cancellable.cancel()
                fut.add_done_callback(on_cancel)
                bridge.run_async(self._pool, payload, cancellable, self._on_done_direct,
                                 (fut, on_cancel), task, burst)
            except BaseException:
                # Not handed over: its callback will never come to count
                # it out, and shutdown() would wait for it.
                with self._lock:
                    self._direct -= 1
                raise
            return fut
        sink = self._sinks.get(loop)
        if sink is None:
            with self._lock:
                sink = self._sinks.get(loop)
                if sink is None:
                    sink = self._sinks[loop] = _LoopSink(loop)
        fut = loop.create_future()
        post = sink.post
        job = _Job(payload, lambda ok, value: post(fut, ok, value))
        fut.add_done_callback(lambda f: f.cancelled() and job.cancel())
        self._enqueue(job)
        return fut

    def stream(self, function, *args):
        """Runs ``function(*args)``, a generator function (plain or ``async
        def``), in a worker and returns an iterator of what it yields, in
        order, as they come; the worker waits while this caller is 16 values
        behind. The iteration raises what the function raised (or
        WorkerDied …) at the end; leaving it early cancels the task. It
        blocks the calling thread while it waits for the next value."""
        self._check_process()
        task_name, payload = self._request(self._payload(function, args))
        return self._stream(task_name, payload)

    def _stream(self, task_name, payload):
        """The caller's thread: stream()'s generator, over an ACpu.Task whose
        context is private to it."""
        import collections
        ctx = GLib.MainContext.new()
        ctx.push_thread_default()
        try:
            task = self._pool.start(task_name, payload, GLib.PRIORITY_DEFAULT, None)
        finally:
            ctx.pop_thread_default()
        values = collections.deque()
        task.connect("partial-value", lambda _t, v: values.append(v))
        try:
            while True:
                while not values and not task.is_finished():
                    ctx.iteration(True)
                if not values:
                    break
                status, value, records = _gvs.unpack_reply(values.popleft())
                if records:
                    self._handle_records(records)
                yield value
            facts = task.get_worker_exit()
            try:
                reply = task.get_result()
            except GLib.Error as e:
                raise _translate_glib_error(e, facts) from None
            status, value, records = _gvs.unpack_reply(reply)
            if records:
                self._handle_records(records)
            if status != 0:
                raise _rebuild_exception(value)
        finally:
            if not task.is_finished():
                task.cancel()
                while not task.is_finished():
                    ctx.iteration(True)

    def submit(self, fn, /, *args, **kwargs):
        """Like concurrent.futures: returns a concurrent.futures.Future. Its
        cancel() cancels the task even while it runs. No keyword arguments."""
        if kwargs:
            raise TypeError("keyword arguments cannot be sent to a worker")
        self._check_process()
        payload = self._payload(fn, args)
        fut = concurrent.futures.Future()

        def sink(ok, value):
            if fut.done():
                return
            try:
                if ok:
                    fut.set_result(value)
                elif isinstance(value, asyncio.CancelledError):
                    if fut.cancel():
                        fut.set_running_or_notify_cancel()
                else:
                    fut.set_exception(value)
            except concurrent.futures.InvalidStateError:
                pass

        job = _Job(payload, sink)
        fut.add_done_callback(lambda f: f.cancelled() and job.cancel())
        self._enqueue(job)
        return fut

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like concurrent.futures.Executor.map."""
        futures = [self.submit(fn, *args) for args in zip(*iterables)]

        def results():
            try:
                for f in futures:
                    yield f.result(timeout)
            finally:
                for f in futures:
                    f.cancel()
        return results()

    # Shutting down -----------------------------------------------------------

    def shutdown(self, wait=True, *, cancel_futures=None):
        """Stops taking tasks and shuts the pool down. ``cancel_futures``
        (None: ``cancel_tasks_when_shutdown``) cancels the queued and running
        tasks and kills their workers; otherwise they finish first. With
        ``wait`` this returns once no worker process is left."""
        if os.getpid() != self._pid:
            # In a fork()ed child nothing of this executor runs: nothing to wait for.
            self._shutdown = True
            _live.discard(self)
            return
        cancel = self._cancel_when_shutdown if cancel_futures is None else bool(cancel_futures)
        self._flush_bridges()
        with self._lock:
            first = not self._shutdown
            self._shutdown = True
        if first:
            pool = self._pool

            def do_shutdown():
                pool.set_cancel_tasks_when_shutdown(cancel)
                pool.shutdown_async(None, self._on_shutdown)
            self._enqueue(do_shutdown)
        elif cancel:
            self._enqueue(lambda: self._pool.set_cancel_tasks_when_shutdown(True) or
                          self._pool.shutdown_async(None, lambda *a: None))
        _live.discard(self)
        if wait and threading.current_thread() is not self._thread:
            self._shutdown_done.wait()
            self._pump_bridges()

    def _flush_bridges(self):
        """Hands the calls still waiting in this thread's loop bridge to the
        pool before it is shut down."""
        ident = threading.get_ident()
        for bridge in list(_bridges.values()):
            if bridge and bridge.thread == ident and bridge._burst:
                bridge.flush()

    def _pump_bridges(self):
        """After the workers are gone, hand out the outcomes waiting in this
        thread's loop bridge, so the futures are done when shutdown returns."""
        ident = threading.get_ident()
        for bridge in list(_bridges.values()):
            if bridge and bridge.thread == ident:
                idle = 0
                while self._direct > 0 and idle < 100:
                    if bridge.ctx.iteration(False):
                        idle = 0
                    else:
                        idle += 1
                        time.sleep(0.001)

    def _on_shutdown(self, pool, result):
        try:
            pool.shutdown_finish(result)
        except GLib.Error:
            pass
        self._pool_shut = True
        self._context.wakeup()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        # Leaving on KeyboardInterrupt, CancelledError, SystemExit: nobody will
        # want the results; do not wait for them.
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        self.shutdown(wait=True, cancel_futures=True if interrupted else None)
        return False

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        """``async with``: like ``with``, but waits without blocking the loop."""
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        self.shutdown(wait=False, cancel_futures=True if interrupted else None)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._shutdown_done.wait)
        return False

    # Extras ------------------------------------------------------------------

    @property
    def pool(self):
        """The ACpu.ProcessTaskPool underneath (for its properties)."""
        return self._pool

    @property
    def max_workers(self):
        return self._max_workers

    def shutdown_on_signal(self, signum=signal.SIGTERM):
        """Installs a handler for ``signum`` (SIGTERM by default), asynccpu's
        behaviour made explicit: the executor is shut down cancelling its tasks
        (no worker left) and the process then dies of that signal. Uses the
        running asyncio loop's add_signal_handler when there is one, else
        signal.signal (main thread only)."""
        def handler(*_):
            self.shutdown(wait=True, cancel_futures=True)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        try:
            asyncio.get_running_loop().add_signal_handler(signum, handler)
        except RuntimeError:
            signal.signal(signum, handler)
