//! `quil mcp`: a Model Context Protocol server on stdio, so agents can drive quil with tools.
//!
//! It is a client of the daemon like any other (it starts `quild` when a tool call finds none
//! running) and never depends on the daemon crate. The tools are in [`tools`]; the `events`
//! tool's memory of what happened is in [`events`].

pub mod events;
pub mod tools;

use quil_client::remote::Target;
use rmcp::ServiceExt;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("MCP session: {0}")]
    Session(String),
}

/// Serves MCP on stdin/stdout until the client closes stdin, for the daemon of `target`.
pub fn serve_stdio(target: Target) -> Result<(), McpError> {
    // Nobody can answer ssh's questions: stdin and stdout are the MCP session's.
    let target = target.unattended();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(McpError::Runtime)?;
    let events = events::Events::watch(target.clone());
    let server = tools::Quil::new(target, events);
    let result = rt.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| McpError::Session(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| McpError::Session(e.to_string()))?;
        Ok(())
    });
    // A call still waiting on the daemon when the client left must not hold the exit.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}
