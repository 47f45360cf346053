//! Cluster mode in the benchmark: three `zoho-vault` replicas on one
//! throwaway PostgreSQL, started the way the tests start theirs
//! (tests/support/pg.rs: `initdb` into a temporary directory, a server on
//! loopback, stopped when this process exits) but with durability on
//! (`fsync`, `full_page_writes`) and pg_stat_statements loaded. With the
//! run's fake Zoho it measures:
//! - token issue at 64 connections spread over the replicas (one wrk per
//!   replica, all at once, summed), next to the single-node sled figure
//!   and OpenBao's KV read from the same run;
//! - the refresh storm with its callers spread over the replicas;
//! - how long a service token revoked on one replica is still accepted by
//!   another;
//! - where the time goes: PostgreSQL statements, transactions and time
//!   per token issue, and the replicas' audit batches.

#[path = "../../tests/support/pg.rs"]
mod pg;
mod probes;
mod render;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::json;

use crate::load::{self, Request, Step, Target};
use crate::procs::Proc;
use crate::storm::Storm;
use crate::vault::{self, call, call_ok, Fake, Vault, PASSPHRASE};
use crate::{note, Options, BENCH_CONNECTIONS};

pub use render::render;

/// Replicas on the one database.
pub const REPLICAS: usize = 3;
/// Load-step labels (wrk scripts and outputs are named after them).
const LABELS: [&str; REPLICAS] = ["cluster-0", "cluster-1", "cluster-2"];
/// Revocations timed from one replica to another.
const REVOCATIONS: usize = 10;

/// What the cluster part of a run measured.
pub struct ClusterRun {
    pub postgres: String,
    /// Token issue at each measured concurrency, spread over the replicas.
    pub token: Vec<Step>,
    pub storm: Storm,
    /// From the revoking replica's answer to another replica's first 401.
    pub revocations: Vec<Duration>,
    pub time: probes::WhereTime,
    /// The database backends' states over the busiest load step (its
    /// connection count, the samples).
    pub waits: Option<(u32, probes::Waits)>,
    /// What the storm ran on PostgreSQL: (statement, calls).
    pub storm_statements: Vec<(String, i64)>,
}

/// Runs the cluster part, or says why it cannot (no PostgreSQL).
pub async fn run(
    o: &Options,
    dir: &Path,
    fake: &Fake,
) -> anyhow::Result<Result<ClusterRun, String>> {
    let bin = env!("CARGO_BIN_EXE_zoho-vault");
    run_with(o, &dir.join("cluster"), fake, bin).await
}

/// `--cluster-only`: the cluster part alone, once for each `--cluster-bin`
/// in turn (else for this build's binary), each report printed as it
/// ends: back-to-back runs for A/B ratios on a shared machine.
pub async fn only(o: &Options, dir: &Path) -> anyhow::Result<()> {
    let fake = Fake::start(env!("CARGO_BIN_EXE_fake-zoho"), dir).await?;
    let bins = if o.cluster_bins.is_empty() {
        vec![env!("CARGO_BIN_EXE_zoho-vault").to_string()]
    } else {
        o.cluster_bins.clone()
    };
    for (i, bin) in bins.iter().enumerate() {
        note(&format!(
            "cluster-only run {} of {}: {bin}",
            i + 1,
            bins.len()
        ));
        let run = run_with(o, &dir.join(format!("cluster-{i}")), &fake, bin).await?;
        println!("\n# {bin}\n{}", render(&run, &[], None, ""));
    }
    fake.proc.stop().await;
    Ok(())
}

async fn run_with(
    o: &Options,
    root: &Path,
    fake: &Fake,
    bin: &str,
) -> anyhow::Result<Result<ClusterRun, String>> {
    if std::env::var_os(pg::URL_VAR).is_none() && pg::bin_dir().is_none() {
        return Ok(Err(
            "skipped: no PostgreSQL (initdb) on the PATH or under /usr/lib/postgresql".into(),
        ));
    }
    let pg_bin = pg::bin_dir();
    let mut options = String::from("-c fsync=on -c full_page_writes=on");
    let preload = pg_bin
        .as_ref()
        .and_then(|b| b.parent())
        .is_some_and(|root| root.join("lib/pg_stat_statements.so").exists());
    if preload {
        options.push_str(" -c shared_preload_libraries=pg_stat_statements");
    }
    std::env::set_var(pg::OPTIONS_VAR, options);
    let Some(db) = pg::database().await else {
        return Ok(Err("skipped: PostgreSQL did not start".into()));
    };
    std::fs::create_dir_all(root).context("cluster directory")?;
    let admin = init(bin, root, &db.url)?;
    let mut replicas = Vec::new();
    for i in 0..REPLICAS {
        replicas.push(serve(bin, root, &db.url, i, &admin).await?);
    }
    note(&format!(
        "cluster: {REPLICAS} replicas on PostgreSQL ({}), pids {}",
        db.url,
        replicas
            .iter()
            .map(|r| r.proc.pid().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let postgres = probes::server_version(&db.url).await?;

    note("cluster: uploading the load connections and their service tokens");
    let mut requests = Vec::new();
    for i in 0..BENCH_CONNECTIONS {
        let (name, svc) = replicas[0].load_connection(fake, i).await?;
        for r in &replicas {
            r.issue(&name, &svc, &json!({})).await?;
        }
        requests.push(Request::token(&name, &svc));
    }
    let targets: Vec<Target<'_>> = replicas
        .iter()
        .zip(LABELS)
        .map(|(r, label)| Target {
            label,
            base: &r.base,
            requests: requests.clone(),
            watch_pid: None,
            expect_4xx: false,
        })
        .collect();

    note("cluster: warm-up, 2 s");
    spread(root, &targets, 16, Duration::from_secs(2)).await?;
    probes::reset_statements(&db.url).await?;
    let before = probes::Counters::read(&replicas).await?;
    let round = Duration::from_secs((o.duration.as_secs() / o.rounds as u64).max(1));
    let mut token = Vec::new();
    let mut waits = None;
    let busiest = o.conns.iter().copied().max().unwrap_or(0);
    for &conns in &o.conns {
        let sampler = (conns == busiest).then(|| {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(probes::sample_waits(db.url.clone(), stopped));
            (stop, task)
        });
        let mut rounds = Vec::new();
        for r in 0..o.rounds {
            note(&format!(
                "cluster: token issue at {conns} connections over {REPLICAS} replicas, round {} of {}, {} s",
                r + 1,
                o.rounds,
                round.as_secs()
            ));
            rounds.push(spread(root, &targets, conns, round).await?);
        }
        token.push(Step::combine(&rounds).context("no rounds")?);
        if let Some((stop, task)) = sampler {
            let _ = stop.send(());
            waits = Some((conns, task.await.context("wait sampler")??));
        }
    }
    let after = probes::Counters::read(&replicas).await?;
    let issues: u64 = token.iter().map(|s| s.requests).sum();
    let time = probes::where_time(&db.url, &before, &after, issues).await?;

    note(&format!(
        "cluster: refresh storm, {} callers over {REPLICAS} replicas, fake latency {} ms",
        o.callers, o.storm_latency_ms
    ));
    let storm = crate::storm::run(
        &replicas,
        fake,
        o.callers,
        o.storm_latency_ms,
        probes::reset_statements(&db.url),
    )
    .await?;
    let storm_statements = probes::statement_calls(&db.url).await?;
    note("cluster: revocation propagation");
    let revocations = probes::revocations(&replicas, "bench-0", REVOCATIONS).await?;

    for r in replicas {
        r.proc.stop().await;
    }
    drop(db);
    Ok(Ok(ClusterRun {
        postgres,
        token,
        storm,
        revocations,
        time,
        waits,
        storm_statements,
    }))
}

/// The settings every cluster process gets.
fn backend(cmd: &mut Command, url: &str) {
    cmd.env("ZOHO_VAULT_STORE__BACKEND", "postgres")
        .env("ZOHO_VAULT_STORE__POSTGRES__URL", url);
}

/// `zoho-vault init` on the empty database; the first admin token.
fn init(bin: &str, root: &Path, url: &str) -> anyhow::Result<String> {
    let mut cmd = vault::command(bin, root);
    cmd.arg("init")
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::null());
    backend(&mut cmd, url);
    let out = cmd.output().context("run zoho-vault init (postgres)")?;
    if !out.status.success() {
        bail!(
            "init on PostgreSQL failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("admin token: "))
        .map(|t| t.trim().to_string())
        .context("init printed no admin token")
}

/// Replica `i`: `serve`, unsealed by its passphrase, waited for until it
/// says it is unsealed.
async fn serve(bin: &str, root: &Path, url: &str, i: usize, admin: &str) -> anyhow::Result<Vault> {
    let dir: PathBuf = root.join(format!("replica-{i}"));
    std::fs::create_dir_all(&dir).context("replica directory")?;
    let mut cmd = vault::command(bin, &dir);
    cmd.arg("serve")
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .env("ZOHO_VAULT_CLUSTER__NODE_NAME", format!("replica-{i}"));
    backend(&mut cmd, url);
    let (proc, base) = Proc::spawn_server(
        "zoho-vault replica",
        &mut cmd,
        "zoho-vault listening on ",
        &dir.join("zoho-vault.log"),
    )?;
    let replica = Vault {
        proc,
        base,
        admin: admin.to_string(),
        data_dir: dir.join("data"),
        http: vault::http()?,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = call_ok(
            replica.http.get(replica.url("/v1/sys/health")),
            200,
            "replica health",
        )
        .await;
        if matches!(&health, Ok(h) if h["sealed"] == false) {
            return Ok(replica);
        }
        ensure!(
            Instant::now() < deadline,
            "replica {i} did not unseal: {health:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One load step of `conns` connections split over the targets, all at
/// once: requests and rates summed, each percentile the worst replica's.
async fn spread(
    dir: &Path,
    targets: &[Target<'_>],
    conns: u32,
    d: Duration,
) -> anyhow::Result<Step> {
    let n = targets.len() as u32;
    // Below one connection per replica, the first replicas get one each.
    let runs = targets.iter().enumerate().filter_map(|(i, t)| {
        let share = conns / n + u32::from((i as u32) < conns % n);
        (share > 0).then(|| load::run(dir, t, share, d))
    });
    let steps = futures_util::future::try_join_all(runs).await?;
    let worst = |f: fn(&Step) -> f64| steps.iter().map(f).fold(0.0, f64::max);
    let requests: u64 = steps.iter().map(|s| s.requests).sum();
    let secs = worst(|s| s.secs);
    Ok(Step {
        conns,
        requests,
        secs,
        rps: steps.iter().map(|s| s.rps).sum(),
        p50_us: worst(|s| s.p50_us),
        p99_us: worst(|s| s.p99_us),
        p999_us: worst(|s| s.p999_us),
        errors: steps.iter().map(|s| s.errors).sum(),
        rss_peak_kib: None,
    })
}

/// `POST /v1/service-tokens` on `r`; answers (id, token).
async fn service_token(
    r: &Vault,
    name: &str,
    connections: &[&str],
) -> anyhow::Result<(String, String)> {
    let body = call_ok(
        r.http
            .post(r.url("/v1/service-tokens"))
            .bearer_auth(&r.admin)
            .json(&json!({"name": name, "connections": connections})),
        201,
        "create a service token",
    )
    .await?;
    let field = |f: &str| {
        body[f]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no {f} in {body}"))
    };
    Ok((field("id")?, field("token")?))
}

/// A token issue on `r` with `token`; the status only.
async fn issue_status(r: &Vault, name: &str, token: &str) -> anyhow::Result<u16> {
    let (status, _) = call(
        r.http
            .post(r.url(&format!("/v1/connections/{name}/token")))
            .bearer_auth(token)
            .json(&json!({})),
    )
    .await?;
    Ok(status)
}
