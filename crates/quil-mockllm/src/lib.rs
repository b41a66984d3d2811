//! quil's own loopback mock LLM, for driving the real opencode and Claude Code CLIs offline.
//!
//! A std-only HTTP/1.1 server on `127.0.0.1:<ephemeral>` (one thread per connection) that speaks
//! just enough of four APIs (Codex's Responses API and Gemini's in their own modules):
//!
//! - OpenAI-compatible `POST /v1/chat/completions` (what opencode's `@ai-sdk/openai-compatible`
//!   provider sends), streaming (`stream: true`, SSE `data:` chunks ending with `data: [DONE]`)
//!   or not;
//! - Anthropic `POST /v1/messages` (Claude Code sends `/v1/messages?beta=true`), streaming with
//!   the exact event sequence `message_start`, `content_block_start`, `content_block_delta`
//!   (`text_delta`), `content_block_stop`, `message_delta` (`stop_reason: end_turn`, usage),
//!   `message_stop`; or not; plus `POST /v1/messages/count_tokens`.
//!
//! By default the reply text is `MOCK-REPLY: <last user message>` (one line, at most 200
//! chars), so a test can see on screen that its prompt made the round trip. Markers in the
//! prompt script other replies (see [`script`] for the grammar):
//!
//! | marker in the prompt      | reply (agent requests, i.e. requests that offer tools)       |
//! |---------------------------|--------------------------------------------------------------|
//! | `TOOL:bash:<command>`     | a call of the shell tool (`Bash` / `bash`)                   |
//! | `TOOL:question:<text>`    | `AskUserQuestion` / `question`, options `Yes` and `No`       |
//! | `TOOL:plan:<text>`        | `ExitPlanMode` (loaded with `ToolSearch` first if deferred)  |
//! | `TOOL:<Name>:<arg>`       | the tool `<Name>`, `<arg>` a JSON object or its one string   |
//! | `ERROR:<status>`          | an HTTP error with the API's JSON error body (529 overloaded)|
//! | `ERROR:<status>:stream`   | a 200 stream that breaks off with an in-band error event     |
//! | `SLOW:<ms>`               | waits before each reply of the turn (combines with the rest) |
//!
//! Codex (Responses API) and Gemini turns take `ERROR:<status>` (not `:stream`) and `SLOW:<ms>`;
//! they get no tool calls yet.
//!
//! After a scripted tool call, the request carrying its result gets the text
//! `MOCK-REPLY: tool done: <result>`, ending the turn.
//!
//! Anything else gets a harmless reply (`200 {}` for known-safe probes, `404` JSON error
//! otherwise) and is logged.
//!
//! Every request is recorded ([`MockLlm::log`]); the JSON bodies of model calls are
//! [`MockLlm::requests`], so a test can assert that a later prompt arrives with the earlier turn
//! in its message history.
//!
//! Lifetime is bounded: the server stops when the [`MockLlm`] is dropped, and by itself after
//! [`Options::idle_timeout`] without a request.

pub mod script;

pub use script::{parse as parse_markers, Action, Reply, Script, ToolKind};
use serde_json::{json, Value};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod gemini;
pub mod responses;
#[cfg(test)]
mod test_http;

/// The prefix of every reply text.
pub const REPLY_PREFIX: &str = "MOCK-REPLY: ";
/// Longest request head (request line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Longest request body accepted (Claude Code's first request is a few hundred KiB of tools).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Which API a request spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
    /// `POST /v1/responses` (OpenAI Responses API; Codex CLI).
    Responses,
    /// `POST /v1beta/models/<model>:{streamGenerateContent,generateContent,countTokens}`
    /// (Gemini CLI).
    Gemini,
    /// Anything else.
    Other,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The request target, query included (`/v1/messages?beta=true`).
    pub path: String,
    pub api: Api,
    /// The body parsed as JSON; `Value::Null` when empty or not JSON.
    pub body: Value,
    /// A summary of the reply to a model call ([`Reply::summary`]): the text, `tool <name>
    /// <input>` or `error <status>`.
    pub reply: Option<String>,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after this long without any request. `None`: only when dropped.
    pub idle_timeout: Option<Duration>,
    /// Print one line per request to stderr.
    pub verbose: bool,
    /// Port to bind on 127.0.0.1; 0 for an ephemeral one.
    pub port: u16,
    /// Write each request body to `<dir>/<n>.json` (for inspecting what a CLI sends).
    pub dump_dir: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            idle_timeout: Some(Duration::from_secs(600)),
            verbose: false,
            port: 0,
            dump_dir: None,
        }
    }
}

struct Shared {
    log: Mutex<Vec<Recorded>>,
    changed: Condvar,
    stop: AtomicBool,
    /// Milliseconds since `epoch` of the last request.
    last_activity: AtomicU64,
    epoch: Instant,
    verbose: bool,
    seq: AtomicU64,
    dump_dir: Option<std::path::PathBuf>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<Recorded>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_activity.store(ms, Ordering::SeqCst);
    }
}

/// A running mock server. Dropping it stops the server.
pub struct MockLlm {
    /// The port on 127.0.0.1.
    pub port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl MockLlm {
    /// Starts a server on an ephemeral loopback port with the default options (10 min idle
    /// timeout).
    pub fn start() -> io::Result<MockLlm> {
        Self::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> io::Result<MockLlm> {
        let listener = TcpListener::bind(("127.0.0.1", opts.port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            last_activity: AtomicU64::new(0),
            epoch: Instant::now(),
            verbose: opts.verbose,
            seq: AtomicU64::new(0),
            dump_dir: opts.dump_dir.clone(),
        });
        let sh = shared.clone();
        let idle = opts.idle_timeout;
        let accept = std::thread::Builder::new()
            .name("mockllm-accept".into())
            .spawn(move || accept_loop(listener, sh, idle))?;
        Ok(MockLlm {
            port,
            shared,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The JSON bodies of every model call (`/v1/chat/completions`, `/v1/messages`), in order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared
            .lock()
            .iter()
            .filter(|r| r.api != Api::Other)
            .map(|r| r.body.clone())
            .collect()
    }

    /// Every request received, model calls or not, in order.
    pub fn log(&self) -> Vec<Recorded> {
        self.shared.lock().clone()
    }

    /// Waits until `pred` holds for the log, or the timeout passes; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&[Recorded]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut log = self.shared.lock();
        loop {
            if pred(&log) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            log = match self.shared.changed.wait_timeout(log, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Whether the server is still accepting connections (false after the idle timeout).
    pub fn is_running(&self) -> bool {
        !self.shared.stop.load(Ordering::SeqCst)
            && self.accept.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Stops the server and waits for its accept thread.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }

    /// Serves until the server stops by itself (idle timeout) or never, when there is none.
    pub fn serve_forever(mut self) {
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, idle: Option<Duration>) {
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if let Some(idle) = idle {
            let last = Duration::from_millis(shared.last_activity.load(Ordering::SeqCst));
            if shared.epoch.elapsed().saturating_sub(last) > idle {
                shared.stop.store(true, Ordering::SeqCst);
                return;
            }
        }
        match listener.accept() {
            Ok((stream, _)) => {
                shared.touch();
                let sh = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("mockllm-conn".into())
                    .spawn(move || {
                        if let Err(e) = serve_conn(stream, &sh) {
                            if sh.verbose && e.kind() != io::ErrorKind::UnexpectedEof {
                                eprintln!("quil-mockllm: connection: {e}");
                            }
                        }
                    });
                if let Err(e) = spawned {
                    eprintln!("quil-mockllm: cannot spawn a connection thread: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                eprintln!("quil-mockllm: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves requests on one connection (keep-alive) until the client closes it, the server
/// stops, or a response closes it.
fn serve_conn(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let req = match read_request(&mut reader, shared)? {
            Some(r) => r,
            None => return Ok(()),
        };
        shared.touch();
        let keep_alive = !req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let close = respond(&req, &mut out, shared)?;
        out.flush()?;
        if close || !keep_alive {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
    }
}

/// Reads one request; `None` when the client closed the connection between requests or the
/// server is stopping.
fn read_request(r: &mut BufReader<TcpStream>, shared: &Shared) -> io::Result<Option<Request>> {
    let mut head = Vec::new();
    // Wait for the first byte, polling the stop flag.
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        match r.fill_buf() {
            Ok([]) => return Ok(None),
            Ok(_) => break,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut line = Vec::new();
        read_line(r, &mut line, deadline)?;
        if line.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let blank = line == b"\r\n" || line == b"\n";
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        if blank && head.len() > line.len() {
            break;
        }
        if blank {
            // Stray CRLF between requests.
            head.clear();
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        req.body = read_chunked(r, deadline)?;
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        if len > MAX_BODY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        req.body = vec![0; len];
        read_exact(r, &mut req.body, deadline)?;
    }
    Ok(Some(req))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn read_line(r: &mut BufReader<TcpStream>, out: &mut Vec<u8>, deadline: Instant) -> io::Result<()> {
    loop {
        match r.read_until(b'\n', out) {
            Ok(_) => return Ok(()),
            Err(e) if is_timeout(&e) && Instant::now() < deadline => continue,
            Err(e) => return Err(e),
        }
    }
}

fn read_exact(r: &mut BufReader<TcpStream>, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(e) if is_timeout(&e) && Instant::now() < deadline => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_chunked(r: &mut BufReader<TcpStream>, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        read_line(r, &mut line, deadline)?;
        let size_text = String::from_utf8_lossy(&line);
        let size_text = size_text
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        let size = usize::from_str_radix(&size_text, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut t = Vec::new();
                read_line(r, &mut t, deadline)?;
                if t.is_empty() || t == b"\r\n" || t == b"\n" {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        read_exact(r, &mut body[start..], deadline)?;
        let mut crlf = Vec::new();
        read_line(r, &mut crlf, deadline)?;
    }
}

fn classify(method: &str, path: &str) -> Api {
    let p = path
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    match (method, p) {
        ("POST", "/v1/chat/completions" | "/chat/completions") => Api::OpenAi,
        ("POST", "/v1/messages" | "/messages") => Api::Anthropic,
        ("POST", "/v1/responses" | "/responses") => Api::Responses,
        _ if gemini::is_gemini(method, p) => Api::Gemini,
        _ => Api::Other,
    }
}

/// Writes the response; returns whether the connection must be closed after it.
fn respond(req: &Request, out: &mut TcpStream, shared: &Shared) -> io::Result<bool> {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let api = classify(&req.method, &req.path);
    let n = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if let Some(dir) = &shared.dump_dir {
        if let Err(e) = std::fs::write(dir.join(format!("{n:04}.json")), &req.body) {
            eprintln!("quil-mockllm: cannot dump request #{n}: {e}");
        }
    }
    let (reply, delay) = match api {
        Api::OpenAi | Api::Anthropic => {
            let (r, d) = script::reply_for(api, &body);
            (Some(r), d)
        }
        // Codex and Gemini get the echo, or an HTTP error for `ERROR:<status>` in a turn's
        // prompt, after `SLOW:<ms>` (no tool scripting for them yet).
        Api::Responses | Api::Gemini => {
            let script = turn_script(api, &body);
            let delay = script.as_ref().map_or(Duration::ZERO, |s| s.delay);
            let reply = match script.map(|s| s.action) {
                Some(Action::Error {
                    status,
                    in_stream: false,
                }) => Reply::Error {
                    status,
                    in_stream: false,
                },
                _ if api == Api::Responses => Reply::Text(responses::reply_text(&body)),
                _ => Reply::Text(gemini::answer_text(&body, &gemini::reply_text(&body))),
            };
            (Some(reply), delay)
        }
        Api::Other => (None, Duration::ZERO),
    };
    if shared.verbose || api == Api::Other {
        eprintln!(
            "quil-mockllm: #{n} {} {}{}{}",
            req.method,
            req.path,
            if stream { " (stream)" } else { "" },
            match &reply {
                Some(r) => format!(" -> {}", script::one_line(&r.summary(), 160)),
                None => " (unknown path)".to_string(),
            }
        );
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock")
        .to_string();
    // The body moves into the log: Claude Code's are a few hundred KiB.
    shared.lock().push(Recorded {
        method: req.method.clone(),
        path: req.path.clone(),
        api,
        body,
        reply: reply.as_ref().map(Reply::summary),
    });
    shared.changed.notify_all();
    let Some(reply) = reply else {
        return respond_other(req, out);
    };
    if let (Api::Responses | Api::Gemini, Reply::Text(text)) = (api, &reply) {
        pause(shared, delay);
        return match api {
            Api::Responses => responses::respond(out, n, &model, text, stream),
            _ => gemini::respond(out, n, &req.path, text),
        };
    }
    let http_error = matches!(
        reply,
        Reply::Error {
            in_stream: false,
            ..
        }
    );
    if stream && !http_error {
        sse_head(out)?;
        let events = match api {
            Api::OpenAi => openai_stream(n, &model, &reply),
            _ => anthropic_stream(n, &model, &reply),
        };
        for (i, ev) in events.iter().enumerate() {
            if i == 1 {
                pause(shared, delay);
            }
            match ev.event {
                Some(name) => write!(out, "event: {name}\ndata: {}\n\n", ev.data)?,
                None => write!(out, "data: {}\n\n", ev.data)?,
            }
            out.flush()?;
        }
        return Ok(true);
    }
    pause(shared, delay);
    let (status, v) = match (api, &reply) {
        (Api::OpenAi, _) => openai_full(n, &model, &reply),
        // The Responses API answers errors as OpenAI does.
        (Api::Responses, Reply::Error { status, .. }) => (*status, openai_error_body(*status)),
        (Api::Gemini, Reply::Error { status, .. }) => (*status, gemini_error_body(*status)),
        _ => anthropic_full(n, &model, &reply),
    };
    json_reply(out, status, &v)?;
    Ok(false)
}

/// Answers a request that is not a model call.
fn respond_other(req: &Request, out: &mut TcpStream) -> io::Result<bool> {
    let p = req.path.split('?').next().unwrap_or_default();
    if req.method == "POST" && p.ends_with("/messages/count_tokens") {
        json_reply(out, 200, &json!({"input_tokens": 10}))?;
    } else if req.method == "HEAD" || (req.method == "GET" && (p == "/" || p.ends_with("/health")))
    {
        json_reply(out, 200, &json!({}))?;
    } else if req.method == "GET" && p.ends_with("/models") {
        json_reply(
            out,
            200,
            &json!({"object": "list", "data": [{"id": "m", "object": "model", "type": "model", "display_name": "Mock"}], "has_more": false}),
        )?;
    } else {
        json_reply(
            out,
            404,
            &json!({"type": "error", "error": {"type": "not_found_error", "message": format!("quil-mockllm: no route for {} {}", req.method, p)}}),
        )?;
    }
    Ok(false)
}

/// Sleeps for `delay`, or until the server stops.
fn pause(shared: &Shared, delay: Duration) {
    let end = Instant::now() + delay;
    while !shared.stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

fn sse_head(out: &mut TcpStream) -> io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )
}

fn json_reply(out: &mut TcpStream, status: u16, v: &Value) -> io::Result<()> {
    let body = v.to_string();
    let reason = script::reason(status);
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `MOCK-REPLY: <last user message>`, one line, at most 200 chars.
pub fn reply_text(body: &Value) -> String {
    responses::reply_for(&last_user_text(body).unwrap_or_default())
}

/// The text of the last user message of an OpenAI or Anthropic request body. Claude Code adds
/// `<system-reminder>` text blocks to user messages; those are skipped when there is other
/// text.
pub fn last_user_text(body: &Value) -> Option<String> {
    let msgs = body.get("messages")?.as_array()?;
    let m = msgs.iter().rev().find(|m| m["role"] == "user")?;
    Some(content_text(&m["content"]))
}

/// The text of a message `content` (a string, or an array of parts/blocks).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str).unwrap_or("text") == "text")
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            let real: Vec<&str> = texts
                .iter()
                .copied()
                .filter(|t| !t.trim_start().starts_with("<system-reminder>"))
                .collect();
            if real.is_empty() {
                texts.join(" ")
            } else {
                real.join(" ")
            }
        }
        _ => String::new(),
    }
}

/// Every text of every message of a request body, joined; for "the history contains X" checks.
pub fn history_text(body: &Value) -> String {
    let mut s = String::new();
    if let Some(msgs) = body.get("messages").and_then(Value::as_array) {
        for m in msgs {
            s.push_str(&content_text(&m["content"]));
            s.push('\n');
        }
    }
    s
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Splits the reply into two deltas so clients see a real stream.
fn halves(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mid = chars.len() / 2;
    [
        chars[..mid].iter().collect::<String>(),
        chars[mid..].iter().collect(),
    ]
    .into_iter()
    .filter(|s: &String| !s.is_empty())
    .collect()
}

fn usage_tokens(text: &str) -> u64 {
    (text.split_whitespace().count() as u64).max(1)
}

/// One server-sent event: an optional `event:` name and its `data:`.
struct Sse {
    event: Option<&'static str>,
    data: String,
}

fn sse(event: &'static str, data: Value) -> Sse {
    Sse {
        event: Some(event),
        data: data.to_string(),
    }
}

fn openai_error_body(status: u16) -> Value {
    let (kind, code, message) = script::openai_error(status);
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// Google's error shape: `{"error": {"code", "message", "status"}}`.
fn gemini_error_body(status: u16) -> Value {
    let kind = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    json!({"error": {"code": status, "message": format!("quil-mockllm: scripted error {status}"),
                     "status": kind}})
}

/// The markers of a Codex or Gemini turn request's prompt (one that offers tools, so not a
/// title or routing side call).
fn turn_script(api: Api, body: &Value) -> Option<Script> {
    if body["tools"].as_array().is_none_or(|t| t.is_empty()) {
        return None;
    }
    let prompt = match api {
        Api::Responses => responses::last_user_text(body),
        Api::Gemini => gemini::last_user_text(body),
        _ => None,
    }?;
    Some(script::parse(&prompt))
}

fn anthropic_error_body(n: u64, status: u16) -> Value {
    let (kind, message) = script::anthropic_error(status);
    json!({"type": "error", "error": {"type": kind, "message": message},
           "request_id": format!("req_mock{n}")})
}

/// The `data:` chunks of an OpenAI streaming reply, `[DONE]` included (not after an error).
fn openai_stream(n: u64, model: &str, reply: &Reply) -> Vec<Sse> {
    let id = format!("chatcmpl-mock{n}");
    let created = now_secs();
    let chunk = |delta: Value, finish: Value| Sse {
        event: None,
        data: json!({"id": id, "object": "chat.completion.chunk", "created": created,
                     "model": model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string(),
    };
    let usage = |out: &str| {
        json!({"prompt_tokens": 10, "completion_tokens": usage_tokens(out),
               "total_tokens": 10 + usage_tokens(out)})
    };
    let mut v = Vec::new();
    let (finish, out_text) = match reply {
        Reply::Text(text) => {
            v.push(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ));
            for part in halves(text) {
                v.push(chunk(json!({"content": part}), Value::Null));
            }
            ("stop", text.clone())
        }
        Reply::ToolCall { name, input } => {
            let args = input.to_string();
            v.push(chunk(
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"index": 0, "id": format!("call_mock{n}"), "type": "function",
                     "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ));
            for part in halves(&args) {
                v.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
                    Value::Null,
                ));
            }
            ("tool_calls", args)
        }
        Reply::Error { status, .. } => {
            v.push(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ));
            v.push(Sse {
                event: None,
                data: openai_error_body(*status).to_string(),
            });
            return v;
        }
    };
    let mut last = chunk(json!({}), json!(finish));
    if let Ok(mut data) = serde_json::from_str::<Value>(&last.data) {
        data["usage"] = usage(&out_text);
        last.data = data.to_string();
    }
    v.push(last);
    v.push(Sse {
        event: None,
        data: "[DONE]".into(),
    });
    v
}

/// The status and body of a non-streaming OpenAI reply.
fn openai_full(n: u64, model: &str, reply: &Reply) -> (u16, Value) {
    let (message, finish, out_text) = match reply {
        Reply::Text(text) => (
            json!({"role": "assistant", "content": text}),
            "stop",
            text.clone(),
        ),
        Reply::ToolCall { name, input } => {
            let args = input.to_string();
            (
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": format!("call_mock{n}"), "type": "function",
                     "function": {"name": name, "arguments": args}}]}),
                "tool_calls",
                args,
            )
        }
        Reply::Error { status, .. } => return (*status, openai_error_body(*status)),
    };
    (
        200,
        json!({"id": format!("chatcmpl-mock{n}"), "object": "chat.completion",
               "created": now_secs(), "model": model,
               "choices": [{"index": 0, "message": message, "finish_reason": finish}],
               "usage": {"prompt_tokens": 10, "completion_tokens": usage_tokens(&out_text),
                         "total_tokens": 10 + usage_tokens(&out_text)}}),
    )
}

/// The events of an Anthropic streaming reply.
fn anthropic_stream(n: u64, model: &str, reply: &Reply) -> Vec<Sse> {
    let mut v = vec![sse(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": format!("msg_mock{n}"), "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
    )];
    let (stop_reason, out_text) = match reply {
        Reply::Text(text) => {
            v.push(sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}}),
            ));
            for part in halves(text) {
                v.push(sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": part}}),
                ));
            }
            ("end_turn", text.clone())
        }
        Reply::ToolCall { name, input } => {
            let args = input.to_string();
            v.push(sse(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "tool_use", "id": format!("toolu_mock{n}"),
                                         "name": name, "input": {}}}),
            ));
            for part in halves(&args) {
                v.push(sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "input_json_delta", "partial_json": part}}),
                ));
            }
            ("tool_use", args)
        }
        Reply::Error { status, .. } => {
            let mut body = anthropic_error_body(n, *status);
            if let Some(o) = body.as_object_mut() {
                o.remove("request_id");
            }
            v.push(sse("error", body));
            return v;
        }
    };
    v.push(sse(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    v.push(sse(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": usage_tokens(&out_text)}}),
    ));
    v.push(sse("message_stop", json!({"type": "message_stop"})));
    v
}

/// The status and body of a non-streaming Anthropic reply.
fn anthropic_full(n: u64, model: &str, reply: &Reply) -> (u16, Value) {
    let (content, stop_reason, out_text) = match reply {
        Reply::Text(text) => (
            json!([{"type": "text", "text": text}]),
            "end_turn",
            text.clone(),
        ),
        Reply::ToolCall { name, input } => (
            json!([{"type": "tool_use", "id": format!("toolu_mock{n}"), "name": name,
                    "input": input}]),
            "tool_use",
            input.to_string(),
        ),
        Reply::Error { status, .. } => return (*status, anthropic_error_body(n, *status)),
    };
    (
        200,
        json!({"id": format!("msg_mock{n}"), "type": "message", "role": "assistant",
               "model": model, "content": content, "stop_reason": stop_reason,
               "stop_sequence": null,
               "usage": {"input_tokens": 10, "output_tokens": usage_tokens(&out_text)}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(port: u16, path: &str, body: &Value) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let b = body.to_string();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    /// The JSON payloads of the SSE `data:` lines of a response.
    fn sse_data(out: &str) -> impl Iterator<Item = Value> + '_ {
        out.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
    }

    #[test]
    fn openai_stream_echoes_the_last_user_message() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1/chat/completions",
            &json!({"model": "m", "stream": true, "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": [{"type": "text", "text": "hello   MARKER1"}]}]}),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("text/event-stream"));
        assert!(out.trim_end().ends_with("data: [DONE]"), "{out}");
        let text: String = sse_data(&out)
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(text, "MOCK-REPLY: hello MARKER1");
        assert_eq!(m.requests().len(), 1);
        assert_eq!(m.requests()[0]["messages"][1]["role"], "user");
    }

    #[test]
    fn anthropic_stream_has_the_exact_event_sequence() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1/messages?beta=true",
            &json!({"model": "claude", "stream": true, "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                    {"type": "text", "text": "hi there"}]}]}),
        );
        let events: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        let mut expect = vec!["message_start", "content_block_start"];
        expect.extend(std::iter::repeat_n("content_block_delta", 2));
        expect.extend(["content_block_stop", "message_delta", "message_stop"]);
        assert_eq!(events, expect, "{out}");
        assert!(out.contains(r#""stop_reason":"end_turn""#));
        let text: String = sse_data(&out)
            .filter_map(|v| v["delta"]["text"].as_str().map(String::from))
            .collect();
        assert_eq!(text, "MOCK-REPLY: hi there");
        assert_eq!(m.log()[0].api, Api::Anthropic);
    }

    #[test]
    fn keep_alive_chunked_and_unknown_paths() {
        let m = MockLlm::start().expect("start");
        let mut s = TcpStream::connect(("127.0.0.1", m.port)).expect("connect");
        let b = json!({"model": "m", "messages": [{"role": "user", "content": "one"}]}).to_string();
        // Chunked body, non-streaming, keep-alive; then a second request on the same socket.
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            b.len()
        )
        .expect("write");
        write!(
            s,
            "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        assert!(out.contains("MOCK-REPLY: one"), "{out}");
        assert!(out.contains("HTTP/1.1 404"), "{out}");
        let log = m.log();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].path, "/nope");
        assert_eq!(log[1].api, Api::Other);
        assert_eq!(m.requests().len(), 1);
    }

    fn claude_tools() -> Value {
        json!([{"name": "Bash", "input_schema": {"type": "object", "properties": {
                    "command": {"type": "string"}, "description": {"type": "string"}},
                    "required": ["command"]}}])
    }

    fn opencode_tools() -> Value {
        json!([{"type": "function", "function": {"name": "bash", "parameters": {
                    "type": "object", "properties": {"command": {"type": "string"}},
                    "required": ["command"]}}}])
    }

    /// The `event:` names of an Anthropic stream, and the concatenation of its JSON deltas.
    fn anthropic_events(out: &str) -> (Vec<&str>, String) {
        let names = out
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        let json: String = sse_data(out)
            .filter_map(|v| v["delta"]["partial_json"].as_str().map(String::from))
            .collect();
        (names, json)
    }

    #[test]
    fn anthropic_tool_call_stream_is_well_formed() {
        let m = MockLlm::start().expect("start");
        let prompt =
            json!({"role": "user", "content": [{"type": "text", "text": "TOOL:bash:mkdir foo"}]});
        let out = post(
            m.port,
            "/v1/messages?beta=true",
            &json!({"model": "claude", "stream": true, "messages": [prompt],
                    "tools": claude_tools()}),
        );
        let (names, input) = anthropic_events(&out);
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ],
            "{out}"
        );
        let start = sse_data(&out).nth(1).unwrap_or_default();
        assert_eq!(start["content_block"]["type"], "tool_use");
        assert_eq!(start["content_block"]["name"], "Bash");
        assert_eq!(start["content_block"]["input"], json!({}));
        let input: Value = serde_json::from_str(&input).expect("input JSON");
        assert_eq!(input["command"], "mkdir foo");
        assert!(input["description"].is_string());
        assert!(out.contains(r#""stop_reason":"tool_use""#), "{out}");
        let id = start["content_block"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            m.log()[0]
                .reply
                .as_deref()
                .map(|r| r.starts_with("tool Bash ")),
            Some(true)
        );

        // The tool result ends the turn with text.
        let out = post(
            m.port,
            "/v1/messages?beta=true",
            &json!({"model": "claude", "stream": true, "tools": claude_tools(), "messages": [
                prompt,
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": id, "name": "Bash", "input": input}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": id, "content": "made it"},
                    {"type": "text", "text": "<system-reminder>x</system-reminder>"}]}]}),
        );
        let text: String = sse_data(&out)
            .filter_map(|v| v["delta"]["text"].as_str().map(String::from))
            .collect();
        assert_eq!(text, "MOCK-REPLY: tool done: made it");
        assert!(out.contains(r#""stop_reason":"end_turn""#), "{out}");
    }

    #[test]
    fn openai_tool_call_stream_is_well_formed() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1/chat/completions",
            &json!({"model": "m", "stream": true, "tools": opencode_tools(), "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "run TOOL:bash:echo hi"}]}),
        );
        assert!(out.trim_end().ends_with("data: [DONE]"), "{out}");
        let chunks: Vec<Value> = sse_data(&out).collect();
        let calls: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
            .collect();
        assert_eq!(calls[0]["id"], "call_mock1");
        assert_eq!(calls[0]["type"], "function");
        assert_eq!(calls[0]["function"]["name"], "bash");
        assert!(calls.iter().all(|c| c["index"] == 0));
        let args: String = calls
            .iter()
            .filter_map(|c| c["function"]["arguments"].as_str())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&args).ok(),
            Some(json!({"command": "echo hi"}))
        );
        let last = chunks.last().cloned().unwrap_or_default();
        assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
        assert!(last["usage"]["total_tokens"].is_u64());
        assert!(chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null()));
    }

    #[test]
    fn non_streaming_tool_calls() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1/messages",
            &json!({"model": "claude", "tools": claude_tools(),
                    "messages": [{"role": "user", "content": "TOOL:bash:ls"}]}),
        );
        let body: Value = out
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or_default();
        assert_eq!(body["stop_reason"], "tool_use");
        assert_eq!(body["content"][0]["name"], "Bash");
        assert_eq!(body["content"][0]["input"]["command"], "ls");
        let out = post(
            m.port,
            "/v1/chat/completions",
            &json!({"model": "m", "tools": opencode_tools(),
                    "messages": [{"role": "user", "content": "TOOL:bash:ls"}]}),
        );
        let body: Value = out
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or_default();
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(
            choice["message"]["tool_calls"][0]["function"]["name"],
            "bash"
        );
        assert_eq!(
            choice["message"]["tool_calls"][0]["function"]["arguments"],
            r#"{"command":"ls"}"#
        );
    }

    /// Codex (Responses API) and Gemini turns take `ERROR:<status>` too, each with its API's
    /// error body; their side calls (no tools) never fail.
    #[test]
    fn codex_and_gemini_turns_take_error_markers() {
        let m = MockLlm::start().expect("start");
        let body_of = |out: &str| -> Value {
            out.split_once("\r\n\r\n")
                .and_then(|(_, b)| serde_json::from_str(b).ok())
                .unwrap_or_default()
        };
        let turn = |text: &str| {
            json!({"model": "mock-model", "stream": true,
                   "tools": [{"type": "function", "name": "exec_command"}],
                   "input": [{"role": "user", "content": [{"type": "input_text", "text": text}]}]})
        };
        let out = post(m.port, "/v1/responses", &turn("fail ERROR:400"));
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        assert_eq!(body_of(&out)["error"]["type"], "invalid_request_error");
        let mut side = turn("fail ERROR:400");
        side["tools"] = json!([]);
        let out = post(m.port, "/v1/responses", &side);
        assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
        let gem = |text: &str, tools: Value| json!({"contents": [{"role": "user", "parts": [{"text": text}]}], "tools": tools});
        let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
        let decl = json!([{"functionDeclarations": [{"name": "run_shell_command"}]}]);
        let out = post(m.port, path, &gem("fail ERROR:400", decl));
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        let e = &body_of(&out)["error"];
        assert_eq!(
            (e["code"].as_u64(), e["status"].as_str()),
            (Some(400), Some("INVALID_ARGUMENT"))
        );
        let out = post(
            m.port,
            "/v1beta/models/gemini-2.5-flash-lite:generateContent",
            &gem("fail ERROR:400", json!(null)),
        );
        assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    }

    #[test]
    fn http_errors_have_the_apis_bodies() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1/messages?beta=true",
            &json!({"model": "claude", "stream": true, "tools": claude_tools(),
                    "messages": [{"role": "user", "content": "ERROR:529"}]}),
        );
        assert!(out.starts_with("HTTP/1.1 529 Overloaded\r\n"), "{out}");
        assert!(out.contains("Content-Type: application/json"), "{out}");
        let body: Value = out
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or_default();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "overloaded_error");
        assert_eq!(body["error"]["message"], "Overloaded");
        assert_eq!(m.log()[0].reply.as_deref(), Some("error 529"));

        let out = post(
            m.port,
            "/v1/chat/completions",
            &json!({"model": "m", "stream": true, "tools": opencode_tools(),
                    "messages": [{"role": "user", "content": "ERROR:500"}]}),
        );
        assert!(
            out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{out}"
        );
        let body: Value = out
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or_default();
        assert_eq!(body["error"]["type"], "server_error");
        assert!(body["error"]["message"].is_string());
        // Without tools (a side call), no error.
        let out = post(
            m.port,
            "/v1/chat/completions",
            &json!({"model": "m", "messages": [{"role": "user", "content": "ERROR:500"}]}),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }

    #[test]
    fn errors_in_the_stream() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1/messages?beta=true",
            &json!({"model": "claude", "stream": true, "tools": claude_tools(),
                    "messages": [{"role": "user", "content": "ERROR:529:stream"}]}),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        let (names, _) = anthropic_events(&out);
        assert_eq!(names, ["message_start", "error"], "{out}");
        let err = sse_data(&out).last().unwrap_or_default();
        assert_eq!(err["type"], "error");
        assert_eq!(err["error"]["type"], "overloaded_error");

        let out = post(
            m.port,
            "/v1/chat/completions",
            &json!({"model": "m", "stream": true, "tools": opencode_tools(),
                    "messages": [{"role": "user", "content": "ERROR:429:stream"}]}),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(!out.contains("[DONE]"), "{out}");
        let err = sse_data(&out).last().unwrap_or_default();
        assert_eq!(err["error"]["code"], "rate_limit_exceeded");
    }

    #[test]
    fn slow_delays_the_reply() {
        let m = MockLlm::start().expect("start");
        let t = Instant::now();
        let out = post(
            m.port,
            "/v1/chat/completions",
            &json!({"model": "m", "stream": true, "tools": opencode_tools(),
                    "messages": [{"role": "user", "content": "SLOW:300 hi"}]}),
        );
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert!(out.contains("MOCK-RE"), "{out}");
        // A stop ends the wait early.
        let mut m = MockLlm::start().expect("start");
        let port = m.port;
        let client = std::thread::spawn(move || {
            post(
                port,
                "/v1/chat/completions",
                &json!({"model": "m", "tools": opencode_tools(),
                        "messages": [{"role": "user", "content": "SLOW:600000 hi"}]}),
            )
        });
        assert!(m.wait_until(Duration::from_secs(5), |l| !l.is_empty()));
        let t = Instant::now();
        m.stop();
        let out = client.join().unwrap_or_default();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(out.contains("MOCK-REPLY: SLOW:600000 hi"), "{out}");
    }

    #[test]
    fn stops_when_idle_and_when_dropped() {
        let m = MockLlm::start_with(Options {
            idle_timeout: Some(Duration::from_millis(200)),
            ..Options::default()
        })
        .expect("start");
        let port = m.port;
        let deadline = Instant::now() + Duration::from_secs(5);
        while m.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!m.is_running());
        drop(m);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

        let m = MockLlm::start().expect("start");
        let port = m.port;
        drop(m);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
