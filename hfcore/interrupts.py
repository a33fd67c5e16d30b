"""Writes that a Ctrl-C or SIGTERM must not cut in half.

:class:`hfcore.run.SignalGuard` turns SIGINT and SIGTERM into exceptions raised wherever the main thread
is. Raised inside a tracking-store commit, such an exception (a ``KeyboardInterrupt``, which the store's
``except Exception`` handling lets pass) cuts the write short, and the sqlite connection can keep its write
lock: closing the run then failed with "database is locked" and left it RUNNING (seen under load). Code
that writes wraps the write in :func:`uninterrupted`; the guard's handlers ask :func:`defer` first, and the
interrupt is raised when the outermost block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_pending: BaseException | None = None


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Run the block to its end; an interrupt that arrives inside is raised once it has ended.

    If the block itself raises, that error propagates and the held interrupt is dropped (the run has
    failed either way).
    """
    global _depth, _pending
    _depth += 1
    try:
        yield
    except BaseException:
        _depth -= 1
        if _depth == 0:
            _pending = None
        raise
    _depth -= 1
    if _depth == 0 and _pending is not None:
        held, _pending = _pending, None
        raise held


def defer(interrupt: BaseException) -> bool:
    """Hold ``interrupt`` if an :func:`uninterrupted` block is running (True); else the caller raises it."""
    global _pending
    if _depth == 0:
        return False
    if _pending is None:
        _pending = interrupt
    return True
