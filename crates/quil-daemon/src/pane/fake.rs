//! An in-memory pane and spawner for unit tests: no process, no PTY. A test feeds a pane's
//! output, reads the input it was sent, and ends it with a status, while the daemon's
//! workspace logic runs exactly as it does against real processes.

use super::{Pane, PaneError, PaneEvents, PaneShared, SpawnArgs, SpawnError, Spawner};
use quil_proto::PaneId;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

pub struct FakePane {
    pub args: SpawnArgs,
    shared: Arc<PaneShared>,
    events: Arc<dyn PaneEvents>,
    started: Instant,
    input: Mutex<Vec<u8>>,
    size: Mutex<(u16, u16)>,
    hung_up: Mutex<bool>,
    /// Its holder's name (`<pane id>-fake`): every fake pane "runs under a holder".
    holder: String,
    /// Taken over from its holder rather than started.
    pub adopted: bool,
}

impl FakePane {
    /// Output from the "program": fed to the terminal as a PTY read would be.
    pub fn output(&self, bytes: &[u8]) {
        // Replies the emulator owes go to the program, as they would on a PTY.
        let fed = self.shared.feed(self.args.id, bytes, self.events.as_ref());
        lock(&self.input).extend(fed.replies);
    }

    /// Everything the pane was sent so far.
    pub fn input(&self) -> Vec<u8> {
        lock(&self.input).clone()
    }

    /// The process's terminal size as last set.
    pub fn process_size(&self) -> (u16, u16) {
        *lock(&self.size)
    }

    /// The "program" exits.
    pub fn exit(&self, status: i32) {
        self.shared.set_exited(status);
        self.events.exited(self.args.id, status);
    }

    pub fn hung_up(&self) -> bool {
        *lock(&self.hung_up)
    }
}

impl Pane for FakePane {
    fn id(&self) -> PaneId {
        self.args.id
    }
    fn shared(&self) -> &PaneShared {
        &self.shared
    }
    fn argv(&self) -> &[String] {
        &self.args.argv
    }
    fn pid(&self) -> Option<u32> {
        None
    }
    fn started(&self) -> Instant {
        self.started
    }
    fn holder(&self) -> Option<&str> {
        Some(&self.holder)
    }
    fn write_input(&self, data: Vec<u8>) -> Result<(), PaneError> {
        if !self.is_alive() {
            return Err(PaneError::Exited(self.args.id));
        }
        lock(&self.input).extend(data);
        Ok(())
    }
    fn resize_process(&self, cols: u16, rows: u16) -> Result<(), PaneError> {
        *lock(&self.size) = (cols, rows);
        Ok(())
    }
    fn hangup(&self) {
        *lock(&self.hung_up) = true;
        if self.is_alive() {
            self.exit(129);
        }
    }
    fn force_kill(&self) {
        self.hangup();
    }
}

/// Starts [`FakePane`]s and remembers every one, in order. Programs named in `missing` fail
/// to start, as a missing binary would; those in `quick` exit 0 before `spawn` returns, as a
/// command that ends at once can before its pane is added. Holders named in `running` answer
/// when a restart takes their pane over; others are gone, as after a reboot.
#[derive(Default)]
pub struct FakeSpawner {
    panes: Mutex<Vec<Arc<FakePane>>>,
    pub missing: Mutex<Vec<String>>,
    pub quick: Mutex<Vec<String>>,
    pub running: Mutex<Vec<String>>,
    /// While true, taking a pane over waits (a holder slow to answer).
    held: Mutex<bool>,
    released: Condvar,
}

impl FakeSpawner {
    /// Makes takeovers wait (`true`) until called again with `false`.
    pub fn hold_takeovers(&self, on: bool) {
        *lock(&self.held) = on;
        self.released.notify_all();
    }

    /// Every pane started so far, oldest first (respawns included).
    pub fn spawned(&self) -> Vec<Arc<FakePane>> {
        lock(&self.panes).clone()
    }

    /// The latest process started for pane `id`.
    pub fn pane(&self, id: PaneId) -> Arc<FakePane> {
        let panes = lock(&self.panes);
        let found = panes.iter().rev().find(|p| p.args.id == id);
        match found {
            Some(p) => p.clone(),
            None => panic!("no fake pane {id} was started"),
        }
    }

    /// The latest processes by pane.
    pub fn by_id(&self) -> HashMap<PaneId, Arc<FakePane>> {
        lock(&self.panes)
            .iter()
            .map(|p| (p.args.id, p.clone()))
            .collect()
    }
}

impl Spawner for FakeSpawner {
    fn spawn(
        &self,
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
    ) -> Result<Arc<dyn Pane>, SpawnError> {
        let program = args.argv.first().cloned().unwrap_or_default();
        if lock(&self.missing).contains(&program) {
            return Err(SpawnError::Start {
                program,
                reason: "No such file or directory".into(),
            });
        }
        let pane = self.make(args, events, false);
        if lock(&self.quick).contains(&program) {
            pane.exit(0);
        }
        Ok(pane)
    }

    fn adopt(
        &self,
        name: &str,
        args: SpawnArgs,
        events: Arc<dyn PaneEvents>,
    ) -> Result<Arc<dyn Pane>, SpawnError> {
        let mut held = lock(&self.held);
        while *held {
            held = self.released.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        drop(held);
        if !lock(&self.running).iter().any(|n| n == name) {
            return Err(SpawnError::Adopt(format!("no holder at {name}")));
        }
        Ok(self.make(args, events, true))
    }
}

impl FakeSpawner {
    fn make(&self, args: SpawnArgs, events: Arc<dyn PaneEvents>, adopted: bool) -> Arc<FakePane> {
        let holder = format!("{}-fake", args.id);
        let pane = Arc::new(FakePane {
            shared: PaneShared::for_pane(
                args.cols,
                args.rows,
                &args,
                args.preamble.clone(),
                events.clone(),
            ),
            size: Mutex::new((args.cols, args.rows)),
            args,
            events,
            started: Instant::now(),
            input: Mutex::new(Vec::new()),
            hung_up: Mutex::new(false),
            holder,
            adopted,
        });
        lock(&self.panes).push(pane.clone());
        pane
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
