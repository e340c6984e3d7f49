# _asynccpu_glib_wheel.py — lets a wheel of asynccpu-glib (pip install .)
# work with no environment variable set.
#
# Copyright 2026 The asynccpu-glib authors
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installed only by the wheel build (-Dwheel=true, pyproject.toml), beside
# asynccpu-glib-wheel.pth, which imports it when the interpreter starts.
# meson-python puts the library and the typelib in a .<name>.mesonpy.libs
# folder of site-packages, where neither GIRepository nor the dynamic loader
# looks. At start-up this only puts the typelib folder on GI_TYPELIB_PATH
# (inherited by worker processes) and adds a finder that, when
# gi.repository.ACpu is first imported, loads the bundled library, so the
# typelib's "libasynccpu-glib-1.so.0" is found already loaded. No gi import,
# nothing loaded, for programs that do not use ACpu.

import os
import sys

# meson-python names it after the project. (No glob or re here: this runs at
# every start of the interpreter.)
_here = os.path.dirname(os.path.abspath(__file__))
_libs = [d for d in (os.path.join(_here, '.asynccpu_glib.mesonpy.libs'),
                     os.path.join(_here, '.asynccpu-glib.mesonpy.libs'))
         if os.path.isdir(d)]


class _LoadLibrary:
    """A sys.meta_path finder that finds nothing: it loads the library on
    the way, the first time ACpu is imported."""

    loaded = False

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == 'gi.repository.ACpu' and not cls.loaded:
            import ctypes

            cls.loaded = True
            for lib in sorted(os.listdir(_libs[0])):
                if lib.startswith('libasynccpu-glib-1.so.'):
                    ctypes.CDLL(os.path.join(_libs[0], lib), mode=ctypes.RTLD_GLOBAL)
                    break
        return None


if _libs:
    _typelibs = os.path.join(_libs[0], 'girepository-1.0')
    _path = os.environ.get('GI_TYPELIB_PATH')
    if _typelibs not in (_path or '').split(os.pathsep):
        os.environ['GI_TYPELIB_PATH'] = _typelibs + (os.pathsep + _path if _path else '')
    sys.meta_path.insert(0, _LoadLibrary)
