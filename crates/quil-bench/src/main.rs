//! `quil-bench`: quil against tmux and a raw PTY, side by side, in one run.
//!
//! Measures: throughput (`cat` of a large file in a pane, with and without an attached
//! client), key-echo latency through an attached client, server RSS with idle panes and
//! with scrollback, and the CPU of server and client with ten busy agent panes shown at once. `scripts/bench.sh` runs `all` and then `report` to write
//! `docs/benchmarks.md`. Everything the harness starts lives in a private temp dir (tmux socket,
//! `QUIL_HOME`) and is killed on exit, on error and on Ctrl-C.

mod agents;
mod cleanup;
mod gen;
mod latency;
mod proc;
mod pty;
mod quil;
mod relay;
mod report;
mod rss;
mod ssh;
mod stats;
mod throughput;
mod tmux;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "quil-bench",
    about = "Benchmarks quil against tmux and a raw PTY"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug)]
struct Common {
    /// The `quil` binary (default: next to this executable).
    #[arg(long, global = true)]
    quil: Option<PathBuf>,
    /// The `quild` binary (default: next to this executable).
    #[arg(long, global = true)]
    quild: Option<PathBuf>,
    /// The `tmux` binary (default: `tmux` on PATH).
    #[arg(long, global = true)]
    tmux: Option<PathBuf>,
    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generate (if missing) the throughput input file; prints its path.
    GenFile {
        #[arg(long)]
        cache: PathBuf,
        #[arg(long, default_value_t = 200)]
        mb: u64,
    },
    /// Time `cat FILE` in a pane.
    Throughput {
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Comma-separated: raw,tmux,tmux-attached,quil,quil-tui,quil-proto, and over ssh
        /// (root only: they start an sshd) ssh-raw,ssh-tmux,quil-remote, each also with
        /// -50ms (a link with 50 ms added each way).
        #[arg(long, value_delimiter = ',')]
        systems: Vec<String>,
        /// Give up on one run after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Key-echo latency.
    Latency {
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Quiet time before each key, in milliseconds.
        #[arg(long, default_value_t = 20)]
        gap_ms: u64,
        /// Comma-separated: raw,floor-1,floor-2,tmux-control,tmux-client,quil-proto,quil-tui,
        /// ssh-raw,ssh-tmux,quil-remote (these start an sshd: root only), each also with -50ms
        /// (a link with 50 ms added each way).
        #[arg(long, value_delimiter = ',')]
        systems: Vec<String>,
    },
    /// Server RSS with idle panes and with scrollback.
    Rss,
    /// CPU of server and client with ten busy agent panes shown at once.
    Agents {
        /// Seconds measured.
        #[arg(long, default_value_t = 20.0)]
        secs: f64,
    },
    /// Every measure; writes the results as JSON to `--out`.
    All {
        /// Directory for the generated input file.
        #[arg(long)]
        cache: PathBuf,
        /// One run on a 20 MB file and 50 latency samples: a smoke test.
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        runs: Option<usize>,
        #[arg(long)]
        samples: Option<usize>,
        #[arg(long)]
        out: PathBuf,
        /// The repository, for the git revision in the report.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
    /// Forward stdin to CMD and its output to stdout, doing nothing else: the latency floor.
    #[command(hide = true)]
    Relay {
        /// CMD talks over a Unix socket pair instead of a PTY of its own.
        #[arg(long)]
        sock: bool,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Join stdin/stdout to HOST:PORT with a delay each way: ssh's ProxyCommand for a slow link.
    #[command(hide = true)]
    Delay {
        /// Added to each direction, in milliseconds.
        #[arg(long)]
        ms: u64,
        host: String,
        port: u16,
    },
    /// Render a results file (and criterion output) as Markdown.
    Report {
        #[arg(long)]
        results: PathBuf,
        /// Output of `cargo bench -p quil-proto --bench codec`.
        #[arg(long)]
        codec: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

/// What every measure needs.
pub struct Ctx {
    /// Private scratch dir (FIFOs, tmux socket, QUIL_HOMEs), removed at exit.
    pub tmp: PathBuf,
    pub bins: quil::Bins,
    pub tmux: PathBuf,
    pub cols: u16,
    pub rows: u16,
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe
        .parent()
        .context("executable has no directory")?
        .join(name);
    if !p.is_file() {
        bail!(
            "{} not found (build it with `cargo build --release -p quil`, or pass --{name})",
            p.display()
        );
    }
    Ok(p)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn make_ctx(c: &Common) -> Result<(Ctx, cleanup::Guard)> {
    let quil = match &c.quil {
        Some(p) => p.clone(),
        None => sibling("quil")?,
    };
    let quild = match &c.quild {
        Some(p) => p.clone(),
        None => sibling("quild")?,
    };
    let tmux = match &c.tmux {
        Some(p) => p.clone(),
        None => find_on_path("tmux").unwrap_or_else(|| PathBuf::from("tmux")),
    };
    let tmp = tempfile::Builder::new()
        .prefix("quil-bench-")
        .tempdir()?
        .keep();
    let t = tmp.clone();
    // Registered first, so it runs after everything started inside it was stopped.
    let guard = cleanup::Guard::new(move || {
        let _ = std::fs::remove_dir_all(&t);
    });
    let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    Ok((
        Ctx {
            tmp,
            bins: quil::Bins {
                quil: abs(quil),
                quild: abs(quild),
            },
            tmux,
            cols: 120,
            rows: 40,
        },
        guard,
    ))
}

/// The systems named by their keys, or all of them when none is named.
fn parse_systems<T>(v: &[String], all: &[T], key: fn(T) -> &'static str) -> Result<Vec<T>>
where
    T: Copy,
{
    if v.is_empty() {
        return Ok(all.to_vec());
    }
    v.iter()
        .map(|s| {
            all.iter().copied().find(|&x| key(x) == s).ok_or_else(|| {
                let known: Vec<&str> = all.iter().map(|&x| key(x)).collect();
                anyhow!("unknown system {s:?} (known: {})", known.join(", "))
            })
        })
        .collect()
}

fn print<T: serde::Serialize + std::fmt::Debug>(json: bool, v: &T) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        println!("{v:#?}");
    }
    Ok(())
}

fn all(
    c: &Common,
    cache: &Path,
    quick: bool,
    runs: Option<usize>,
    samples: Option<usize>,
    out: &Path,
    repo: &Path,
) -> Result<()> {
    let started = Instant::now();
    let (ctx, _guard) = make_ctx(c)?;
    let mb = if quick { 20 } else { 200 };
    let runs = runs.unwrap_or(if quick { 1 } else { 5 });
    let samples = samples.unwrap_or(if quick { 50 } else { 250 });
    let gap = Duration::from_millis(20);
    let file = gen::ensure(cache, mb)?;
    let mut r = report::Results {
        quick,
        machine: report::machine(repo, &ctx.tmux),
        file_mb: std::fs::metadata(&file)?.len() as f64 / 1e6,
        runs,
        latency_samples: samples,
        latency_gap_ms: gap.as_secs_f64() * 1e3,
        ..Default::default()
    };
    let save = |r: &report::Results| -> Result<()> {
        std::fs::write(out, serde_json::to_string_pretty(r)?)
            .with_context(|| format!("write {}", out.display()))
    };
    r.load.push(("throughput".into(), proc::loadavg()));
    let timeout = Duration::from_secs(if quick { 60 } else { 120 });
    r.throughput = throughput::run(&ctx, &file, runs, &throughput::all(), timeout)?;
    save(&r)?;
    r.load.push(("latency".into(), proc::loadavg()));
    r.latency = latency::run(&ctx, samples, gap, &latency::all())?;
    save(&r)?;
    r.load.push(("memory".into(), proc::loadavg()));
    r.rss = rss::run(&ctx);
    save(&r)?;
    r.load.push(("agents".into(), proc::loadavg()));
    r.agents = agents::run(&ctx, if quick { 5.0 } else { 20.0 });
    r.load.push(("end".into(), proc::loadavg()));
    r.wall_s = started.elapsed().as_secs_f64();
    save(&r)?;
    eprintln!(
        "quil-bench: results in {} ({:.0} s)",
        out.display(),
        r.wall_s
    );
    Ok(())
}

fn main() {
    cleanup::install_signal_handler();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("quil-bench: {e:#}");
            1
        }
    };
    cleanup::run_all();
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<()> {
    let c = &cli.common;
    match &cli.cmd {
        Cmd::GenFile { cache, mb } => {
            println!("{}", gen::ensure(cache, *mb)?.display());
            Ok(())
        }
        Cmd::Throughput {
            file,
            runs,
            systems,
            timeout,
        } => {
            let (ctx, _g) = make_ctx(c)?;
            let sys = parse_systems(systems, &throughput::all(), throughput::Sys::key)?;
            let rows = throughput::run(&ctx, file, *runs, &sys, Duration::from_secs(*timeout))?;
            print(c.json, &rows)
        }
        Cmd::Latency {
            samples,
            gap_ms,
            systems,
        } => {
            let (ctx, _g) = make_ctx(c)?;
            let sys = parse_systems(systems, &latency::all(), latency::Sys::key)?;
            let rows = latency::run(&ctx, *samples, Duration::from_millis(*gap_ms), &sys)?;
            print(c.json, &rows)
        }
        Cmd::Relay { sock, cmd } => relay::run(*sock, cmd),
        Cmd::Delay { ms, host, port } => relay::delay(Duration::from_millis(*ms), host, *port),
        Cmd::Rss => {
            let (ctx, _g) = make_ctx(c)?;
            print(c.json, &rss::run(&ctx))
        }
        Cmd::Agents { secs } => {
            let (ctx, _g) = make_ctx(c)?;
            print(c.json, &agents::run(&ctx, *secs))
        }
        Cmd::All {
            cache,
            quick,
            runs,
            samples,
            out,
            repo,
        } => all(c, cache, *quick, *runs, *samples, out, repo),
        Cmd::Report {
            results,
            codec,
            out,
        } => {
            let text = std::fs::read_to_string(results)
                .with_context(|| format!("read {}", results.display()))?;
            let r: report::Results = serde_json::from_str(&text)?;
            let codec = match codec {
                Some(p) => Some(
                    std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?,
                ),
                None => None,
            };
            std::fs::write(out, report::render(&r, codec.as_deref()))
                .with_context(|| format!("write {}", out.display()))?;
            eprintln!("quil-bench: wrote {}", out.display());
            Ok(())
        }
    }
}
