//! Pane holders (`quil-holder <socket>`) of a quil home, found in /proc: the tests kill them to
//! play a reboot, and kill what a test's killed daemon left so nothing outlives it.

use std::path::Path;

/// The live holders whose socket is under `home`.
pub fn holder_pids(home: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let home = home.as_os_str().as_encoded_bytes();
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"quil-holder"))
                && args.get(1).is_some_and(|s| s.starts_with(home))
        })
        .filter(|pid| alive(*pid))
        .collect()
}

/// SIGKILLs every holder of `home` and waits (up to 5 s) for them to be gone.
pub fn kill_holders(home: &Path) {
    let pids = holder_pids(home);
    for pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Running: not gone, and not a zombie (which still answers kill(0)).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.split(") ")
            .nth(1)
            .is_some_and(|rest| rest.starts_with('Z'))
    })
}
