//! The proxy step: `GET` of the fake Zoho's invoice list through
//! `/v1/proxy/{name}/...` against the same request sent straight to the
//! fake with an access token, in the same run, at 1 and 64 connections.
//! Like the token step it spreads over the load connections, each with
//! its own proxy-only service token, so the proxy's per-connection
//! concurrency cap (10 by default) is not what the figures measure.
//!
//! Reported: proxied / direct throughput at 64 connections (target at
//! least 50%) and the p50 the proxy adds at 1 connection (target at most
//! 1 ms).

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::load::{self, Request, Step, Target};
use crate::vault::{call_ok, Fake, Vault};

/// The Zoho API path both targets ask for.
const INVOICES: &str = "/invoice/v3/invoices";

/// Connections of the step: the single-caller latency and the saturated
/// throughput the targets are about.
pub const CONNS: [u32; 2] = [1, 64];

/// What the step measured, per connection count (the order of [`CONNS`]).
#[derive(Default)]
pub struct ProxyBench {
    pub direct: Vec<Step>,
    pub proxied: Vec<Step>,
    /// The token issue route in the same rounds (`--only proxy`): the
    /// vault's own share of a proxied call without the call to Zoho.
    pub token: Vec<Step>,
}

/// Both targets' requests for the load connections `names`: a proxy-only
/// service token per connection for the proxied one, the connection's
/// access token (an admin issue) for the direct one.
async fn requests(vault: &Vault, names: &[String]) -> anyhow::Result<(Vec<Request>, Vec<Request>)> {
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for name in names {
        let created = call_ok(
            vault
                .http
                .post(vault.url("/v1/service-tokens"))
                .bearer_auth(&vault.admin)
                .json(
                    &json!({"name": format!("bench proxy {name}"), "connections": [name],
                    "access": "proxy", "proxy_paths": [INVOICES]}),
                ),
            201,
            "create a proxy-only service token",
        )
        .await?;
        let svc = created["token"].as_str().context("no token")?;
        let issued = vault.issue(name, &vault.admin, &json!({})).await?;
        let access = issued["access_token"].as_str().context("no access_token")?;
        let org = organization(vault, &issued).await?;
        let query = format!("?organization_id={org}");
        proxied.push(Request {
            method: "GET",
            path: format!("/v1/proxy/{name}{INVOICES}{query}"),
            headers: vec![("Authorization".into(), format!("Bearer {svc}"))],
            body: None,
        });
        direct.push(Request {
            method: "GET",
            path: format!("{INVOICES}{query}"),
            headers: vec![("Authorization".into(), format!("Zoho-oauthtoken {access}"))],
            body: None,
        });
    }
    Ok((direct, proxied))
}

/// The organization id, asked the way a Zoho client does.
async fn organization(vault: &Vault, issued: &serde_json::Value) -> anyhow::Result<String> {
    let domain = issued["api_domain"].as_str().context("no api_domain")?;
    let access = issued["access_token"].as_str().context("no access_token")?;
    let orgs = call_ok(
        vault
            .http
            .get(format!("{domain}/invoice/v3/organizations"))
            .header("Authorization", format!("Zoho-oauthtoken {access}")),
        200,
        "list the fake's organizations",
    )
    .await?;
    Ok(orgs["organizations"][0]["organization_id"]
        .as_str()
        .context("no organization_id")?
        .to_string())
}

/// Runs the step: a warm-up, then per connection count `rounds` rounds
/// where the two targets take turns (reversed every other round).
pub async fn run(
    dir: &Path,
    vault: &Vault,
    fake: &Fake,
    names: &[String],
    duration: Duration,
    rounds: u32,
    token: Option<Vec<Request>>,
) -> anyhow::Result<ProxyBench> {
    let (direct, proxied) = requests(vault, names).await?;
    // One request each, checked, so a refusal fails the step loudly
    // instead of showing as a fast column of errors.
    for (base, r) in [(&fake.base, &direct[0]), (&vault.base, &proxied[0])] {
        let mut req = vault.http.get(format!("{base}{}", r.path));
        for (k, v) in &r.headers {
            req = req.header(k, v);
        }
        call_ok(req, 200, "the invoice list").await?;
    }
    let direct = Target {
        label: "proxy-direct",
        base: &fake.base,
        requests: direct,
        watch_pid: None,
        expect_4xx: false,
    };
    let proxied = Target {
        label: "proxy",
        base: &vault.base,
        requests: proxied,
        watch_pid: Some(vault.proc.pid()),
        expect_4xx: false,
    };
    let token = token.map(|requests| Target {
        label: "token",
        base: &vault.base,
        requests,
        watch_pid: None,
        expect_4xx: false,
    });
    let mut targets = vec![&direct, &proxied];
    targets.extend(token.as_ref());
    crate::note("proxy step: warm-up, 2 s per target");
    for t in &targets {
        load::run(dir, t, 16, Duration::from_secs(2)).await?;
    }
    let round = Duration::from_secs((duration.as_secs() / rounds as u64).max(1));
    let mut out = ProxyBench::default();
    for conns in CONNS {
        let mut measured: Vec<Vec<Step>> = vec![Vec::new(); targets.len()];
        for r in 0..rounds {
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            for i in order {
                crate::note(&format!(
                    "{} at {conns} connections, round {} of {rounds}, {} s",
                    targets[i].label,
                    r + 1,
                    round.as_secs()
                ));
                measured[i].push(load::run(dir, targets[i], conns, round).await?);
            }
        }
        out.direct
            .push(Step::combine(&measured[0]).context("no rounds")?);
        out.proxied
            .push(Step::combine(&measured[1]).context("no rounds")?);
        if let Some(steps) = measured.get(2) {
            out.token.push(Step::combine(steps).context("no rounds")?);
        }
    }
    Ok(out)
}

/// `--only proxy`: the proxy step by itself on a fresh fake and vault
/// (`connections` load connections), with the token issue route in the
/// same rounds for reference. Returns the rendered rows.
pub async fn alone(
    dir: &Path,
    connections: usize,
    duration: Duration,
    rounds: u32,
) -> anyhow::Result<String> {
    crate::note("proxy step only: starting fake-zoho and zoho-vault (release builds)");
    let fake = Fake::start(env!("CARGO_BIN_EXE_fake-zoho"), dir).await?;
    let (vault, _) = Vault::init_and_serve_sealed(env!("CARGO_BIN_EXE_zoho-vault"), dir).await?;
    vault.unseal().await?;
    let mut names = Vec::new();
    let mut token = Vec::new();
    for i in 0..connections {
        let (name, svc) = vault.load_connection(&fake, i).await?;
        vault.issue(&name, &svc, &json!({})).await?;
        token.push(Request::token(&name, &svc));
        names.push(name);
    }
    crate::note(&format!(
        "zoho-vault pid {}, fake-zoho pid {}, files in {}",
        vault.proc.pid(),
        fake.proc.pid(),
        dir.display()
    ));
    let bench = run(dir, &vault, &fake, &names, duration, rounds, Some(token)).await?;
    vault.proc.stop().await;
    fake.proc.stop().await;
    let mut o = String::new();
    render(&mut o, &bench);
    Ok(o)
}

/// The step's rows and its two figures against their targets.
pub fn render(o: &mut String, p: &ProxyBench) {
    let _ = writeln!(
        o,
        "| proxy step (`GET {INVOICES}`) | conns | req/s | p50 ms | p99 ms | p99.9 ms | errors |"
    );
    let _ = writeln!(o, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (label, steps) in [
        ("straight to the fake Zoho (access token)", &p.direct),
        (
            "through `/v1/proxy/{name}` (proxy-only service token)",
            &p.proxied,
        ),
        (
            "reference: token issue (`POST /v1/connections/{name}/token`)",
            &p.token,
        ),
    ] {
        for s in steps {
            let _ = writeln!(
                o,
                "| {label} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
                s.conns,
                s.rps,
                s.p50_us / 1000.0,
                s.p99_us / 1000.0,
                s.p999_us / 1000.0,
                s.errors
            );
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "| figure | value | target | |");
    let _ = writeln!(o, "| --- | --- | --- | --- |");
    let at = |steps: &[Step], conns: u32| steps.iter().find(|s| s.conns == conns).copied();
    let verdict = |met: bool| if met { "met" } else { "missed" };
    if let (Some(d), Some(p)) = (at(&p.direct, 64), at(&p.proxied, 64)) {
        let r = p.rps / d.rps;
        let _ = writeln!(
            o,
            "| proxied / direct throughput, 64 conns | {:.0}% | ≥ 50% | {} |",
            100.0 * r,
            verdict(r >= 0.5)
        );
    }
    if let (Some(d), Some(p)) = (at(&p.direct, 1), at(&p.proxied, 1)) {
        let added = (p.p50_us - d.p50_us) / 1000.0;
        let _ = writeln!(
            o,
            "| p50 the proxy adds, 1 conn | {added:.2} ms ({:.2} vs {:.2}) | ≤ 1 ms | {} |",
            p.p50_us / 1000.0,
            d.p50_us / 1000.0,
            verdict(added <= 1.0)
        );
    }
    let _ = writeln!(o);
}
