//! What the mock answers: the marker grammar of the prompt, and the reply chosen for a request.
//!
//! The markers are read from the *prompt* of the current turn: the last text block (not a
//! `<system-reminder>`) of the last user message that is not a tool result (Claude Code sends tool results as user messages with `tool_result`
//! blocks; opencode sends them as `role: "tool"` messages). They only apply to agent requests,
//! i.e. requests that offer tools (a non-empty `tools` array); side calls such as opencode's
//! title generation always get the plain echo.
//!
//! ```text
//! prompt  := ... [SLOW:<ms>] ... [action] ...     (each marker is a whitespace-separated word)
//! action  := TOOL:<tool>:<arg>                     (<arg> runs to the end of the line)
//!          | ERROR:<status>[:stream]               (<status> in 400..=599)
//! tool    := bash | question | plan | <exact tool name>
//! ```
//!
//! - `TOOL:bash:<command>`: a call of the shell tool (Claude Code `Bash` with `command` and
//!   `description`; opencode `bash` with `command`, plus `description` when its schema has one).
//! - `TOOL:question:<text>`: Claude Code `AskUserQuestion` / opencode `question`, one question
//!   `<text>` with the options `Yes` and `No`.
//! - `TOOL:plan:<text>`: Claude Code `ExitPlanMode` (`plan: <text>` when its schema has a `plan`
//!   property) / opencode `plan_exit`.
//! - `TOOL:<name>:<arg>`: the offered tool named exactly `<name>`; `<arg>` is its input when it
//!   is a JSON object, else it fills the tool's only required string property.
//!
//! A tool the request does not offer is first loaded with Claude Code's `ToolSearch`
//! (`select:<name>`) when that is offered (deferred tools such as `ExitPlanMode`); the next
//! request, carrying the search result, then gets the call itself. Once the request carries
//! the result of the scripted tool, the reply is the text `MOCK-REPLY: tool done: <result>`
//! (result on one line, at most 100 chars), which ends the turn. A tool that cannot be found
//! gets the text `MOCK-REPLY: tool <tool> not offered`.
//!
//! - `ERROR:<status>`: an HTTP error with that status and the API's JSON error body (Anthropic:
//!   `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` for 529,
//!   `invalid_request_error` for 400, `rate_limit_error` for 429, `api_error` for 5xx, ...;
//!   OpenAI: `{"error":{"message","type","param","code"}}`).
//! - `ERROR:<status>:stream`: a `200` event stream that starts normally and then carries the
//!   error in-band (Anthropic `event: error`; OpenAI a `data: {"error": ...}` chunk) and ends
//!   without a proper finish (no `message_stop` / `[DONE]`).
//! - `SLOW:<ms>` (at most 600000): waits that long before the reply of every agent request of
//!   the turn; a stream first sends its opening event, then waits.
//!
//! Without an action marker the reply is the default `MOCK-REPLY: <last user message>`.

use crate::Api;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Longest `SLOW:` delay accepted.
pub const MAX_DELAY: Duration = Duration::from_secs(600);

/// A tool named by a `TOOL:` marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKind {
    /// The shell tool: `Bash` / `bash`.
    Bash,
    /// Asking the user: `AskUserQuestion` / `question`.
    Question,
    /// Asking to approve a plan: `ExitPlanMode` / `plan_exit`.
    Plan,
    /// Any tool, by its exact name.
    Named(String),
}

impl ToolKind {
    /// The tool names this kind stands for in a request of `api`, preferred first.
    fn candidates(&self, api: Api) -> Vec<String> {
        let names: &[&str] = match (self, api) {
            (ToolKind::Bash, Api::Anthropic) => &["Bash", "bash"],
            (ToolKind::Bash, _) => &["bash", "Bash"],
            (ToolKind::Question, Api::Anthropic) => &["AskUserQuestion", "question"],
            (ToolKind::Question, _) => &["question", "AskUserQuestion"],
            (ToolKind::Plan, Api::Anthropic) => &["ExitPlanMode", "plan_exit"],
            (ToolKind::Plan, _) => &["plan_exit", "ExitPlanMode"],
            (ToolKind::Named(n), _) => return vec![n.clone()],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    fn label(&self) -> &str {
        match self {
            ToolKind::Bash => "bash",
            ToolKind::Question => "question",
            ToolKind::Plan => "plan",
            ToolKind::Named(n) => n,
        }
    }
}

/// What a prompt's action marker asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No marker: `MOCK-REPLY: <last user message>`.
    Echo,
    /// `TOOL:<tool>:<arg>`.
    Tool { tool: ToolKind, arg: String },
    /// `ERROR:<status>[:stream]`.
    Error { status: u16, in_stream: bool },
}

/// The markers of one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub action: Action,
    /// `SLOW:<ms>`; zero without it.
    pub delay: Duration,
}

/// Reads the markers of a prompt. The first action marker wins; malformed markers are plain
/// text.
pub fn parse(prompt: &str) -> Script {
    let mut script = Script {
        action: Action::Echo,
        delay: Duration::ZERO,
    };
    for line in prompt.lines() {
        let mut rest = line;
        while let Some(word) = next_word(&mut rest) {
            if let Some(ms) = word.strip_prefix("SLOW:") {
                if let Ok(ms) = ms.parse::<u64>() {
                    script.delay = Duration::from_millis(ms).min(MAX_DELAY);
                }
                continue;
            }
            if script.action != Action::Echo {
                continue;
            }
            if let Some(e) = word.strip_prefix("ERROR:") {
                let (status, mode) = e.split_once(':').unwrap_or((e, ""));
                let in_stream = mode == "stream";
                if let Ok(status) = status.parse::<u16>() {
                    if (400..=599).contains(&status) && (mode.is_empty() || in_stream) {
                        script.action = Action::Error { status, in_stream };
                    }
                }
            } else if let Some(t) = word.strip_prefix("TOOL:") {
                // The argument runs to the end of the line, spaces included.
                let t = format!("{t}{rest}");
                rest = "";
                if let Some((name, arg)) = t.split_once(':') {
                    let tool = match name {
                        "bash" => ToolKind::Bash,
                        "question" => ToolKind::Question,
                        "plan" => ToolKind::Plan,
                        "" => continue,
                        n => ToolKind::Named(n.to_string()),
                    };
                    script.action = Action::Tool {
                        tool,
                        arg: arg.trim().to_string(),
                    };
                }
            }
        }
    }
    script
}

/// Pops the next whitespace-separated word off `rest`.
fn next_word<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let s = rest.trim_start();
    if s.is_empty() {
        *rest = s;
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    let (word, tail) = s.split_at(end);
    *rest = tail;
    Some(word)
}

/// The reply chosen for one model request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Assistant text; ends the turn.
    Text(String),
    /// A call of tool `name` with `input`.
    ToolCall { name: String, input: Value },
    /// An API error.
    Error { status: u16, in_stream: bool },
}

impl Reply {
    /// A one-line summary for the request log.
    pub fn summary(&self) -> String {
        match self {
            Reply::Text(t) => t.clone(),
            Reply::ToolCall { name, input } => format!("tool {name} {input}"),
            Reply::Error { status, in_stream } => {
                format!(
                    "error {status}{}",
                    if *in_stream { " (in stream)" } else { "" }
                )
            }
        }
    }
}

/// The reply for a model request of `api` with JSON `body`, and how long to wait before it.
pub fn reply_for(api: Api, body: &Value) -> (Reply, Duration) {
    let tools = offered_tools(body);
    if tools.is_empty() {
        return (Reply::Text(crate::reply_text(body)), Duration::ZERO);
    }
    let turn = Turn::of(api, body);
    let script = parse(&turn.prompt);
    let reply = match script.action {
        Action::Echo => Reply::Text(crate::reply_text(body)),
        Action::Error { status, in_stream } if turn.calls.is_empty() => {
            Reply::Error { status, in_stream }
        }
        Action::Error { .. } => Reply::Text(format!("{}error already sent", crate::REPLY_PREFIX)),
        Action::Tool { tool, arg } => tool_step(api, &tools, &turn, &tool, &arg),
    };
    (reply, script.delay)
}

/// The tool the next step calls, or the text that ends the turn.
fn tool_step(api: Api, tools: &[&Value], turn: &Turn, tool: &ToolKind, arg: &str) -> Reply {
    let candidates = tool.candidates(api);
    let called = |name: &str| turn.calls.iter().any(|c| c == name);
    // The scripted tool is due when nothing was called yet, or when the last call only
    // loaded it (ToolSearch) and it has not been called since.
    let last_was_search = turn.calls.last().is_some_and(|c| c == TOOL_SEARCH);
    let due = turn.calls.is_empty() || (last_was_search && !candidates.iter().any(|c| called(c)));
    if !due {
        let result = one_line(&turn.last_result, 100);
        return Reply::Text(format!("{}tool done: {result}", crate::REPLY_PREFIX));
    }
    let found = candidates.iter().find_map(|c| {
        tools
            .iter()
            .find(|t| tool_name(t) == Some(c.as_str()))
            .or_else(|| {
                tools
                    .iter()
                    .find(|t| tool_name(t).is_some_and(|n| n.eq_ignore_ascii_case(c)))
            })
    });
    match found {
        Some(t) => {
            let name = tool_name(t).unwrap_or_default().to_string();
            let input = tool_input(tool, arg, tool_schema(t));
            Reply::ToolCall { name, input }
        }
        None if !called(TOOL_SEARCH) && tools.iter().any(|t| tool_name(t) == Some(TOOL_SEARCH)) => {
            Reply::ToolCall {
                name: TOOL_SEARCH.to_string(),
                input: json!({"query": format!("select:{}", candidates.first().map_or("", String::as_str)),
                              "max_results": 1}),
            }
        }
        None => Reply::Text(format!(
            "{}tool {} not offered",
            crate::REPLY_PREFIX,
            tool.label()
        )),
    }
}

/// Claude Code's tool that loads deferred tools.
const TOOL_SEARCH: &str = "ToolSearch";

/// The tools of a request body (both APIs).
fn offered_tools(body: &Value) -> Vec<&Value> {
    body.get("tools")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|t| tool_name(t).is_some()).collect())
        .unwrap_or_default()
}

/// Anthropic `{name}`, OpenAI `{function: {name}}`.
fn tool_name(t: &Value) -> Option<&str> {
    t.get("name")
        .or_else(|| t.get("function").and_then(|f| f.get("name")))
        .and_then(Value::as_str)
}

/// Anthropic `input_schema`, OpenAI `function.parameters`.
fn tool_schema(t: &Value) -> &Value {
    t.get("input_schema")
        .or_else(|| t.get("function").and_then(|f| f.get("parameters")))
        .unwrap_or(&Value::Null)
}

fn has_property(schema: &Value, name: &str) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key(name))
}

/// The input of the scripted call, shaped by the tool's schema.
fn tool_input(tool: &ToolKind, arg: &str, schema: &Value) -> Value {
    let mut input = Map::new();
    match tool {
        ToolKind::Bash => {
            input.insert("command".into(), json!(arg));
            if has_property(schema, "description") {
                input.insert("description".into(), json!("Run a command for the mock"));
            }
        }
        ToolKind::Question => {
            let item_schema = &schema["properties"]["questions"]["items"];
            let mut q = Map::new();
            q.insert("question".into(), json!(arg));
            q.insert("header".into(), json!("Mock"));
            q.insert(
                "options".into(),
                json!([{"label": "Yes", "description": "Answer yes"},
                       {"label": "No", "description": "Answer no"}]),
            );
            for flag in ["multiSelect", "multiple"] {
                if has_property(item_schema, flag) {
                    q.insert(flag.into(), json!(false));
                }
            }
            input.insert("questions".into(), json!([q]));
        }
        ToolKind::Plan => {
            if has_property(schema, "plan") {
                input.insert("plan".into(), json!(arg));
            }
        }
        ToolKind::Named(_) => {
            if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(arg) {
                return Value::Object(o);
            }
            let strings: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let [only] = strings.as_slice() {
                input.insert((*only).into(), json!(arg));
            }
        }
    }
    Value::Object(input)
}

/// The current turn of a conversation: its prompt and the tool calls made since.
struct Turn {
    prompt: String,
    /// Names of the tools called since the prompt, in order.
    calls: Vec<String>,
    /// The text of the last tool result since the prompt.
    last_result: String,
}

impl Turn {
    fn of(api: Api, body: &Value) -> Turn {
        let empty = Vec::new();
        let msgs = body
            .get("messages")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let is_prompt = |m: &Value| {
            m["role"] == "user"
                && !m["content"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|b| b["type"] == "tool_result"))
        };
        let start = msgs.iter().rposition(is_prompt);
        let prompt = start
            .map(|i| prompt_text(&msgs[i]["content"]))
            .unwrap_or_default();
        let mut turn = Turn {
            prompt,
            calls: Vec::new(),
            last_result: String::new(),
        };
        for m in &msgs[start.map_or(0, |i| i + 1)..] {
            match (api, m["role"].as_str()) {
                (Api::Anthropic, Some("assistant")) => {
                    for b in m["content"].as_array().unwrap_or(&empty) {
                        if b["type"] == "tool_use" {
                            turn.calls
                                .push(b["name"].as_str().unwrap_or_default().into());
                        }
                    }
                }
                (Api::Anthropic, Some("user")) => {
                    for b in m["content"].as_array().unwrap_or(&empty) {
                        if b["type"] == "tool_result" {
                            turn.last_result = match &b["content"] {
                                Value::String(s) => s.clone(),
                                c => crate::content_text(c),
                            };
                        }
                    }
                }
                (_, Some("assistant")) => {
                    for c in m["tool_calls"].as_array().unwrap_or(&empty) {
                        let name = c["function"]["name"].as_str().unwrap_or_default();
                        turn.calls.push(name.into());
                    }
                }
                (_, Some("tool")) => turn.last_result = crate::content_text(&m["content"]),
                _ => {}
            }
        }
        turn
    }
}

/// The text of a prompt: its last text block that is not a `<system-reminder>`. Claude Code
/// merges a prompt whose turn failed (no assistant reply) with the next one into one user
/// message, one text block each; only the newest counts.
fn prompt_text(content: &Value) -> String {
    match content {
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str).unwrap_or("text") == "text")
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .rfind(|t| !t.trim_start().starts_with("<system-reminder>"))
            .unwrap_or_default()
            .to_string(),
        c => crate::content_text(c),
    }
}

/// `s` on one line, at most `max` chars.
pub(crate) fn one_line(s: &str, max: usize) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

/// The Anthropic error type and message of an HTTP status.
pub(crate) fn anthropic_error(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("invalid_request_error", "mock: invalid request"),
        401 => ("authentication_error", "invalid x-api-key"),
        403 => ("permission_error", "mock: permission denied"),
        404 => ("not_found_error", "mock: not found"),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => ("rate_limit_error", "mock: rate limited"),
        529 => ("overloaded_error", "Overloaded"),
        500..=599 => ("api_error", "Internal server error"),
        _ => ("invalid_request_error", "mock: error"),
    }
}

/// The OpenAI error type, code and message of an HTTP status.
pub(crate) fn openai_error(status: u16) -> (&'static str, &'static str, &'static str) {
    match status {
        400 => (
            "invalid_request_error",
            "invalid_request",
            "mock: invalid request",
        ),
        401 => (
            "invalid_request_error",
            "invalid_api_key",
            "mock: invalid api key",
        ),
        403 => ("invalid_request_error", "forbidden", "mock: forbidden"),
        404 => (
            "invalid_request_error",
            "model_not_found",
            "mock: not found",
        ),
        429 => (
            "rate_limit_error",
            "rate_limit_exceeded",
            "mock: rate limited",
        ),
        500..=599 => ("server_error", "server_error", "mock: server error"),
        _ => ("invalid_request_error", "error", "mock: error"),
    }
}

/// The reason phrase of an HTTP status.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_markers() {
        assert_eq!(parse("hello").action, Action::Echo);
        let s = parse("please TOOL:bash:mkdir  foo bar\nnext line");
        assert_eq!(
            s.action,
            Action::Tool {
                tool: ToolKind::Bash,
                arg: "mkdir  foo bar".into()
            }
        );
        assert_eq!(s.delay, Duration::ZERO);
        let s = parse("SLOW:1500 ERROR:529");
        assert_eq!(
            s.action,
            Action::Error {
                status: 529,
                in_stream: false
            }
        );
        assert_eq!(s.delay, Duration::from_millis(1500));
        assert_eq!(
            parse("ERROR:500:stream").action,
            Action::Error {
                status: 500,
                in_stream: true
            }
        );
        // Malformed markers are text.
        for t in [
            "ERROR:200",
            "ERROR:abc",
            "ERROR:529:x",
            "TOOL:bash",
            "TOOL::x",
            "xTOOL:bash:ls",
        ] {
            assert_eq!(parse(t).action, Action::Echo, "{t}");
        }
        assert_eq!(parse("SLOW:x").delay, Duration::ZERO);
        assert_eq!(parse("SLOW:99999999999").delay, MAX_DELAY);
        // The first action wins; SLOW may come after it.
        let s = parse("TOOL:question:Which one? \n ERROR:400 SLOW:10");
        assert_eq!(
            s.action,
            Action::Tool {
                tool: ToolKind::Question,
                arg: "Which one?".into()
            }
        );
        assert_eq!(s.delay, Duration::from_millis(10));
        assert_eq!(
            parse("TOOL:Read:{\"file_path\":\"/x\"}").action,
            Action::Tool {
                tool: ToolKind::Named("Read".into()),
                arg: "{\"file_path\":\"/x\"}".into()
            }
        );
    }

    fn anthropic_body(msgs: Value, tools: Value) -> Value {
        json!({"model": "claude", "stream": true, "messages": msgs, "tools": tools})
    }

    #[test]
    fn claude_plan_goes_through_tool_search() {
        let tools = json!([{"name": "Bash", "input_schema": {"type": "object", "properties": {
                               "command": {"type": "string"}, "description": {"type": "string"}}}},
                           {"name": "ToolSearch", "input_schema": {}}]);
        let prompt =
            json!({"role": "user", "content": [{"type": "text", "text": "TOOL:plan:Do X"}]});
        let (r, _) = reply_for(
            Api::Anthropic,
            &anthropic_body(json!([prompt]), tools.clone()),
        );
        assert_eq!(
            r,
            Reply::ToolCall {
                name: "ToolSearch".into(),
                input: json!({"query": "select:ExitPlanMode", "max_results": 1})
            }
        );
        let searched = json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {}}]});
        let result = |text: &str| {
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": text}]})
        };
        let mut more = tools.as_array().cloned().unwrap_or_default();
        more.push(
            json!({"name": "ExitPlanMode", "input_schema": {"type": "object",
                          "properties": {"plan": {"type": "string"}}}}),
        );
        let body = anthropic_body(
            json!([prompt, searched, result("<functions>...</functions>")]),
            json!(more),
        );
        let (r, _) = reply_for(Api::Anthropic, &body);
        assert_eq!(
            r,
            Reply::ToolCall {
                name: "ExitPlanMode".into(),
                input: json!({"plan": "Do X"})
            }
        );
        let called = json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "t2", "name": "ExitPlanMode", "input": {}}]});
        let body = anthropic_body(
            json!([
                prompt,
                searched,
                result("x"),
                called,
                result("User approved\nthe plan")
            ]),
            json!(more),
        );
        let (r, _) = reply_for(Api::Anthropic, &body);
        assert_eq!(
            r,
            Reply::Text("MOCK-REPLY: tool done: User approved the plan".into())
        );
        // The search did not make the tool appear: give up with text.
        let body = anthropic_body(json!([prompt, searched, result("none")]), tools);
        let (r, _) = reply_for(Api::Anthropic, &body);
        assert_eq!(r, Reply::Text("MOCK-REPLY: tool plan not offered".into()));
    }

    #[test]
    fn openai_question_follows_the_schema_and_side_calls_echo() {
        let tools = json!([{"type": "function", "function": {"name": "question", "parameters": {
            "type": "object", "properties": {"questions": {"type": "array", "items": {
                "type": "object", "properties": {"question": {}, "header": {}, "options": {},
                                                 "multiple": {"type": "boolean"}}}}}}}}]);
        let msgs = json!([{"role": "system", "content": "s"},
                          {"role": "user", "content": "SLOW:5 TOOL:question:Pick?"}]);
        let body = json!({"model": "m", "messages": msgs, "tools": tools});
        let (r, delay) = reply_for(Api::OpenAi, &body);
        assert_eq!(delay, Duration::from_millis(5));
        let Reply::ToolCall { name, input } = r else {
            panic!("{r:?}")
        };
        assert_eq!(name, "question");
        assert_eq!(input["questions"][0]["question"], "Pick?");
        assert_eq!(input["questions"][0]["multiple"], false);
        assert!(input["questions"][0].get("multiSelect").is_none());
        // The tool result ends the turn.
        let mut m = msgs.as_array().cloned().unwrap_or_default();
        m.push(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "question", "arguments": "{}"}}]}));
        m.push(json!({"role": "tool", "tool_call_id": "c1", "content": "User answered: Yes"}));
        let body = json!({"model": "m", "messages": m, "tools": tools});
        let (r, delay) = reply_for(Api::OpenAi, &body);
        assert_eq!(
            r,
            Reply::Text("MOCK-REPLY: tool done: User answered: Yes".into())
        );
        assert_eq!(delay, Duration::from_millis(5));
        // No tools (a title request): the echo, whatever the markers.
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "ERROR:500"}]});
        assert_eq!(
            reply_for(Api::OpenAi, &body),
            (Reply::Text("MOCK-REPLY: ERROR:500".into()), Duration::ZERO)
        );
    }

    #[test]
    fn only_the_newest_prompt_block_counts() {
        // Claude Code merges the prompt of a failed turn with the next one.
        let tools = json!([{"name": "Bash", "input_schema": {}}]);
        let body = anthropic_body(
            json!([{"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>r</system-reminder>"},
                {"type": "text", "text": "ERROR:529\n"},
                {"type": "text", "text": "ERROR:400"},
                {"type": "text", "text": "<system-reminder>TOOL:bash:x</system-reminder>"}]}]),
            tools.clone(),
        );
        assert_eq!(
            reply_for(Api::Anthropic, &body).0,
            Reply::Error {
                status: 400,
                in_stream: false
            }
        );
        let body = anthropic_body(
            json!([{"role": "user", "content": [
                {"type": "text", "text": "ERROR:529"},
                {"type": "text", "text": "hello"}]}]),
            tools,
        );
        assert_eq!(
            reply_for(Api::Anthropic, &body).0,
            Reply::Text("MOCK-REPLY: ERROR:529 hello".into())
        );
    }

    #[test]
    fn named_tools_take_json_or_their_only_required_string() {
        let tools = json!([{"name": "Read", "input_schema": {"type": "object",
            "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}}]);
        for (arg, want) in [
            ("/etc/hostname", json!({"file_path": "/etc/hostname"})),
            (
                "{\"file_path\":\"/a\",\"limit\":2}",
                json!({"file_path": "/a", "limit": 2}),
            ),
        ] {
            let body = anthropic_body(
                json!([{"role": "user", "content": format!("TOOL:Read:{arg}")}]),
                tools.clone(),
            );
            let (r, _) = reply_for(Api::Anthropic, &body);
            assert_eq!(
                r,
                Reply::ToolCall {
                    name: "Read".into(),
                    input: want
                }
            );
        }
        let body = anthropic_body(
            json!([{"role": "user", "content": "TOOL:Nope:x"}]),
            tools.clone(),
        );
        assert_eq!(
            reply_for(Api::Anthropic, &body).0,
            Reply::Text("MOCK-REPLY: tool Nope not offered".into())
        );
    }
}
