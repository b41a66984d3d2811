//! `quil-holder SOCKET`: one pane's holder, started by `quild` (see `quil_daemon::holder`). A
//! binary of its own, so each holder maps little more than it needs: running `quild` as the
//! holder cost each pane 0.5 MB of private memory, most of it `quild`'s relocated data.
fn main() {
    std::process::exit(quil_daemon::holder::main());
}
