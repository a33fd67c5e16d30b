"""Which signals should structural damping penalise in HF-LSTM (or HF-GRU)? The ablation of issue 19 (ninth session).

Runs ``hf-train`` (backend=numpy, model=lstm, or model=gru with ``--model gru``) once per (signal set,
seed), one run at a time, and
records per run whether it solved the task, with HF iterations, Gv products, minibatches, CPU and
wall seconds and the final test error, in ``<out>/runs.csv`` (rows already there are kept and not
run again, so an interrupted ablation resumes). Each run stops at success or at
``--budget-cpu`` CPU seconds of its own process (``hf.budget_clock=cpu``: load from other jobs on a
shared machine does not eat into it). The control is plain Tikhonov damping (``damping=tikhonov``).

Usage (the commands of docs/results.md)::

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 2 \\
        python benchmarks/lstm_signals.py --out docs/results/lstm-signals
    python benchmarks/lstm_signals.py --out /tmp/x --sets tikhonov cell_inputs,gates --seeds 0 --T 10 \\
        --budget-cpu 5 --dry-run      # print the commands only
    python benchmarks/lstm_signals.py --out docs/results/lstm-signals --table   # the table of docs/results.md
    python benchmarks/lstm_signals.py --model gru --out docs/results/gru-signals   # the GRU's (its own sets)

One ``--out`` folder holds one model's runs (the model is read back from each row's command).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SETS = ["tikhonov", "cell_inputs,gates", "hidden", "hidden,cell", "cell_inputs,gates,cell",
        "cell_inputs,gates,cell,hidden"]
"""Signal sets compared: ``tikhonov`` is the control (no structural damping), the others ``model.damped_signals``."""

GRU_SETS = ["tikhonov", "update,reset,candidate", "hidden", "candidate", "update,reset,candidate,hidden",
            "candidate,hidden"]
"""The GRU's signal sets (``--model gru``), as :data:`SETS`."""

MODELS = {"lstm": (SETS, "cell_inputs,gates", 32), "gru": (GRU_SETS, "update,reset,candidate", 24)}
"""Per model: its signal sets, its default set, its default ``--hidden`` (the GRU's 24 units have 1,969
parameters on addition, the LSTM's 32 cells in blocks of 4 have 1,993)."""

FIELDS = ["signals", "damping", "task", "T", "hidden", "seed", "solved", "iterations", "gv_products", "minibatches",
          "cpu_seconds", "wall_seconds", "test_error", "returncode", "command"]
LINE = re.compile(r"^(SOLVED|not solved): task=(?P<task>\S+) T=(?P<T>\d+) seed=(?P<seed>\d+) iterations=(?P<it>\d+) "
                  r"minibatches=(?P<mb>[\d.]+) gv=(?P<gv>\d+) test_error=(?P<err>[\d.e+-]+|nan) wall=(?P<wall>[\d.]+)s "
                  r"cpu=(?P<cpu>[\d.]+)s", re.M)


def command(args: argparse.Namespace, signals: str, seed: int) -> list[str]:
    """The hf-train arguments of one run."""
    exe = shutil.which("hf-train", path=str(Path(sys.executable).parent)) or "hf-train"
    damping = ["damping=tikhonov"] if signals == "tikhonov" else [f"model.damped_signals=[{signals}]"]
    blocks = [f"model.cells_per_block={args.cells_per_block}"] if args.model == "lstm" else []
    return [exe, "backend=numpy", f"model={args.model}", f"model.hidden={args.hidden}",
            *blocks, f"task={args.task}", f"task.T={args.T}", "hf=small",
            f"task.test_size={args.test_size}", f"damping.lambda0={args.lambda0}", *damping,
            f"hf.budget_seconds={args.budget_cpu}", "hf.budget_clock=cpu", f"seed={seed}", "progress=false",
            "tracking=none", *args.extra]


def run_one(args: argparse.Namespace, signals: str, seed: int) -> dict[str, object]:
    """Run one configuration in a fresh temporary folder; its result row."""
    cmd = command(args, signals, seed)
    with tempfile.TemporaryDirectory(prefix=f"{args.model}-signals-") as tmp:
        out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    found = LINE.search(out.stdout)
    row: dict[str, object] = {"signals": signals, "damping": "tikhonov" if signals == "tikhonov" else "structural",
                              "task": args.task, "T": args.T, "hidden": args.hidden, "seed": seed,
                              "returncode": out.returncode, "command": " ".join(["hf-train", *cmd[1:]])}
    if found is None:
        sys.stderr.write(out.stderr[-2000:])
        return row | {"solved": "error"}
    return row | {"solved": found.group(1) == "SOLVED", "iterations": int(found["it"]), "gv_products": int(found["gv"]),
                  "minibatches": float(found["mb"]), "cpu_seconds": float(found["cpu"]),
                  "wall_seconds": float(found["wall"]), "test_error": float(found["err"])}


def model_of(rows: list[dict[str, str]]) -> str | None:
    """The model the rows of a ``runs.csv`` ran (from their commands: the LSTM's rows predate ``--model``)."""
    found = {"gru" if " model=gru " in f" {r['command']} " else "lstm" for r in rows}
    if len(found) > 1:
        raise SystemExit(f"lstm_signals.py: error: runs.csv mixes models {sorted(found)}; use one --out per model")
    return found.pop() if found else None


def table(path: Path) -> str:
    """The Markdown table of ``runs.csv``: one row per signal set, each seed's result, in the model's set order."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    order, default, _ = MODELS[model_of(rows) or "lstm"]
    sets = [s for s in order if any(r["signals"] == s for r in rows)]
    sets += sorted({r["signals"] for r in rows} - set(order))
    seeds = sorted({int(r["seed"]) for r in rows})
    head = ("| signals damped | " + " | ".join(f"seed {s}: minibatches / CPU s" for s in seeds)
            + " | solved | median of the solved |")
    lines = [head, "|---" * (len(seeds) + 3) + "|"]
    for name in sets:
        cells, solved = [], 0
        won = [r for r in rows if r["signals"] == name and r["solved"] == "True"]
        median = (f"{statistics.median(float(r['minibatches']) for r in won):,.0f} / "
                  f"{statistics.median(float(r['cpu_seconds']) for r in won):.0f}") if won else "—"
        for seed in seeds:
            r = next((r for r in rows if r["signals"] == name and int(r["seed"]) == seed), None)
            if r is None or r["solved"] == "error":
                cells.append("—" if r is None else "error")
                continue
            solved += r["solved"] == "True"
            cell = f"{float(r['minibatches']):,.0f} / {float(r['cpu_seconds']):.0f}"
            cells.append(cell if r["solved"] == "True" else f"not solved ({cell}, test error {r['test_error']})")
        label = "none (Tikhonov only)" if name == "tikhonov" else "{" + ", ".join(name.split(",")) + "}"
        label += " (default)" if name == default else ""
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {solved}/{len(seeds)} | {median} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder of runs.csv")
    p.add_argument("--model", choices=sorted(MODELS), default="lstm")
    p.add_argument("--sets", nargs="+", default=None,
                   help="signal sets (comma-separated names) or 'tikhonov' (default: the model's, SETS or GRU_SETS)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--task", default="addition")
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--hidden", type=int, default=None, help="units (default: 32 LSTM cells, 24 GRU units)")
    p.add_argument("--cells-per-block", type=int, default=4, help="the LSTM's")
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--lambda0", type=float, default=0.01)
    p.add_argument("--budget-cpu", type=float, default=300.0, help="CPU seconds per run")
    p.add_argument("--extra", nargs="*", default=[], help="further hf-train overrides")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--table", action="store_true", help="print the Markdown table of <out>/runs.csv, run nothing")
    args = p.parse_args(argv)
    sets, _, hidden = MODELS[args.model]
    args.sets = sets if args.sets is None else args.sets
    args.hidden = hidden if args.hidden is None else args.hidden
    path = args.out / "runs.csv"
    if args.table:
        print(table(path))
        return 0
    done = set()
    if path.exists():
        with path.open() as f:
            rows = list(csv.DictReader(f))
        if model_of(rows) not in (None, args.model):
            p.error(f"{path} holds {model_of(rows)} runs, not {args.model}: use another --out")
        done = {(r["signals"], int(r["seed"])) for r in rows}
    todo = [(s, seed) for seed in args.seeds for s in args.sets if (s, seed) not in done]
    if args.dry_run:
        for s, seed in todo:
            print(" ".join(command(args, s, seed)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for s, seed in todo:
        row = run_one(args, s, seed)
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        print(f"{s:32s} seed={seed} solved={row['solved']} minibatches={row.get('minibatches')} "
              f"cpu={row.get('cpu_seconds')} test_error={row.get('test_error')}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    raise SystemExit(main())
