#!/usr/bin/env bash
# Every check of the PyTorch engine that needs a CUDA GPU, in one run (at most 13.5 minutes by the
# steps' limits, the LM alone 5; not yet run on a GPU):
#   1. the CUDA tests (pytest -m cuda): cuDNN against our loop, autocast, CUDA graphs, models;
#   2. bench/lstm_torch_loop_vs_cudnn.py on the GPU (N=64, T=100, H=512), with the loop's
#      CUDA graphs on and then off;
#   3. bench/results.py --lm: the char LM's 5-minute GPU row of bench/results.md.
#
#   bash bench/gpu_check.sh [OUTDIR]       # logs and results go to OUTDIR (default: $OUT, else runs/gpu-check)
#
# It needs python3 with torch (CUDA build), numpy, pytest, hypothesis and tqdm; nbval and the
# course's other tools are not needed. The shakespeare archive must be in seqlib's cache
# ($SEQLIB_CACHE): on a machine without internet, fetch it elsewhere first
# (`SEQLIB_CACHE=.seqlib-cache python -m seqlib.data fetch shakespeare`) and bring the folder.
# Each step has its own time limit, and a failing step does not stop the next one; the exit
# status is that of the first step that failed.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUTDIR=${1:-${OUT:-runs/gpu-check}}
LM_MINUTES=${LM_MINUTES:-5}
mkdir -p "$OUTDIR"
export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
status=0

step() {  # step NAME SECONDS COMMAND...: run, log to OUTDIR/NAME.log, remember the first failure
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date +%T), limit ${limit}s): $*"
    timeout "$limit" "$@" >"$OUTDIR/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUTDIR/$name.log"
    echo "== $name: exit $rc"
    [ "$rc" -ne 0 ] && [ "$status" -eq 0 ] && status=$rc
    return 0
}

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "no CUDA GPU visible to $PY: nothing to check here" >&2
    exit 2
fi
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN",
torch.backends.cudnn.version(), "on", torch.cuda.get_device_name())' | tee "$OUTDIR/device.txt"

# addopts of pyproject.toml name nbval, which a GPU image need not have: give the rest here.
step cuda-tests 180 "$PY" -m pytest -o addopts= --import-mode=importlib -p no:cacheprovider -q -rs \
    -m cuda tests/torch
step bench-graphs-on 120 "$PY" bench/lstm_torch_loop_vs_cudnn.py --no-cpu --repeats 30
step bench-graphs-off 120 env SEQLIB_CUDA_GRAPHS=0 "$PY" bench/lstm_torch_loop_vs_cudnn.py --no-cpu --no-naive --repeats 30
step lm "$(awk "BEGIN { print int($LM_MINUTES * 60 + 90) }")" "$PY" bench/results.py --lm --minutes "$LM_MINUTES"
cp bench/results.json bench/results.md "$OUTDIR/" 2>/dev/null
echo "logs and results in $OUTDIR; exit $status"
exit $status
