//! `make bench-verify`: how fast the embedded audit trail verifies.
//!
//! ```sh
//! verify_trail write DIR [EVENTS]    # a trail of EVENTS (default 1,000,000)
//! verify_trail verify DIR [ROUNDS]   # verify it ROUNDS times (default 3)
//! ```
//!
//! `write` appends `token_issued` events (the common event, with its usual
//! details) through the real segment log, in durable batches of 4,096, to
//! `DIR/audit-log`. `verify` opens `DIR` as the vault does and runs the
//! same verify as `GET /v1/audit/verify`, printing events per second for
//! each round. The chain key is fixed, so a binary built from another
//! commit verifies the same trail: run two builds back to back on one
//! trail for an A/B ratio (absolute figures on a shared machine mean
//! little).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zoho_vault::audit::chain::{chain_event_with, verify_store, ChainKey, RecordHasher};
use zoho_vault::audit::log::{EmbeddedAuditStore, SegmentLog, LOG_DIR};
use zoho_vault::audit::{AuditEvent, RequestContext, TokenSource};
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
    let mut prev = String::from("genesis");
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

async fn verify(dir: &Path, rounds: u32) -> anyhow::Result<()> {
    let store = AsyncStore::new(Arc::new(SledStore::open(dir)?));
    let trail = EmbeddedAuditStore::open(dir, store)?;
    let key: Arc<dyn ChainKey> = Arc::new(BenchKey);
    for round in 1..=rounds {
        let started = Instant::now();
        let report = verify_store(&trail, Arc::clone(&key)).await?;
        let took = started.elapsed();
        if !report.ok {
            bail!("the trail does not verify: {:?}", report.broken);
        }
        println!(
            "round {round}: {} events in {:.1} ms = {:.0} events/s",
            report.count,
            took.as_secs_f64() * 1e3,
            report.count as f64 / took.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: verify_trail write DIR [EVENTS] | verify DIR [ROUNDS]";
    let (cmd, dir) = match (args.first(), args.get(1)) {
        (Some(c), Some(d)) => (c.as_str(), Path::new(d)),
        _ => bail!(usage),
    };
    let n = args.get(2).map(|s| s.parse::<u64>()).transpose();
    let n = n.context("the count must be a number")?;
    match cmd {
        "write" => write(dir, n.unwrap_or(1_000_000)),
        "verify" => verify(dir, n.unwrap_or(3) as u32).await,
        _ => bail!(usage),
    }
}
