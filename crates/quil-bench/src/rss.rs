//! Server memory: VmRSS of the quil daemon and the tmux server with idle `sh` panes, and with
//! ten panes each holding 10,000 lines of scrollback (`seq 1 10000`).

use crate::proc;
use crate::quil::{Proto, Quil};
use crate::tmux::Tmux;
use crate::Ctx;
use anyhow::{anyhow, bail, Result};
use quil_proto::{PaneId, Reply, Request, SpawnSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub system: String,
    /// `idle` or `scrollback`.
    pub scenario: String,
    pub panes: usize,
    pub rss_kb: Option<u64>,
    /// Of that, private memory (`RssAnon`: heap, stacks) and mapped files (`RssFile`: mostly
    /// the program's own code and the shared libraries').
    #[serde(default)]
    pub anon_kb: Option<u64>,
    #[serde(default)]
    pub file_kb: Option<u64>,
    pub threads: Option<u64>,
    /// Wakeups per second while nothing happens (context switches of every thread).
    #[serde(default)]
    pub wakeups_per_s: Option<f64>,
    /// History lines each pane reported keeping (scrollback scenario), as a check.
    pub history_lines: Option<u64>,
    pub error: Option<String>,
}

const IDLE_COUNTS: [usize; 3] = [1, 10, 50];
const SB_PANES: usize = 10;
const SB_LINES: u32 = 10_000;

pub fn run(ctx: &Ctx) -> Vec<Row> {
    let dir = ctx.tmp.join("rss");
    let mut rows = Vec::new();
    collect(&mut rows, "quil", "idle", &[0, 1, 10, 50], || {
        quil_idle(ctx, &dir.join("quil-idle"))
    });
    collect(&mut rows, "quil", "scrollback", &[SB_PANES], || {
        quil_scrollback(ctx, &dir.join("quil-sb"))
    });
    collect(&mut rows, "tmux", "idle", &IDLE_COUNTS, || {
        tmux_idle(ctx, &dir.join("tmux-idle"))
    });
    collect(&mut rows, "tmux", "scrollback", &[SB_PANES], || {
        tmux_scrollback(ctx, &dir.join("tmux-sb"))
    });
    rows
}

/// Runs one scenario; on failure, rows with the error for each pane count not measured.
fn collect(
    rows: &mut Vec<Row>,
    system: &str,
    scenario: &str,
    counts: &[usize],
    f: impl FnOnce() -> (Vec<Row>, Option<anyhow::Error>),
) {
    let (got, err) = f();
    for r in &got {
        eprintln!(
            "quil-bench: rss {system} {scenario} {:>2} panes: {} kB ({} threads)",
            r.panes,
            r.rss_kb.map_or("?".into(), |v| v.to_string()),
            r.threads.map_or("?".into(), |v| v.to_string())
        );
    }
    if let Some(e) = &err {
        eprintln!("quil-bench: rss {system} {scenario} failed: {e:#}");
    }
    let missing: Vec<Row> = counts
        .iter()
        .filter(|&&n| !got.iter().any(|r| r.panes == n))
        .map(|&n| Row {
            system: system.into(),
            scenario: scenario.into(),
            panes: n,
            rss_kb: None,
            anon_kb: None,
            file_kb: None,
            threads: None,
            wakeups_per_s: None,
            history_lines: None,
            error: Some(
                err.as_ref()
                    .map_or("not measured".into(), |e| format!("{e:#}")),
            ),
        })
        .collect();
    rows.extend(got);
    rows.extend(missing);
}

/// Quiet time before reading RSS: steady state, past quil's periodic heap trim (every 5 s).
const SETTLE: Duration = Duration::from_secs(6);

/// How long wakeups are counted for, after the settle.
const WAKE_WINDOW: Duration = Duration::from_secs(3);

/// VmRSS after the process settled: the median of three readings 200 ms apart; and how often
/// it woke per second meanwhile.
fn measure(
    pid: u32,
    system: &str,
    scenario: &str,
    panes: usize,
    history: Option<u64>,
) -> Result<Row> {
    std::thread::sleep(SETTLE);
    let before = proc::context_switches(pid);
    std::thread::sleep(WAKE_WINDOW);
    let wakeups_per_s = before
        .zip(proc::context_switches(pid))
        .map(|(a, b)| b.saturating_sub(a) as f64 / WAKE_WINDOW.as_secs_f64());
    let mut v = Vec::new();
    for _ in 0..3 {
        let read = |field| {
            proc::status_kb(pid, field).ok_or_else(|| anyhow!("cannot read /proc/{pid}/status"))
        };
        v.push((read("VmRSS")?, read("RssAnon")?, read("RssFile")?));
        std::thread::sleep(Duration::from_millis(200));
    }
    // The reading whose total is the median, whole.
    v.sort_unstable();
    let (rss, anon, file) = v[v.len() / 2];
    Ok(Row {
        system: system.into(),
        scenario: scenario.into(),
        panes,
        rss_kb: Some(rss),
        anon_kb: Some(anon),
        file_kb: Some(file),
        threads: proc::threads(pid),
        wakeups_per_s,
        history_lines: history,
        error: None,
    })
}

fn is_prompt(line: &str) -> bool {
    matches!(line.trim_end(), "$" | "#")
}

fn quil_new_sh(p: &mut Proto) -> Result<PaneId> {
    let spawn = SpawnSpec {
        command: vec!["sh".into()],
        ..Default::default()
    };
    match p.request(Request::NewTab { name: None, spawn })? {
        Reply::Pane(id) => Ok(id),
        other => bail!("unexpected reply {other:?}"),
    }
}

fn quil_wait(p: &mut Proto, pane: PaneId, f: impl Fn(&[String]) -> bool, what: &str) -> Result<()> {
    proc::wait_for(Duration::from_secs(30), Duration::from_millis(20), || {
        let lines = p.capture(pane).ok()?;
        f(&lines).then_some(())
    })
    .ok_or_else(|| anyhow!("pane {pane}: {what} not seen within 30 s"))
}

fn shown_prompt(lines: &[String]) -> bool {
    lines
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| is_prompt(l))
}

fn seq_done(lines: &[String]) -> bool {
    lines.iter().any(|l| l.trim() == SB_LINES.to_string()) && shown_prompt(lines)
}

fn quil_idle(ctx: &Ctx, home: &std::path::Path) -> (Vec<Row>, Option<anyhow::Error>) {
    let mut rows = Vec::new();
    let r = (|| -> Result<()> {
        let q = Quil::start(home, &ctx.bins)?;
        let mut p = q.connect()?;
        rows.push(measure(q.pid, "quil", "idle", 0, None)?);
        let mut panes = Vec::new();
        for n in IDLE_COUNTS {
            while panes.len() < n {
                panes.push(quil_new_sh(&mut p)?);
            }
            for &pane in &panes {
                quil_wait(&mut p, pane, shown_prompt, "a shell prompt")?;
            }
            rows.push(measure(q.pid, "quil", "idle", n, None)?);
        }
        Ok(())
    })();
    (rows, r.err())
}

fn quil_scrollback(ctx: &Ctx, home: &std::path::Path) -> (Vec<Row>, Option<anyhow::Error>) {
    let mut rows = Vec::new();
    let r = (|| -> Result<()> {
        let q = Quil::start(home, &ctx.bins)?;
        let mut p = q.connect()?;
        let mut panes = Vec::new();
        for _ in 0..SB_PANES {
            panes.push(quil_new_sh(&mut p)?);
        }
        for &pane in &panes {
            quil_wait(&mut p, pane, shown_prompt, "a shell prompt")?;
            p.request(Request::Input {
                pane,
                data: format!("seq 1 {SB_LINES}\r").into_bytes(),
            })?;
        }
        for &pane in &panes {
            quil_wait(&mut p, pane, seq_done, "the end of seq")?;
        }
        let history = match p.request(Request::Scrollback {
            pane: panes[0],
            offset: 0,
            count: 0,
        })? {
            Reply::Scrollback { total, .. } => Some(u64::from(total)),
            _ => None,
        };
        rows.push(measure(q.pid, "quil", "scrollback", SB_PANES, history)?);
        Ok(())
    })();
    (rows, r.err())
}

fn tmux_wait(t: &Tmux, pane: &str, f: impl Fn(&[String]) -> bool, what: &str) -> Result<()> {
    proc::wait_for(Duration::from_secs(30), Duration::from_millis(20), || {
        let text = t.capture(pane).ok()?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        f(&lines).then_some(())
    })
    .ok_or_else(|| anyhow!("tmux pane {pane}: {what} not seen within 30 s"))
}

fn tmux_idle(ctx: &Ctx, dir: &std::path::Path) -> (Vec<Row>, Option<anyhow::Error>) {
    let mut rows = Vec::new();
    let r = (|| -> Result<()> {
        let t = Tmux::start(&ctx.tmux, dir, "rss")?;
        let mut panes = vec![t.display("rss", "#{pane_id}")?];
        for n in IDLE_COUNTS {
            while panes.len() < n {
                panes.push(t.new_window("rss", "sh", false)?);
            }
            for pane in &panes {
                tmux_wait(&t, pane, shown_prompt, "a shell prompt")?;
            }
            rows.push(measure(t.pid, "tmux", "idle", n, None)?);
        }
        Ok(())
    })();
    (rows, r.err())
}

fn tmux_scrollback(ctx: &Ctx, dir: &std::path::Path) -> (Vec<Row>, Option<anyhow::Error>) {
    let mut rows = Vec::new();
    let r = (|| -> Result<()> {
        let t = Tmux::start(&ctx.tmux, dir, "rss")?;
        let mut panes = vec![t.display("rss", "#{pane_id}")?];
        while panes.len() < SB_PANES {
            panes.push(t.new_window("rss", "sh", false)?);
        }
        for pane in &panes {
            tmux_wait(&t, pane, shown_prompt, "a shell prompt")?;
            t.run(&[
                "send-keys",
                "-t",
                pane,
                &format!("seq 1 {SB_LINES}"),
                "Enter",
            ])?;
        }
        for pane in &panes {
            tmux_wait(&t, pane, seq_done, "the end of seq")?;
        }
        let history = t.display(&panes[0], "#{history_size}")?.parse().ok();
        rows.push(measure(t.pid, "tmux", "scrollback", SB_PANES, history)?);
        Ok(())
    })();
    (rows, r.err())
}
