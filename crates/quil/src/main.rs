//! `quil`: the client and scripting CLI. All logic lives in `quil-client`, and the MCP server
//! (`quil mcp`) in `quil-mcp`.
use clap::Parser;
use quil_client::cli::{Cli, Cmd};

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Cmd::Mcp) => quil_proto::paths::quil_home()
            .map_err(anyhow::Error::from)
            .and_then(|home| quil_client::cli::target(&cli, &home))
            .and_then(|target| Ok(quil_mcp::serve_stdio(target)?))
            .map(|()| 0),
        _ => quil_client::cli::main(cli),
    };
    match result {
        Ok(code) => std::process::exit(code),
        // A reader that went away (`quil capture | head -1`): nothing to say.
        Err(e) if quil_client::out::is_closed(&e) => std::process::exit(0),
        Err(e) => {
            // One line, naming the thing: the error chain joined.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("quil: {msg}");
            std::process::exit(1);
        }
    }
}
