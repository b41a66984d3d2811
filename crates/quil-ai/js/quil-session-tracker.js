// quil-session-tracker.js: the opencode plugin quil loads into every opencode pane.
//
// Written by quild to $QUIL_HOME/opencodehook/quil-session-tracker.js (from the copy embedded in
// the quil-ai crate, crates/quil-ai/js/) and handed to opencode through OPENCODE_CONFIG_CONTENT.
// It records which opencode session the pane is in, so that after a daemon restart the pane
// reopens its own conversation (`opencode --session <id>`), and whether the agent is working.
//
//   $QUIL_HOME/sessions/opencode-<pane id>.id     the session id (one line), mode 0600
//   $QUIL_HOME/sessions/opencode-<pane id>.state  the attention state ("working", "waiting",
//                                                 "idle" or "error"), then a short detail
//                                                 line ("permission: bash (ls)", "api error: 401 ...")
//   $QUIL_HOME/opencodehook/hook.log              one line per recorded, rotated or cleared id
//                                                 (capped at 1 MB, one rotation: hook.log.1)
//
// Rules opencode imposes: every export of this module must be a function (opencode refuses the
// module otherwise), so it exports exactly one async function. It runs under Bun inside
// opencode; it must never throw into opencode, so everything is wrapped in try/catch.

import fs from "node:fs";
import path from "node:path";

// The id rules, shared with Rust: quil-ai parses the JSON object between these two marker
// lines out of this very file (include_str!), and both sides run tests/id-vectors.json.
// Keep it a plain JSON object literal.
// quil-id-rules-begin
const ID_RULES = {
  "opencode_session": "^ses_[0-9A-Za-z_-]{16,60}$",
  "claude_session": "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
  "pane": "^pane-[0-9a-f]{8}$"
};
// quil-id-rules-end

const LOG_CAP = 1024 * 1024;
const TRACKED = new Set([
  "session.created",
  "session.updated",
  "session.idle",
  "session.compacted",
]);

function matches(rule, s) {
  return typeof s === "string" && new RegExp(ID_RULES[rule]).test(s);
}

let tmpSeq = 0;

// Writes `data` to `file` atomically: a private temp file in the same directory, then rename.
// Readers see the old content or the new one, never a partial file.
function writeAtomic(file, data) {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  tmpSeq += 1;
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${tmpSeq}`);
  try {
    fs.writeFileSync(tmp, data, { mode: 0o600, flag: "wx" });
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch (_) {}
    throw e;
  }
}

function readSmall(file) {
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.size > 4096) return null;
    return fs.readFileSync(file, "utf8");
  } catch (_) {
    return null;
  }
}

export const QuilSessionTracker = async () => {
  try {
    const pane = process.env.QUIL_PANE_ID;
    const home = process.env.QUIL_HOME;
    if (!matches("pane", pane) || typeof home !== "string" || !path.isAbsolute(home)) {
      return {};
    }
    const sessions = path.join(home, "sessions");
    const idFile = path.join(sessions, `opencode-${pane}.id`);
    const stateFile = path.join(sessions, `opencode-${pane}.state`);
    const logFile = path.join(home, "opencodehook", "hook.log");

    const log = (line) => {
      try {
        fs.mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o700 });
        const text = `${new Date().toISOString()} ${pane} ${line}\n`;
        let size = 0;
        try {
          size = fs.statSync(logFile).size;
        } catch (_) {}
        if (size > 0 && size + Buffer.byteLength(text) > LOG_CAP) {
          fs.renameSync(logFile, `${logFile}.1`);
        }
        fs.appendFileSync(logFile, text, { mode: 0o600 });
      } catch (_) {}
    };

    // The id this pane is known to be in: what an earlier run recorded (a pane reopened with
    // --session gets no event until its next prompt, and must not log a rotation then).
    let current = null;
    const prev = readSmall(idFile);
    if (prev !== null && matches("opencode_session", prev.trim())) current = prev.trim();
    let state = null;
    // Turns started in this pane (line 3 of the state file), carried on from an earlier run, so
    // quild sees a whole turn that began and ended between two of its reads.
    let turn = Number.parseInt((readSmall(stateFile) ?? "").split("\n")[2], 10) || 0;
    const children = new Set();

    // One line of detail: no control characters, at most 120 chars.
    const clean = (d) =>
      String(d ?? "")
        .replace(/[\u0000-\u001f\u007f]/g, " ")
        .slice(0, 120)
        .trim();
    const setState = (s, detail = "") => {
      // A turn starts on working from anything but working or waiting (an answer goes on).
      if (s === "working" && !stateIs("working") && !stateIs("waiting")) turn += 1;
      const text = `${s}\n${clean(detail)}\n${turn}\n`;
      if (text === state) return;
      writeAtomic(stateFile, text);
      state = text;
    };
    const stateIs = (s) => state !== null && state.startsWith(`${s}\n`);
    // What blocks the user, from this pane's session or one of its sub-agents: the user answers
    // it in this pane either way.
    const ours = (id) => id === current || children.has(id) || current === null;

    // `permission: bash (mkdir foo)`: the tool, and what it would run when the ask says.
    const permissionDetail = (p) => {
      const meta = p.metadata && typeof p.metadata === "object" ? p.metadata : {};
      const raw = [meta.command, meta.filepath, Array.isArray(p.patterns) ? p.patterns[0] : null]
        .find((t) => typeof t === "string" && t.trim() !== "");
      const what = raw && raw.split("\n").map((l) => l.trim()).find((l) => l !== "");
      return `permission: ${p.permission || "tool"}${what ? ` (${what})` : ""}`;
    };

    const handle = (event) => {
      if (!event || typeof event.type !== "string") return;
      const type = event.type;
      // Only session, permission and question events: others carry other things in `info`
      // (message.updated's info.parentID is the parent *message*, and must not mark the session
      // as a sub-agent).
      if (!/^(session|permission|question)\./.test(type)) return;
      const p = event.properties || {};
      const info = p.info && typeof p.info === "object" ? p.info : {};
      const id = p.sessionID ?? info.id;
      if (!matches("opencode_session", id)) return;
      if (type === "permission.asked" || type === "question.asked") {
        if (!ours(id)) return;
        setState("waiting", type === "question.asked" ? "question" : permissionDetail(p));
        return;
      }
      if (type === "permission.replied" || type === "question.replied") {
        // Answered: the turn goes on (a rejected permission ends it with an idle status).
        if (ours(id) && stateIs("waiting")) setState("working");
        return;
      }
      if (type === "question.rejected") return;
      if (info.parentID) {
        children.add(id);
        return;
      }
      if (children.has(id)) return;
      if (TRACKED.has(type)) {
        // Rewrite when it changed, or when the file went away (quild removes it when a resume
        // failed).
        if (id !== current || !fs.existsSync(idFile)) {
          writeAtomic(idFile, `${id}\n`);
          log(current === null || current === id ? `recorded ${id}` : `rotated ${current} -> ${id}`);
          current = id;
        }
        // An error is reported until the next turn starts, not undone by the idle after it.
        if (type === "session.idle" && !stateIs("error")) setState("idle");
      } else if (type === "session.error") {
        const e = p.error || {};
        const d = e.data || {};
        const status = typeof d.statusCode === "number" ? ` ${d.statusCode}` : "";
        const what = d.message || e.name || "error";
        setState("error", `api error:${status} ${what}`);
      } else if (type === "session.deleted") {
        if (id === current) {
          try {
            fs.unlinkSync(idFile);
          } catch (_) {}
          log(`cleared ${id}`);
          current = null;
        }
      } else if (type === "session.status") {
        const st = p.status || {};
        const t = st.type;
        if (t === "idle") {
          if (!stateIs("error")) setState("idle");
        } else if (t === "retry") {
          // Retrying an API error: still working, and saying why.
          setState("working", `retrying (${st.attempt ?? "?"}): ${st.message || "api error"}`);
        } else if (typeof t === "string" && !stateIs("waiting")) {
          setState("working");
        }
      }
    };

    return {
      event: async ({ event }) => {
        try {
          handle(event);
        } catch (e) {
          log(`error ${String((e && e.message) || e).replace(/\s+/g, " ").slice(0, 200)}`);
        }
      },
    };
  } catch (_) {
    return {};
  }
};
