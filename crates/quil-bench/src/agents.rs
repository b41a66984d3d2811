//! Many agents at once (issue 18): ten panes, each printing as a busy agent does (a spinner at
//! 10 Hz, a burst of lines every second, a full redraw every three seconds), all shown by one
//! attached client on a 200x60 terminal. Measures the CPU the multiplexer takes over a fixed
//! time (its server, its client, and for quil the pane holders), side by side with tmux. The
//! agents' own CPU is the same for both and not counted.

use crate::proc;
use crate::pty::Pty;
use crate::quil::Quil;
use crate::tmux::Tmux;
use crate::Ctx;
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const PANES: usize = 10;
const COLS: u16 = 200;
const ROWS: u16 = 60;
/// Before measuring: every pane started and drawn, the client attached and caught up.
const WARM_UP: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub system: String,
    pub panes: usize,
    /// The measured window.
    pub secs: f64,
    pub server_cpu_s: Option<f64>,
    pub client_cpu_s: Option<f64>,
    /// quil's pane holders, together.
    pub holders_cpu_s: Option<f64>,
    pub error: Option<String>,
}

impl Row {
    pub fn total_cpu_s(&self) -> Option<f64> {
        Some(self.server_cpu_s? + self.client_cpu_s? + self.holders_cpu_s.unwrap_or(0.0))
    }
}

/// One busy agent, in POSIX sh (the same for every system).
const AGENT: &str = r#"
burst=''; n=0
while [ $n -lt 20 ]; do n=$((n+1)); burst="$burst  tool output $n: reading src/module_$n.rs, 120 lines, 3 matches for the pattern
"; done
i=0
while :; do
  i=$((i+1))
  case $((i % 4)) in 0) s='|';; 1) s='/';; 2) s='-';; *) s='\';; esac
  printf '\r\033[K\033[36m%s\033[0m Thinking... (%ds, esc to interrupt)' "$s" $((i / 10))
  if [ $((i % 10)) -eq 0 ]; then printf '\r\033[K%s' "$burst"; fi
  if [ $((i % 30)) -eq 0 ]; then printf '\033[H\033[2J\033[1m> the task\033[0m\n%s%s' "$burst" "$burst"; fi
  sleep 0.1
done
"#;

pub fn run(ctx: &Ctx, secs: f64) -> Vec<Row> {
    let dir = ctx.tmp.join("agents");
    let window = Duration::from_secs_f64(secs);
    let row = |system: &str, r: Result<(f64, f64, Option<f64>)>| {
        let row = match r {
            Ok((server, client, holders)) => Row {
                system: system.into(),
                panes: PANES,
                secs,
                server_cpu_s: Some(server),
                client_cpu_s: Some(client),
                holders_cpu_s: holders,
                error: None,
            },
            Err(e) => Row {
                system: system.into(),
                panes: PANES,
                secs,
                server_cpu_s: None,
                client_cpu_s: None,
                holders_cpu_s: None,
                error: Some(format!("{e:#}")),
            },
        };
        eprintln!(
            "quil-bench: agents {system}: server {:?} s, client {:?} s, holders {:?} s of CPU in {secs} s{}",
            row.server_cpu_s,
            row.client_cpu_s,
            row.holders_cpu_s,
            row.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
        );
        row
    };
    vec![
        row("quil", quil_run(ctx, &dir.join("quil"), window)),
        row("tmux", tmux_run(ctx, &dir.join("tmux"), window)),
    ]
}

/// CPU seconds `pids` used over `window`.
fn cpu_over(pids: &[u32], window: Duration) -> Result<Vec<f64>> {
    let read = || -> Result<Vec<f64>> {
        pids.iter()
            .map(|&p| proc::cpu_s(p).ok_or_else(|| anyhow!("cannot read the CPU time of {p}")))
            .collect()
    };
    let before = read()?;
    std::thread::sleep(window);
    let after = read()?;
    Ok(after.iter().zip(before).map(|(a, b)| a - b).collect())
}

fn quil_run(
    ctx: &Ctx,
    home: &std::path::Path,
    window: Duration,
) -> Result<(f64, f64, Option<f64>)> {
    let q = Quil::start(home, &ctx.bins)?;
    q.new_tab_sh(AGENT)?;
    let pty = Pty::spawn(crate::throughput::tui_cmd(&q), COLS, ROWS)?;
    let (client, fd) = (pty.pid, pty.fd());
    let _drained = pty.drain();
    let mut ctl = q.connect()?;
    proc::wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
        (crate::pty::echo_off(fd) && ctl.clients().ok()? >= 2).then_some(())
    })
    .ok_or_else(|| anyhow!("the TUI did not attach"))?;
    // A grid as tmux's `tiled` makes: each new pane halves the largest, across its longer side.
    for _ in 1..PANES {
        let ws = ctl.list()?;
        let big = ws
            .panes
            .iter()
            .max_by_key(|p| u32::from(p.cols) * u32::from(p.rows))
            .ok_or_else(|| anyhow!("no pane"))?;
        // A cell is about twice as tall as it is wide.
        let dir = if big.cols > 2 * big.rows {
            "--horizontal"
        } else {
            "--vertical"
        };
        let id = big.id.to_string();
        proc::run_ok(
            q.cli(&["split", "--pane", &id, dir, "--", "sh", "-c", AGENT]),
            Duration::from_secs(20),
        )?;
    }
    if ctl.list()?.panes.len() != PANES {
        bail!("the grid does not hold {PANES} panes");
    }
    std::thread::sleep(WARM_UP);
    let holders = holder_pids(home);
    let mut pids = vec![q.pid, client];
    pids.extend(&holders);
    let cpu = cpu_over(&pids, window)?;
    Ok((cpu[0], cpu[1], Some(cpu[2..].iter().sum())))
}

fn tmux_run(ctx: &Ctx, dir: &std::path::Path, window: Duration) -> Result<(f64, f64, Option<f64>)> {
    let t = Tmux::start(&ctx.tmux, dir, "agents")?;
    t.run(&["respawn-pane", "-k", "-t", "agents:0.0", "sh", "-c", AGENT])?;
    let pty = Pty::spawn(t.attach_cmd("agents"), COLS, ROWS)?;
    let (client, fd) = (pty.pid, pty.fd());
    let _drained = pty.drain();
    t.wait_attached(fd)?;
    for _ in 1..PANES {
        t.run(&["split-window", "-t", "agents:0", "sh", "-c", AGENT])?;
        t.run(&["select-layout", "-t", "agents:0", "tiled"])?;
    }
    std::thread::sleep(WARM_UP);
    let cpu = cpu_over(&[t.pid, client], window)?;
    Ok((cpu[0], cpu[1], None))
}

/// The running holders of the quil home `home` (`quil-holder <socket in home>`).
fn holder_pids(home: &std::path::Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let home = home.as_os_str().as_encoded_bytes();
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
                let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
                args.first().is_some_and(|a| a.ends_with(b"quil-holder"))
                    && args.get(1).is_some_and(|s| s.starts_with(home))
            })
        })
        .collect()
}
