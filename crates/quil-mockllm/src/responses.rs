//! OpenAI Responses API, `POST /v1/responses`: what Codex CLI speaks (0.171.0 refuses
//! `wire_api = "chat"`, so a custom provider must use `wire_api = "responses"`).
//!
//! Codex always sends `stream: true` and reads SSE events, each as `event: <type>` plus
//! `data: <json with the same "type">`. The sequence sent here is the one the real API sends
//! for a plain text answer: `response.created`, `response.output_item.added` (a `message`),
//! `response.content_part.added`, `response.output_text.delta` (one per half of the text),
//! `response.output_text.done`, `response.content_part.done`, `response.output_item.done`,
//! `response.completed` (with `usage`). A non-streaming request gets the final `response`
//! object as JSON.
//!
//! The request's `input` is a list of items; messages have `role` (`developer`, `user`,
//! `assistant`) and `content` parts (`input_text`, `output_text`). Codex puts an
//! `<environment_context>` user message before the prompt, so the prompt is the *last* user
//! message.

use serde_json::{json, Value};
use std::io::{self, Write};
use std::net::TcpStream;

/// `MOCK-REPLY: <text>` on one line, at most 200 characters of `text`.
pub(crate) fn reply_for(text: &str) -> String {
    let one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    format!("{}{one_line}", crate::REPLY_PREFIX)
}

/// The reply text for a Responses request body.
pub fn reply_text(body: &Value) -> String {
    reply_for(&last_user_text(body).unwrap_or_default())
}

/// The text of the last user message of a Responses request (`input` is a string or a list
/// of items).
pub fn last_user_text(body: &Value) -> Option<String> {
    match body.get("input")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let m = items.iter().rev().find(|m| m["role"] == "user")?;
            Some(content_text(&m["content"]))
        }
        _ => None,
    }
}

/// The text of an item's `content`: a string, or the `text` of its parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Every message text of a request's `input`, one per line; for "the history contains X"
/// checks.
pub fn history_text(body: &Value) -> String {
    let mut s = String::new();
    match body.get("input") {
        Some(Value::String(t)) => {
            s.push_str(t);
            s.push('\n');
        }
        Some(Value::Array(items)) => {
            for m in items.iter().filter(|m| m.get("content").is_some()) {
                s.push_str(&content_text(&m["content"]));
                s.push('\n');
            }
        }
        _ => {}
    }
    s
}

/// The events of a streamed text answer, as `(type, data)`.
pub(crate) fn stream_events(n: u64, model: &str, text: &str) -> Vec<(String, Value)> {
    let resp_id = format!("resp_mock{n}");
    let item_id = format!("msg_mock{n}");
    let part = |t: &str| json!({"type": "output_text", "text": t, "annotations": []});
    let item = |status: &str, content: Value| {
        json!({"type": "message", "id": item_id, "role": "assistant", "status": status,
               "content": content})
    };
    let mut v = vec![
        json!({"type": "response.created",
               "response": response(&resp_id, model, "in_progress", json!([]), None)}),
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": item("in_progress", json!([]))}),
        json!({"type": "response.content_part.added", "item_id": item_id, "output_index": 0,
               "content_index": 0, "part": part("")}),
    ];
    for delta in crate::halves(text) {
        v.push(
            json!({"type": "response.output_text.delta", "item_id": item_id,
                      "output_index": 0, "content_index": 0, "delta": delta}),
        );
    }
    let done = item("completed", json!([part(text)]));
    v.extend([
        json!({"type": "response.output_text.done", "item_id": item_id, "output_index": 0,
               "content_index": 0, "text": text}),
        json!({"type": "response.content_part.done", "item_id": item_id, "output_index": 0,
               "content_index": 0, "part": part(text)}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": done}),
        json!({"type": "response.completed",
               "response": response(&resp_id, model, "completed", json!([done]), Some(text))}),
    ]);
    v.into_iter()
        .enumerate()
        .map(|(i, mut ev)| {
            ev["sequence_number"] = json!(i);
            let kind = ev["type"].as_str().unwrap_or_default().to_string();
            (kind, ev)
        })
        .collect()
}

fn response(id: &str, model: &str, status: &str, output: Value, text: Option<&str>) -> Value {
    let mut r = json!({"id": id, "object": "response", "created_at": crate::now_secs(),
                       "status": status, "model": model, "output": output});
    if let Some(text) = text {
        let out = crate::usage_tokens(text);
        r["usage"] = json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                            "output_tokens": out,
                            "output_tokens_details": {"reasoning_tokens": 0},
                            "total_tokens": 10 + out});
    }
    r
}

/// Writes the answer to a `POST /v1/responses`; returns whether the connection must close.
pub(crate) fn respond(
    out: &mut TcpStream,
    n: u64,
    model: &str,
    text: &str,
    stream: bool,
) -> io::Result<bool> {
    let events = stream_events(n, model, text);
    if !stream {
        let full = events
            .last()
            .map(|(_, ev)| ev["response"].clone())
            .unwrap_or(Value::Null);
        crate::json_reply(out, 200, &full)?;
        return Ok(false);
    }
    crate::sse_head(out)?;
    for (kind, ev) in events {
        write!(out, "event: {kind}\ndata: {ev}\n\n")?;
        out.flush()?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use crate::test_http::{post, sse_data};
    use crate::{Api, MockLlm};
    use serde_json::json;

    #[test]
    fn streams_the_event_sequence_codex_reads() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1/responses",
            &json!({"model": "mock-model", "stream": true, "input": [
                {"type": "message", "role": "developer",
                 "content": [{"type": "input_text", "text": "be brief"}]},
                {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "<environment_context/>"}]},
                {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "hello   CODEX1"}]}]}),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("text/event-stream"), "{out}");
        let events: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        let mut expect = vec![
            "response.created",
            "response.output_item.added",
            "response.content_part.added",
        ];
        expect.extend(std::iter::repeat_n("response.output_text.delta", 2));
        expect.extend([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]);
        assert_eq!(events, expect, "{out}");
        let data: Vec<_> = sse_data(&out).collect();
        // Each data payload names its own event type, in the same order.
        let types: Vec<&str> = data.iter().filter_map(|v| v["type"].as_str()).collect();
        assert_eq!(types, expect);
        let text: String = data
            .iter()
            .filter_map(|v| v["delta"].as_str().map(String::from))
            .collect();
        assert_eq!(text, "MOCK-REPLY: hello CODEX1");
        let done = data.last().expect("completed");
        assert_eq!(done["response"]["status"], "completed");
        assert_eq!(
            done["response"]["output"][0]["content"][0]["text"],
            "MOCK-REPLY: hello CODEX1"
        );
        assert!(done["response"]["usage"]["total_tokens"].as_u64().is_some());
        let log = m.log();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].api, Api::Responses);
        assert_eq!(log[0].reply.as_deref(), Some("MOCK-REPLY: hello CODEX1"));
        assert_eq!(m.requests().len(), 1);
    }

    #[test]
    fn history_and_non_streaming() {
        let m = MockLlm::start().expect("start");
        let body = json!({"model": "x", "input": [
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "first TURN-A"}]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "MOCK-REPLY: first TURN-A"}]},
            {"type": "function_call", "name": "exec_command", "arguments": "{}"},
            {"type": "message", "role": "user", "content": "second"}]});
        let out = post(m.port, "/v1/responses", &body);
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("application/json"), "{out}");
        assert!(out.contains(r#""text":"MOCK-REPLY: second""#), "{out}");
        let h = super::history_text(&m.requests()[0]);
        assert!(h.contains("first TURN-A") && h.contains("second"), "{h}");
        // A plain string input, and one without any user message.
        assert_eq!(
            super::reply_text(&json!({"input": "just text"})),
            "MOCK-REPLY: just text"
        );
        assert_eq!(super::reply_text(&json!({"input": 7})), "MOCK-REPLY: ");
        assert_eq!(super::reply_text(&json!({})), "MOCK-REPLY: ");
    }

    #[test]
    fn bad_bodies_still_get_an_answer() {
        let m = MockLlm::start().expect("start");
        let out = crate::test_http::post_raw(m.port, "/v1/responses", b"{not json");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("MOCK-REPLY: "), "{out}");
        assert_eq!(m.log()[0].api, Api::Responses);
    }
}
