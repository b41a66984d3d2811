//! `quil-mockllm [--port N] [--idle-timeout SECS] [--quiet] [--dump DIR]`: runs the mock LLM on 127.0.0.1,
//! prints `port <N>` and the base URLs, and serves until killed (or idle for SECS).

use quil_mockllm::{MockLlm, Options};
use std::io::Write;
use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: quil-mockllm [--port N] [--idle-timeout SECS] [--quiet] [--dump DIR]");
    std::process::exit(2);
}

fn main() {
    let mut opts = Options {
        idle_timeout: None,
        verbose: true,
        port: 0,
        dump_dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                opts.port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--idle-timeout" => {
                let secs: u64 = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage());
                opts.idle_timeout = Some(Duration::from_secs(secs));
            }
            "--quiet" => opts.verbose = false,
            "--dump" => opts.dump_dir = Some(args.next().unwrap_or_else(|| usage()).into()),
            _ => usage(),
        }
    }
    let m = match MockLlm::start_with(opts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("quil-mockllm: cannot listen: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "port {}", m.port);
    let _ = writeln!(out, "openai    {}/v1", m.base_url());
    let _ = writeln!(out, "anthropic {}", m.base_url());
    let _ = writeln!(out, "responses {}/v1", m.base_url());
    let _ = writeln!(out, "gemini    {}", m.base_url());
    let _ = out.flush();
    m.serve_forever();
}
