//! The figures that are not load steps: the disk's fsync latency, the
//! import of many connections (for resident memory), and the audit trail's
//! verification speed and event size when the tree has the audit routes.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use futures_util::StreamExt;
use serde_json::json;

use crate::vault::{call, Fake, Vault};

/// Write-plus-fsync latency of the disk holding the data directory.
#[derive(Debug, Clone, Copy)]
pub struct Fsync {
    pub samples: usize,
    pub median: Duration,
    pub p99: Duration,
}

/// Appends a 300-byte record and fsyncs it, `samples` times.
pub fn fsync(dir: &Path, samples: usize) -> anyhow::Result<Fsync> {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .context("fsync probe file")?;
    let record = [b'x'; 300];
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        file.write_all(&record).context("write")?;
        file.sync_all().context("fsync")?;
        times.push(started.elapsed());
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    times.sort();
    Ok(Fsync {
        samples,
        median: times[times.len() / 2],
        p99: times[(times.len() * 99 / 100).min(times.len() - 1)],
    })
}

/// Imports `count` connections (`bulk-00000`, ...) from refresh tokens the
/// fake mints directly, `parallel` at a time. Returns the time taken.
pub async fn import_connections(
    vault: &Vault,
    fake: &Fake,
    count: usize,
    parallel: usize,
) -> anyhow::Result<Duration> {
    // All refresh tokens belong to one (user, client); Zoho keeps 20, the
    // fake can keep them all.
    fake.config(json!({"refresh_token_cap": count + 100}))
        .await?;
    let started = Instant::now();
    let mut uploads = futures_util::stream::iter(0..count)
        .map(|i| async move {
            let body = fake.refresh_token_upload().await?;
            vault.put_connection(&format!("bulk-{i:05}"), &body).await
        })
        .buffer_unordered(parallel);
    while let Some(done) = uploads.next().await {
        done?;
    }
    Ok(started.elapsed())
}

/// Audit figures, or why there are none.
#[derive(Debug, Clone)]
pub enum Audit {
    /// `GET /v1/audit/verify` is not in this tree.
    Pending,
    Measured {
        events: u64,
        verify: Duration,
        /// Mean size of a `token_issued` event as an export JSON line.
        token_issued_bytes: Option<f64>,
    },
}

/// Times `GET /v1/audit/verify` and samples the export's event size.
pub async fn audit(vault: &Vault) -> anyhow::Result<Audit> {
    let started = Instant::now();
    let (status, report) = call(
        vault
            .http
            .get(vault.url("/v1/audit/verify"))
            .bearer_auth(&vault.admin)
            .timeout(Duration::from_secs(300)),
    )
    .await?;
    let verify = started.elapsed();
    if status == 404 || status == 405 {
        return Ok(Audit::Pending);
    }
    ensure!(status == 200, "audit verify: HTTP {status} {report}");
    ensure!(
        report["ok"] == true,
        "the audit chain does not verify: {report}"
    );
    let events = report["count"].as_u64().context("no count in the report")?;
    let head = report["head_seq"].as_u64().unwrap_or(events);
    // The newest events: after a run, almost all `token_issued`.
    let resp = vault
        .http
        .get(vault.url(&format!(
            "/v1/audit/export?after={}&limit=1000",
            head.saturating_sub(1000)
        )))
        .bearer_auth(&vault.admin)
        .send()
        .await
        .context("audit export")?;
    let token_issued_bytes = if resp.status().is_success() {
        let text = resp.text().await.context("export body")?;
        let sizes: Vec<usize> = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|v| v["action"] == "token_issued")
            })
            .map(|l| l.len() + 1)
            .collect();
        (!sizes.is_empty()).then(|| sizes.iter().sum::<usize>() as f64 / sizes.len() as f64)
    } else {
        None
    };
    Ok(Audit::Measured {
        events,
        verify,
        token_issued_bytes,
    })
}

/// The trail's head and what the data directory holds at one moment, so
/// the load steps' growth can be divided by the events they wrote.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    /// Newest event's seq.
    pub head_seq: u64,
    /// Bytes of the whole data directory.
    pub data_dir: u64,
    /// Bytes of the audit log's segment files (`audit-log/`).
    pub audit_log: u64,
}

/// Reads the head seq (`GET /v1/audit?limit=1`, newest first) and sizes.
pub async fn footprint(vault: &Vault) -> anyhow::Result<Footprint> {
    let (status, page) = call(
        vault
            .http
            .get(vault.url("/v1/audit?limit=1"))
            .bearer_auth(&vault.admin),
    )
    .await?;
    ensure!(status == 200, "audit query: HTTP {status} {page}");
    let head_seq = page["events"][0]["seq"]
        .as_u64()
        .context("no newest event")?;
    Ok(Footprint {
        head_seq,
        data_dir: crate::dir_bytes(&vault.data_dir),
        audit_log: crate::dir_bytes(&vault.data_dir.join("audit-log")),
    })
}

/// Bytes per event between two footprints: (whole data directory, audit
/// log), or `None` when no event was written.
pub fn growth_per_event(before: &Footprint, after: &Footprint) -> Option<(f64, f64)> {
    let events = after.head_seq.checked_sub(before.head_seq)?;
    (events > 0).then(|| {
        let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / events as f64;
        (
            per(after.data_dir, before.data_dir),
            per(after.audit_log, before.audit_log),
        )
    })
}
