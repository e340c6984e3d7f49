# SPDX-License-Identifier: LGPL-2.1-or-later
"""asynccpu_glib: asynccpu's ProcessTaskPoolExecutor on asynccpu-glib.

    from asynccpu_glib import ProcessTaskPoolExecutor

is the one line a program written for asynccpu changes. See docs/dropin.md.
"""

from ._executor import (  # noqa: F401
    AsyncCpuGlibError,
    ProcessTaskPoolExecutor,
    RemoteError,
    RemoteTraceback,
    Terminated,
    WorkerDied,
)
from ._values import decode, encode  # noqa: F401
from ._worker import current_task_cancelled  # noqa: F401

__all__ = [
    "ProcessTaskPoolExecutor",
    "AsyncCpuGlibError",
    "RemoteError",
    "RemoteTraceback",
    "WorkerDied",
    "Terminated",
    "current_task_cancelled",
    "encode",
    "decode",
]
