#!/usr/bin/env bash
# How long after `quil restart` the pane a client shows first is usable, with 10 panes whose
# programs each burn a few seconds of CPU as they start (as an agent CLI does): every pane
# started at once (`start_hidden_after = 0`, the old behaviour) against lazy restore (the
# default). Three runs each; prints each time and the medians.
#
#   scripts/bench-restore.sh        (needs node; builds quil in release mode)
#
# A measurement, not a test. Run it on an idle machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release --locked -p quil >&2
Q="$ROOT/target/release/quil"
WORK="$(mktemp -d /tmp/quil-bench-restore.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
# Each pane: a start-up that costs CPU, then a line that says it is ready.
START='node -e "let s = 0; for (let i = 0; i < 4e8; i++) s += i"; echo ready-$$; exec sleep 600'

for after in 0 30; do
    times=()
    for run in 1 2 3; do
        export QUIL_HOME="$WORK/$after-$run"
        mkdir -p -m 700 "$QUIL_HOME"
        printf '[daemon]\nstart_hidden_after = %s\n' "$after" >"$QUIL_HOME/config.toml"
        for _ in $(seq 10); do
            shown=$("$Q" new-tab -- sh -c "$START")
        done
        "$Q" wait --pane "$shown" --text '^ready-' --timeout 120 >/dev/null
        sleep 2
        t0=$(date +%s.%N)
        "$Q" restart >/dev/null
        "$Q" wait --pane "$shown" --text '(?s)restored after a daemon restart.*ready-' \
            --timeout 120 >/dev/null
        t1=$(date +%s.%N)
        "$Q" daemon stop >/dev/null
        times+=("$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")")
        echo "start_hidden_after = $after, run $run: ${times[-1]} s"
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
    echo "start_hidden_after = $after: median $median s"
done
