"""pluggy entry point of the built-in tasks (``[project.entry-points.hfcore] tasks``).

Registers the pathological problems of Martens & Sutskever (2011, sec. 4.1,
Figure 3; algorithm notes sec. 9): ``addition``, ``multiplication``, ``xor``,
``temporal_order``, ``temporal_order_3bit``, ``random_permutation`` and
``memorization`` (5- and 20-bit via ``bits``), and ``quadratic`` (an
exactly-quadratic engine test).
"""

from __future__ import annotations

from typing import Any

from hfcore.hookspecs import hookimpl
from hfcore_tasks.addition import AdditionConfig, make_addition
from hfcore_tasks.memorization import MemorizationConfig, make_memorization
from hfcore_tasks.multiplication import MultiplicationConfig, make_multiplication
from hfcore_tasks.permutation import RandomPermutationConfig, make_random_permutation
from hfcore_tasks.quadratic import QuadraticConfig, make_quadratic
from hfcore_tasks.temporal import (
    TemporalOrder3BitConfig,
    TemporalOrderConfig,
    make_temporal_order,
    make_temporal_order_3bit,
)
from hfcore_tasks.xor import XorConfig, make_xor


@hookimpl
def hfcore_register_tasks(registry: Any) -> None:
    """Add the built-in tasks with their config schemas."""
    registry.add_task("addition", make_addition, AdditionConfig())
    registry.add_task("quadratic", make_quadratic, QuadraticConfig())
    registry.add_task("multiplication", make_multiplication, MultiplicationConfig())
    registry.add_task("xor", make_xor, XorConfig())
    registry.add_task("temporal_order", make_temporal_order, TemporalOrderConfig())
    registry.add_task("temporal_order_3bit", make_temporal_order_3bit, TemporalOrder3BitConfig())
    registry.add_task("random_permutation", make_random_permutation, RandomPermutationConfig())
    registry.add_task("memorization", make_memorization, MemorizationConfig())
