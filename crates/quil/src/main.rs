//! `quil`: the client and scripting CLI. All logic lives in `quil-client`.
use clap::Parser;

fn main() {
    let cli = quil_client::cli::Cli::parse();
    match quil_client::cli::main(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line, naming the thing: the error chain joined.
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("quil: {msg}");
            std::process::exit(1);
        }
    }
}
