//! `quild`: the daemon, in the foreground. `quil daemon start` runs it detached.
fn main() {
    // `quild hold`: a pane's holder (see quil_daemon::holder), started by the daemon.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == quil_daemon::holder::ARG)
    {
        std::process::exit(quil_daemon::holder::main());
    }
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
