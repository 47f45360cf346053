//! The cluster figures besides throughput and the storm (which is
//! `storm::run` over all replicas): the revocation delay between replicas,
//! and where an issue's time goes in PostgreSQL and in the replicas' audit
//! batches.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use sqlx::Connection;

use super::{issue_status, service_token};
use crate::vault::{call_ok, Vault};

/// `SELECT version()`, shortened to "PostgreSQL N.N".
pub async fn server_version(url: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(url).await.context("connect")?;
    let v: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(&mut conn)
        .await
        .context("version")?;
    Ok(v.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
}

/// `rounds` times: a service token used on replica B (so B has verified
/// and cached it), revoked on replica A, then B asked every 2 ms until it
/// refuses; each time from A's answer to B's first 401. The polling adds
/// up to one round trip.
pub async fn revocations(
    replicas: &[Vault],
    connection: &str,
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    let a = &replicas[0];
    let mut times = Vec::new();
    for k in 0..rounds {
        let b = &replicas[1 + k % (replicas.len() - 1)];
        let (id, token) = service_token(a, &format!("revoked {k}"), &[connection]).await?;
        ensure!(
            issue_status(b, connection, &token).await? == 200,
            "issue before revocation"
        );
        call_ok(
            a.http
                .delete(a.url(&format!("/v1/service-tokens/{id}")))
                .bearer_auth(&a.admin),
            200,
            "revoke",
        )
        .await?;
        let revoked = Instant::now();
        loop {
            match issue_status(b, connection, &token).await? {
                401 => break,
                200 => {}
                other => anyhow::bail!("issue after revocation answered {other}"),
            }
            ensure!(
                revoked.elapsed() < Duration::from_secs(30),
                "a revoked token still works on another replica after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        times.push(revoked.elapsed());
    }
    Ok(times)
}

/// Cumulative counters read before and after the load.
pub struct Counters {
    /// Audit batch writes and their total seconds, summed over replicas.
    flushes: f64,
    flush_secs: f64,
}

/// Starts pg_stat_statements afresh (when the module is loaded; it
/// counts at once, unlike pg_stat_database's per-backend flushes).
pub async fn reset_statements(url: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await.context("connect")?;
    let _ = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&mut conn)
        .await;
    let _ = sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(&mut conn)
        .await;
    Ok(())
}

impl Counters {
    pub async fn read(replicas: &[Vault]) -> anyhow::Result<Counters> {
        let (mut flushes, mut flush_secs) = (0.0, 0.0);
        for r in replicas {
            let text = r
                .http
                .get(r.url("/metrics"))
                .send()
                .await
                .context("metrics")?
                .text()
                .await
                .context("metrics")?;
            let value = |name: &str| -> f64 {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
                    .unwrap_or(0.0)
            };
            flushes += value("zoho_vault_audit_flush_seconds_count");
            flush_secs += value("zoho_vault_audit_flush_seconds_sum");
        }
        Ok(Counters {
            flushes,
            flush_secs,
        })
    }
}

/// pg_stat_statements over the load, per token issue.
pub struct Statements {
    pub per_issue: f64,
    /// Explicit transactions (`BEGIN`) per issue.
    pub transactions_per_issue: f64,
    /// Server execution time per issue, ms.
    pub ms_per_issue: f64,
    /// The busiest statements: (text, calls per issue, mean ms).
    pub top: Vec<(String, f64, f64)>,
}

/// Where an issue's time goes.
pub struct WhereTime {
    pub issues: u64,
    pub flushes: f64,
    pub mean_flush_ms: f64,
    /// From pg_stat_statements, when loaded: statements per issue,
    /// server time per issue (ms), and the busiest statements as (text,
    /// calls per issue, mean ms).
    pub statements: Option<Statements>,
}

pub async fn where_time(
    url: &str,
    before: &Counters,
    after: &Counters,
    issues: u64,
) -> anyhow::Result<WhereTime> {
    let per = |x: f64| x / issues.max(1) as f64;
    let flushes = after.flushes - before.flushes;
    let mut conn = sqlx::PgConnection::connect(url).await.context("connect")?;
    let rows: Result<Vec<(String, i64, f64)>, _> = sqlx::query_as(
        "SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, total_exec_time \
         FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND query NOT LIKE '%pg_stat_statements%' \
         ORDER BY total_exec_time DESC",
    )
    .fetch_all(&mut conn)
    .await;
    let statements = rows.ok().filter(|r| !r.is_empty()).map(|rows| {
        let calls: i64 = rows.iter().map(|r| r.1).sum();
        let ms: f64 = rows.iter().map(|r| r.2).sum();
        let begins: i64 = rows
            .iter()
            .filter(|r| r.0.trim().eq_ignore_ascii_case("begin"))
            .map(|r| r.1)
            .sum();
        let top = rows
            .iter()
            .take(6)
            .map(|(q, c, t)| {
                let q: String = q.chars().take(90).collect();
                (q, per(*c as f64), t / (*c).max(1) as f64)
            })
            .collect();
        Statements {
            per_issue: per(calls as f64),
            transactions_per_issue: per(begins as f64),
            ms_per_issue: per(ms),
            top,
        }
    });
    Ok(WhereTime {
        issues,
        flushes,
        mean_flush_ms: 1000.0 * (after.flush_secs - before.flush_secs) / flushes.max(1.0),
        statements,
    })
}

/// What the replicas' PostgreSQL backends were doing, sampled over a load
/// step: the share of busy samples in each state.
#[derive(Default, Clone, Copy)]
pub struct Waits {
    pub samples: u64,
    /// Waiting for another transaction's row lock (the chain head).
    pub lock: u64,
    /// Writing or flushing WAL (a commit), or waiting for the backend
    /// that does.
    pub wal: u64,
    /// Running (on a CPU, or waiting for one).
    pub running: u64,
    /// Inside a transaction, waiting for the replica's next statement.
    pub client: u64,
    /// Anything else (other waits).
    pub other: u64,
}

impl Waits {
    fn busy(&self) -> u64 {
        self.lock + self.wal + self.running + self.client + self.other
    }

    /// The share of busy backend samples in `n`, percent.
    pub fn share(&self, n: u64) -> f64 {
        100.0 * n as f64 / self.busy().max(1) as f64
    }
}

/// Samples `pg_stat_activity` of the run's database every 10 ms until
/// `stop` fires (one connection of its own; its own row left out).
pub async fn sample_waits(
    url: String,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<Waits> {
    let mut conn = sqlx::PgConnection::connect(&url).await.context("connect")?;
    let mut w = Waits::default();
    loop {
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity \
             WHERE datname = current_database() AND backend_type = 'client backend' \
               AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'",
        )
        .fetch_all(&mut conn)
        .await
        .context("pg_stat_activity")?;
        w.samples += 1;
        for (state, kind, event) in rows {
            let (kind, event) = (kind.unwrap_or_default(), event.unwrap_or_default());
            match (state.as_deref(), kind.as_str(), event.as_str()) {
                (Some("idle in transaction"), _, _) => w.client += 1,
                (_, "Lock", _) => w.lock += 1,
                (_, "IO", e) | (_, "LWLock", e) if e.starts_with("WAL") => w.wal += 1,
                (_, "", _) => w.running += 1,
                // The listening connections wait for notifications.
                (_, "Client", "ClientRead") => {}
                _ => w.other += 1,
            }
        }
        tokio::select! {
            _ = &mut stop => return Ok(w),
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
}

/// The statements PostgreSQL ran since the last reset, by calls: (text,
/// calls), most called first (empty without pg_stat_statements).
pub async fn statement_calls(url: &str) -> anyhow::Result<Vec<(String, i64)>> {
    let mut conn = sqlx::PgConnection::connect(url).await.context("connect")?;
    let rows: Result<Vec<(String, i64)>, _> = sqlx::query_as(
        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 70), calls \
         FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND query NOT LIKE '%pg_stat_statements%' \
         ORDER BY calls DESC LIMIT 8",
    )
    .fetch_all(&mut conn)
    .await;
    Ok(rows.unwrap_or_default())
}
