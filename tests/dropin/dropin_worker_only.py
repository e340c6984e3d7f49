# SPDX-License-Identifier: LGPL-2.1-or-later
"""Imported by workers only (dropin_tasks.raise_unimported), never by the
test process: an exception class the parent does not have."""


class OnlyHereError(Exception):
    pass
