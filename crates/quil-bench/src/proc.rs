//! Small process utilities: /proc readings, commands with timeouts, FIFOs.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `/proc/<pid>/status` field in kB (e.g. `VmRSS`).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

pub fn threads(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
}

/// User + system CPU time of a process, in seconds (clock-tick resolution).
/// Every thread's voluntary and involuntary context switches so far: how often the process
/// woke (the kernel's counters).
pub fn context_switches(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut n = 0;
    for t in tasks.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        n += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(n)
}

pub fn cpu_s(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm field: state is index 0, utime is field 14 overall (index 11 here).
    let ut: u64 = f.get(11)?.parse().ok()?;
    let st: u64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((ut + st) as f64 / tck)
}

/// CPU time of the calling thread, in seconds.
pub fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

pub fn alive(pid: u32) -> bool {
    // A zombie still answers kill(0); check /proc state too.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s.get(i + 2..i + 3))
            .is_some_and(|st| st != "Z"),
        Err(_) => false,
    }
}

pub fn kill(pid: u32, sig: i32) {
    if pid > 1 {
        // SAFETY: plain kill(2).
        unsafe { libc::kill(pid as i32, sig) };
    }
}

/// Runs a command to completion with a timeout; kills it (and its process group) on timeout.
pub fn run_timeout(mut cmd: Command, timeout: Duration) -> Result<Output> {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot run {desc}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{desc} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // A daemon forked by the command may hold the pipes open: do not wait on them forever.
    let stdout = join_timeout(t_out, Duration::from_secs(2));
    let stderr = join_timeout(t_err, Duration::from_secs(2));
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn join_timeout(h: std::thread::JoinHandle<Vec<u8>>, t: Duration) -> Vec<u8> {
    let deadline = Instant::now() + t;
    while !h.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    if h.is_finished() {
        h.join().unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// Runs a command and returns its stdout; a non-zero exit is an error carrying stderr.
pub fn run_ok(cmd: Command, timeout: Duration) -> Result<String> {
    let desc = format!("{cmd:?}");
    let out = run_timeout(cmd, timeout)?;
    if !out.status.success() {
        bail!(
            "{desc} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `f` until it yields a value or the timeout passes.
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

pub fn mkfifo(path: &Path) -> Result<()> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .with_context(|| format!("mkfifo {}", path.display()))
}

/// A start signal: the benchmarked command blocks in `read _ < GO` until [`Go::fire`].
pub struct Go<'a>(pub &'a Path);

impl Go<'_> {
    /// Opens the FIFO for writing as soon as the command opened it for reading (waiting up to
    /// `timeout`), and returns the instant the command was released.
    pub fn fire(&self, timeout: Duration) -> Result<Instant> {
        let c = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes())?;
        let deadline = Instant::now() + timeout;
        let fd = loop {
            // SAFETY: valid C string; O_NONBLOCK write-open fails with ENXIO until a reader exists.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: we own this fresh fd.
                break unsafe { OwnedFd::from_raw_fd(fd) };
            }
            if Instant::now() > deadline {
                bail!(
                    "the benchmarked command never opened {} (did it start?)",
                    self.0.display()
                );
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        let t0 = Instant::now();
        // SAFETY: writing one byte from a valid buffer.
        let n = unsafe { libc::write(fd.as_raw_fd(), b"\n".as_ptr().cast(), 1) };
        if n != 1 {
            bail!(
                "cannot write the start signal: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(t0)
    }
}

/// A completion signal: the benchmarked command ends with `echo > DONE`.
pub struct Done {
    fd: OwnedFd,
}

impl Done {
    /// Opens the FIFO for reading without blocking (before the command can finish).
    pub fn open(path: &Path) -> Result<Done> {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
        // SAFETY: valid C string.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(anyhow!(
                "open {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: we own this fresh fd.
        Ok(Done {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Waits (sleeping in poll, no busy loop) until a writer wrote or came and went.
    pub fn wait(&self, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("timed out after {timeout:?}");
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
            if r > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0 {
                return Ok(Instant::now());
            }
        }
    }
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Shell-quotes one word for `sh -c`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
