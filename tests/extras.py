"""Optional parts that some tests need, and how to get each.

A test that needs one is marked ``@pytest.mark.extra("<part>")`` (or carries the mark through
``pytest.param(..., marks=...)`` or a module's ``pytestmark``). ``conftest.py`` skips it, with the
install line below as the reason, when the part is absent. The README's test command therefore passes
on a machine with nothing optional installed, and CI's second stage runs exactly these tests, with
``pytest -m extra``, once it has installed every part.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from hfcore.testing.mlflow_ui import find_chromium

BIN = Path(sys.executable).parent


def _module(name: str) -> Callable[[], bool]:
    def available() -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a dotted name whose parent package is missing
            return False

    return available


def _gloo() -> bool:
    if importlib.util.find_spec("torch") is None or shutil.which("torchrun", path=str(BIN)) is None:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_gloo_available()


PARTS: dict[str, tuple[Callable[[], bool], str]] = {
    "torch": (_module("torch"), "needs the torch extra: pip install -e '.[torch]' (CI pins torch==2.13.0)"),
    "gloo": (_gloo, "needs torch with gloo and torchrun: pip install -e '.[torch]'"),
    "espeak": (lambda: shutil.which("espeak-ng") is not None, "needs espeak-ng: apt-get install espeak-ng"),
    "browser": (lambda: find_chromium() is not None and _module("playwright")(),
                "needs headless Chromium and Playwright: apt-get install chromium; pip install -e '.[ui-test]'"),
    "docs": (lambda: all(_module(m)() for m in ("mkdocs", "material", "mkdocstrings_handlers.python")),
             "needs the docs extra: pip install -e '.[docs]'"),
}
"""Each optional part: a check that it is here, and the skip reason (what to install) when it is not."""


def missing_reason(part: str) -> str | None:
    """Why a test needing ``part`` must skip here, or None when ``part`` is available."""
    if part not in PARTS:
        raise ValueError(f"unknown optional part {part!r}; known: {', '.join(PARTS)}")
    available, reason = PARTS[part]
    return None if available() else reason
