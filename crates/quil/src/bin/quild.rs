//! `quild`: the daemon, in the foreground. `quil daemon start` runs it detached.
fn main() {
    let code = match quil_daemon::quil_home()
        .map_err(anyhow::Error::from)
        .and_then(|home| Ok(quil_daemon::run(home)?))
    {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("quild: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
