#!/usr/bin/env bash
# Benchmark: Sluice's embedded runtime against make, on the same dependency graph.
#
# A generated pipeline of 100 actions — 10 stages of 10 parallel Commands actions running `true`, after a
# source stage — runs through `sluice run`; the same graph (10 barriers of 10 parallel `true` recipes) runs
# through `make -j10`. Both are timed in this run (wall clock, median of RUNS), and the ratio is printed.
#
#   bench/run-vs-make.sh            # RUNS=5 by default
#   RUNS=9 bench/run-vs-make.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-5}

cargo build --release -q -p sluice-cli --manifest-path "$root/Cargo.toml"
sluice="$root/target/release/sluice"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
echo "bench" > "$work/src/README"

python3 - "$work" <<'EOF'
import sys
work = sys.argv[1]
stages, width = 10, 10
lines = [
    "name: bench-100",
    "pipelineType: V2",
    "executionMode: PARALLEL",
    "stages:",
    "  - name: Source",
    "    actions:",
    "      - name: Checkout",
    "        actionTypeId: {category: Source, owner: ThirdParty, provider: LocalSource, version: '1'}",
    "        configuration: {Path: src}",
    "        outputArtifacts: [{name: Src}]",
]
for s in range(stages):
    lines.append(f"  - name: S{s}")
    lines.append("    actions:")
    for a in range(width):
        lines += [
            f"      - name: A{a}",
            "        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: '1'}",
            "        commands: ['true']",
            "        inputArtifacts: [{name: Src}]",
        ]
open(f"{work}/pipeline.yaml", "w").write("\n".join(lines) + "\n")

mk = [".PHONY: all", f"all: stage{stages - 1}"]
prev = ""
for s in range(stages):
    targets = " ".join(f"s{s}a{a}" for a in range(width))
    mk.append(f".PHONY: stage{s} {targets}")
    mk.append(f"stage{s}: {targets}")
    for a in range(width):
        mk.append(f"s{s}a{a}: {prev}")
        mk.append("\t@true")
    prev = f"stage{s}"
open(f"{work}/Makefile", "w").write("\n".join(mk) + "\n")
EOF

"$sluice" validate "$work/pipeline.yaml" >/dev/null

time_one() { # prints seconds taken by "$@"; a failing run stops the benchmark
  local start end
  start=$(date +%s.%N)
  if ! "$@" >"$work/last.out" 2>&1; then
    echo "benchmark command failed: $*" >&2
    cat "$work/last.out" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

sluice_times=()
make_times=()
for _ in $(seq "$runs"); do
  sluice_times+=("$(time_one "$sluice" --state-dir "$work/state" run "$work/pipeline.yaml")")
  make_times+=("$(time_one make -s -j10 -C "$work")")
done

# Every run really ran every action.
last=$("$sluice" --state-dir "$work/state" --output json history bench-100 --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["pipelineExecutionId"])')
succeeded=$("$sluice" --state-dir "$work/state" --output json show "$last" | python3 -c 'import json,sys; print(sum(a["status"] == "Succeeded" for a in json.load(sys.stdin)["actions"]))')
[ "$succeeded" = 101 ] || { echo "expected 101 succeeded actions, found $succeeded" >&2; exit 1; }

s=$(printf '%s\n' "${sluice_times[@]}" | median)
m=$(printf '%s\n' "${make_times[@]}" | median)
printf 'graph: 1 source action + 10 stages x 10 parallel `true` actions (100 actions)\n'
printf 'sluice run (embedded, release build): median %.3f s over %d runs\n' "$s" "$runs"
printf 'make -j10:                            median %.3f s over %d runs\n' "$m" "$runs"
printf 'ratio sluice/make: %.1f\n' "$(echo "$s / $m" | bc -l)"
printf 'per action (sluice): %.1f ms\n' "$(echo "$s * 1000 / 101" | bc -l)"
