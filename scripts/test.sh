#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests drive, then runs
# formatting, lints and every test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Real tools the tests use: tmux (the outer terminal for TUI end-to-end tests), git, the shells
# whose cwd reporting is tested (bash, zsh), Node.js/npm for the AI CLIs and the tracker, and
# vttest for the conformance suite (crates/quil/tests/conformance.rs), python3 (a second user's
# raw socket client in crates/quil/tests/security.rs), and OpenSSH's server, which
# crates/quil/tests/remote.rs starts on 127.0.0.1 for `quil -r` (never as a service).
missing=()
for tool in tmux git bash zsh node npm vttest; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
# The system's own, which the second user can run (a python3 under /root would not do).
[ -x /usr/bin/python3 ] || missing+=(python3)
if ((${#missing[@]})); then
  echo "test.sh: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  pkgs=("${missing[@]/node/nodejs}")
  $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

# A second Unix user: tests/security.rs plants homes, files and a daemon as it, and checks that
# quil refuses them.
if ! id -u quil-other >/dev/null 2>&1; then
  echo "test.sh: creating the Unix user quil-other for the security tests" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo useradd --system --no-create-home --shell /usr/sbin/nologin quil-other
fi

# The real opencode and Claude Code CLIs (pinned, from npm) that the AI-pane tests drive.
QUIL_AI_CLIS_BIN="$(scripts/install-ai-clis.sh)"
export QUIL_AI_CLIS_BIN

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
