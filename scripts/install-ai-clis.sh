#!/usr/bin/env bash
# Installs the pinned AI coding CLIs that quil's AI-pane tests drive (offline, against quil's own
# mock LLM): opencode, Claude Code, Codex CLI and Gemini CLI, and the MCP Inspector that `quil
# mcp`'s tests use as a client, from the npm registry, into a cache directory.
#
#   scripts/install-ai-clis.sh [CACHE_DIR]
#
# CACHE_DIR defaults to $QUIL_AI_CLIS_DIR, then <repo>/.test-cache/ai-clis (gitignored).
# Idempotent: does nothing when the pinned versions are already there. Creates CACHE_DIR/bin with
# `opencode`, `claude`, `codex`, `gemini` and `mcp-inspector` symlinks to the real executables and prints that bin
# directory (the only thing on stdout), e.g. for `export QUIL_AI_CLIS_BIN=$(scripts/install-ai-clis.sh)`.
set -euo pipefail

OPENCODE_PKG="opencode-linux-x64"
OPENCODE_VERSION="1.18.34"
CLAUDE_PKG="@anthropic-ai/claude-code"
CLAUDE_VERSION="2.1.330"
INSPECTOR_PKG="@modelcontextprotocol/inspector"
INSPECTOR_VERSION="2.12.0"
CODEX_PKG="@openai/codex"
CODEX_VERSION="0.171.0"
GEMINI_PKG="@google/gemini-cli"
GEMINI_VERSION="0.61.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${1:-${QUIL_AI_CLIS_DIR:-$ROOT/.test-cache/ai-clis}}"

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *)
        echo "install-ai-clis.sh: only linux-x64 is supported (this is $(uname -s)-$(uname -m))" >&2
        exit 1
        ;;
esac

if ! command -v npm >/dev/null 2>&1; then
    echo "install-ai-clis.sh: npm not found; install Node.js 20+ (e.g. apt-get install nodejs npm)" >&2
    exit 1
fi

# Prints the installed version of an npm package in $CACHE, or nothing.
installed_version() {
    local pj="$CACHE/node_modules/$1/package.json"
    [ -f "$pj" ] || return 0
    node -e 'try { process.stdout.write(String(require(process.argv[1]).version || "")) } catch (e) {}' "$pj"
}

OPENCODE_EXE="$CACHE/node_modules/$OPENCODE_PKG/bin/opencode"
CLAUDE_EXE="$CACHE/node_modules/$CLAUDE_PKG/bin/claude.exe"
INSPECTOR_EXE="$CACHE/node_modules/$INSPECTOR_PKG/clients/launcher/build/index.js"
# Codex's npm package is a Node wrapper around a native binary that comes through an optional
# dependency (an alias of @openai/codex@<version>-linux-x64); link the binary itself, so a pane's
# process is Codex and not a Node launcher.
CODEX_EXE="$CACHE/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
# Gemini is a Node ES-module bundle; its bin entry has a node shebang.
GEMINI_EXE="$CACHE/node_modules/$GEMINI_PKG/bundle/gemini.js"

up_to_date() {
    [ "$(installed_version "$OPENCODE_PKG")" = "$OPENCODE_VERSION" ] &&
        [ "$(installed_version "$CLAUDE_PKG")" = "$CLAUDE_VERSION" ] &&
        [ "$(installed_version "$INSPECTOR_PKG")" = "$INSPECTOR_VERSION" ] &&
        [ "$(installed_version "$CODEX_PKG")" = "$CODEX_VERSION" ] &&
        [ "$(installed_version "$GEMINI_PKG")" = "$GEMINI_VERSION" ] &&
        [ -x "$OPENCODE_EXE" ] && [ -x "$CLAUDE_EXE" ] && [ -x "$INSPECTOR_EXE" ] &&
        [ -x "$CODEX_EXE" ] && [ -f "$GEMINI_EXE" ]
}

mkdir -p "$CACHE"
if ! up_to_date; then
    echo "install-ai-clis.sh: installing $OPENCODE_PKG@$OPENCODE_VERSION, $CLAUDE_PKG@$CLAUDE_VERSION," \
        "$CODEX_PKG@$CODEX_VERSION, $GEMINI_PKG@$GEMINI_VERSION and $INSPECTOR_PKG@$INSPECTOR_VERSION into $CACHE" >&2
    # A private package.json keeps npm from walking up into some other project.
    [ -f "$CACHE/package.json" ] || echo '{"name":"quil-ai-clis","private":true}' >"$CACHE/package.json"
    # Node 20 prints an engine warning for Claude Code; it is harmless.
    npm install --prefix "$CACHE" --no-audit --no-fund --save-exact --loglevel=error \
        "$OPENCODE_PKG@$OPENCODE_VERSION" "$CLAUDE_PKG@$CLAUDE_VERSION" \
        "$CODEX_PKG@$CODEX_VERSION" "$GEMINI_PKG@$GEMINI_VERSION" "$INSPECTOR_PKG@$INSPECTOR_VERSION" >&2
    if ! up_to_date; then
        echo "install-ai-clis.sh: npm finished but the pinned executables are missing:" >&2
        echo "  $OPENCODE_EXE" >&2
        echo "  $CLAUDE_EXE" >&2
        echo "  $INSPECTOR_EXE" >&2
        echo "  $CODEX_EXE" >&2
        echo "  $GEMINI_EXE" >&2
        exit 1
    fi
fi

mkdir -p "$CACHE/bin"
ln -sfn "$OPENCODE_EXE" "$CACHE/bin/opencode"
ln -sfn "$CLAUDE_EXE" "$CACHE/bin/claude"
ln -sfn "$INSPECTOR_EXE" "$CACHE/bin/mcp-inspector"
ln -sfn "$CODEX_EXE" "$CACHE/bin/codex"
ln -sfn "$GEMINI_EXE" "$CACHE/bin/gemini"
echo "$CACHE/bin"
