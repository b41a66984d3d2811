// Tests of the opencode tracker plugin with synthetic events, under node:
//   node --test crates/quil-ai/js/
// (also run by `cargo test -p quil-ai`, tests/node_tracker.rs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const vectors = JSON.parse(
  fs.readFileSync(path.join(here, "..", "tests", "id-vectors.json"), "utf8"),
);
const PANE = "pane-1a2b3c4d";
const A = "ses_e007f40e2ffeHizcOUqvCwmQgb";
const B = "ses_e00392ab1ffeoTyTMCMU5uQAmo";
const C = "ses_e00392ab1ffeoTyTMCMU5uQAzz";

let scratch;
let mod;

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "quil-tracker-test-"));
  // The tracker is an ES module written as .js (opencode runs it under Bun); node needs .mjs.
  const copy = path.join(scratch, "quil-session-tracker.mjs");
  fs.copyFileSync(path.join(here, "quil-session-tracker.js"), copy);
  mod = await import(pathToFileURL(copy).href);
});

after(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

let homeSeq = 0;
function freshHome() {
  homeSeq += 1;
  return path.join(scratch, `home${homeSeq}`);
}

// Instantiates the plugin as opencode would, with QUIL_PANE_ID and QUIL_HOME in process.env.
async function plugin(home, pane = PANE) {
  const saved = { p: process.env.QUIL_PANE_ID, h: process.env.QUIL_HOME };
  const set = (k, v) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  set("QUIL_PANE_ID", pane);
  set("QUIL_HOME", home);
  try {
    return await mod.QuilSessionTracker({ directory: "/p", worktree: "/p" });
  } finally {
    set("QUIL_PANE_ID", saved.p);
    set("QUIL_HOME", saved.h);
  }
}

const ev = (type, properties) => ({ event: { id: "evt_x", type, properties } });
const created = (id, extra = {}) => ev("session.created", { sessionID: id, info: { id, ...extra } });
const updated = (id) => ev("session.updated", { sessionID: id, info: { id } });
const idFile = (home, pane = PANE) => path.join(home, "sessions", `opencode-${pane}.id`);
const stateFile = (home) => path.join(home, "sessions", `opencode-${PANE}.state`);
const logFile = (home) => path.join(home, "opencodehook", "hook.log");
const read = (f) => fs.readFileSync(f, "utf8");
const logLines = (home) =>
  fs.existsSync(logFile(home)) ? read(logFile(home)).trim().split("\n").filter(Boolean) : [];

test("the module exports exactly one async function", () => {
  const names = Object.keys(mod);
  assert.deepEqual(names, ["QuilSessionTracker"]);
  assert.equal(typeof mod.QuilSessionTracker, "function");
  assert.equal(mod.QuilSessionTracker.constructor.name, "AsyncFunction");
});

test("session.created records the id privately and logs it", async () => {
  const home = freshHome();
  const p = await plugin(home);
  await p.event(created(A));
  assert.equal(read(idFile(home)), `${A}\n`);
  assert.equal(fs.statSync(idFile(home)).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(home, "sessions")).mode & 0o777, 0o700);
  const lines = logLines(home);
  assert.equal(lines.length, 1);
  assert.match(lines[0], new RegExp(`${PANE} recorded ${A}$`));
});

test("which events write the id", async () => {
  for (const type of ["session.created", "session.updated", "session.idle", "session.compacted"]) {
    const home = freshHome();
    const p = await plugin(home);
    await p.event(ev(type, { sessionID: A }));
    assert.equal(read(idFile(home)), `${A}\n`, type);
  }
  // info.id alone is enough (sessionID ?? info.id).
  {
    const home = freshHome();
    const p = await plugin(home);
    await p.event(ev("session.updated", { info: { id: B } }));
    assert.equal(read(idFile(home)), `${B}\n`);
  }
  for (const type of ["message.updated", "message.part.updated", "session.diff", "session.status", "session.error", "plugin.added"]) {
    const home = freshHome();
    const p = await plugin(home);
    await p.event(ev(type, { sessionID: A, info: { id: A }, status: { type: "busy" } }));
    assert.equal(fs.existsSync(idFile(home)), false, type);
  }
});

test("the id is written only when it changed, by rename, leaving no temp file", async () => {
  const home = freshHome();
  const p = await plugin(home);
  await p.event(created(A));
  const first = fs.statSync(idFile(home));
  await p.event(updated(A));
  await p.event(ev("session.idle", { sessionID: A }));
  const same = fs.statSync(idFile(home));
  assert.equal(same.ino, first.ino);
  assert.equal(same.mtimeMs, first.mtimeMs);
  await p.event(updated(B));
  const second = fs.statSync(idFile(home));
  // A new inode: the file was replaced by rename, never rewritten in place, so a reader sees
  // the old content or the new one, never a partial file.
  assert.notEqual(second.ino, first.ino);
  assert.equal(read(idFile(home)), `${B}\n`);
  const left = fs.readdirSync(path.join(home, "sessions")).filter((f) => f.includes(".tmp-"));
  assert.deepEqual(left, []);
});

test("a failed write cleans its temp file and does not throw", async () => {
  const home = freshHome();
  const p = await plugin(home);
  // The id file's path is taken by a directory: the rename fails.
  fs.mkdirSync(idFile(home), { recursive: true });
  fs.writeFileSync(path.join(idFile(home), "x"), "");
  await p.event(created(A));
  const left = fs.readdirSync(path.join(home, "sessions")).filter((f) => f.includes(".tmp-"));
  assert.deepEqual(left, []);
  assert.ok(logLines(home).some((l) => l.includes(" error ")));
});

test("rotation writes the new id and logs it", async () => {
  const home = freshHome();
  const p = await plugin(home);
  await p.event(created(A));
  await p.event(created(B));
  assert.equal(read(idFile(home)), `${B}\n`);
  const lines = logLines(home);
  assert.equal(lines.length, 2);
  assert.match(lines[1], new RegExp(`rotated ${A} -> ${B}$`));
});

test("a pane reopened on its recorded id logs nothing new", async () => {
  const home = freshHome();
  fs.mkdirSync(path.join(home, "sessions"), { recursive: true });
  fs.writeFileSync(idFile(home), `${A}\n`);
  const before = fs.statSync(idFile(home));
  const p = await plugin(home);
  await p.event(updated(A));
  assert.equal(fs.statSync(idFile(home)).ino, before.ino);
  assert.deepEqual(logLines(home), []);
});

test("the id file is rewritten when it went away", async () => {
  const home = freshHome();
  const p = await plugin(home);
  await p.event(created(A));
  fs.unlinkSync(idFile(home));
  await p.event(updated(A));
  assert.equal(read(idFile(home)), `${A}\n`);
});

test("a message's parentID does not make its session a sub-agent", async () => {
  // Real opencode 1.18: message.updated for an assistant message carries the session in
  // sessionID and the *user message* it answers in info.parentID.
  const home = freshHome();
  const p = await plugin(home);
  await p.event(created(A));
  await p.event(ev("message.updated", { sessionID: A, info: { id: "msg_1", parentID: "msg_0", role: "assistant", sessionID: A } }));
  await p.event(ev("session.status", { sessionID: A, status: { type: "busy" } }));
  await p.event(ev("message.updated", { sessionID: A, info: { id: "msg_2", parentID: "msg_1", sessionID: A } }));
  await p.event(ev("session.status", { sessionID: A, status: { type: "idle" } }));
  assert.equal(read(stateFile(home)), "idle\n\n1\n");
  await p.event(created(B));
  assert.equal(read(idFile(home)), `${B}\n`);
});

test("sub-agent sessions are ignored", async () => {
  const home = freshHome();
  const p = await plugin(home);
  await p.event(created(A));
  await p.event(created(B, { parentID: A }));
  await p.event(updated(B));
  await p.event(ev("session.idle", { sessionID: B }));
  await p.event(ev("session.deleted", { sessionID: B, info: { id: B, parentID: A } }));
  assert.equal(read(idFile(home)), `${A}\n`);
  assert.equal(logLines(home).length, 1);
});

test("ids of the wrong shape are ignored (shared vectors)", async () => {
  for (const bad of vectors.opencode_session.invalid) {
    const home = freshHome();
    const p = await plugin(home);
    await p.event(ev("session.created", { sessionID: bad, info: { id: bad } }));
    await p.event(ev("session.updated", { info: { id: bad } }));
    assert.equal(fs.existsSync(idFile(home)), false, JSON.stringify(bad));
  }
  for (const good of vectors.opencode_session.valid) {
    const home = freshHome();
    const p = await plugin(home);
    await p.event(created(good));
    assert.equal(read(idFile(home)), `${good}\n`, good);
  }
});

test("pane ids of the wrong shape disable the tracker (shared vectors)", async () => {
  for (const bad of vectors.pane.invalid) {
    const home = freshHome();
    const p = await plugin(home, bad);
    assert.deepEqual(p, {}, JSON.stringify(bad));
    assert.equal(fs.existsSync(home), false);
  }
  for (const good of vectors.pane.valid) {
    const home = freshHome();
    const p = await plugin(home, good);
    await p.event(created(A));
    assert.equal(read(idFile(home, good)), `${A}\n`, good);
  }
  // No QUIL_HOME, or a relative one: disabled too.
  assert.deepEqual(await plugin(undefined), {});
  assert.deepEqual(await plugin("relative/home"), {});
});

test("the Rust side's rules are the ones the tracker uses", () => {
  const src = read(path.join(here, "quil-session-tracker.js"));
  const m = src.match(/\/\/ quil-id-rules-begin\n[^{]*(\{[\s\S]*?\});?\n\/\/ quil-id-rules-end/);
  assert.ok(m, "marker block");
  const rules = JSON.parse(m[1]);
  for (const kind of ["opencode_session", "claude_session", "pane"]) {
    const re = new RegExp(rules[kind]);
    for (const s of vectors[kind].valid) assert.ok(re.test(s), `${kind} ${s}`);
    for (const s of vectors[kind].invalid) assert.ok(!re.test(s), `${kind} ${JSON.stringify(s)}`);
  }
});

test("deleting the session removes the id file; other deletions do not", async () => {
  const home = freshHome();
  const p = await plugin(home);
  await p.event(created(A));
  await p.event(ev("session.deleted", { sessionID: B, info: { id: B } }));
  assert.equal(read(idFile(home)), `${A}\n`);
  await p.event(ev("session.deleted", { sessionID: A, info: { id: A } }));
  assert.equal(fs.existsSync(idFile(home)), false);
  assert.match(logLines(home).at(-1), new RegExp(`cleared ${A}$`));
  // A later session is recorded afresh.
  await p.event(created(B));
  assert.equal(read(idFile(home)), `${B}\n`);
  assert.match(logLines(home).at(-1), new RegExp(`recorded ${B}$`));
});

test("attention state: working while busy, idle when done", async () => {
  const home = freshHome();
  const p = await plugin(home);
  await p.event(ev("session.status", { sessionID: A, status: { type: "busy" } }));
  assert.equal(read(stateFile(home)), "working\n\n1\n");
  assert.equal(fs.statSync(stateFile(home)).mode & 0o777, 0o600);
  const ino = fs.statSync(stateFile(home)).ino;
  await p.event(ev("session.status", { sessionID: A, status: { type: "busy" } }));
  assert.equal(fs.statSync(stateFile(home)).ino, ino, "unchanged state is not rewritten");
  await p.event(ev("session.status", { sessionID: A, status: { type: "idle" } }));
  assert.equal(read(stateFile(home)), "idle\n\n1\n");
  await p.event(ev("session.status", { sessionID: A, status: { type: "retry" } }));
  assert.equal(read(stateFile(home)), "working\nretrying (?): api error\n2\n");
  await p.event(ev("session.idle", { sessionID: A }));
  assert.equal(read(stateFile(home)), "idle\n\n2\n");
  // A sub-agent's status does not count.
  await p.event(created(B, { parentID: A }));
  await p.event(ev("session.status", { sessionID: B, status: { type: "busy" } }));
  assert.equal(read(stateFile(home)), "idle\n\n2\n");
  // opencode restarted in the same pane: the count goes on.
  const again = await plugin(home);
  await again.event(ev("session.status", { sessionID: A, status: { type: "busy" } }));
  assert.equal(read(stateFile(home)), "working\n\n3\n");
});

test("attention: permissions, questions, errors and retries (checked with opencode 1.18.34)", async () => {
  const home = freshHome();
  const p = await plugin(home);
  await p.event(created(A));
  const busy = () => ev("session.status", { sessionID: A, status: { type: "busy" } });
  await p.event(busy());
  await p.event(ev("permission.asked", { id: "per_1", sessionID: A, permission: "bash", patterns: ["mkdir x"] }));
  assert.equal(read(stateFile(home)), "waiting\npermission: bash (mkdir x)\n1\n");
  // Busy is reported while the dialog is open: still waiting.
  await p.event(busy());
  assert.equal(read(stateFile(home)), "waiting\npermission: bash (mkdir x)\n1\n");
  await p.event(ev("permission.replied", { sessionID: A, requestID: "per_1", reply: "once" }));
  // The command in the metadata is preferred to the pattern, and only its first line is shown.
  const edit = { id: "per_0", sessionID: A, permission: "bash", patterns: ["git *"], metadata: { command: "\n  git status\n  git diff" } };
  await p.event(ev("permission.asked", edit));
  assert.equal(read(stateFile(home)), "waiting\npermission: bash (git status)\n1\n");
  await p.event(ev("permission.replied", { sessionID: A, requestID: "per_0", reply: "once" }));
  assert.equal(read(stateFile(home)), "working\n\n1\n");
  await p.event(ev("question.asked", { id: "que_1", sessionID: A, questions: [] }));
  assert.equal(read(stateFile(home)), "waiting\nquestion\n1\n");
  await p.event(ev("question.replied", { sessionID: A, requestID: "que_1", answers: [["Yes"]] }));
  assert.equal(read(stateFile(home)), "working\n\n1\n");
  // A sub-agent's permission blocks the user in this pane too.
  await p.event(created(B, { parentID: A }));
  await p.event(ev("permission.asked", { id: "per_2", sessionID: B, permission: "bash" }));
  assert.equal(read(stateFile(home)), "waiting\npermission: bash\n1\n");
  // Another pane's session is not ours.
  await p.event(ev("permission.replied", { sessionID: C, requestID: "per_2", reply: "once" }));
  assert.equal(read(stateFile(home)), "waiting\npermission: bash\n1\n");
  await p.event(ev("permission.replied", { sessionID: B, requestID: "per_2", reply: "once" }));
  assert.equal(read(stateFile(home)), "working\n\n1\n");
  // Retries say why; a non-retryable error stays until the next turn.
  await p.event(ev("session.status", { sessionID: A, status: { type: "retry", attempt: 2, message: "Internal \x1b[31m error" } }));
  assert.equal(read(stateFile(home)), "working\nretrying (2): Internal  [31m error\n1\n");
  const apiError = { name: "APIError", data: { statusCode: 401, message: "unauthorized" } };
  await p.event(ev("session.error", { sessionID: A, error: apiError }));
  await p.event(ev("session.status", { sessionID: A, status: { type: "idle" } }));
  await p.event(ev("session.idle", { sessionID: A }));
  assert.equal(read(stateFile(home)), "error\napi error: 401 unauthorized\n1\n");
  await p.event(busy());
  assert.equal(read(stateFile(home)), "working\n\n2\n");
});

test("the log is capped at 1 MB with one rotation", async () => {
  const home = freshHome();
  fs.mkdirSync(path.join(home, "opencodehook"), { recursive: true });
  fs.writeFileSync(logFile(home), "x".repeat(1024 * 1024 - 10) + "\n");
  fs.writeFileSync(`${logFile(home)}.1`, "older\n");
  const p = await plugin(home);
  await p.event(created(A));
  assert.equal(fs.statSync(`${logFile(home)}.1`).size, 1024 * 1024 - 9);
  assert.equal(logLines(home).length, 1);
  assert.match(logLines(home)[0], /recorded/);
  assert.equal(fs.existsSync(`${logFile(home)}.2`), false);
  // Below the cap it appends.
  await p.event(created(B));
  assert.equal(logLines(home).length, 2);
});

test("never throws: unwritable home, garbage events", async () => {
  // QUIL_HOME under a regular file: every mkdir fails with ENOTDIR.
  const file = path.join(scratch, "a-file");
  fs.writeFileSync(file, "");
  const home = path.join(file, "home");
  const p = await plugin(home);
  for (const e of [
    created(A),
    updated(B),
    ev("session.status", { sessionID: A, status: { type: "busy" } }),
    ev("session.deleted", { sessionID: B }),
    { event: null },
    { event: {} },
    { event: { type: 5 } },
    { event: { type: "session.created", properties: null } },
    { event: { type: "session.created", properties: { info: null } } },
    {},
  ]) {
    await p.event(e);
  }
  await assert.doesNotReject(async () => p.event(undefined ?? {}));
});
