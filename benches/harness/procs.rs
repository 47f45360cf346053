//! The processes the harness starts, and only those: each child is kept in a
//! registry by PID so that a normal end, an error and Ctrl-C (or SIGTERM)
//! all stop exactly what this run started, never anything by name.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context};

fn registry() -> &'static Mutex<HashMap<u32, Child>> {
    static REGISTRY: OnceLock<Mutex<HashMap<u32, Child>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

fn run_dir() -> &'static Mutex<Option<PathBuf>> {
    static DIR: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    DIR.get_or_init(|| Mutex::new(None))
}

/// Remembers the run's temporary directory, for removal after a signal
/// (the normal paths remove it through its `TempDir`).
pub fn set_run_dir(path: &Path) {
    *run_dir().lock().unwrap_or_else(|p| p.into_inner()) = Some(path.to_path_buf());
}

/// Kills (SIGKILL) and reaps every child still registered.
pub fn kill_all() {
    let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    for (_, mut child) in reg.drain() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// On SIGINT or SIGTERM: stop our children, remove the run directory, exit.
pub fn stop_on_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("\nbench: interrupted; stopping the processes this run started");
        kill_all();
        let dir = run_dir().lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(130);
    });
    Ok(())
}

/// A child process owned by the registry; dropping it kills it.
pub struct Proc {
    pid: u32,
    name: &'static str,
}

impl Proc {
    /// Spawns `cmd` (stdin closed) and registers it.
    pub fn spawn(name: &'static str, cmd: &mut Command) -> anyhow::Result<Proc> {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let pid = child.id();
        registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid, child);
        Ok(Proc { pid, name })
    }

    /// Spawns a server whose stdout announces `<prefix>http://ADDR`; returns
    /// it with the base URL. stderr goes to `log`.
    pub fn spawn_server(
        name: &'static str,
        cmd: &mut Command,
        prefix: &'static str,
        log: &Path,
    ) -> anyhow::Result<(Proc, String)> {
        let stderr = std::fs::File::create(log).context("log file")?;
        cmd.stdout(Stdio::piped()).stderr(stderr);
        let proc = Proc::spawn(name, cmd)?;
        let stdout = {
            let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
            reg.get_mut(&proc.pid).and_then(|c| c.stdout.take())
        }
        .context("child stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            // Keep reading so the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(addr) = line.strip_prefix(prefix) {
                        let _ = tx.send(addr.trim().to_string());
                        sent = true;
                    }
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Ok((proc, base)),
            Err(_) => {
                drop(proc);
                let log = std::fs::read_to_string(log).unwrap_or_default();
                bail!("{name} did not announce its address; its log:\n{log}")
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the child to exit (polling, so Ctrl-C can still kill it).
    pub async fn wait(self) -> anyhow::Result<std::process::ExitStatus> {
        loop {
            {
                let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
                let child = reg.get_mut(&self.pid).context("child vanished")?;
                if let Some(status) = child.try_wait().context("wait")? {
                    reg.remove(&self.pid);
                    return Ok(status);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then up to 10 s for a clean exit, then SIGKILL.
    pub async fn stop(self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let exited = {
                let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
                match reg.get_mut(&self.pid).map(|c| c.try_wait()) {
                    Some(Ok(None)) => false,
                    Some(_) => {
                        reg.remove(&self.pid);
                        true
                    }
                    None => true,
                }
            };
            if exited || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Drop kills it if it is still there.
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let child = registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.pid);
        if let Some(mut child) = child {
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// Resident memory of a process in KiB (`VmRSS` in `/proc/PID/status`).
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
