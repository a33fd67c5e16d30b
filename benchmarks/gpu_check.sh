#!/usr/bin/env bash
# The checks to run when a session is lent a GPU (one short script, under 9 minutes on an H100 with the
# defaults; everything it writes goes under $OUT):
#   (a) the CUDA tests: the tests named *cuda* in the test files that look for CUDA (they skip without it);
#   (b) addition T = 100 (experiment=ms2011_addition) on backend=torch backend.device=cuda, stopped by SIGTERM
#       at a fixed wall limit (the run saves its checkpoint; timeout exits 124), optionally resumed from a
#       checkpoint; writes $OUT/checkpoint/state.npz and $OUT/devices.log, which says which iterations ran
#       on which device (the lines of a devices.log beside the resumed checkpoint come first);
#   (c) benchmarks/gv_torch.py on CUDA: the LSTM's and GRU's gradient and Gv on the kit's unrolled cells
#       (cuDNN off: no fused RNN) against NumPy on one CPU thread, with the agreement check.
# Usage (on the lent machine, from the repository root):
#   bash benchmarks/gpu_check.sh [--checkpoint PATH] [--wall-limit SECONDS] [--iterations N]
#                                [--skip tests,train,gv] [--dry-run] [--help]
#   --checkpoint PATH   resume the training from this state.npz (same model and task settings)
#   --wall-limit S      seconds the training may run before SIGTERM (default 240)
#   --iterations N      stop the training after N HF iterations in all (hf.max_iterations; default: no cap)
#   --skip LIST         leave out some of tests, train, gv
#   --dry-run           the same commands on the CPU at tiny sizes, with this Python, nothing installed
#                       (what tests/test_gpu_check.py runs)
# Time on an H100 with the defaults, each part capped by a timeout: setup under 1 min, (a) at most 100 s,
# (b) the wall limit plus at most 30 s to save (SIGKILL after), (c) at most 120 s: under 9 minutes. A run stopped by the limit resumes with
# --checkpoint $OUT/checkpoint/state.npz on the next machine. Not runnable here: no session has CUDA on
# the development machines; the dry run is what is tested.
set -uo pipefail
PROG=gpu_check.sh
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
fail() { echo "$PROG: error: $*" >&2; exit 2; }

CHECKPOINT="" WALL_LIMIT=240 ITERATIONS="" SKIP="" DRY_RUN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --checkpoint) [ $# -ge 2 ] || fail "--checkpoint needs a path"; CHECKPOINT=$2; shift 2 ;;
    --wall-limit) [ $# -ge 2 ] || fail "--wall-limit needs a number of seconds"; WALL_LIMIT=$2; shift 2 ;;
    --iterations) [ $# -ge 2 ] || fail "--iterations needs a number"; ITERATIONS=$2; shift 2 ;;
    --skip) [ $# -ge 2 ] || fail "--skip needs a list (tests,train,gv)"; SKIP=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$WALL_LIMIT" =~ ^[1-9][0-9]*$ ]] || fail "--wall-limit must be a whole number of seconds > 0, got '$WALL_LIMIT'"
[ -z "$ITERATIONS" ] || [[ "$ITERATIONS" =~ ^[1-9][0-9]*$ ]] || fail "--iterations must be a whole number > 0, got '$ITERATIONS'"
for part in ${SKIP//,/ }; do
  case "$part" in tests|train|gv) ;; *) fail "--skip takes tests, train and gv, got '$part'" ;; esac
done
if [ -n "$CHECKPOINT" ]; then
  [ -f "$CHECKPOINT" ] || fail "no checkpoint file $CHECKPOINT"
  CHECKPOINT=$(cd "$(dirname "$CHECKPOINT")" && pwd)/$(basename "$CHECKPOINT")
fi
skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

export PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" || fail "cannot create \$OUT=$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
if [ "$DRY_RUN" = 1 ]; then
  DEVICE=cpu
  TRAIN_SIZES=(task.T=10 model.hidden=8 hf.gradient_batch=50 hf.curvature_batch=20 solver.max_iters=5
               task.test_size=50)
  GV_SIZES=(--H 20 --B 8 --T 5 --repeats 1)
  TEST_TIMEOUT=300
else
  DEVICE=cuda
  TRAIN_SIZES=(task.T=100)
  GV_SIZES=(--repeats 3)
  TEST_TIMEOUT=100
  # The package itself (its plugins are entry points) and any wheels the image lacks (.whl/, e.g. omegaconf,
  # antlr4, hydra-core, pluggy: `pip download --no-deps -d .whl ...` beforehand where there is an index).
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  fi
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . 2>&1 | tail -2
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PATH=/tmp/site/bin:$PATH
fi
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
note "$PROG: $(date -u +%FT%TZ) dry_run=$DRY_RUN device=$DEVICE wall_limit=${WALL_LIMIT}s checkpoint=${CHECKPOINT:-none}"

{
  echo "nproc $(nproc)"; command -v nvidia-smi >/dev/null && nvidia-smi -L
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.version.cuda, 'cudnn', torch.backends.cudnn.version() if torch.cuda.is_available() else None)"
  "$PY" -c "import hfcore, hydra, omegaconf, pluggy; print('hfcore', hfcore.__file__)"
} > "$OUT/env.txt" 2>&1
DEVICE_NAME=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0) if '$DEVICE' == 'cuda' else 'cpu')" 2>/dev/null || echo unknown)

# (a) the CUDA tests (on the CPU they skip, or check the clear error for a missing GPU)
if ! skipped tests; then
  mapfile -t FILES < <(grep -l "cuda.is_available" tests/test_*.py | grep -v test_gpu_check.py)
  timeout "$TEST_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider -rs "${FILES[@]}" -k cuda > "$OUT/cuda-tests.txt" 2>&1
  note "tests: exit $? ($(tail -1 "$OUT/cuda-tests.txt")) files ${FILES[*]}"
fi

# (b) addition T = 100 on backend=torch, stopped at the wall limit, resumable
if ! skipped train; then
  mkdir -p "$OUT/checkpoint"
  PREVIOUS=$( [ -n "$CHECKPOINT" ] && dirname "$CHECKPOINT" )
  [ -n "$PREVIOUS" ] && [ -f "$PREVIOUS/devices.log" ] && [ "$PREVIOUS" != "$OUT/checkpoint" ] \
    && cp "$PREVIOUS/devices.log" "$OUT/checkpoint/devices.log"
  ARGS=(experiment=ms2011_addition "${TRAIN_SIZES[@]}" backend=torch backend.device=$DEVICE backend.dtype=float64
        progress=false tracking=none "checkpoint.dir=$OUT/checkpoint" "hydra.run.dir=$OUT/hydra")
  [ -n "$ITERATIONS" ] && ARGS+=("hf.max_iterations=$ITERATIONS")
  [ -n "$CHECKPOINT" ] && ARGS+=("checkpoint.resume=$CHECKPOINT")
  echo "command: $PY -m hfcore.cli ${ARGS[*]}" > "$OUT/train.log"
  START=$(date +%s)
  timeout -s TERM -k 30 "$WALL_LIMIT" "$PY" -m hfcore.cli "${ARGS[@]}" >> "$OUT/train.log" 2>&1
  RC=$?
  WALL=$(( $(date +%s) - START ))
  ITERS=$(grep -oE " iter [0-9]+ " "$OUT/train.log" | awk '{print $2}')
  FIRST=$(echo "$ITERS" | head -1) LAST=$(echo "$ITERS" | tail -1)
  RESULT=$(grep -E "^(SOLVED|not solved|hf-train: stopped)" "$OUT/train.log" | tail -1)
  echo "$(date -u +%FT%TZ) iterations ${FIRST:-none}-${LAST:-none} backend=torch device=$DEVICE ($DEVICE_NAME)" \
       "wall=${WALL}s exit=$RC resumed_from=${CHECKPOINT:-none} | ${RESULT:-no result line}" >> "$OUT/checkpoint/devices.log"
  cp "$OUT/checkpoint/devices.log" "$OUT/devices.log"
  case $RC in 0) WHY="ended: solved or at its cap" ;; 124) WHY="stopped at the wall limit, checkpoint kept" ;;
    137) WHY="killed 30 s after the limit: not saved" ;; *) WHY="failed: see train.log" ;; esac
  note "train: exit $RC ($WHY) in ${WALL}s; $(tail -1 "$OUT/devices.log")"
fi

# (c) the gated models' gradient and Gv: torch on the device (unrolled cells, cuDNN off) against NumPy
if ! skipped gv; then
  timeout 120 "$PY" benchmarks/gv_torch.py --models lstm gru --device "$DEVICE" "${GV_SIZES[@]}" \
    --json "$OUT/gv-$DEVICE.json" --markdown "$OUT/gv-$DEVICE.md" > "$OUT/gv-$DEVICE.log" 2>&1
  note "gv: exit $? ($(grep -c '^| ' "$OUT/gv-$DEVICE.md" 2>/dev/null || echo 0) table lines in gv-$DEVICE.md)"
fi
note "$PROG: done $(date -u +%FT%TZ)"
