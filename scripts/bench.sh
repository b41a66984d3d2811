#!/usr/bin/env bash
# quil's benchmark suite: quil vs tmux vs a raw PTY, side by side, in one run.
#
#   scripts/bench.sh           full run (5 runs on a 200 MB file, 250 latency samples; ~4-5 min on an idle machine)
#   scripts/bench.sh --quick   smoke run (1 run on a 20 MB file, 50 samples; ~1 min + build)
#
# Builds quil and the harness (crates/quil-bench) in release mode, installs tmux if missing,
# runs throughput, key-echo latency, server RSS and the protocol codec benchmark, and writes
# docs/benchmarks.md (override with QUIL_BENCH_OUT). The generated input file is cached in
# target/bench-cache (override with QUIL_BENCH_CACHE) and regenerated when missing.
# Measurements, not tests: nothing here fails on a slow number. Run it on an idle machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help)
            sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "bench.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

CACHE="${QUIL_BENCH_CACHE:-$ROOT/target/bench-cache}"
OUT="${QUIL_BENCH_OUT:-$ROOT/docs/benchmarks.md}"
BIN="$ROOT/target/release"

# tmux to compare against; OpenSSH's server for the paths over ssh (a private sshd on
# 127.0.0.1 that the harness starts and stops; it needs root, and is skipped otherwise).
missing=()
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if ((${#missing[@]})); then
    echo "bench.sh: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

echo "bench.sh: building (release)" >&2
cargo build --release -p quil -p quil-bench
# Compile the codec benchmark now, so its build does not overlap the measurements.
cargo bench -p quil-proto --bench codec --no-run

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

MODE=()
CRITERION=()
if [ "$QUICK" = 1 ]; then
    MODE=(--quick)
    CRITERION=(--warm-up-time 1 --measurement-time 2)
fi

echo "bench.sh: load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
"$BIN/quil-bench" all --cache "$CACHE" --out "$WORK/results.json" --repo "$ROOT" "${MODE[@]}"

echo "bench.sh: protocol codec (criterion)" >&2
if ! cargo bench -p quil-proto --bench codec -- "${CRITERION[@]}" 2>&1 | tee "$WORK/codec.txt"; then
    echo "bench.sh: the codec benchmark failed; the report says so" >&2
fi

mkdir -p "$(dirname "$OUT")"
"$BIN/quil-bench" report --results "$WORK/results.json" --codec "$WORK/codec.txt" --out "$OUT"
cp "$WORK/results.json" "$ROOT/target/bench-results.json"

# Restore: the time until every pane of a 50-pane workspace is running again after a restart,
# as the daemon logs it ("workspace restored panes=50 waiting=0 elapsed_ms=..."), with every pane
# started at once (`start_hidden_after = 0`: lazy restore would start only the shown tab's;
# scripts/bench-restore.sh measures that). tmux has no restore of its own (tmux-resurrect is a
# plugin), so there is no tmux column.
echo "bench.sh: restore of a 50-pane workspace" >&2
RH="$WORK/restore"
mkdir -p "$RH"
restore_ms=()
(
    export QUIL_HOME="$RH/q" QUIL_DAEMON_BIN="$BIN/quild" SHELL=/bin/sh
    mkdir -p -m 700 "$QUIL_HOME"
    printf '[daemon]\nstart_hidden_after = 0\n' >"$QUIL_HOME/config.toml"
    for _ in $(seq 1 50); do "$BIN/quil" new-tab >/dev/null; done
    runs=3
    [ "$QUICK" = 1 ] && runs=1
    for _ in $(seq 1 "$runs"); do
        "$BIN/quil" daemon stop >/dev/null 2>&1
        "$BIN/quil" daemon start >/dev/null
        grep -o 'workspace restored panes=50 waiting=0 elapsed_ms=[0-9]*' "$QUIL_HOME/quild.log" | tail -1 | sed 's/.*=//'
    done
    "$BIN/quil" daemon stop >/dev/null 2>&1
) >"$WORK/restore.txt"
mapfile -t restore_ms <"$WORK/restore.txt"
median_ms=$(printf '%s\n' "${restore_ms[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
status="not met"
[ -n "$median_ms" ] && [ "$median_ms" -lt 1000 ] && status="met"
cat >>"$OUT" <<MD

## 5. Restore: a 50-pane workspace after a restart

The time from the daemon's start until every pane of a saved 50-pane workspace (\`sh\` panes) is
running again, as \`quild\` logs it; median of ${#restore_ms[@]} run(s): **${median_ms} ms**
(runs: ${restore_ms[*]} ms). Target < 1 s: **${status}**. tmux has no restore of its own, so
there is nothing to compare against here.
MD
echo "bench.sh: wrote $OUT (raw results: target/bench-results.json)" >&2
