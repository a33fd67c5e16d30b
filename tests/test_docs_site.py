"""The docs site (mkdocs.yml) builds with ``mkdocs build --strict``: no broken link or anchor, no page left
out of the nav, no docstring that mkdocstrings or the Sphinx-role extension warns about.

Needs the ``docs`` extra; without it the tests skip and say so.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

pytestmark = pytest.mark.extra("docs")  # skipped without the docs extra (tests/extras.py)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One strict build of the real site into a temporary folder, shared by the tests below."""
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    return proc, site


def test_strict_build_passes(built_site: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = built_site
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert not re.search(r"^(WARNING|ERROR)", output, re.MULTILINE), output


def test_every_docs_page_is_a_site_page(built_site: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, site = built_site
    for page in DOCS.rglob("*.md"):
        rel = page.relative_to(DOCS).with_suffix("")
        html = site / (rel.parent if rel.name == "index" else rel) / "index.html"  # use_directory_urls
        assert html.is_file(), f"{page.relative_to(ROOT)} has no page in the site"


def test_results_plots_are_on_the_results_page(built_site: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, site = built_site
    html = (site / "results" / "index.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) >= 8, images
    for src in images:
        assert (site / "results" / src).is_file(), src


def test_api_reference_is_generated_from_the_docstrings(
    built_site: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, site = built_site
    cg = (site / "api" / "cg" / "index.html").read_text()
    assert 'id="hfcore.cg.ConjugateGradient"' in cg
    # numpydoc sections rendered as such, with the signature's defaults.
    assert "Parameters:" in cg and "<code>1.3</code>" in cg
    # Sphinx roles became links (the extension), none is printed raw.
    assert 'href="#hfcore.cg.save_schedule"' in cg
    for page in (site / "api").rglob("index.html"):
        assert not re.search(r":(func|meth|class|mod|data|attr|exc):`", page.read_text()), page
    backends = (site / "api" / "plugins-backends" / "index.html").read_text()
    assert 'id="hfcore_numpy.plugin.make_model"' in backends


def test_a_stale_sphinx_role_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A role naming nothing fails ``--strict`` (it is logged as a warning) instead of rendering as code."""
    import griffe

    sys.path.insert(0, str(ROOT / "docs_ext"))
    try:
        from sphinx_roles import SphinxRoles
    finally:
        sys.path.remove(str(ROOT / "docs_ext"))
    package = tmp_path / "stalepkg"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        """Uses :class:`Thing` and :func:`~stalepkg.helper`, and once :class:`Gone`."""


        class Thing:
            """A thing; see :meth:`run`."""

            def run(self) -> None:
                """Run."""


        def helper() -> None:
            """Help."""
    '''))
    with caplog.at_level("WARNING"):
        module = griffe.load("stalepkg", search_paths=[str(tmp_path)], extensions=griffe.load_extensions(SphinxRoles))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and ":class:`Gone` names nothing that exists" in warnings[0], warnings
    text = module.docstring.value
    assert '<autoref identifier="stalepkg.Thing" optional><code>Thing</code></autoref>' in text
    assert '<autoref identifier="stalepkg.helper" optional><code>helper()</code></autoref>' in text
    assert '<autoref identifier="stalepkg.Thing.run" optional>' in module["Thing"].docstring.value
