"""``examples/train_in_python.py`` runs without Hydra, OmegaConf or MLflow; ``docs/python-api.md`` shows its code."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "train_in_python.py"
PAGE = ROOT / "docs" / "python-api.md"


def test_the_example_trains_without_hydra_omegaconf_or_mlflow(tmp_path):
    code = (f"import runpy, sys\n"
            f"train_addition = runpy.run_path({str(EXAMPLE)!r})['train_addition']\n"
            f"result = train_addition(T=10, hidden=8, test_size=50, batches=(100, 20), max_iterations=2, "
            f"output_dir={str(tmp_path / 'run')!r})\n"
            f"print(result.line())\n"
            f"print([m for m in ('hydra', 'omegaconf', 'mlflow') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    line, modules = out.stdout.strip().splitlines()[-2:]
    assert re.match(r"(SOLVED|not solved): task=addition T=10 seed=0 iterations=2 minibatches=\d+ gv=\d+ ", line), line
    assert line.endswith(f"checkpoint={tmp_path / 'run' / 'checkpoints' / 'state.npz'}")
    assert modules == "[]"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["iterations"] == 2


def _blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page, re.DOTALL)


def test_the_page_shows_the_example_as_it_is():
    source = EXAMPLE.read_text()
    tree = ast.parse(source)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train_addition")
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module != "__future__"]
    shown = _blocks(PAGE.read_text())
    assert ast.get_source_segment(source, function) + "\n" in shown
    assert "".join(ast.get_source_segment(source, n) + "\n" for n in imports) in shown
    body = [line for line in ast.get_source_segment(source, function).splitlines()[3:] if line.strip()]
    assert len(body) <= 10  # "a run in ten lines"
