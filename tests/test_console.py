"""What hf-train prints on a console (issue 15, item 8): the bar and the log lines, their cadence, sweep labels."""

from __future__ import annotations

import io
import logging
import re
import sys
from types import SimpleNamespace

import pytest

from hfcore.reporting import ProgressReporter, job_label
from tests.test_cli import hf_train

TINY = ["task.T=10", "model.hidden=8", "hf.gradient_batch=100", "hf.curvature_batch=20", "task.test_size=50",
        "progress=false", "tracking=none"]


def step(iteration: int, first_order: bool = True) -> tuple[SimpleNamespace, SimpleNamespace]:
    """A state and a StepInfo-like record with what the reporter reads."""
    info = SimpleNamespace(new_train_loss=0.5, cg_reason="none" if first_order else "progress", step_size=0.01,
                           delta_norm=0.1, lam=1.0, rho=0.5, cg_iterations=3,
                           counters=SimpleNamespace(minibatches=0.1 * iteration))
    return SimpleNamespace(iteration=iteration), info


@pytest.mark.parametrize("first_order", [True, False])
def test_log_lines_follow_log_every_and_test_evaluations(caplog, first_order):
    reporter = ProgressReporter(enabled=False, log_every=10)
    with caplog.at_level("INFO", logger="hfcore"):
        for i in range(1, 26):
            state, info = step(i, first_order)
            reporter.on_step(state, info, {"test.error": 0.25} if i % 8 == 0 or i == 25 else {})
    logged = [int(re.match(r"iter (\d+)  ", m).group(1)) for m in caplog.messages]
    assert logged == [8, 10, 16, 20, 24, 25]  # every 10th, and every evaluated one
    assert len(reporter.history) == 25  # the plot still gets every iteration
    for message in caplog.messages:
        assert "nan" not in message
        assert ("test_err 0.25" in message) == (int(message.split()[1]) % 8 == 0 or message.startswith("iter 25 "))


class Terminal(io.StringIO):
    """A stream that says it is a TTY: stdout and stderr of a console."""

    def isatty(self) -> bool:
        return True


def screen(text: str) -> list[str]:
    """The lines a terminal shows for ``text`` (a carriage return moves back to column 0 and overwrites)."""
    lines = []
    for raw in text.split("\n"):
        cells: list[str] = []
        column = 0
        for char in raw:
            if char == "\r":
                column = 0
                continue
            cells[column:column + 1] = [char]
            column += 1
        lines.append("".join(cells).rstrip())
    return lines


def test_log_lines_print_above_the_bar_not_on_its_line(monkeypatch):
    console = Terminal()
    monkeypatch.setattr(sys, "stdout", console)
    monkeypatch.setattr(sys, "stderr", console)
    handler = logging.StreamHandler(sys.stdout)  # Hydra's console handler writes to stdout
    handler.setFormatter(logging.Formatter("[hfcore][INFO] - %(message)s"))
    root, hfcore_log = logging.getLogger(), logging.getLogger("hfcore")
    root.addHandler(handler)
    monkeypatch.setattr(hfcore_log, "level", logging.INFO)
    try:
        reporter = ProgressReporter(enabled=True, log_every=1)
        assert reporter.bar is not None
        for i in range(1, 4):
            reporter.on_step(*step(i), {"test.error": 0.5})
        reporter.close()
    finally:
        root.removeHandler(handler)
    shown = screen(console.getvalue())
    logged = [line for line in shown if "iter " in line]
    assert len(logged) == 3, shown
    for line in logged:
        assert line.startswith("[hfcore][INFO] - iter "), shown  # on a line of its own, not after the bar
        assert "it/s" not in line and "HF:" not in line, shown
    assert any(line.startswith("HF: 3it") for line in shown), shown


def test_redirect_is_undone_on_close(monkeypatch):
    console = Terminal()
    monkeypatch.setattr(sys, "stdout", console)
    monkeypatch.setattr(sys, "stderr", console)
    handler = logging.StreamHandler(sys.stdout)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        reporter = ProgressReporter(enabled=True)
        assert handler not in root.handlers  # replaced by tqdm's handler while the bar is shown
        reporter.close()
        assert handler in root.handlers
    finally:
        root.removeHandler(handler)


def test_sgd_console_follows_tracking_log_every(tmp_path):
    out = hf_train(tmp_path, *TINY, "optimizer=sgd", "hf.max_iterations=30", "hf.eval_every=10",
                   "tracking.log_every=5")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "][hfcore][INFO] - iter " in line]
    assert [int(line.split(" - iter ")[1].split()[0]) for line in lines] == [5, 10, 15, 20, 25, 30]
    assert not any("nan" in line for line in lines)
    assert all(("test_err" in line) == (int(line.split(" - iter ")[1].split()[0]) % 10 == 0) for line in lines)


def test_multirun_log_lines_name_their_job(tmp_path):
    out = hf_train(tmp_path, "--multirun", *TINY, "hf.max_iterations=2", "seed=0,1")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "][hfcore][INFO] - " in line]
    labels = [re.search(r"\]\[hfcore\]\[INFO\] - (\[#\d\]) iter (\d)", line).groups() for line in lines]
    assert labels == [("[#0]", "1"), ("[#0]", "2"), ("[#1]", "1"), ("[#1]", "2")]


def test_single_run_lines_have_no_job_label(tmp_path):
    assert job_label() == ""  # no Hydra job at all
    out = hf_train(tmp_path, *TINY, "hf.max_iterations=1")
    assert out.returncode == 0, out.stderr
    (line,) = [line for line in out.stdout.splitlines() if "][hfcore][INFO] - " in line]
    assert " - iter 1  loss " in line
