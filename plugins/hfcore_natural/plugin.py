"""pluggy entry point of the natural tasks (``[project.entry-points.hfcore] natural``).

Registers the next-step prediction tasks of Martens & Sutskever (2011, sec. 4.2,
Table 1; algorithm notes sec. 10): ``bouncing_balls``, ``music`` (needs the
``natural`` extra: music21) and ``speech`` (needs the ``espeak-ng`` program and
scipy). Importing this module imports neither music21 nor scipy, so the plugin
always loads; a missing dependency is reported when the task is built.
"""

from __future__ import annotations

from typing import Any

from hfcore.hookspecs import hookimpl
from hfcore_natural.bouncing_balls import BouncingBallsConfig, make_bouncing_balls
from hfcore_natural.music import MusicConfig, make_music
from hfcore_natural.speech import SpeechConfig, make_speech


@hookimpl
def hfcore_register_tasks(registry: Any) -> None:
    """Add ``bouncing_balls``, ``music`` and ``speech`` with their config schemas."""
    registry.add_task("bouncing_balls", make_bouncing_balls, BouncingBallsConfig())
    registry.add_task("music", make_music, MusicConfig())
    registry.add_task("speech", make_speech, SpeechConfig())
