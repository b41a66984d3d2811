//! The quil client: a connection to the daemon ([`conn`]), daemon launching ([`launch`]), the
//! scripting CLI ([`cli`]) and the full-screen TUI ([`tui`]). It shares only the protocol and
//! model crates with the daemon.
pub mod cli;
pub mod complete;
pub mod conn;
pub mod launch;
pub mod out;
pub mod proxy;
pub mod remote;
pub mod tui;
pub mod wait;
