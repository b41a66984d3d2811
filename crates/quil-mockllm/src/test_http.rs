//! Test helpers: a blocking one-shot HTTP/1.1 client for the mock.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends `POST path` with `body` and `Connection: close`; returns the whole response.
pub(crate) fn post_raw(port: u16, path: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("write head");
    s.write_all(body).expect("write body");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// [`post_raw`] with a JSON body.
pub(crate) fn post(port: u16, path: &str, body: &Value) -> String {
    post_raw(port, path, body.to_string().as_bytes())
}

/// The JSON payloads of the SSE `data:` lines of a response.
pub(crate) fn sse_data(out: &str) -> impl Iterator<Item = Value> + '_ {
    out.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim_end()).ok())
}
