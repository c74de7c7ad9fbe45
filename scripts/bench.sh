#!/usr/bin/env bash
# `make bench`: every protocol in full, each split into $JOBS shards that run side by side (one
# torch thread each), then merged into $OUT/<protocol>/ and the README table regenerated.
# Stopped runs go on where they stopped (--resume). JOBS=1 runs one process per protocol.
# QUICK=1 runs the --quick variants into results-quick/ and leaves the README alone (a check of
# this script). Each protocol's wall time (and each zoo build's) is appended to
# $OUT/bench-runs.jsonl, which the README's results section lists. A clock in the background
# appends a tick (sitting, phase, time) to $OUT/bench-clock.jsonl every minute, so a run that is
# killed and resumed later (in another sitting) still adds up to a true total wall time; every 5
# minutes it prints how many fits of the running protocol are done.
set -euo pipefail
JOBS=${JOBS:-2}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  OUT=${OUT:-results-quick}
  PARTS=${PARTS:-results-quick-parts}
else
  OUT=${OUT:-results}
  PARTS=${PARTS:-results-parts}
fi
# stream28-eft-base: stream28 at 25 shots with the base trained on the first source task only
PROTOCOLS=${PROTOCOLS:-stream28 stream28-eft-base realzoo text}
extra=()
if [ "$QUICK" = 1 ]; then extra=(--quick); fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
start=$(date +%s)
any_resumed=0
mkdir -p "$PARTS" "$OUT"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
sitting="$(date -u +%FT%TZ)/$$"
CLOCK="$OUT/bench-clock.jsonl"
# a new run (no shard checkpoint to go on from) starts a new clock; the last run's is kept aside
if [ -s "$CLOCK" ] && ! compgen -G "$PARTS/*/results.json" >/dev/null; then
  mv "$CLOCK" "$OUT/bench-clock.previous.jsonl"
fi
phase_file=$(mktemp)
echo "start" >"$phase_file"
# append one tick to $CLOCK: the time spent since the previous tick went to the phase it names
tick() {
  printf '{"sitting": "%s", "commit": "%s", "jobs": %s, "quick": %s, "what": "%s", "t": %s}\n' \
    "$sitting" "$commit" "$JOBS" "$([ "$QUICK" = 1 ] && echo true || echo false)" \
    "$(cat "$phase_file")" "$(date +%s)" >>"$CLOCK"
}
# $1: the phase that starts now (the time before it goes to the phase that ends)
phase() {
  tick
  echo "$1" >"$phase_file"
}
# print how far the running protocol's shards are (their checkpoints say done / total)
report() {
  .venv/bin/python - "$PARTS" "$(cat "$phase_file")" "$JOBS" <<'PY' || true
import json, pathlib, sys, time
parts, proto, jobs = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
done = total = 0
for i in range(jobs):
    try:
        meta = json.loads((parts / f"{proto}-{i}" / "results.json").read_text())["meta"]
    except (OSError, ValueError, KeyError):
        continue
    done, total = done + meta.get("done", 0), total + meta.get("total", 0)
if total:
    print(f"{time.strftime('%H:%M')} {proto}: {done}/{total} fits ({100 * done // total} %)", flush=True)
PY
}
CLOCK_S=${CLOCK_S:-60}  # seconds between ticks; progress is printed every 5 ticks
tick
(
  n=0
  while sleep "$CLOCK_S" && kill -0 $$ 2>/dev/null; do
    tick
    n=$((n + 1))
    if ((n % 5 == 0)); then report; fi
  done
) &
clock_pid=$!
trap 'tick; kill "$clock_pid" 2>/dev/null; rm -f "$phase_file"' EXIT
# append one line to $OUT/bench-runs.jsonl: $1 what ran, $2 its start (epoch s), $3 resumed?
record() {
  .venv/bin/python - "$OUT/bench-runs.jsonl" "$1" "$2" "$3" "$JOBS" "$QUICK" "$commit" <<'PY'
import datetime, json, sys, time
path, what, start, resumed, jobs, quick, commit = sys.argv[1:]
row = {
    "what": what,
    "seconds": round(time.time() - int(start)),
    "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "jobs": int(jobs),
    "quick": quick == "1",
    "resumed": resumed == "1",
    "commit": commit,
}
with open(path, "a") as f:
    f.write(json.dumps(row) + "\n")
PY
}
# build (or load) a cached stream28 zoo once, before the shards that share it start;
# $1: extra Stream28 arguments (e.g. "base_tasks=1")
build_zoo() {
  local t0
  t0=$(date +%s)
  phase "zoo stream28${1:+ ($1)}"
  .venv/bin/python -c "from recycle.bench.stream28 import Stream28; Stream28(quick=$QUICK == 1, ${1:-}).build_sources()"
  record "zoo stream28${1:+ ($1)}" "$t0" 0
}
# stream28 and realzoo share the default zoo
if [[ " $PROTOCOLS " == *" stream28 "* || " $PROTOCOLS " == *" realzoo "* ]]; then build_zoo; fi
for proto in $PROTOCOLS; do
  args=("$proto")
  if [ "$proto" = stream28-eft-base ]; then
    args=(stream28 --base-tasks 1 --shots 25)
    build_zoo "base_tasks=1"  # its own zoo: a base that saw one task
  fi
  t0=$(date +%s)
  phase "$proto"
  resumed=0
  for ((i = 0; i < JOBS; i++)); do
    if [ -f "$PARTS/$proto-$i/results.json" ]; then resumed=1; fi
  done
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
  record "$proto" "$t0" "$resumed"
  if [ "$resumed" = 1 ]; then any_resumed=1; fi
done
record "make bench (all of: $PROTOCOLS)" "$start" "$any_resumed"
phase "README"
if [ "$QUICK" != 1 ]; then .venv/bin/python scripts/update_readme.py "$OUT"; fi
echo "make bench: $(( ($(date +%s) - start) / 60 )) min wall on $JOBS parallel jobs"
