"""docs/writing-a-plugin.md cannot drift from the example plugin it walks through.

A code block the page marks ``<!-- example-file: PATH -->`` must be that file of
``examples/hfcore-example-plugin/`` exactly; one marked ``<!-- example-excerpt: PATH -->`` must appear in
that file verbatim. The MGU walkthrough must show the parts a model author writes (schema, blocks,
forward map with its signals, registration) as excerpts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "writing-a-plugin.md"
EXAMPLE = ROOT / "examples" / "hfcore-example-plugin"
MARKED = re.compile(r"<!-- example-(file|excerpt): (\S+) -->\n```\w*\n(.*?)^```$", re.S | re.M)


def marked_blocks() -> list[tuple[str, str, str]]:
    return MARKED.findall(DOC.read_text())


def test_every_marked_block_matches_the_example_source():
    blocks = marked_blocks()
    assert blocks, "no marked code blocks found"
    for kind, path, text in blocks:
        source = (EXAMPLE / path).read_text()
        if kind == "file":
            assert text == source, f"docs/writing-a-plugin.md shows {path} but differs from it"
        else:
            assert text in source, f"docs/writing-a-plugin.md excerpt of {path} is not in it verbatim:\n{text}"


@pytest.mark.parametrize("needle", [
    "class MGUConfig(ModelConfig):", "def blocks(self)", "def forward(self", "DampedSignal(\"candidate\"",
    "CANDIDATE_WEIGHT, UPDATE_WEIGHT =", "def make_mgu", "registry.add_model(\"mgu\"",
])
def test_mgu_walkthrough_shows_each_part_as_checked_code(needle):
    assert any(needle in text for kind, _, text in marked_blocks() if kind == "excerpt"), needle


def test_an_unmarked_copy_would_be_caught():
    """The pattern really finds the blocks: every fenced block that names mgu.py's code is marked."""
    text = DOC.read_text()
    fenced = re.findall(r"(<!-- example-\w+: \S+ -->\n)?```python\n(.*?)^```$", text, re.S | re.M)
    for marker, body in fenced:
        if "def forward(self" in body or "class MGUConfig" in body:
            assert marker, f"an unmarked block copies the MGU's code:\n{body[:200]}"
