//! What the daemon does with its own events: runs the `[[hooks]]` of `config.toml`, and turns a
//! pane entering a state the user wants to hear about (`[notify]`) into a notification for the
//! attached clients' terminals and the `[notify] command`, when nobody is looking at that pane.
//!
//! Deciding ([`Server::reactions`]) is separate from running ([`run`]), so the decisions are
//! unit-tested without processes. Programs run without a shell, with the event as JSON on
//! stdin and its main fields in the environment, under a time limit; at most [`MAX_RUNNING`] at
//! once. A failure is logged, never fatal.

use crate::config::Method;
use crate::server::Server;
use quil_model::Attention;
use quil_proto::{Event, EventKind, Notification, NotifyMethod, PaneId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Semaphore;

/// Hook and notify programs running at once; more are skipped (and logged).
pub const MAX_RUNNING: usize = 8;

/// A program to run for an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// `[[hooks]] #N` or `[notify] command`, for the log.
    pub what: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: String,
    pub timeout: Duration,
}

/// What one event asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Reactions {
    pub runs: Vec<Run>,
    pub notification: Option<Notification>,
}

/// Remembers when each pane last notified, for `[notify] quiet_period`.
#[derive(Default)]
pub struct Quiet {
    last: HashMap<PaneId, Instant>,
}

impl Server {
    /// The hooks and the notification `ev` calls for.
    pub fn reactions(&self, ev: &Event, quiet: &mut Quiet, now: Instant) -> Reactions {
        let mut out = Reactions::default();
        let cfg = self.config();
        // What the event says about its pane, read once.
        let (pane_type, pane_name, tab_name, viewed) = match ev.pane {
            Some(p) => {
                let st = self.lock();
                let meta = st.ws.pane(p);
                let tab = st
                    .tab_of(p)
                    .and_then(|t| st.ws.tabs.iter().find(|x| x.id == t));
                (
                    meta.map(|m| m.kind.clone()),
                    meta.map(|m| m.name.clone()),
                    tab.map(|t| t.name.clone()),
                    st.is_viewed(p),
                )
            }
            None => (None, None, None, false),
        };
        let (state, detail) = match &ev.kind {
            EventKind::State { state, detail, .. } => (*state, detail.clone()),
            _ => (None, None),
        };
        let json = ev.to_json().to_string();
        let mut env = vec![("QUIL_EVENT".to_string(), ev.kind.name().to_string())];
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                env.push((k.to_string(), v));
            }
        };
        put("QUIL_PANE_ID", ev.pane.map(|p| p.to_string()));
        put("QUIL_TAB", ev.tab.map(|t| t.to_string()));
        put("QUIL_PANE_NAME", pane_name.clone());
        put("QUIL_TAB_NAME", tab_name.clone());
        put("QUIL_PANE_TYPE", pane_type.clone());
        put("QUIL_STATE", state.map(|s| s.to_string()));
        put("QUIL_DETAIL", detail.clone());
        for (i, h) in cfg.hooks.iter().enumerate() {
            let matches = h.on == ev.kind.name()
                && h.pane_type
                    .as_ref()
                    .is_none_or(|t| Some(t) == pane_type.as_ref())
                && h.state.is_none_or(|s| Some(s) == state);
            if matches {
                out.runs.push(Run {
                    what: format!("[[hooks]] #{}", i + 1),
                    argv: h.run.clone(),
                    env: env.clone(),
                    stdin: json.clone(),
                    timeout: Duration::from_secs_f64(h.timeout),
                });
            }
        }
        let n = &cfg.notify;
        if let (EventKind::Bell, Some(pane)) = (&ev.kind, ev.pane) {
            // A pane's own bell rings in the attached terminals (rate-limited at the pane).
            out.notification = Some(Notification {
                pane,
                title: String::new(),
                body: String::new(),
                method: None,
                bell: true,
            });
            return out;
        }
        let (EventKind::State { previous, .. }, Some(pane), Some(state)) =
            (&ev.kind, ev.pane, state)
        else {
            return out;
        };
        if !n.states.contains(&state) || *previous == Some(state) || viewed {
            return out;
        }
        let quiet_for = Duration::from_secs_f64(n.quiet_period);
        if quiet
            .last
            .get(&pane)
            .is_some_and(|t| now.duration_since(*t) < quiet_for)
        {
            return out;
        }
        quiet.last.insert(pane, now);
        let message = notification_text(
            pane_name.as_deref().unwrap_or("a pane"),
            tab_name.as_deref(),
            state,
            detail.as_deref(),
        );
        let method = match n.method {
            Method::Osc9 => Some(NotifyMethod::Osc9),
            Method::Osc777 => Some(NotifyMethod::Osc777),
            Method::Off => None,
        };
        if method.is_some() || n.bell {
            out.notification = Some(Notification {
                pane,
                title: "quil".into(),
                body: message.clone(),
                method,
                bell: n.bell,
            });
        }
        if !n.command.is_empty() {
            let mut env = env;
            env.push(("QUIL_MESSAGE".into(), message));
            out.runs.push(Run {
                what: "[notify] command".into(),
                argv: n.command.clone(),
                env,
                stdin: json,
                timeout: Duration::from_secs_f64(n.timeout),
            });
        }
        out
    }
}

/// `reviewer in agents is waiting: permission: Bash` (pane, tab, state, detail).
fn notification_text(
    pane: &str,
    tab: Option<&str>,
    state: Attention,
    detail: Option<&str>,
) -> String {
    let what = match state {
        Attention::Waiting => "is waiting for you",
        Attention::Done => "is done",
        Attention::Error => "stopped on an error",
        Attention::Working => "is working",
        Attention::Idle => "is idle",
    };
    let mut s = match tab {
        Some(t) if t != pane => format!("{pane} in {t} {what}"),
        _ => format!("{pane} {what}"),
    };
    if let Some(d) = detail.filter(|d| !d.is_empty()) {
        s.push_str(": ");
        s.push_str(d);
    }
    s
}

/// Reacts to every event for as long as the daemon runs.
pub async fn react(server: Arc<Server>) {
    let mut rx = server.signals.events.subscribe();
    let mut quiet = Quiet::default();
    let running = Arc::new(Semaphore::new(MAX_RUNNING));
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("hooks fell behind: {n} events skipped");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let r = server.reactions(&ev, &mut quiet, Instant::now());
        if let Some(n) = r.notification {
            let _ = server.signals.notify.send(n.clone());
            // A bell is an event of its own already; a desktop notification is announced.
            if n.method.is_some() {
                server.emit(
                    ev.pane,
                    ev.tab,
                    EventKind::Notification {
                        title: n.title,
                        body: n.body,
                    },
                );
            }
        }
        for run_it in r.runs {
            let Ok(permit) = running.clone().try_acquire_owned() else {
                tracing::warn!(
                    "{}: skipped, {MAX_RUNNING} hooks are still running",
                    run_it.what
                );
                continue;
            };
            tokio::spawn(async move {
                if let Err(e) = run(&run_it).await {
                    tracing::warn!("{} ({}): {e}", run_it.what, run_it.argv[0]);
                }
                drop(permit);
            });
        }
    }
}

/// Runs one program: no shell, the event on stdin, killed after its time limit. Errors say
/// what went wrong in one line.
pub async fn run(r: &Run) -> Result<(), String> {
    let Some((program, args)) = r.argv.split_first() else {
        return Err("no program".into());
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(r.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that does not read its stdin is fine.
        let _ = stdin.write_all(r.stdin.as_bytes()).await;
        let _ = stdin.write_all(b"\n").await;
    }
    match tokio::time::timeout(r.timeout, child.wait()).await {
        Ok(Ok(s)) if s.success() => Ok(()),
        Ok(Ok(s)) => Err(format!("exited with {s}")),
        Ok(Err(e)) => Err(format!("cannot wait for it: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("killed after {:?}", r.timeout))
        }
    }
}
