"""The single place where the optional ``autograd`` dependency is imported.

Every model module imports autograd through here, so a missing package gives one
clear ``ImportError`` (naming the extra to install) instead of a bare
``ModuleNotFoundError``; :mod:`hfcore_autograd.plugin` itself never imports this
module at import time, so the plugin always loads.
"""

from __future__ import annotations

MISSING_AUTOGRAD = "backend 'autograd' needs the autograd extra: pip install 'hfcore[autograd]'"
"""Message of the ``ImportError`` raised when autograd cannot be imported."""

try:
    import autograd.numpy as anp
    from autograd import value_and_grad
    from autograd.builtins import tuple as ag_tuple
    from autograd.core import make_vjp
    from autograd.extend import SparseObject, defvjp, defvjp_argnum, primitive, vspace
    from autograd.tracer import getval
except ImportError as exc:  # absent, or blocked (``sys.modules['autograd'] = None``)
    raise ImportError(MISSING_AUTOGRAD) from exc

__all__ = [
    "MISSING_AUTOGRAD",
    "SparseObject",
    "ag_tuple",
    "anp",
    "defvjp",
    "defvjp_argnum",
    "getval",
    "make_vjp",
    "primitive",
    "value_and_grad",
    "vspace",
]
