# SPDX-License-Identifier: LGPL-2.1-or-later
"""Functions by reference: (module, qualified name), both ways."""

import importlib
import os
import sys
import types

__all__ = ["reference", "resolve", "main_info"]

_cache = {}


class _StopBootstrap(BaseException):
    """Raised in a worker importing the __main__ script when the script goes on
    to create an executor (its main code was not guarded by
    ``if __name__ == "__main__":``): what was defined so far is kept."""


# Set by the worker while it runs the parent's __main__ script.
bootstrapping = False


def _describe(function):
    return getattr(function, "__qualname__", None) or repr(function)


def reference(function):
    """Returns (module, qualname) for @function, or raises TypeError saying why
    a worker could not find it."""
    try:
        return _cache[function]
    except (KeyError, TypeError):
        pass

    if isinstance(function, types.MethodType):
        owner = function.__self__
        if not isinstance(owner, type):
            raise TypeError(
                "%s is a method bound to an instance of %s: a worker cannot get that instance; "
                "pass a module-level function (or a staticmethod/classmethod)"
                % (_describe(function), type(owner).__qualname__))
    elif not isinstance(function, (types.FunctionType, types.BuiltinFunctionType)):
        if callable(function):
            raise TypeError(
                "%r is not a function: a worker runs module-level functions given by reference "
                "(functools.partial objects and callable instances cannot be sent)" % (function,))
        raise TypeError("%r is not callable" % (function,))

    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if module is None or qualname is None:
        raise TypeError("%r has no module or qualified name: a worker cannot import it"
                        % (function,))
    if function.__name__ == "<lambda>" or "<lambda>" in qualname:
        raise TypeError(
            "%s is a lambda: a worker imports functions by module and name, and a lambda has "
            "no name it can be found by; define it with def at module level" % qualname)
    if "<locals>" in qualname:
        raise TypeError(
            "%s is defined inside another function (a closure or local function): a worker "
            "imports functions by module and name and cannot reach it; define it at module "
            "level" % qualname)

    mod = sys.modules.get(module)
    if mod is None:
        raise TypeError("%s.%s: module %s is not imported, a worker could not find it"
                        % (module, qualname, module))
    if module == "__main__":
        main_info()  # raises TypeError when a worker cannot load __main__

    obj = mod
    try:
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise TypeError("%s.%s cannot be found by that name in its module (was it created "
                        "dynamically, renamed or wrapped by a decorator?)"
                        % (module, qualname)) from None
    if obj is not function and not (isinstance(function, types.MethodType) and obj == function):
        raise TypeError("%s.%s is not the function passed (the name refers to another object, "
                        "e.g. a decorator's wrapper)" % (module, qualname))

    ref = (module, qualname)
    try:
        _cache[function] = ref
    except TypeError:
        pass
    return ref


def main_info():
    """How a worker finds the parent's __main__: ("path", file) or ("module",
    name), or raises TypeError."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None) and spec.name != "__main__":
        name = spec.name
        if name.endswith(".__main__"):
            name = name[: -len(".__main__")]
        return ("module", name)
    path = getattr(main, "__file__", None)
    if path:
        return ("path", os.path.abspath(path))
    raise TypeError("functions of __main__ cannot be run in a worker when __main__ has no file "
                    "(interactive session or python -c): put them in a module")


_main_module = None


def _load_main(info):
    """Runs the parent's main script under the name __mp_main__, the way
    multiprocessing's spawn does, and installs it as __main__."""
    global _main_module, bootstrapping
    if _main_module is not None:
        return _main_module
    kind, where = info
    module = types.ModuleType("__mp_main__")
    if kind == "module":
        import runpy
        mod_name, spec, code = runpy._get_module_details(where)  # noqa: SLF001
        module.__file__ = spec.origin
        module.__spec__ = None
        module.__loader__ = spec.loader
        module.__package__ = spec.parent
    else:
        with open(where, "rb") as f:
            source = f.read()
        code = compile(source, where, "exec")
        module.__file__ = where
        module.__loader__ = None
        module.__package__ = None
        module.__spec__ = None
    module.__builtins__ = __builtins__
    sys.modules["__mp_main__"] = module
    old_main = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    bootstrapping = True
    try:
        exec(code, module.__dict__)
    except _StopBootstrap:
        pass
    except BaseException:
        sys.modules["__main__"] = old_main
        del sys.modules["__mp_main__"]
        raise
    finally:
        bootstrapping = False
    _main_module = module
    return module


def resolve(module, qualname, main):
    """In a worker: the function for (module, qualname)."""
    key = (module, qualname)
    try:
        return _cache[key]
    except KeyError:
        pass
    if module in ("__main__", "__mp_main__"):
        if main is None:
            raise RuntimeError("the parent's __main__ cannot be loaded in a worker")
        obj = _load_main(main)
    else:
        obj = importlib.import_module(module)
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            if module in ("__main__", "__mp_main__"):
                raise AttributeError(
                    "%s not found in the main script as a worker loads it: define it before "
                    "the code that creates the executor, and guard that code with "
                    "if __name__ == \"__main__\":" % qualname) from None
            raise
    _cache[key] = obj
    return obj
