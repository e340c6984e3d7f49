# ACpu.py — PyGObject overrides for asynccpu-glib (the ACpu-1.0 namespace)
#
# Copyright 2026 The asynccpu-glib authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Pythonic sugar for ``from gi.repository import ACpu``.

What these overrides change, and nothing more:

* Wherever the C API takes a ``GVariant`` — the *args* of
  :meth:`ProcessTaskPool.run`, :meth:`ProcessTaskPool.run_async`, and the
  value a task function returns in a worker — a plain Python value is
  accepted too and converted with :func:`to_variant` (the mapping is in its
  docstring). A ``GLib.Variant`` passes through untouched.
* A task function registered with :meth:`Worker.register` may raise. PyGObject
  (3.42 at least) cannot turn an exception raised in a callback into a
  ``GError``: it prints the traceback and returns ``NULL``. The override
  catches the exception and fails the task with
  ``acpu_worker_set_task_error()``: a ``GLib.Error`` keeps its domain, code
  and message (so ``cancellable.set_error_if_cancelled()`` gives the caller
  ``G_IO_ERROR_CANCELLED``); any other exception becomes
  ``ACpu.Error.FAILED`` with the message
  ``"<type>: <message> (File "<file>", line <n>, in <function>)"``; the
  whole traceback is logged at debug level, and worker logs reach the pool.
* A :class:`ProcessTaskPool` is a context manager: leaving the ``with`` block
  shuts it down (blocking), which waits for the tasks left or cancels them
  according to ``cancel-tasks-when-shutdown``, as asynccpu's executor does.

Results are still ``GLib.Variant``; call :func:`unpack` (``ACpu.unpack(v)``)
for Python values: it is ``v.unpack()`` except that a byte array (``ay``)
becomes ``bytes`` in one copy, where PyGObject's ``unpack()`` makes a list of
ints one element at a time (2 s for 1 MiB).
"""

import collections
import inspect
import os
import sys
import traceback
import weakref

from gi.repository import GLib

from ..module import get_introspection_module
from ..overrides import override

ACpu = get_introspection_module('ACpu')

__all__ = ['to_variant', 'unpack', 'ProcessTaskPool', 'Worker']

_ACPU_ERROR_DOMAIN = GLib.quark_to_string(ACpu.error_quark())


def _convert_array(items):
    variants = [_convert(item) for item in items]
    types = {v.get_type_string() for v in variants}
    if len(types) == 1:
        (element,) = types
        return element, variants
    # Empty, or of mixed types: an array of variants.
    return 'v', [GLib.Variant.new_variant(v) for v in variants]


def _convert(value):
    if isinstance(value, GLib.Variant):
        return value
    # bool before int: a bool is an int in Python.
    if isinstance(value, bool):
        return GLib.Variant.new_boolean(value)
    if isinstance(value, int):
        if -2**63 <= value < 2**63:
            return GLib.Variant.new_int64(value)
        if 0 <= value < 2**64:
            return GLib.Variant.new_uint64(value)
        raise OverflowError(
            'ACpu: %d does not fit in 64 bits; pass it as a str' % value)
    if isinstance(value, float):
        return GLib.Variant.new_double(value)
    if isinstance(value, str):
        return GLib.Variant.new_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return GLib.Variant.new_from_bytes(GLib.VariantType.new('ay'),
                                           GLib.Bytes.new(bytes(value)),
                                           True)
    if isinstance(value, tuple):
        return GLib.Variant.new_tuple(*[_convert(item) for item in value])
    if isinstance(value, list):
        element, variants = _convert_array(value)
        return GLib.Variant.new_array(GLib.VariantType.new(element), variants)
    if isinstance(value, dict):
        keys = [_convert(k) for k in value]
        key_types = {k.get_type_string() for k in keys}
        if len(key_types) > 1:
            raise TypeError('ACpu: dict keys of mixed types (%s)'
                            % ', '.join(sorted(key_types)))
        key_type = key_types.pop() if key_types else 's'
        if not GLib.VariantType.new(key_type).is_basic():
            raise TypeError('ACpu: dict keys must be bool, int, float or str, '
                            'not %s' % key_type)
        value_type, values = _convert_array(value.values())
        entries = [GLib.Variant.new_dict_entry(k, v)
                   for k, v in zip(keys, values)]
        return GLib.Variant.new_array(
            GLib.VariantType.new('{%s%s}' % (key_type, value_type)), entries)
    raise TypeError('ACpu: cannot convert %s to a GVariant'
                    % type(value).__name__)


def to_variant(value):
    """Converts a plain Python value to a ``GLib.Variant``.

    ==========================  ================================================
    Python                      GVariant
    ==========================  ================================================
    ``GLib.Variant``            itself
    ``None``                    ``()``, the empty tuple
    ``bool``                    ``b``
    ``int``                     ``x`` (int64); ``t`` (uint64) from 2**63 to
                                2**64 - 1; larger ones raise ``OverflowError``
    ``float``                   ``d``
    ``str``                     ``s``
    ``bytes``, ``bytearray``    ``ay``
    ``tuple``                   a tuple of its items, ``(…)``
    ``list``                    ``aT`` when every item converts to the same
                                type ``T``; ``av`` when they differ or the
                                list is empty
    ``dict``                    ``a{KT}``: keys all of one basic type ``K``
                                (``s`` for an empty dict), values ``T`` as for
                                a list (``v`` when they differ)
    ==========================  ================================================

    Nothing is wrapped implicitly: ``7`` is ``x``, while a C task that reads
    its arguments with ``g_variant_get (args, "(x)", …)`` wants ``(7,)``.
    Anything else raises ``TypeError``.
    """
    if value is None:
        return GLib.Variant.new_tuple()
    return _convert(value)


def _unpack(v, ts):
    # A variant may hold a byte array: look inside.
    if 'ay' not in ts and 'v' not in ts:
        return v.unpack()
    if ts == 'ay':
        return v.get_data_as_bytes().get_data()
    if ts[0] == 'v':
        inner = v.get_variant()
        return _unpack(inner, inner.get_type_string())
    if ts[0] == 'm':
        return None if v.n_children() == 0 else _unpack(v.get_child_value(0), ts[1:])
    if ts[0] == '(':
        return tuple(_unpack(c, c.get_type_string())
                     for c in (v.get_child_value(i) for i in range(v.n_children())))
    if ts.startswith('a{'):
        out = {}
        for i in range(v.n_children()):
            entry = v.get_child_value(i)
            key, value = entry.get_child_value(0), entry.get_child_value(1)
            out[_unpack(key, key.get_type_string())] = _unpack(value, value.get_type_string())
        return out
    # An array of something holding byte arrays.
    element = ts[1:]
    return [_unpack(v.get_child_value(i), element) for i in range(v.n_children())]


def unpack(value):
    """Converts a ``GLib.Variant`` to plain Python values, as
    ``value.unpack()`` does, except that each byte array (``ay``) becomes
    ``bytes``, copied at once (10 MiB in a few milliseconds), where
    ``unpack()`` builds a list of ints one element at a time (20 s for
    10 MiB). Use it for task arguments and results::

        def blur(args, cancellable):
            (tile, width) = ACpu.unpack(args)      # '(ayi)': bytes, int
            ...
            return (bytes(out),)                   # bytes go back as 'ay'

    Anything that is not a ``GLib.Variant`` raises ``TypeError``.
    """
    if not isinstance(value, GLib.Variant):
        raise TypeError('ACpu.unpack: expected a GLib.Variant, not %s'
                        % type(value).__name__)
    return _unpack(value, value.get_type_string())


def _describe_exception(exc):
    """``"<type>: <message> (File "<file>", line <n>, in <function>)"``."""
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ('builtins', '__main__'):
        name = '%s.%s' % (kind.__module__, name)
    text = str(exc)
    message = '%s: %s' % (name, text) if text else name
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        message += ' (File "%s", line %d, in %s)' % (last.filename,
                                                     last.lineno, last.name)
    return message


def _log_traceback(name, exc):
    """Logs the whole traceback at debug level: the worker's logs reach the
    pool's process (see ``G_MESSAGES_DEBUG``)."""
    try:
        text = ''.join(traceback.format_exception(type(exc), exc,
                                                  exc.__traceback__))
        GLib.log_variant('ACpu', GLib.LogLevelFlags.LEVEL_DEBUG,
                         GLib.Variant('a{sv}', {
                             'MESSAGE': GLib.Variant(
                                 's', 'Task “%s” raised:\n%s' % (name, text)),
                         }))
    except Exception:  # noqa: BLE001 — logging must not change the outcome
        pass


class Worker(ACpu.Worker):
    """The worker side; see ``ACpu.Worker`` in the reference."""

    def register(self, name, func, *user_data, args_type=None, result_type=None):
        """Registers *func* as the task *name*.

        *args_type* and *result_type*, GVariant type strings such as
        ``'(x)'``, declare the types of its arguments and result (see
        :meth:`set_task_types`): a request of another type fails with
        ``ACpu.Error.INVALID_ARGUMENT`` before *func* runs.

        *func* is called as ``func(args, cancellable, *user_data)`` with the
        task's arguments (a ``GLib.Variant``) and a ``Gio.Cancellable``. It
        returns a ``GLib.Variant`` or a plain value for :func:`to_variant`
        (``None`` gives ``()``; a value it cannot convert fails the task with
        ``ACpu.Error.INVALID_ARGUMENT``), or raises: the caller then gets a
        ``GLib.Error`` (see the module's docstring).

        A generator function streams: each value it yields is sent as a
        partial value (:meth:`send_partial`, which waits while the caller is
        16 values behind), and what it returns is the result.
        """
        if not callable(func):
            raise TypeError('ACpu.Worker.register: func must be callable')

        # A weak reference: the C closure keeps `task` alive, and a strong
        # one to self would keep the worker alive for ever.
        worker_ref = weakref.ref(self)

        def task(args, cancellable, *data):
            worker = worker_ref()
            try:
                result = func(args, cancellable, *data)
                if inspect.isgenerator(result):
                    result = worker._stream(result)
            except Exception as exc:  # noqa: BLE001 — it crosses to the caller
                if worker is None:
                    raise
                worker._fail(name, exc, worker.set_task_error)
                return None
            try:
                return to_variant(result)
            except (TypeError, OverflowError) as exc:
                if worker is None:
                    raise
                worker._fail(name, exc, worker.set_task_error, unsendable=True)
                return None

        task.__name__ = getattr(func, '__name__', 'task')
        task.__qualname__ = getattr(func, '__qualname__', task.__name__)
        super().register(name, task, *user_data)
        self._declare(name, args_type, result_type)

    def register_async(self, name, func, *user_data, args_type=None, result_type=None):
        """Registers *func* as the asynchronous task *name*.

        *func* is called as ``func(worker, args, cancellable, *user_data)``
        and starts the task; the task ends when :meth:`return_value` (with a
        ``GLib.Variant`` or a plain value) or ``return_error()`` is called,
        from *func* or later from the main loop. An exception raised by
        *func* before that fails the task as in :meth:`register`.
        """
        if not callable(func):
            raise TypeError('ACpu.Worker.register_async: func must be callable')

        def task(worker, args, cancellable, *data):
            try:
                func(worker, args, cancellable, *data)
            except Exception as exc:  # noqa: BLE001 — it crosses to the caller
                # Only while the task has not returned yet.
                if worker.get_current_task() is None:
                    raise
                worker._fail(name, exc, worker.return_error)

        task.__name__ = getattr(func, '__name__', 'task')
        task.__qualname__ = getattr(func, '__qualname__', task.__name__)
        super().register_async(name, task, *user_data)
        self._declare(name, args_type, result_type)

    def _declare(self, name, args_type, result_type):
        for what, type_string in (('args_type', args_type), ('result_type', result_type)):
            if type_string is not None and not GLib.VariantType.string_is_valid(type_string):
                raise ValueError('ACpu.Worker.register: %s %r of task “%s” is not a GVariant '
                                 'type string (such as "(x)" or "(sad)")'
                                 % (what, type_string, name))
        if args_type is not None or result_type is not None:
            self.set_task_types(name, args_type, result_type)

    def return_value(self, value):
        """Ends the running asynchronous task with *value*: a
        ``GLib.Variant`` or a plain value for :func:`to_variant`; one it
        cannot convert fails the task with ``ACpu.Error.INVALID_ARGUMENT``."""
        try:
            variant = to_variant(value)
        except (TypeError, OverflowError) as exc:
            self._fail(self.get_current_task() or '', exc, self.return_error,
                       unsendable=True)
            return
        super().return_value(variant)

    def send_partial(self, value):
        """Sends *value*, a ``GLib.Variant`` or a plain value for
        :func:`to_variant`, as a partial value of the running task; waits
        while its caller is too far behind. Raises ``GLib.Error`` when the
        task is cancelled meanwhile."""
        return super().send_partial(to_variant(value))

    def report_progress(self, fraction, text=None):
        """Reports the running task's progress, a fraction from 0 to 1,
        with an optional short text. Cheap: reports are coalesced."""
        super().report_progress(fraction, text)

    def _stream(self, generator):
        """Main thread: sends what *generator* yields as partial values and
        returns what it returns."""
        while True:
            try:
                item = next(generator)
            except StopIteration as stop:
                return stop.value
            self.send_partial(item)

    def _fail(self, name, exc, report, unsendable=False):
        """Reports *exc* raised by task *name* through *report*
        (``set_task_error`` or ``return_error``): a ``GLib.Error`` keeps its
        domain and code, a value that cannot be sent is
        ``INVALID_ARGUMENT``, any other exception ``FAILED`` with its type,
        message and where it was raised."""
        if isinstance(exc, GLib.Error):
            report(exc.domain, exc.code, exc.message)
        elif unsendable:
            report(_ACPU_ERROR_DOMAIN, int(ACpu.Error.INVALID_ARGUMENT),
                   'Task “%s” returned a value that cannot be sent: %s' % (name, exc))
        else:
            # Drop the wrapper's frame: the trace starts in the task.
            exc.__traceback__ = exc.__traceback__.tb_next or exc.__traceback__
            report(_ACPU_ERROR_DOMAIN, int(ACpu.Error.FAILED), _describe_exception(exc))
            _log_traceback(name, exc)


Worker = override(Worker)


# The range of the max-workers property (0: the number of CPUs).
_MAX_WORKERS_LIMIT = 2 ** 31 - 1


def _check_max_workers(max_workers):
    # PyGObject would say "OverflowError: -1 not in range 0 to 4294967295".
    if isinstance(max_workers, bool) or not isinstance(max_workers, int):
        raise TypeError(f"max_workers must be an int, not {type(max_workers).__name__}")
    if not 0 <= max_workers <= _MAX_WORKERS_LIMIT:
        raise ValueError(f"max_workers must be from 0 (the number of CPUs) to "
                         f"{_MAX_WORKERS_LIMIT}, not {max_workers}")


def _in_venv():
    return sys.prefix != sys.base_prefix


def _self_argv():
    # With no worker_argv the library starts /proc/self/exe, the interpreter
    # a venv's python links to, which knows nothing of the venv (Python finds
    # it from the path it was started by). The same program and arguments
    # started by sys.executable stay in the venv, and the library sees them
    # as itself (acpu_worker_is_worker_process() is true in the workers).
    with open('/proc/self/cmdline', 'rb') as f:
        args = [os.fsdecode(a) for a in f.read().split(b'\0')[:-1]]
    return [sys.executable] + args[1:]


class ProcessTaskPool(ACpu.ProcessTaskPool):
    """The pool; see ``ACpu.ProcessTaskPool`` in the reference.

    ``args`` may be a plain Python value (see :func:`to_variant`), and the
    pool is a context manager::

        with ACpu.ProcessTaskPool.new(None, 4) as pool:
            print(pool.run('square', (7,)).unpack())
    """

    def __init__(self, **kwargs):
        if 'max_workers' in kwargs:
            _check_max_workers(kwargs['max_workers'])
        if kwargs.get('worker_argv') is None and _in_venv():
            kwargs['worker_argv'] = _self_argv()
        super().__init__(**kwargs)

    @classmethod
    def new(cls, worker_argv, max_workers):
        _check_max_workers(max_workers)
        if worker_argv is None and _in_venv():
            worker_argv = _self_argv()
        return super().new(worker_argv, max_workers)

    def run(self, task_name, args=None, cancellable=None):
        return super().run(task_name, to_variant(args), cancellable)

    def run_async(self, task_name, args=None, cancellable=None,
                  callback=None, *user_data):
        super().run_async(task_name, to_variant(args), cancellable,
                          callback, *user_data)

    def start(self, task_name, args=None, io_priority=GLib.PRIORITY_DEFAULT, cancellable=None):
        """Starts the task and returns its ``ACpu.Task`` handle; *args* may
        be a plain value (see :func:`to_variant`)."""
        return super().start(task_name, to_variant(args), io_priority, cancellable)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, tb):
        self.shutdown(None)
        return False


ProcessTaskPool = override(ProcessTaskPool)


class _PartialValues:
    """The async iterator of :meth:`Task.partial_values`."""

    def __init__(self, task):
        self._task = task
        self._values = collections.deque()
        self._handler = task.connect('partial-value', self._on_value)

    def _on_value(self, _task, value):
        self._values.append(value)

    def __aiter__(self):
        return self

    async def __anext__(self):
        import asyncio
        context = GLib.MainContext.default()
        # The task's context is iterated here, so this works under any asyncio
        # loop, one that runs GLib's context (PyGObject's) or not.
        while not self._values and not self._task.is_finished():
            if not context.iteration(False):
                await asyncio.sleep(0.001)
            else:
                await asyncio.sleep(0)
        if self._values:
            return self._values.popleft()
        if self._handler:
            self._task.disconnect(self._handler)
            self._handler = 0
        raise StopAsyncIteration


class Task(ACpu.Task):
    """A task's handle; see ``ACpu.Task`` in the reference."""

    def partial_values(self):
        """An async iterator of the task's partial values, in order::

            async for value in task.partial_values():
                ...

        It ends when the task does; then :meth:`get_result` tells how. Call
        it before the task's first value can arrive (before returning to the
        main loop): values come from the ``partial-value`` signal.
        It iterates the default ``GLib.MainContext`` while it waits.
        """
        return _PartialValues(self)


Task = override(Task)
