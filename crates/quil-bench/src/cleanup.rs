//! Everything the harness starts is registered here, so it is stopped on every way out: a
//! guard's `Drop` (normal return, `?` errors, panics) and SIGINT/SIGTERM/SIGHUP (a dedicated
//! thread waits for them, runs every pending cleanup, and exits).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

type Action = Box<dyn FnOnce() + Send>;

static ACTIONS: Mutex<BTreeMap<u64, Action>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

fn actions() -> std::sync::MutexGuard<'static, BTreeMap<u64, Action>> {
    ACTIONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs its action when dropped (or when the process is signalled, whichever comes first).
#[must_use = "dropping the guard runs the cleanup at once"]
pub struct Guard(u64);

impl Guard {
    pub fn new(f: impl FnOnce() + Send + 'static) -> Guard {
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        actions().insert(id, Box::new(f));
        Guard(id)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let action = actions().remove(&self.0);
        if let Some(f) = action {
            f();
        }
    }
}

/// Runs every pending action, newest first.
pub fn run_all() {
    loop {
        let next = {
            let mut a = actions();
            let key = a.keys().next_back().copied();
            key.and_then(|k| a.remove(&k))
        };
        match next {
            Some(f) => f(),
            None => break,
        }
    }
}

static SIGNAL_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; one byte from a stack buffer.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
}

/// Catches SIGINT/SIGTERM/SIGHUP with a handler that writes to a pipe; a helper thread reads
/// it, runs every pending cleanup and exits. (A handler, not a blocked mask: a blocked mask
/// would be inherited by every child, and tmux, for one, stops itself with SIGTERM.)
pub fn install_signal_handler() {
    let mut fds = [0i32; 2];
    // SAFETY: valid array of two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing an async-signal-safe handler.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    let rd = fds[0];
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut b = 0u8;
            // SAFETY: reading one byte into a stack buffer.
            let n = unsafe { libc::read(rd, (&mut b as *mut u8).cast(), 1) };
            if n == 1 {
                eprintln!("quil-bench: signal {b}: stopping everything it started");
                run_all();
                std::process::exit(128 + i32::from(b));
            }
        });
}
