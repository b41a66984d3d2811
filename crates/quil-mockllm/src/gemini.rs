//! Google Gemini API (`generativelanguage` v1beta): what Gemini CLI speaks when
//! `GOOGLE_GEMINI_BASE_URL` points here.
//!
//! - `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`: the chat turn. SSE `data:`
//!   lines, each a `GenerateContentResponse` (`candidates[0].content.parts[].text`); the last
//!   one carries `finishReason: "STOP"` and `usageMetadata`. No `[DONE]` marker.
//! - `POST /v1beta/models/<model>:generateContent`: one JSON `GenerateContentResponse`. Gemini
//!   CLI uses it for side calls: the model router (when no `-m` is given) and session
//!   summaries. Those ask for JSON (`generationConfig.responseMimeType: application/json`
//!   with a `responseJsonSchema`/`responseSchema`), so then the reply text is a JSON object
//!   that fills the schema's required properties (strings with the `MOCK-REPLY:` text,
//!   numbers with 1).
//! - `POST /v1beta/models/<model>:countTokens`: `{"totalTokens": 10}`.
//!
//! The request's `contents` are `{role: "user" | "model", parts: [{text} | {functionCall} |
//! {functionResponse}]}`. Gemini CLI sends a `<session_context>` text first (its own part or
//! content), so those parts are skipped when the message has other text.

use serde_json::{json, Map, Value};
use std::io::{self, Write};
use std::net::TcpStream;

/// Which Gemini method a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Stream,
    Generate,
    CountTokens,
}

/// `(model, method)` for `/v1beta/models/<model>:<method>` (also `/v1/...`), else `None`.
pub(crate) fn parse_path(path: &str) -> Option<(String, Method)> {
    let p = path.split('?').next().unwrap_or_default();
    let rest = p
        .strip_prefix("/v1beta/models/")
        .or_else(|| p.strip_prefix("/v1/models/"))?;
    let (model, method) = rest.rsplit_once(':')?;
    let method = match method {
        "streamGenerateContent" => Method::Stream,
        "generateContent" => Method::Generate,
        "countTokens" => Method::CountTokens,
        _ => return None,
    };
    if model.is_empty() || model.contains('/') {
        return None;
    }
    Some((model.to_string(), method))
}

/// Whether a request is a Gemini model call.
pub(crate) fn is_gemini(method: &str, path: &str) -> bool {
    method == "POST" && parse_path(path).is_some()
}

/// The reply text for a Gemini request body.
pub fn reply_text(body: &Value) -> String {
    crate::responses::reply_for(&last_user_text(body).unwrap_or_default())
}

/// The text of the last `user` content of a request.
pub fn last_user_text(body: &Value) -> Option<String> {
    let contents = body.get("contents")?.as_array()?;
    let c = contents.iter().rev().find(|c| c["role"] == "user")?;
    Some(parts_text(&c["parts"]))
}

fn parts_text(parts: &Value) -> String {
    let texts: Vec<&str> = parts
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let real: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|t| !t.trim_start().starts_with("<session_context>"))
        .collect();
    if real.is_empty() {
        texts.join(" ")
    } else {
        real.join(" ")
    }
}

/// Every text of every content of a request, one content per line; for "the history contains
/// X" checks.
pub fn history_text(body: &Value) -> String {
    let mut s = String::new();
    if let Some(contents) = body.get("contents").and_then(Value::as_array) {
        for c in contents {
            s.push_str(&parts_text(&c["parts"]));
            s.push('\n');
        }
    }
    s
}

/// The schema a request asks its answer to follow, if it asks for JSON.
fn json_schema(body: &Value) -> Option<&Value> {
    let cfg = body.get("generationConfig")?;
    if cfg.get("responseMimeType").and_then(Value::as_str) != Some("application/json") {
        return None;
    }
    Some(
        cfg.get("responseJsonSchema")
            .or_else(|| cfg.get("responseSchema"))
            .unwrap_or(&Value::Null),
    )
}

/// A value of the schema's type, with every required (or, if none are listed, every)
/// property filled; bounded depth.
fn fill(schema: &Value, text: &str, depth: u32) -> Value {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_ascii_lowercase();
    match ty.as_str() {
        "string" => match schema.get("enum").and_then(Value::as_array) {
            Some(e) if !e.is_empty() => e[0].clone(),
            _ => json!(text),
        },
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        "array" => json!([]),
        _ => {
            let mut obj = Map::new();
            if depth < 8 {
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    let required: Vec<&str> = schema
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    for (k, v) in props {
                        if required.is_empty() || required.contains(&k.as_str()) {
                            obj.insert(k.clone(), fill(v, text, depth + 1));
                        }
                    }
                }
            }
            Value::Object(obj)
        }
    }
}

/// The text the answer carries: the reply, or a JSON rendering of it when JSON is asked for.
pub(crate) fn answer_text(body: &Value, reply: &str) -> String {
    match json_schema(body) {
        Some(schema) => fill(schema, reply, 0).to_string(),
        None => reply.to_string(),
    }
}

fn chunk(model: &str, n: u64, text: &str, last: bool) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": [{"text": text}]},
                               "index": 0});
    let mut v = json!({"modelVersion": model, "responseId": format!("mock{n}")});
    if last {
        candidate["finishReason"] = json!("STOP");
        let out = crate::usage_tokens(text);
        v["usageMetadata"] = json!({"promptTokenCount": 10, "candidatesTokenCount": out,
                                    "totalTokenCount": 10 + out});
    }
    v["candidates"] = json!([candidate]);
    v
}

/// The `data:` payloads of a streamed answer.
pub(crate) fn stream_chunks(n: u64, model: &str, text: &str) -> Vec<Value> {
    let parts = crate::halves(text);
    let count = parts.len();
    if count == 0 {
        return vec![chunk(model, n, "", true)];
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| chunk(model, n, p, i + 1 == count))
        .collect()
}

/// Writes the answer to a Gemini model call; returns whether the connection must close.
/// `text` is what [`answer_text`] made of the request.
pub(crate) fn respond(out: &mut TcpStream, n: u64, path: &str, text: &str) -> io::Result<bool> {
    let Some((model, method)) = parse_path(path) else {
        crate::json_reply(
            out,
            404,
            &json!({"error": {"code": 404, "status": "NOT_FOUND"}}),
        )?;
        return Ok(false);
    };
    match method {
        Method::Stream => {
            crate::sse_head(out)?;
            for c in stream_chunks(n, &model, text) {
                write!(out, "data: {c}\r\n\r\n")?;
                out.flush()?;
            }
            Ok(true)
        }
        Method::Generate => {
            crate::json_reply(out, 200, &chunk(&model, n, text, true))?;
            Ok(false)
        }
        Method::CountTokens => {
            crate::json_reply(out, 200, &json!({"totalTokens": 10}))?;
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_path, Method};
    use crate::test_http::{post, post_raw, sse_data};
    use crate::{Api, MockLlm};
    use serde_json::{json, Value};

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
            Some(("gemini-2.5-flash".into(), Method::Stream))
        );
        assert_eq!(
            parse_path("/v1/models/m:generateContent"),
            Some(("m".into(), Method::Generate))
        );
        assert_eq!(
            parse_path("/v1beta/models/m:countTokens"),
            Some(("m".into(), Method::CountTokens))
        );
        for bad in [
            "/v1beta/models/m",
            "/v1beta/models/:generateContent",
            "/v1beta/models/a/b:generateContent",
            "/v1beta/models/m:embedContent",
            "/v1beta/other/m:generateContent",
            "",
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn stream_generate_content_echoes_the_last_user_text() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            &json!({"contents": [
                {"role": "user", "parts": [{"text": "<session_context>\nctx\n</session_context>"}]},
                {"role": "user", "parts": [{"text": "hello   GEMINI1"}]}],
                "generationConfig": {"temperature": 0}}),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("text/event-stream"), "{out}");
        let chunks: Vec<Value> = sse_data(&out).collect();
        assert_eq!(chunks.len(), 2, "{out}");
        let text: String = chunks
            .iter()
            .filter_map(|c| {
                c["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(text, "MOCK-REPLY: hello GEMINI1");
        assert!(chunks[0]["candidates"][0].get("finishReason").is_none());
        assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
        assert_eq!(chunks[1]["candidates"][0]["content"]["role"], "model");
        assert!(chunks[1]["usageMetadata"]["totalTokenCount"]
            .as_u64()
            .is_some());
        assert_eq!(chunks[1]["modelVersion"], "gemini-2.5-flash");
        let log = m.log();
        assert_eq!(log[0].api, Api::Gemini);
        assert_eq!(log[0].reply.as_deref(), Some("MOCK-REPLY: hello GEMINI1"));
    }

    #[test]
    fn generate_content_and_json_answers() {
        let m = MockLlm::start().expect("start");
        let out = post(
            m.port,
            "/v1beta/models/m:generateContent",
            &json!({"contents": [
                {"role": "user", "parts": [{"text": "<session_context>x</session_context>"},
                                           {"text": "first TURN-G"}]},
                {"role": "model", "parts": [{"text": "MOCK-REPLY: first TURN-G"}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "t", "response": {}}}]}]}),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: Value = serde_json::from_str(body).expect("json");
        assert_eq!(
            v["candidates"][0]["content"]["parts"][0]["text"],
            "MOCK-REPLY: "
        );
        let h = super::history_text(&m.requests()[0]);
        assert!(
            h.contains("first TURN-G") && h.contains("MOCK-REPLY"),
            "{h}"
        );

        // The router's request: a JSON answer following the schema.
        let out = post(
            m.port,
            "/v1beta/models/flash-lite:generateContent",
            &json!({"contents": [{"role": "user", "parts": [{"text": "route me"}]}],
                    "generationConfig": {"responseMimeType": "application/json",
                        "responseJsonSchema": {"type": "OBJECT", "properties": {
                            "complexity_reasoning": {"type": "STRING"},
                            "complexity_score": {"type": "INTEGER"},
                            "mode": {"type": "STRING", "enum": ["fast", "slow"]},
                            "optional": {"type": "STRING"}},
                        "required": ["complexity_reasoning", "complexity_score", "mode"]}}}),
        );
        let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: Value = serde_json::from_str(body).expect("json");
        let inner = v["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap_or_default();
        let inner: Value = serde_json::from_str(inner).expect("inner json");
        assert_eq!(
            inner,
            json!({"complexity_reasoning": "MOCK-REPLY: route me", "complexity_score": 1,
                   "mode": "fast"})
        );

        let out = post(
            m.port,
            "/v1beta/models/m:countTokens",
            &json!({"contents": []}),
        );
        assert!(out.contains(r#"{"totalTokens":10}"#), "{out}");
        assert_eq!(m.requests().len(), 3);
    }

    #[test]
    fn odd_bodies_and_unknown_methods() {
        let m = MockLlm::start().expect("start");
        let out = post_raw(
            m.port,
            "/v1beta/models/m:streamGenerateContent?alt=sse",
            b"\xff\xfe not json",
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        let text: String = sse_data(&out)
            .filter_map(|c| {
                c["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(text, "MOCK-REPLY: ");
        for body in [
            json!({"contents": "nope"}),
            json!({"contents": [{"role": "user", "parts": 3}]}),
            json!({"generationConfig": {"responseMimeType": "application/json"}}),
            json!({"generationConfig": {"responseMimeType": "application/json",
                   "responseSchema": {"type": "ARRAY"}}}),
        ] {
            let out = post(m.port, "/v1beta/models/m:generateContent", &body);
            assert!(out.starts_with("HTTP/1.1 200"), "{body} {out}");
        }
        let out = post(m.port, "/v1beta/models/m:embedContent", &json!({}));
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
        assert_eq!(m.log().last().map(|r| r.api), Some(Api::Other));
    }
}
