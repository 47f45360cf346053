//! `make bench-verify`: how fast the embedded audit trail verifies.
//!
//! ```sh
//! verify_trail write DIR [EVENTS]    # a trail of EVENTS (default 1,000,000)
//! verify_trail verify DIR [ROUNDS]   # verify it ROUNDS times (default 3)
//! verify_trail verify DIR 1 b        # only B (for callgrind / perf)
//! ```
//!
//! `write` appends `token_issued` events (the common event, with its usual
//! details) through the real segment log, in durable batches of 4,096, to
//! `DIR/audit-log`. `verify` opens `DIR` as the vault does and runs the
//! same verify as `GET /v1/audit/verify`, each round twice back to back:
//! A without the sweep (canonical pages read on one thread, hashed on
//! every core, links checked event by event: the previous release's path)
//! and B as the vault does it (the sweep), printing events per second, CPU
//! per event and B/A. Absolute figures on a shared machine mean little;
//! the ratio from one run does. The chain key is fixed, so another build
//! verifies the same trail.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zoho_vault::audit::chain::{chain_event_with, verify_store, ChainKey, RecordHasher};
use zoho_vault::audit::log::canonical::CanonicalPage;
use zoho_vault::audit::log::{EmbeddedAuditStore, SegmentLog, SignedCheckpoint, LOG_DIR};
use zoho_vault::audit::{
    AuditError, AuditEvent, AuditRecord, AuditStore, Batch, Checkpoint, Page, Query,
    RequestContext, TokenSource,
};
use zoho_vault::auth::Principal;
use zoho_vault::crypto::token::TokenKind;
use zoho_vault::store::sled::SledStore;
use zoho_vault::store::AsyncStore;

/// A fixed chain key: only this example's trails are hashed with it.
struct BenchKey;

const KEY: &[u8] = b"verify_trail example key, not a vault's";

impl ChainKey for BenchKey {
    fn chain_mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed().expect("keyed");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn keyed(&self) -> Option<Hmac<Sha256>> {
        Some(<Hmac<Sha256> as Mac>::new_from_slice(KEY).expect("any key length"))
    }
}

const BATCH: u64 = 4096;

fn write(dir: &Path, events: u64) -> anyhow::Result<()> {
    let log_dir = dir.join(LOG_DIR);
    if log_dir.exists() {
        bail!("{} already holds a trail", log_dir.display());
    }
    let log = SegmentLog::open(&log_dir)?;
    let key = BenchKey;
    let mut hasher = RecordHasher::new(&key);
    let services: Vec<Principal> = (0..64)
        .map(|i| Principal {
            token_id: format!("tok{i:04}"),
            name: format!("billing worker {i}"),
            kind: TokenKind::Service,
            connections: vec!["*".into()],
            access: Default::default(),
            proxy_paths: Vec::new(),
        })
        .collect();
    let mut prev = zoho_vault::audit::keys::GENESIS.to_string();
    let started = Instant::now();
    let mut seq = 1;
    while seq <= events {
        let last = (seq + BATCH - 1).min(events);
        let mut records = Vec::with_capacity((last - seq + 1) as usize);
        for s in seq..=last {
            let who = &services[(s % 64) as usize];
            let ctx = RequestContext {
                request_id: Some(format!("req-{s:016x}")),
                source: Some(format!("10.0.{}.{}", s % 7, s % 251)),
                channel: None,
            };
            let event = AuditEvent::token_issued(
                who,
                &format!("books-{}", s % 16),
                if s % 10 == 0 {
                    TokenSource::Refreshed
                } else {
                    TokenSource::Cached
                },
                time::OffsetDateTime::now_utc() + time::Duration::minutes(55),
                &format!("{:016x}", s.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                &ctx,
            );
            let record = chain_event_with(&mut hasher, s, event, prev);
            prev = record.hash.clone();
            records.push(record);
        }
        log.append(&records, None)?;
        seq = last + 1;
    }
    println!(
        "wrote {events} events ({} bytes of segments) in {:.1} s",
        log.bytes(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The embedded store without the sweep (A).
struct Careful(EmbeddedAuditStore);

#[async_trait]
impl AuditStore for Careful {
    async fn head(&self) -> Result<Checkpoint, AuditError> {
        self.0.head().await
    }
    async fn append(&self, batch: Batch) -> Result<(), AuditError> {
        self.0.append(batch).await
    }
    async fn scan(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        self.0.scan(from, limit).await
    }
    async fn scan_canonical(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Option<CanonicalPage>, AuditError> {
        self.0.scan_canonical(from, limit).await
    }
    async fn query(&self, query: &Query) -> Result<Page, AuditError> {
        self.0.query(query).await
    }
    async fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, AuditError> {
        self.0.checkpoint().await
    }
    async fn prune(&self, checkpoint: SignedCheckpoint) -> Result<usize, AuditError> {
        self.0.prune(checkpoint).await
    }
    async fn append_pending(&self, events: Vec<AuditEvent>) -> Result<(), AuditError> {
        self.0.append_pending(events).await
    }
    async fn pending(&self) -> Result<Vec<(u64, AuditEvent)>, AuditError> {
        self.0.pending().await
    }
}

/// CPU time of this process so far (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or_default();
    rest.split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 100.0
}

/// Events per second of one verify.
async fn timed(name: &str, trail: &dyn AuditStore, key: &Arc<dyn ChainKey>) -> anyhow::Result<f64> {
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let report = verify_store(trail, Arc::clone(key)).await?;
    let (cpu, took) = (cpu_seconds() - cpu, started.elapsed().as_secs_f64());
    if !report.ok {
        bail!("the trail does not verify: {:?}", report.broken);
    }
    let rate = report.count as f64 / took.max(1e-9);
    println!(
        "  {name}: {} events in {:.1} ms = {rate:.0} events/s, {:.2} us CPU/event",
        report.count,
        took * 1e3,
        cpu * 1e6 / report.count.max(1) as f64
    );
    Ok(rate)
}

async fn verify(dir: &Path, rounds: u32, only: Option<&str>) -> anyhow::Result<()> {
    let open = || -> anyhow::Result<EmbeddedAuditStore> {
        let store = AsyncStore::new(Arc::new(SledStore::open(dir)?));
        Ok(EmbeddedAuditStore::open(dir, store)?)
    };
    let sweep = open()?;
    let careful = Careful(EmbeddedAuditStore::with_log(Arc::clone(sweep.log()), {
        AsyncStore::new(Arc::new(SledStore::open(&dir.join("careful-store"))?))
    }));
    let key: Arc<dyn ChainKey> = Arc::new(BenchKey);
    for round in 1..=rounds {
        println!("round {round}");
        match only {
            Some("a") => {
                timed("A careful pages", &careful, &key).await?;
            }
            Some("b") => {
                timed("B sweep", &sweep, &key).await?;
            }
            _ => {
                let a = timed("A careful pages", &careful, &key).await?;
                let b = timed("B sweep", &sweep, &key).await?;
                println!("  B/A = {:.2}x", b / a);
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: verify_trail write DIR [EVENTS] | verify DIR [ROUNDS] [a|b]";
    let (cmd, dir) = match (args.first(), args.get(1)) {
        (Some(c), Some(d)) => (c.as_str(), Path::new(d)),
        _ => bail!(usage),
    };
    let n = args.get(2).map(|s| s.parse::<u64>()).transpose();
    let n = n.context("the count must be a number")?;
    match cmd {
        "write" => write(dir, n.unwrap_or(1_000_000)),
        "verify" => verify(dir, n.unwrap_or(3) as u32, args.get(3).map(String::as_str)).await,
        _ => bail!(usage),
    }
}
