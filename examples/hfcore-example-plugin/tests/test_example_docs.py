"""hfcore's docs/writing-a-plugin.md shows this package's files in full; keep the two identical.

Skipped when the package is used outside the hfcore repository.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT.parents[1] / "docs" / "writing-a-plugin.md"
SHOWN = {"pyproject.toml", "hfcore_example/__init__.py", "hfcore_example/recall.py", "hfcore_example/fixed.py",
         "hfcore_example/plugin.py"}


@pytest.mark.skipif(not DOC.is_file(), reason="not inside the hfcore repository")
def test_walkthrough_shows_the_files_exactly():
    blocks = re.findall(r"<!-- example-file: (\S+) -->\n```\w*\n(.*?)^```$", DOC.read_text(), re.S | re.M)
    assert {path for path, _ in blocks} == SHOWN
    for path, text in blocks:
        assert text == (ROOT / path).read_text(), f"docs/writing-a-plugin.md differs from {path}"
