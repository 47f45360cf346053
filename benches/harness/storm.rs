//! The refresh storm: many callers at once ask for a token whose cached copy
//! cannot meet their demand, while Zoho (the fake) answers slowly. The vault
//! must refresh once and answer everyone with that one token.
//!
//! The stale cache is made honestly: the connection is uploaded while the
//! fake mints 3000-second tokens (cached for 3000 s minus the vault's 60 s
//! margin), then the fake goes back to 3600 s and the callers demand
//! `min_valid_secs: 3000`, which only a refresh can meet.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::json;

use crate::vault::{call, Fake, Vault};

/// What the storm measured.
#[derive(Debug, Clone)]
pub struct Storm {
    pub callers: usize,
    pub fake_latency_ms: u64,
    /// Successful upstream refreshes during the storm.
    pub refreshes: u64,
    /// From the first request sent to the last answer received.
    pub last_answer: Duration,
    /// Median caller's wait.
    pub median_answer: Duration,
    /// Callers that got anything but 200.
    pub failures: usize,
    /// Distinct access tokens handed out (1 when all share the refresh).
    pub distinct_tokens: usize,
}

/// The storm on `vaults` (one server, or the replicas of a cluster), with
/// caller `i` on `vaults[i % n]`; the connection and the service token are
/// made through the first. `ready` runs after the callers' connections are
/// open, right before the storm (the cluster resets its statement counts
/// there, so the warm-up's health checks are not counted).
pub async fn run(
    vaults: &[Vault],
    fake: &Fake,
    callers: usize,
    latency_ms: u64,
    ready: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<Storm> {
    let first = vaults.first().context("a storm needs a vault")?;
    fake.config(json!({"access_token_ttl_secs": 3000})).await?;
    first
        .put_connection("storm", &fake.code_upload().await?)
        .await?;
    fake.config(json!({"access_token_ttl_secs": 3600, "latency_ms": latency_ms}))
        .await?;
    let token = first.service_token("storm callers", &["storm"]).await?;

    // One client, one connection per caller: open them all first (a cheap
    // GET each, all at once) so the storm measures the vaults, not TCP
    // handshakes. Actix keeps idle connections for 5 s; the storm follows
    // at once.
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(callers)
        .timeout(Duration::from_secs(30))
        .build()
        .context("storm client")?;
    let warm =
        (0..callers).map(|i| call(client.get(vaults[i % vaults.len()].url("/v1/sys/health"))));
    for answer in futures_util::future::join_all(warm).await {
        ensure!(answer?.0 == 200, "warm-up health call failed");
    }
    ready.await?;

    let urls: Vec<String> = vaults
        .iter()
        .map(|v| v.url("/v1/connections/storm/token"))
        .collect();
    fire(fake, &client, &token, &urls, callers, latency_ms).await
}

/// Sends `callers` token requests at once, spread round-robin over `urls`
/// (one replica's token route each, or one), and sums up what came back
/// and how many refreshes the fake Zoho saw meanwhile.
async fn fire(
    fake: &Fake,
    client: &reqwest::Client,
    token: &str,
    urls: &[String],
    callers: usize,
    latency_ms: u64,
) -> anyhow::Result<Storm> {
    let before = fake.counters().await?["refreshes"].as_u64().unwrap_or(0);
    let started = Instant::now();
    let calls = (0..callers).map(|i| {
        let req = client
            .post(&urls[i % urls.len()])
            .bearer_auth(token)
            .json(&json!({"min_valid_secs": 3000}));
        async move {
            let answer = call(req).await;
            (answer, started.elapsed())
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    let after = fake.counters().await?["refreshes"].as_u64().unwrap_or(0);
    fake.config(json!({"latency_ms": 0})).await?;

    let mut waits: Vec<Duration> = answers.iter().map(|(_, at)| *at).collect();
    waits.sort();
    let mut tokens = HashSet::new();
    let mut failures = 0;
    for (answer, _) in &answers {
        match answer {
            Ok((200, body)) => {
                tokens.insert(body["access_token"].as_str().unwrap_or("").to_string());
            }
            _ => failures += 1,
        }
    }
    Ok(Storm {
        callers,
        fake_latency_ms: latency_ms,
        refreshes: after.saturating_sub(before),
        last_answer: waits.last().copied().unwrap_or_default(),
        median_answer: waits.get(waits.len() / 2).copied().unwrap_or_default(),
        failures,
        distinct_tokens: tokens.len(),
    })
}
