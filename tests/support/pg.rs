//! PostgreSQL for the tests: one database per test, on a real server.
//!
//! The server is `ZOHO_VAULT_TEST_DATABASE_URL` when set (a URL whose user
//! may create databases), otherwise a throwaway cluster this process starts
//! from the PostgreSQL binaries on the PATH or under
//! `/usr/lib/postgresql/*/bin`: `initdb` into a temporary directory, then a
//! server on a free loopback port (as the `postgres` system user when
//! running as root, since PostgreSQL refuses to run as root). A test binary
//! has no global teardown, so a small reaper process holds the read end of
//! a pipe whose write end only this process has: when the process exits,
//! however it exits, the pipe closes and the reaper stops the server and
//! removes the directory.
//!
//! When neither is possible, [`database`] prints one loud line saying why
//! and returns `None` (the caller skips); with `ZOHO_VAULT_REQUIRE_POSTGRES=1`
//! it panics instead. With `ZOHO_VAULT_PG_TEST_LOG=FILE`, every test that
//! got a database appends its name to FILE, so CI can show how many ran.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once, OnceLock};

use sqlx::Connection;

/// An external server for the tests.
pub const URL_VAR: &str = "ZOHO_VAULT_TEST_DATABASE_URL";
/// `1`: a missing PostgreSQL fails the tests instead of skipping them.
pub const REQUIRE_VAR: &str = "ZOHO_VAULT_REQUIRE_POSTGRES";
/// A file each test that ran against PostgreSQL appends its name to.
pub const LOG_VAR: &str = "ZOHO_VAULT_PG_TEST_LOG";
/// Extra `-c name=value` options for a throwaway server (the benchmark
/// turns durability back on and loads pg_stat_statements).
pub const OPTIONS_VAR: &str = "ZOHO_VAULT_PG_SERVER_OPTIONS";

/// The server every test database of this process lives on.
struct Server {
    /// URL of a database the tests' user can connect to, to create others.
    admin_url: url::Url,
    /// Directory of the PostgreSQL client tools (pg_dump), if known.
    bin_dir: Option<PathBuf>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
/// The reaper's pipe; never dropped, so it closes only at process exit.
static REAPER: Mutex<Option<(Child, ChildStdin)>> = Mutex::new(None);
static SKIP_NOTICE: Once = Once::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);
/// CREATE DATABASE copies template1, which must have no other users:
/// creations are serialized.
static CREATE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A database of its own for one test, dropped when this is dropped.
pub struct TestDb {
    /// Connection URL of the test's database.
    pub url: String,
    name: String,
    admin_url: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any async context we may block: a thread of
        // its own with a small runtime does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A fresh, empty database for the calling test, or `None` (after one loud
/// line on stderr) when no PostgreSQL is available and none is required.
pub async fn database() -> Option<TestDb> {
    let server = match SERVER.get_or_init(start_server) {
        Ok(server) => server,
        Err(why) => {
            skip(why);
            return None;
        }
    };
    let name = format!(
        "zvt_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    {
        let _one_at_a_time = CREATE_LOCK.lock().await;
        let mut conn = sqlx::PgConnection::connect(server.admin_url.as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = conn.close().await;
    }
    let mut url = server.admin_url.clone();
    url.set_path(&name);
    note_ran();
    Some(TestDb {
        url: url.to_string(),
        name,
        admin_url: server.admin_url.to_string(),
    })
}

/// Path of a PostgreSQL client tool such as `pg_dump`, from the same
/// installation as the server when this process started it.
pub fn tool(name: &str) -> Option<PathBuf> {
    if let Some(Ok(Server {
        bin_dir: Some(dir), ..
    })) = SERVER.get()
    {
        let path = dir.join(name);
        if path.exists() {
            return Some(path);
        }
    }
    bin_dir().map(|d| d.join(name)).filter(|p| p.exists())
}

fn skip(why: &str) {
    if std::env::var(REQUIRE_VAR).as_deref() == Ok("1") {
        panic!("PostgreSQL is required ({REQUIRE_VAR}=1) but unavailable: {why}");
    }
    SKIP_NOTICE.call_once(|| {
        // Straight to the process's stderr: the test harness captures
        // `eprintln!` of passing tests, and this line must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!! PostgreSQL tests SKIPPED: {why}. Set {URL_VAR} or install PostgreSQL (initdb) to run them. !!!!!\n"
        );
    });
}

fn note_ran() {
    let Ok(path) = std::env::var(LOG_VAR) else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{test}");
    }
}

/// Directory holding `initdb`, `pg_ctl` and `postgres`: the PATH first,
/// then the newest `/usr/lib/postgresql/*/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    let has_all = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|t| d.join(t).exists())
    };
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let initdb = dir.join("initdb");
            if initdb.exists() {
                // A symlink (Debian's /usr/local/bin shims) points at the
                // real installation, which also has pg_dump.
                let real = std::fs::canonicalize(&initdb).ok()?;
                let real_dir = real.parent()?.to_path_buf();
                if has_all(&real_dir) {
                    return Some(real_dir);
                }
                if has_all(&dir) {
                    return Some(dir);
                }
            }
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, dir)| dir)
}

fn start_server() -> Result<Server, String> {
    if let Ok(url) = std::env::var(URL_VAR) {
        let admin_url =
            url::Url::parse(&url).map_err(|_| format!("{URL_VAR} is not a valid URL"))?;
        return Ok(Server {
            admin_url,
            bin_dir: bin_dir(),
        });
    }
    let bin = bin_dir().ok_or_else(|| {
        format!("{URL_VAR} is unset and no initdb was found on the PATH or under /usr/lib/postgresql/*/bin")
    })?;
    let cluster = Cluster::new(&bin)?;
    let mut last_error = String::new();
    // A free port may be taken between finding it and the server binding
    // it: try a few.
    for _ in 0..3 {
        let port = free_port()?;
        match cluster.start(port) {
            Ok(()) => {
                let admin_url =
                    url::Url::parse(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
                        .map_err(|e| e.to_string())?;
                return Ok(Server {
                    admin_url,
                    bin_dir: Some(bin),
                });
            }
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// A throwaway cluster in a temporary directory.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
}

impl Cluster {
    fn new(bin: &Path) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("zoho-vault-pg-")
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}"))?
            .keep();
        // PostgreSQL refuses to run as root: run it as the postgres user.
        let as_postgres = is_root();
        let cluster = Self {
            bin: bin.to_path_buf(),
            dir,
            as_postgres,
        };
        if as_postgres {
            let ok = Command::new("chown")
                .arg("postgres:")
                .arg(&cluster.dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                return Err("running as root and cannot hand the cluster directory to the postgres user (is there one?)".into());
            }
        }
        cluster.spawn_reaper()?;
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        Ok(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn start(&self, port: u16) -> Result<(), String> {
        // Later `-c` options win, so the extra ones can undo these.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} \
             -c fsync=off -c full_page_writes=off -c max_connections=300 {}",
            self.dir.display(),
            std::env::var(OPTIONS_VAR).unwrap_or_default()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}; server log: {}", tail.trim())
        })
    }

    /// Runs a PostgreSQL tool, as the postgres user when needed.
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Starts the process that stops the server and removes the directory
    /// once this process is gone (its stdin reaches end of file).
    fn spawn_reaper(&self) -> Result<(), String> {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            "runuser -u postgres -- \"$1\" -D \"$2/data\" -m immediate stop"
        } else {
            "\"$1\" -D \"$2/data\" -m immediate stop"
        };
        // Ignores the terminal's signals so a ^C still gets the cleanup.
        let script = format!("trap '' INT TERM HUP; cat >/dev/null; {stop}; rm -rf \"$2\"");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("reaper")
            .arg(&pg_ctl)
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the cleanup process: {e}"))?;
        let stdin = child
            .stdin
            .take()
            .ok_or("the cleanup process has no stdin")?;
        *REAPER.lock().map_err(|_| "reaper lock poisoned")? = Some((child, stdin));
        Ok(())
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}
