#!/usr/bin/env bash
# `make bench`: every protocol in full, each split into $JOBS shards that run side by side (one
# torch thread each), then merged into $OUT/<protocol>/ and the README table regenerated.
# Stopped runs go on where they stopped (--resume). JOBS=1 runs one process per protocol.
# QUICK=1 runs the --quick variants and leaves the README alone (a check of this script).
set -euo pipefail
JOBS=${JOBS:-2}
OUT=${OUT:-results}
PARTS=${PARTS:-results-parts}
# stream28-eft-base: stream28 at 25 shots with the base trained on the first source task only
PROTOCOLS=${PROTOCOLS:-stream28 stream28-eft-base realzoo text}
QUICK=${QUICK:-0}
extra=()
if [ "$QUICK" = 1 ]; then extra=(--quick); fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
start=$(date +%s)
mkdir -p "$PARTS"
# build (or load) a cached stream28 zoo once, before the shards that share it start;
# $1: extra Stream28 arguments (e.g. "base_tasks=1")
build_zoo() {
  .venv/bin/python -c "from recycle.bench.stream28 import Stream28; Stream28(quick=$QUICK == 1, ${1:-}).build_sources()"
}
# stream28 and realzoo share the default zoo
if [[ " $PROTOCOLS " == *" stream28 "* || " $PROTOCOLS " == *" realzoo "* ]]; then build_zoo; fi
for proto in $PROTOCOLS; do
  args=("$proto")
  if [ "$proto" = stream28-eft-base ]; then
    args=(stream28 --base-tasks 1 --shots 25)
    build_zoo "base_tasks=1"  # its own zoo: a base that saw one task
  fi
  pids=()
  for ((i = 0; i < JOBS; i++)); do
    echo "bench $proto shard $i/$JOBS -> $PARTS/$proto-$i (log $PARTS/$proto-$i.log)"
    .venv/bin/recycle bench "${args[@]}" --shard "$i/$JOBS" --out "$PARTS/$proto-$i" --resume \
      "${extra[@]}" --json >"$PARTS/$proto-$i.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  parts=()
  for ((i = 0; i < JOBS; i++)); do parts+=("$PARTS/$proto-$i"); done
  .venv/bin/python scripts/merge_results.py "$OUT/$proto" "${parts[@]}"
done
if [ "$QUICK" != 1 ]; then .venv/bin/python scripts/update_readme.py "$OUT"; fi
echo "make bench: $(( ($(date +%s) - start) / 60 )) min wall on $JOBS parallel jobs"
