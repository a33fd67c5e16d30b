"""pluggy entry point of the built-in tasks (``[project.entry-points.hfcore] tasks``).

Registers ``addition`` (HS97 Exp. 4 / MS11 release form, algorithm notes sec. 9)
and ``quadratic`` (an exactly-quadratic engine test).
"""

from __future__ import annotations

from typing import Any

from hfcore.hookspecs import hookimpl
from hfcore_tasks.addition import AdditionConfig, make_addition
from hfcore_tasks.quadratic import QuadraticConfig, make_quadratic


@hookimpl
def hfcore_register_tasks(registry: Any) -> None:
    """Add the built-in tasks with their config schemas."""
    registry.add_task("addition", make_addition, AdditionConfig())
    registry.add_task("quadratic", make_quadratic, QuadraticConfig())
