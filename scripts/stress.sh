#!/usr/bin/env bash
# kill -9 the daemon at random moments during heavy output and layout churn, alternating reboots
# (the pane holders killed too) and crashes of the daemon alone, and check that every start
# restores a valid workspace with every saved pane, that every process survives a crash, and
# that a kill loses at most 250 ms of a pane's output (the distributions are printed). The
# default is a short run with debug binaries (as in CI); `--stress` runs 500 rounds with release
# binaries (what `cargo install` gives users), `--rounds N` any number, `--debug` or `--release`
# chooses the build.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
profile=()
while (($#)); do
  case "$1" in
    --stress) rounds=500; ((${#profile[@]})) || profile=(--release) ;;
    --rounds) rounds="$2"; shift ;;
    --release) profile=(--release) ;;
    --debug) profile=(--profile dev) ;;
    *) echo "usage: scripts/stress.sh [--stress | --rounds N] [--release | --debug]" >&2; exit 2 ;;
  esac
  shift
done
QUIL_STRESS="$rounds" cargo test "${profile[@]}" -p quil --test restore --locked -- --exact \
  kill_9_during_churn_always_restores_a_valid_workspace --nocapture
