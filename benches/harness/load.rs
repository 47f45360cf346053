//! The load generator: `wrk` with a generated Lua script that cycles over
//! a list of prepared requests (so a step spreads over several connections
//! and service tokens) and prints its figures from the `done()` hook, since
//! wrk's own text output has no p99.9.
//!
//! wrk is closed-loop: each of its connections sends the next request when
//! the previous answer arrives, so the latencies are those of a saturated
//! server at that concurrency, not of a fixed arrival rate.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context};

use crate::procs::{vm_rss_kib, Proc};

/// One HTTP request the generator sends.
#[derive(Clone)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl Request {
    /// `POST /v1/connections/{name}/token` with service token `svc`.
    pub fn token(name: &str, svc: &str) -> Self {
        Self {
            method: "POST",
            path: format!("/v1/connections/{name}/token"),
            headers: vec![
                ("Authorization".into(), format!("Bearer {svc}")),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: Some("{}".into()),
        }
    }
}

/// What one load step measured.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub conns: u32,
    pub requests: u64,
    pub secs: f64,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Non-2xx/3xx answers plus socket errors and timeouts.
    pub errors: u64,
    /// Peak resident memory of the watched server during the step.
    pub rss_peak_kib: Option<u64>,
}

impl Step {
    /// Rounds of one step: throughput over all of them, and for each
    /// percentile the worst round (percentiles of separate runs cannot be
    /// merged exactly; the worse one is the honest bound).
    pub fn combine(rounds: &[Step]) -> Option<Step> {
        let first = *rounds.first()?;
        let requests: u64 = rounds.iter().map(|s| s.requests).sum();
        let secs: f64 = rounds.iter().map(|s| s.secs).sum();
        let worst = |f: fn(&Step) -> f64| rounds.iter().map(f).fold(0.0, f64::max);
        Some(Step {
            conns: first.conns,
            requests,
            secs,
            rps: requests as f64 / secs,
            p50_us: worst(|s| s.p50_us),
            p99_us: worst(|s| s.p99_us),
            p999_us: worst(|s| s.p999_us),
            errors: rounds.iter().map(|s| s.errors).sum(),
            rss_peak_kib: rounds.iter().filter_map(|s| s.rss_peak_kib).max(),
        })
    }
}

/// Lua string literal (the values are ASCII tokens and paths, but quote
/// them properly anyway).
fn lua_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn script(requests: &[Request]) -> String {
    let mut s = String::from("local reqs = {}\nlocal n, i = 0, 0\ninit = function(args)\n");
    for r in requests {
        let headers: Vec<String> = r
            .headers
            .iter()
            .map(|(k, v)| format!("[{}] = {}", lua_str(k), lua_str(v)))
            .collect();
        let body = r.body.as_deref().map_or("nil".to_string(), lua_str);
        s.push_str(&format!(
            "  reqs[#reqs + 1] = wrk.format({}, {}, {{{}}}, {})\n",
            lua_str(r.method),
            lua_str(&r.path),
            headers.join(", "),
            body
        ));
    }
    s.push_str(
        r#"  n = #reqs
end
request = function()
  i = i % n + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%.0f duration_us=%.0f status=%.0f connect=%.0f read=%.0f write=%.0f timeout=%.0f p50=%.0f p99=%.0f p999=%.0f\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"#,
    );
    s
}

/// A load target: a base URL and the requests to cycle over.
pub struct Target<'a> {
    pub label: &'a str,
    pub base: &'a str,
    pub requests: Vec<Request>,
    /// Process whose resident memory is sampled during the step.
    pub watch_pid: Option<u32>,
    /// The expected answer is a 4xx (the 404 floor), so wrk's count of
    /// 4xx/5xx answers is not an error count here.
    pub expect_4xx: bool,
}

/// Runs wrk against `target` at `conns` connections for `duration`.
pub async fn run(
    dir: &Path,
    target: &Target<'_>,
    conns: u32,
    duration: Duration,
) -> anyhow::Result<Step> {
    ensure!(!target.requests.is_empty(), "no requests to send");
    ensure!(
        target.base.starts_with("http://127.0.0.1:"),
        "load goes to loopback only, not {}",
        target.base
    );
    let lua = dir.join(format!("{}.lua", target.label));
    std::fs::write(&lua, script(&target.requests)).context("write the wrk script")?;
    let out_path = dir.join(format!("wrk-{}-{conns}.out", target.label));
    let out = std::fs::File::create(&out_path).context("wrk output file")?;
    // Two wrk threads at most: the machine has two cores and the server
    // needs them too.
    let threads = conns.min(2);
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{threads}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(&lua)
        .arg(target.base)
        .stdout(out)
        .stderr(Stdio::inherit());
    let wrk = Proc::spawn("wrk", &mut cmd)
        .context("wrk not found: `make bench` installs it (apt-get install -y wrk)")?;
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = target.watch_pid.map(|pid| {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            while let Some(kib) = vm_rss_kib(pid) {
                peak.fetch_max(kib, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    let status = wrk.wait().await?;
    let rss_peak_kib = sampler.map(|task| {
        task.abort();
        peak.load(Ordering::Relaxed)
    });
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    if !status.success() {
        bail!("wrk failed ({status}): {text}");
    }
    parse(&text, conns, rss_peak_kib, target.expect_4xx)
}

fn parse(
    text: &str,
    conns: u32,
    rss_peak_kib: Option<u64>,
    expect_4xx: bool,
) -> anyhow::Result<Step> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .with_context(|| format!("no BENCH line in wrk's output: {text}"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("no {name} in `{line}`"))?
            .parse::<f64>()
            .with_context(|| format!("bad {name} in `{line}`"))
    };
    let requests = field("requests")?;
    let secs = field("duration_us")? / 1e6;
    ensure!(secs > 0.0 && requests > 0.0, "wrk sent nothing: {line}");
    let counted: &[&str] = if expect_4xx {
        &["connect", "read", "write", "timeout"]
    } else {
        &["status", "connect", "read", "write", "timeout"]
    };
    let errors = counted
        .iter()
        .map(|f| field(f))
        .sum::<anyhow::Result<f64>>()?;
    Ok(Step {
        conns,
        requests: requests as u64,
        secs,
        rps: requests / secs,
        p50_us: field("p50")?,
        p99_us: field("p99")?,
        p999_us: field("p999")?,
        errors: errors as u64,
        rss_peak_kib,
    })
}
