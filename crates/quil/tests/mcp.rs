//! `quil mcp`, the MCP server, through real clients: the MCP Inspector's CLI (from npm), the
//! real Claude Code against the project's mock LLM, and a minimal JSON-RPC session here for
//! what only one long session shows (errors, and answering on after them). What the tools did
//! is checked with the daemon itself (`quil ls`, `quil capture`).

mod common;

use common::*;
use quil_mockllm::{content_text, MockLlm};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The npm-installed clients (scripts/install-ai-clis.sh), as tests/ai.rs finds them.
fn clis_bin() -> PathBuf {
    let dir = std::env::var_os("QUIL_AI_CLIS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.test-cache/ai-clis/bin")
        });
    for cli in ["claude", "mcp-inspector"] {
        assert!(
            dir.join(cli).exists(),
            "{} not found: run scripts/install-ai-clis.sh (scripts/test.sh does)",
            dir.join(cli).display()
        );
    }
    dir
}

/// One `quil mcp` process and a minimal JSON-RPC client over its stdin/stdout.
struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    next_id: u64,
}

impl Session {
    fn start(h: &Home) -> Session {
        let mut child = h
            .cmd(&["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("quil mcp");
        let stdin = child.stdin.take().expect("stdin");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("quil mcp wrote a line that is not JSON ({e}): {line}")
                });
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let mut s = Session {
            child,
            stdin,
            lines,
            next_id: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "quil-test", "version": "1"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "quil", "{init}");
        s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, msg: Value) {
        writeln!(self.stdin, "{msg}").expect("write to quil mcp");
        self.stdin.flush().expect("flush");
    }

    /// The whole response to one request (`result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v["id"] == id => return v,
                Ok(_) => {}
                Err(e) => panic!("no answer to {method} {params}: {e}"),
            }
        }
    }

    /// Calls a tool: whether it is an error result, and its text.
    fn tool(&mut self, name: &str, args: Value) -> (bool, String) {
        let r = self.request("tools/call", json!({"name": name, "arguments": args}));
        let result = &r["result"];
        assert!(result.is_object(), "tools/call {name} {args}: {r}");
        let text = result["content"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        (result["isError"] == true, text)
    }

    fn ok(&mut self, name: &str, args: Value) -> String {
        let (err, text) = self.tool(name, args.clone());
        assert!(!err, "{name} {args} failed: {text}");
        text
    }

    fn err(&mut self, name: &str, args: Value) -> String {
        let (err, text) = self.tool(name, args.clone());
        assert!(err, "{name} {args} unexpectedly succeeded: {text}");
        text
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_pane_id(s: &str) -> bool {
    s.len() == 13 && s.starts_with("pane-") && s[5..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// A shell pane with nothing of the user's, through the session.
fn shell(s: &mut Session, name: &str) -> String {
    let pane = s.ok(
        "new_tab",
        json!({"name": name, "command": ["bash", "--norc", "--noprofile"]}),
    );
    assert!(is_pane_id(&pane), "{pane}");
    pane
}

fn tab_names(h: &Home) -> Vec<String> {
    h.ls()["tabs"]
        .as_array()
        .expect("tabs")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A real MCP client, the Inspector's CLI, lists the tools with their schemas and
/// annotations, and calls them: a pane opens in the daemon, and an unknown pane is an error.
#[test]
fn the_inspector_lists_and_calls_the_tools() {
    let h = Home::new();
    let bin = clis_bin();
    let inspector = |args: &[&str]| -> Output {
        let mut env = Vec::new();
        for (k, v) in [
            ("QUIL_HOME", h.path()),
            ("QUIL_DAEMON_BIN", PathBuf::from(QUILD)),
            ("HOME", h.user_home()),
            ("SHELL", PathBuf::from("/bin/bash")),
        ] {
            env.push("-e".to_string());
            env.push(format!("{k}={}", v.display()));
        }
        Command::new(bin.join("mcp-inspector"))
            .arg("--cli")
            .args(&env)
            .args([QUIL, "mcp"])
            .args(args)
            .env("HOME", h.user_home())
            .current_dir(h.user_home())
            .output()
            .expect("mcp-inspector")
    };
    // --strict: every schema is portable (exit 6 otherwise).
    let out = inspector(&["--method", "tools/list", "--strict"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).expect("tools/list prints JSON");
    let tools = list["tools"].as_array().expect("tools");
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no tool {name} in {list}"))
    };
    for name in [
        "list",
        "capture",
        "send_text",
        "send_keys",
        "prompt",
        "wait_for_text",
        "wait_for_state",
        "new_tab",
        "split",
        "kill_pane",
        "rename_tab",
        "rename_pane",
        "worktree_diff",
        "worktree_keep",
        "worktree_discard",
        "events",
    ] {
        let t = tool(name);
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(tools.len(), 16, "{list}");
    assert_eq!(tool("capture")["annotations"]["readOnlyHint"], true);
    assert_eq!(tool("capture")["inputSchema"]["required"], json!(["pane"]));
    assert_eq!(tool("kill_pane")["annotations"]["destructiveHint"], true);
    assert_eq!(
        tool("worktree_discard")["annotations"]["destructiveHint"],
        true
    );
    assert_eq!(tool("new_tab")["annotations"]["destructiveHint"], false);
    assert_eq!(tool("new_tab")["annotations"]["readOnlyHint"], false);

    let out = inspector(&[
        "--method",
        "tools/call",
        "--tool-name",
        "new_tab",
        "--tool-arg",
        "name=from-inspector",
        r#"command=["bash","--norc","--noprofile"]"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let called: Value = serde_json::from_slice(&out.stdout).expect("tools/call prints JSON");
    let pane = called["content"][0]["text"].as_str().unwrap_or_default();
    assert!(is_pane_id(pane), "{called}");
    assert_eq!(h.pane_json(pane)["alive"], true);
    assert_eq!(tab_names(&h), ["from-inspector"]);

    let out = inspector(&[
        "--method",
        "tools/call",
        "--tool-name",
        "capture",
        "--tool-arg",
        "pane=pane-0badc0de",
    ]);
    assert!(!out.status.success(), "an error result fails the call");
    let failed: Value = serde_json::from_slice(&out.stdout).expect("the result is printed");
    assert_eq!(failed["isError"], true, "{failed}");
    assert_eq!(
        failed["content"][0]["text"],
        "not_found: unknown pane pane-0badc0de"
    );
}

/// Unknown panes and bad arguments are error results naming the problem, and the same session
/// answers on.
#[test]
fn errors_are_results_and_the_server_keeps_answering() {
    let h = Home::new();
    let mut s = Session::start(&h);
    let pane = shell(&mut s, "errors");
    let no_worktree = format!("not_found: pane {pane} has no worktree");
    let timed_out = format!("timed out after 0.3s waiting for /never-there/ in {pane}");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "capture",
            json!({"pane": "pane-0badc0de"}),
            "not_found: unknown pane pane-0badc0de",
        ),
        ("capture", json!({}), "missing field `pane`"),
        ("capture", json!({"pane": "nonsense"}), "nonsense"),
        (
            "capture",
            json!({"pane": pane, "lines": 3}),
            "unknown field `lines`",
        ),
        (
            "send_text",
            json!({"pane": pane, "text": 7}),
            "invalid type",
        ),
        (
            "send_keys",
            json!({"pane": pane, "keys": []}),
            "at least one key",
        ),
        (
            "split",
            json!({"pane": pane, "direction": "diagonal"}),
            "unknown variant `diagonal`",
        ),
        (
            "wait_for_text",
            json!({"pane": pane, "regex": "("}),
            "invalid: invalid regex",
        ),
        (
            "wait_for_text",
            json!({"pane": pane, "regex": "x", "timeout": -1}),
            "timeout must be a number of seconds",
        ),
        (
            "wait_for_text",
            json!({"pane": pane, "regex": "never-there", "timeout": 0.3}),
            &timed_out,
        ),
        (
            "wait_for_state",
            json!({"pane": pane, "states": ["sleepy"]}),
            "unknown state \"sleepy\"",
        ),
        (
            "prompt",
            json!({"pane": pane, "text": "hi"}),
            "reports no attention state",
        ),
        (
            "new_tab",
            json!({"cwd": "/no/such/dir"}),
            "directory /no/such/dir does not exist",
        ),
        (
            "new_tab",
            json!({"type": "no-such-type"}),
            "not_found: unknown pane type \"no-such-type\"",
        ),
        (
            "events",
            json!({"types": ["no_such_event"]}),
            "unknown event type \"no_such_event\"",
        ),
        ("worktree_diff", json!({"pane": pane}), &no_worktree),
        (
            "rename_tab",
            json!({"tab": "no-such-tab", "name": "x"}),
            "not_found: unknown tab no-such-tab",
        ),
    ];
    for (name, args, want) in cases {
        let text = s.err(name, args.clone());
        assert!(
            text.contains(want),
            "{name} {args}: {text:?} lacks {want:?}"
        );
        assert!(!text.contains('\n'), "one line: {text:?}");
    }
    // A tool that does not exist is a protocol error, not a result.
    let r = s.request(
        "tools/call",
        json!({"name": "no_such_tool", "arguments": {}}),
    );
    assert!(r["error"]["message"].is_string(), "{r}");
    // Still answering, and nothing was done by the failed calls.
    let ls: Value = serde_json::from_str(&s.ok("list", json!({}))).expect("list is JSON");
    assert_eq!(pane_ids(&ls), [pane.as_str()]);
    assert!(
        s.child.try_wait().expect("try_wait").is_none(),
        "still running"
    );
    s.ok("kill_pane", json!({"pane": pane}));
    let gone = s.err("kill_pane", json!({"pane": pane}));
    assert_eq!(gone, format!("not_found: unknown pane {pane}"));
}

/// A shell through the tools: open, type, wait, read back, split, rename, events, kill; each
/// checked with the daemon.
#[test]
fn a_shell_is_driven_through_the_tools() {
    let h = Home::new();
    let mut s = Session::start(&h);
    // The first call started the daemon; its events were recorded all the same.
    let pane = shell(&mut s, "work");
    let created: Value = serde_json::from_str(&s.ok(
        "events",
        json!({"panes": [pane], "types": ["pane_created"]}),
    ))
    .expect("events is JSON");
    assert_eq!(
        created["events"].as_array().map(Vec::len),
        Some(1),
        "{created}"
    );
    assert_eq!(created["events"][0]["pane"], pane.as_str());
    let next = created["next"].as_u64().expect("next");

    let typed = s.ok(
        "send_text",
        json!({"pane": pane, "text": "echo made-by-$((6*7))", "enter": true}),
    );
    assert!(typed.contains(&pane), "{typed}");
    let screen = s.ok(
        "wait_for_text",
        // The output, then the next prompt: the screen has settled for the comparison below.
        json!({"pane": pane, "regex": "^made-by-42\n.+[$#]", "timeout": 20}),
    );
    assert!(screen.contains("echo made-by-$((6*7))"), "{screen}");
    assert!(h.capture(&pane).contains("\nmade-by-42\n"));
    assert_eq!(
        s.ok("capture", json!({"pane": pane})).lines().last(),
        h.capture(&pane).lines().rfind(|l| !l.trim().is_empty()),
        "the screen without its blank bottom rows"
    );
    s.ok("send_keys", json!({"pane": pane, "keys": ["C-c"]}));
    // What is typed while the shell handles Ctrl+C may go with the line it cancels: type the
    // next line once its prompt is back.
    s.ok(
        "wait_for_text",
        json!({"pane": pane, "regex": "\\^C\n.*[$#]", "timeout": 20}),
    );
    s.ok(
        "send_text",
        json!({"pane": pane, "text": "seq 1 60", "enter": true}),
    );
    s.ok(
        "wait_for_text",
        json!({"pane": pane, "regex": "^60$", "timeout": 20}),
    );
    let with_history = s.ok("capture", json!({"pane": pane, "scrollback": 100}));
    assert!(with_history.contains("made-by-42"), "{with_history}");

    let right = s.ok(
        "split",
        json!({"pane": pane, "direction": "horizontal", "command": ["bash", "--norc"]}),
    );
    assert!(is_pane_id(&right), "{right}");
    let ls = h.ls();
    assert_eq!(pane_ids(&ls), [pane.clone(), right.clone()]);
    assert_eq!(
        ls["tabs"][0]["layout"]["split"]["dir"], "horizontal",
        "{ls}"
    );

    s.ok("rename_tab", json!({"tab": "work", "name": "renamed"}));
    s.ok("rename_pane", json!({"pane": right, "name": "helper"}));
    assert_eq!(tab_names(&h), ["renamed"]);
    assert_eq!(h.pane_json(&right)["name"], "helper");
    let renamed: Value = serde_json::from_str(&s.ok(
        "events",
        json!({"since": next, "types": ["pane_renamed"], "wait": 5}),
    ))
    .expect("events is JSON");
    assert_eq!(renamed["events"][0]["name"], "helper", "{renamed}");
    assert!(renamed["events"][0]["seq"].as_u64() > Some(next));

    s.ok("kill_pane", json!({"pane": right}));
    assert_eq!(pane_ids(&h.ls()), [pane.as_str()]);
}

/// `prompt` types into an agent pane as its TUI needs it (text, then Enter) and returns when
/// the agent's turn is over, with its screen.
#[test]
fn prompt_returns_when_the_agents_turn_ends() {
    let h = Home::new();
    tiny_agent(&h);
    let mut s = Session::start(&h);
    let agent = s.ok("new_tab", json!({"type": "tiny-agent"}));
    assert_eq!(
        s.ok(
            "wait_for_state",
            json!({"pane": agent, "states": ["idle"], "timeout": 20})
        ),
        format!("{agent} is idle")
    );
    let out = s.ok(
        "prompt",
        json!({"pane": agent, "text": "hello one", "timeout": 30}),
    );
    let (head, screen) = out.split_once('\n').unwrap_or((&out, ""));
    // Nobody is attached: the end of the turn is `done`.
    assert_eq!(head, format!("{agent} is done"));
    assert!(screen.contains("reply to: hello one (turn 1)"), "{out}");
    assert_eq!(h.pane_json(&agent)["state"], "done");

    // Without waiting it only types; a shell gets the line too.
    let sh = shell(&mut s, "sh");
    let sent = s.ok(
        "prompt",
        json!({"pane": sh, "text": "echo prompted-$((1+1))", "wait": false}),
    );
    assert_eq!(sent, format!("sent the prompt to {sh}"));
    h.wait_for(&sh, "^prompted-2$");
}

/// A worktree pane's changes are seen with `worktree_diff` and dropped with
/// `worktree_discard`.
#[test]
fn worktree_diff_and_discard() {
    let h = Home::new();
    let repo = h.dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a.txt"), "a\n").expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "a"]);
    let mut s = Session::start(&h);
    let pane = s.ok(
        "new_tab",
        json!({"cwd": repo, "worktree": true, "command": ["bash", "--norc"]}),
    );
    let wt = h.pane_json(&pane)["worktree"]["path"]
        .as_str()
        .expect("a worktree")
        .to_string();
    s.ok(
        "send_text",
        json!({"pane": pane, "text": "echo new > added.txt", "enter": true}),
    );
    eventually("the file in the worktree", Duration::from_secs(20), || {
        Path::new(&wt).join("added.txt").exists()
    });
    let diff = s.ok("worktree_diff", json!({"pane": pane, "stat": true}));
    assert!(diff.contains("added.txt"), "{diff}");
    let full = s.ok("worktree_diff", json!({"pane": pane}));
    assert!(full.contains("+new"), "{full}");
    s.ok("worktree_discard", json!({"pane": pane}));
    assert!(pane_ids(&h.ls()).is_empty());
    assert!(!Path::new(&wt).exists(), "the worktree is gone");
    assert!(
        !repo.join("added.txt").exists(),
        "the main tree is untouched"
    );
}

/// Runs `cmd`, killing it after `secs`.
fn run_within(mut cmd: Command, secs: u64) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    output_within(child, secs)
}

/// The real Claude Code, with `quil mcp` as an MCP server and driven by the mock LLM, opens a
/// pane, runs a command in it and reads the result back, one tool call per prompt.
#[test]
fn claude_code_drives_quil_through_mcp() {
    let h = Home::new();
    let bin = clis_bin();
    let mock = MockLlm::start().expect("mock llm");
    let cc = h.dir.path().join("cc");
    let proj = h.dir.path().join("proj");
    std::fs::create_dir_all(&cc).expect("mkdir");
    std::fs::create_dir_all(&proj).expect("mkdir");
    // No first-run screens, and the project trusted.
    let seed = json!({
        "hasCompletedOnboarding": true,
        "theme": "dark",
        "projects": {proj.display().to_string(): {"hasTrustDialogAccepted": true}}
    });
    std::fs::write(cc.join(".claude.json"), seed.to_string()).expect("write");
    let config = h.dir.path().join("mcp.json");
    let server = json!({"mcpServers": {"quil": {
        "type": "stdio",
        "command": QUIL,
        "args": ["mcp"],
        "env": {
            "QUIL_HOME": h.path(),
            "QUIL_DAEMON_BIN": QUILD,
            "HOME": h.user_home(),
            "SHELL": "/bin/bash",
        }
    }}});
    std::fs::write(&config, server.to_string()).expect("write");
    let claude = |prompt: &str| -> String {
        let mut cmd = Command::new(bin.join("claude"));
        cmd.args(["-p", "--strict-mcp-config", "--mcp-config"])
            .arg(&config)
            // Every tool of the server, so no permission prompt stops it.
            .args(["--allowedTools", "mcp__quil", "--", prompt])
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            )
            .env("HOME", h.user_home())
            .env("LANG", "C.UTF-8")
            .env("SHELL", "/bin/bash")
            .env("ANTHROPIC_BASE_URL", mock.base_url())
            .env("ANTHROPIC_AUTH_TOKEN", "quil-test")
            .env("CLAUDE_CONFIG_DIR", &cc)
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_ERROR_REPORTING", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .current_dir(&proj);
        let out = run_within(cmd, 120);
        assert!(
            out.status.success(),
            "claude -p {prompt:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    let said = claude(
        r#"open a shell TOOL:mcp__quil__new_tab:{"name":"by-claude","command":["bash","--norc","--noprofile"]}"#,
    );
    let pane = said
        .strip_prefix("MOCK-REPLY: tool done: ")
        .unwrap_or_else(|| panic!("no tool result in {said:?}"))
        .to_string();
    assert!(is_pane_id(&pane), "{said}");
    assert_eq!(h.pane_json(&pane)["alive"], true);
    assert_eq!(tab_names(&h), ["by-claude"]);

    claude(&format!(
        r#"run it TOOL:mcp__quil__send_text:{{"pane":"{pane}","text":"echo claude-made-$((6*7))","enter":true}}"#
    ));
    h.wait_for(&pane, "^claude-made-42$");

    claude(&format!(
        r#"read it TOOL:mcp__quil__wait_for_text:{{"pane":"{pane}","regex":"^claude-made-42$","timeout":20}}"#
    ));
    // What Claude sent back to the model: the screen, read through quil's tool.
    let result = mock
        .requests()
        .iter()
        .flat_map(|b| b["messages"].as_array().cloned().unwrap_or_default())
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "tool_result")
        .map(|b| content_text(&b["content"]))
        .find(|t| t.contains("claude-made-42"))
        .unwrap_or_else(|| panic!("no tool result carried the output: {:#?}", mock.requests()));
    assert!(result.contains("echo claude-made-$((6*7))"), "{result}");
    assert!(
        result.lines().any(|l| l == "claude-made-42"),
        "the command's own output line: {result}"
    );
}
