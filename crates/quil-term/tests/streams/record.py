#!/usr/bin/env python3
"""Records real programs' output streams for quil-term's differential tests.

Each recipe below runs one program in a tmux pane of a fixed size (a real PTY; tmux is the
terminal that answers the program's queries) and saves the raw bytes the program wrote, as tmux's
`pipe-pane` hands them over, to NAME-COLSxROWS.bin beside this script. Keys are typed with
`tmux send-keys`. The program starts only once the pipe is open, so nothing is missed.

    python3 record.py            # every recipe
    python3 record.py vim less   # only these

Needs tmux, and the programs themselves (see README.md for the versions used). The repository
is the working directory of the git recipes; the AI CLIs are taken from $QUIL_AI_CLIS_BIN.
Re-recording changes the fixtures (dates, process lists, versions): commit them with care.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "../../../.."))
SOCK = "quil-rec"
MAX_BYTES = 200 * 1024


def tmux(*args, check=True):
    return subprocess.run(
        ["tmux", "-L", SOCK, *args], check=check, capture_output=True, text=True
    ).stdout


def screen():
    return tmux("capture-pane", "-p", "-t", "rec", check=False)


def wait_for(text, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if text in screen():
            return
        time.sleep(0.1)
    raise SystemExit(f"record.py: {text!r} never showed:\n{screen()}")


def run_steps(steps):
    for step in steps:
        kind, arg = step[0], step[1]
        if kind == "sleep":
            time.sleep(arg)
        elif kind == "keys":  # tmux key names: Enter, Up, C-d, ...
            tmux("send-keys", "-t", "rec", *arg)
            time.sleep(step[2] if len(step) > 2 else 0.3)
        elif kind == "text":  # literal text
            tmux("send-keys", "-t", "rec", "-l", arg)
            time.sleep(step[2] if len(step) > 2 else 0.3)
        elif kind == "wait":
            wait_for(arg, step[2] if len(step) > 2 else 20)
        else:
            raise ValueError(kind)


def pane_dead():
    return tmux("display", "-p", "-t", "rec", "#{pane_dead}", check=False).strip() == "1"


def record(name, cols, rows, cmd, steps, env=None, cwd=None):
    out = os.path.join(HERE, f"{name}-{cols}x{rows}.bin")
    home = tempfile.mkdtemp(prefix="quil-rec-")
    full_env = {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    full_env.update(env(home) if callable(env) else (env or {}))
    tmux("kill-server", check=False)
    inner = " ".join(
        ["env", "-i"] + [f"{k}={shquote(v)}" for k, v in full_env.items()] + [cmd]
    )
    # The pane waits until the pipe is open and the size is final before it starts `cmd`.
    tmux(
        "-f", "/dev/null", "new-session", "-d", "-s", "rec", "-x", str(cols), "-y", str(rows),
        "-c", cwd or REPO, f"tmux -L {SOCK} wait-for go; exec {inner}",
    )
    tmux("set", "-g", "status", "off")
    tmux("set", "-g", "remain-on-exit", "on")
    tmux("resize-window", "-t", "rec", "-x", str(cols), "-y", str(rows))
    size = tmux("display", "-p", "-t", "rec", "#{pane_width}x#{pane_height}").strip()
    assert size == f"{cols}x{rows}", size
    tmp = out + ".part"
    tmux("pipe-pane", "-O", "-t", "rec", f"cat > {shquote(tmp)}")
    time.sleep(0.2)
    tmux("wait-for", "-S", "go")
    try:
        run_steps(steps)
        for _ in range(50):
            if pane_dead():
                break
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        tmux("kill-server", check=False)
        shutil.rmtree(home, ignore_errors=True)
    time.sleep(0.2)
    size = os.path.getsize(tmp)
    if size > MAX_BYTES:
        raise SystemExit(f"record.py: {name} is {size} bytes, over {MAX_BYTES}")
    os.replace(tmp, out)
    print(f"{os.path.basename(out)}: {size} bytes")


def shquote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def vim_env(home):
    # A copy of a source file, so the recipe edits nothing in the repository.
    shutil.copy(os.path.join(REPO, "crates/quil-term/src/fast.rs"), os.path.join(home, "fast.rs"))
    return {}


def claude_env(home):
    cfg = os.path.join(home, "claude")
    os.makedirs(cfg)
    with open(os.path.join(cfg, ".claude.json"), "w") as f:
        json.dump(
            {
                "hasCompletedOnboarding": True,
                "theme": "dark",
                "projects": {"/": {"hasTrustDialogAccepted": True}},
            },
            f,
        )
    return {
        "CLAUDE_CONFIG_DIR": cfg,
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "ANTHROPIC_AUTH_TOKEN": "x",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "COLORTERM": "truecolor",
    }


def opencode_env(home):
    env = {
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_DATA_HOME": os.path.join(home, ".local/share"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "XDG_STATE_HOME": os.path.join(home, ".local/state"),
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "COLORTERM": "truecolor",
    }
    cfg = os.path.join(env["XDG_CONFIG_HOME"], "opencode")
    os.makedirs(os.path.join(cfg, "node_modules"))
    dep = {"@opencode-ai/plugin": "*"}
    files = {
        "package.json": {"dependencies": dep},
        "package-lock.json": {"lockfileVersion": 3, "packages": {"": {"dependencies": dep}}},
        "opencode.json": {
            "provider": {
                "mock": {
                    "npm": "@ai-sdk/openai-compatible",
                    "options": {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "x"},
                    "models": {"m": {}},
                }
            },
            "model": "mock/m",
            "small_model": "mock/m",
        },
    }
    for name, data in files.items():
        with open(os.path.join(cfg, name), "w") as f:
            json.dump(data, f)
    return env


def ai_bin(name):
    return os.path.join(
        os.environ.get("QUIL_AI_CLIS_BIN", "/work/main/.test-cache/ai-clis/bin"), name
    )


BASH = "bash --norc --noprofile -i"
PS1 = {"PS1": "\\[\\e[1;32m\\]quil\\[\\e[0m\\]:\\[\\e[34m\\]\\w\\[\\e[0m\\]\\$ "}

RECIPES = {
    # Colored listings scrolling through the bottom row: the fast path's own ground.
    "ls-color": lambda: record(
        "ls-color", 80, 24,
        "sh -c 'ls --color=auto -F /usr/sbin /usr/share/doc; ls --color=auto -la /etc'",
        [("sleep", 1)],
    ),
    # A colored graph with decorations, then a colored diff paged by less.
    "git-log-graph": lambda: record(
        "git-log-graph", 100, 30,
        "git --no-pager log --graph --color=always --decorate --stat -n 30 573f656",
        [("sleep", 1)],
    ),
    "git-diff-less": lambda: record(
        "git-diff-less", 80, 24,
        "git -c core.pager='less -R' diff --color=always 0be627e~1 0be627e -- crates/quil-term/src",
        [("sleep", 1), ("keys", ["Space"]), ("keys", ["Space"]), ("keys", ["b"]),
         ("text", "/fast"), ("keys", ["Enter"]), ("keys", ["n"]), ("keys", ["G"]),
         ("keys", ["g"]), ("keys", ["q"])],
    ),
    # man's bold and underline (overstrike turned into SGR by less).
    "man-less": lambda: record(
        "man-less", 80, 24, "man ls",
        [("sleep", 1.5), ("keys", ["Space"]), ("keys", ["C-d"]), ("keys", ["j"]), ("keys", ["j"]),
         ("keys", ["k"]), ("keys", ["G"]), ("keys", ["q"])],
        env={"MANPAGER": "less", "MANWIDTH": "80"},
    ),
    # Editing and scrolling a Rust file with syntax colors: scroll regions, insert and delete line.
    "vim": lambda: record(
        "vim", 80, 24, "sh -c 'exec vim --clean -c \"set number\" \"$HOME/fast.rs\"'",
        [("sleep", 1.5), ("keys", ["C-d"]), ("keys", ["C-d"]), ("keys", ["C-u"]),
         ("keys", ["C-e"]), ("keys", ["C-y"]), ("text", "/Scan"), ("keys", ["Enter"]),
         ("keys", ["n"]), ("text", "otyping a new line with 日本 and é"), ("keys", ["Escape"]),
         ("keys", ["d", "d"]), ("keys", ["u"]), ("keys", ["G"]), ("keys", ["g", "g"]),
         ("text", ":vsplit"), ("keys", ["Enter"]), ("keys", ["C-w", "l"]), ("keys", ["C-d"]),
         ("text", ":qa!"), ("keys", ["Enter"])],
        env=vim_env,
    ),
    "top": lambda: record(
        "top", 100, 30, "top -d 1", [("sleep", 2.5), ("keys", ["q"])],
    ),
    "htop": lambda: record(
        "htop", 100, 30, "htop -d 10",
        [("sleep", 2.5), ("keys", ["Down"]), ("keys", ["Down"]), ("keys", ["F5"], 1),
         ("keys", ["q"])],
    ),
    # Readline editing, a line longer than the screen is wide, completion, history search.
    "bash-readline": lambda: record(
        "bash-readline", 60, 12, BASH,
        [("sleep", 0.5), ("text", "echo hello world"), ("keys", ["Left"] * 5),
         ("keys", ["C-a"]), ("keys", ["C-e"]), ("keys", ["C-w"]), ("keys", ["BSpace"]),
         ("keys", ["Enter"]),
         ("text", "echo a line long enough to wrap past the right edge of this narrow pane"
                  " and then some more words"),
         ("keys", ["C-a"]), ("keys", ["M-f"]), ("keys", ["M-f"]), ("text", "INSERTED "),
         ("keys", ["Enter"]), ("text", "ls /us"), ("keys", ["Tab"]), ("text", "sh"),
         ("keys", ["Tab", "Tab"], 0.5), ("keys", ["C-c"]), ("keys", ["C-r"]), ("text", "hel"),
         ("keys", ["Enter"]), ("text", "printf '\\e[31mred\\e[0m 日本語\\n'"), ("keys", ["Enter"]),
         ("keys", ["C-l"]), ("text", "exit"), ("keys", ["Enter"])],
        env=PS1, cwd="/",
    ),
    # A shell session: floods the fast path takes, then a full-screen program on the alternate
    # screen and back, more floods, wide chars, a clear.
    "bash-session": lambda: record(
        "bash-session", 80, 24, BASH,
        [("sleep", 0.5), ("text", "seq 1 200; ls --color=always -l /usr/lib | head -n 120"),
         ("keys", ["Enter"], 1), ("text", "vim --clean /etc/services"), ("keys", ["Enter"], 1.5),
         ("keys", ["C-f"]), ("keys", ["C-f"]), ("keys", ["C-b"]), ("text", ":q"),
         ("keys", ["Enter"], 0.8),
         ("text", "git --no-pager log --color=always --format='%C(yellow)%h%Creset %s' -n 150"),
         ("keys", ["Enter"], 1),
         ("text", "for i in $(seq 1 60); do printf '%03d\\ttab\\t日本語 \\e[7mrev\\e[0m %s\\n' $i "
                  "$(printf %0$((i * 2))d 0); done"),
         ("keys", ["Enter"], 1), ("text", "clear"), ("keys", ["Enter"]), ("text", "exit"),
         ("keys", ["Enter"])],
        env=PS1,
    ),
    # ncurses dialogs: boxes, shadows, line drawing.
    "dialog": lambda: record(
        "dialog", 70, 20,
        "dialog --title 'Pick one' --menu 'Which program?' 14 50 5 "
        "1 vim 2 less 3 htop 4 tmux 5 vttest 6 dialog 7 whiptail",
        [("sleep", 1), ("keys", ["Down"]), ("keys", ["Down"]), ("keys", ["Down"]),
         ("keys", ["Down"]), ("keys", ["Down"]), ("keys", ["Up"]), ("keys", ["Tab"]),
         ("keys", ["Tab"]), ("keys", ["Enter"])],
    ),
    "whiptail": lambda: record(
        "whiptail", 70, 20,
        "whiptail --title 'Features' --checklist 'Choose:' 15 50 5 "
        "a 'Alpha' on b 'Beta' off c 'Gamma' off d 'Delta' on e 'Epsilon' off f 'Zeta' off",
        [("sleep", 1), ("keys", ["Down"]), ("keys", ["Space"]), ("keys", ["Down"]),
         ("keys", ["Down"]), ("keys", ["Down"]), ("keys", ["Down"]), ("keys", ["Space"]),
         ("keys", ["Tab"]), ("keys", ["Enter"])],
    ),
    # tmux drawing a split window inside the pane: scroll regions, margins, status line.
    "tmux": lambda: record(
        "tmux", 80, 24,
        f"tmux -L quil-rec-inner -f /dev/null new-session '{BASH}'",
        [("sleep", 1), ("text", "seq 1 40"), ("keys", ["Enter"]),
         ("keys", ["C-b", "%"], 0.8), ("text", "ls --color=auto /"), ("keys", ["Enter"]),
         ("keys", ["C-b", '"'], 0.8), ("text", "seq 100 160"), ("keys", ["Enter"], 0.6),
         ("keys", ["C-b", "o"]), ("text", "echo back in the first"), ("keys", ["Enter"]),
         ("keys", ["C-b", "z"], 0.6), ("keys", ["C-b", "z"], 0.6),
         ("text", "tmux -L quil-rec-inner kill-server"), ("keys", ["Enter"], 1)],
        env=PS1,
    ),
    # vttest's first menus: cursor movements, screen features (each screen ends with Return).
    "vttest": lambda: record(
        "vttest", 80, 24, "vttest",
        [("sleep", 1), ("text", "1"), ("keys", ["Enter"])]
        + [("keys", ["Enter"], 0.5)] * 6
        + [("text", "2"), ("keys", ["Enter"])]
        + [("keys", ["Enter"], 0.5)] * 15
        + [("text", "0"), ("keys", ["Enter"])],
    ),
    # The AI CLIs' startup screens and some typing (no prompt is sent: no model is reachable).
    "claude": lambda: record(
        "claude", 100, 30, shquote(ai_bin("claude")),
        [("wait", "❯", 30), ("sleep", 1.5), ("text", "hello from a recorded stream"),
         ("sleep", 0.5), ("keys", ["C-a"]), ("keys", ["C-k"]), ("text", "/hel"), ("sleep", 1),
         ("keys", ["Escape"]), ("keys", ["C-c"]), ("keys", ["C-c"], 1.5)],
        env=claude_env, cwd="/",
    ),
    "opencode": lambda: record(
        "opencode", 100, 30, f"{shquote(ai_bin('opencode'))} /",
        [("wait", "Ask anything", 60), ("sleep", 1), ("text", "hello from a recorded stream"),
         ("sleep", 0.5), ("keys", ["C-u"]), ("sleep", 0.5), ("keys", ["C-c"]),
         ("keys", ["C-c"], 3)],
        env=opencode_env, cwd="/",
    ),
}


def main():
    names = sys.argv[1:] or list(RECIPES)
    for name in names:
        RECIPES[name]()


if __name__ == "__main__":
    main()
