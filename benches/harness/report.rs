//! The printed report: one Markdown document (machine, load table, ratios,
//! other figures against the targets), also written to
//! `target/bench/results.md` for copying into docs/benchmarks.md.
//! Targets are shown, never asserted.

use std::fmt::Write;
use std::time::Duration;

use crate::load::Step;
use crate::probes::{Audit, Fsync};
use crate::storm::Storm;

/// Everything one run measured.
pub struct Results {
    pub machine: Machine,
    pub duration: Duration,
    pub rounds: u32,
    pub audit_on: bool,
    pub token: Vec<Step>,
    pub bare: Vec<Step>,
    pub floor: Vec<Step>,
    pub openbao: Option<(String, Vec<Step>)>,
    pub openbao_note: String,
    pub storm: Option<Storm>,
    pub proxy: Option<crate::proxy::ProxyBench>,
    pub unseal: Vec<Duration>,
    pub init: Duration,
    pub imported: usize,
    pub import_time: Duration,
    pub rss_idle_kib: Option<u64>,
    pub audit: Option<Audit>,
    pub fsync: Fsync,
    pub data_dir_bytes: u64,
    /// The cluster section, rendered by `cluster::render`.
    pub cluster: String,
    /// Over the load steps (almost all `token_issued`): data-directory
    /// growth and audit-log growth, in bytes per event written.
    pub load_growth: Option<(f64, f64)>,
}

/// Where the run happened.
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub kernel: String,
    pub load_before: String,
    pub commit: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into());
        let git = std::process::Command::new("git")
            .args(["describe", "--always", "--dirty"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            load_before: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            commit: git,
        }
    }
}

pub(crate) fn ms(us: f64) -> String {
    format!("{:.2}", us / 1000.0)
}

pub(crate) fn dur(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub(crate) fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "missed"
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn step_row(out: &mut String, label: &str, s: &Step) {
    let _ = writeln!(
        out,
        "| {label} | {} | {:.0} | {} | {} | {} | {} |",
        s.conns,
        s.rps,
        ms(s.p50_us),
        ms(s.p99_us),
        ms(s.p999_us),
        s.errors
    );
}

impl Results {
    pub fn render(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(o, "# zoho-vault benchmark\n");
        let _ = writeln!(
            o,
            "- machine: {} cores ({}), Linux {}, load average before the run {}",
            m.cores, m.cpu, m.kernel, m.load_before
        );
        let _ = writeln!(
            o,
            "- disk: write+fsync of a 300-byte record, median {} µs, p99 {} µs ({} samples)",
            self.fsync.median.as_micros(),
            self.fsync.p99.as_micros(),
            self.fsync.samples
        );
        let _ = writeln!(
            o,
            "- tree: {}; audit trail: {}",
            m.commit,
            if self.audit_on {
                "on (GET /v1/audit/verify present)"
            } else {
                "not in this tree (pending audit merge)"
            }
        );
        let _ = writeln!(
            o,
            "- load: wrk, closed loop, load generator on the same cores; {} s per step in {} interleaved rounds after a 2 s warm-up; req/s over all rounds, percentiles of the worst round\n",
            self.duration.as_secs(),
            self.rounds
        );

        let _ = writeln!(
            o,
            "| target | conns | req/s | p50 ms | p99 ms | p99.9 ms | errors |"
        );
        let _ = writeln!(o, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for s in &self.token {
            step_row(&mut o, "zoho-vault `POST /v1/connections/{name}/token`", s);
        }
        for s in &self.bare {
            step_row(&mut o, "zoho-vault `GET /v1/sys/health` (bare)", s);
        }
        if let Some((version, steps)) = &self.openbao {
            for s in steps {
                step_row(
                    &mut o,
                    &format!("{version} KV-v2 read (Raft storage, file audit)"),
                    s,
                );
            }
        }
        for s in &self.floor {
            step_row(&mut o, "zoho-vault unrouted path, 404 (floor, no work)", s);
        }
        let _ = writeln!(o);

        let _ = writeln!(
            o,
            "| conns | zoho-vault / bare | zoho-vault / OpenBao | zoho-vault / 404 floor | bare / 404 floor |"
        );
        let _ = writeln!(o, "| ---: | ---: | ---: | ---: | ---: |");
        for (i, t) in self.token.iter().enumerate() {
            let bare = self
                .bare
                .get(i)
                .map_or("-".into(), |b| format!("{:.0}%", 100.0 * t.rps / b.rps));
            let bao = self
                .openbao
                .as_ref()
                .and_then(|(_, s)| s.get(i))
                .map_or(self.openbao_note.clone(), |b| {
                    format!("{:.1}×", t.rps / b.rps)
                });
            let pct = |a: Option<&Step>, b: Option<&Step>| match (a, b) {
                (Some(a), Some(b)) => format!("{:.0}%", 100.0 * a.rps / b.rps),
                _ => "-".into(),
            };
            let floor = self.floor.get(i);
            let _ = writeln!(
                o,
                "| {} | {bare} | {bao} | {} | {} |",
                t.conns,
                pct(Some(t), floor),
                pct(self.bare.get(i), floor)
            );
        }
        let _ = writeln!(o);

        if let Some(p) = &self.proxy {
            crate::proxy::render(&mut o, p);
        }

        let _ = writeln!(o, "| figure | value | target | |");
        let _ = writeln!(o, "| --- | --- | --- | --- |");
        if let Some(t64) = self.token.iter().find(|s| s.conns == 64) {
            if let Some(b64) = self.bare.iter().find(|s| s.conns == 64) {
                let r = t64.rps / b64.rps;
                let _ = writeln!(
                    o,
                    "| token issue / bare route, 64 conns | {:.0}% | ≥ 45% | {} |",
                    100.0 * r,
                    verdict(r >= 0.45)
                );
            }
            match self
                .openbao
                .as_ref()
                .and_then(|(_, s)| s.iter().find(|s| s.conns == 64))
            {
                Some(b) => {
                    let r = t64.rps / b.rps;
                    let _ = writeln!(
                        o,
                        "| token issue / OpenBao KV read, 64 conns | {r:.1}× | ≥ 10× | {} |",
                        verdict(r >= 10.0)
                    );
                }
                None => {
                    let _ = writeln!(
                        o,
                        "| token issue / OpenBao KV read, 64 conns | {} | ≥ 10× | |",
                        self.openbao_note
                    );
                }
            }
            let _ = writeln!(
                o,
                "| token issue p99, 64 conns | {} ms | ≤ 5 ms | {} |",
                ms(t64.p99_us),
                verdict(t64.p99_us <= 5000.0)
            );
        }
        match &self.storm {
            Some(s) => storm_rows(&mut o, s, "refresh storm", 50),
            None => {
                let _ = writeln!(o, "| refresh storm | not run | | |");
            }
        }
        let unseal = median(&self.unseal);
        let all: Vec<String> = self.unseal.iter().map(|d| dur(*d)).collect();
        let _ = writeln!(
            o,
            "| unseal (`POST /v1/sys/unseal`, default KDF: Argon2id 64 MiB, 3 passes), median of {} | {} ({}) | < 1 s | {} |",
            self.unseal.len(),
            dur(unseal),
            all.join(", "),
            verdict(unseal < Duration::from_secs(1))
        );
        let _ = writeln!(
            o,
            "| `zoho-vault init` (process start, KDF, first write) | {} | | |",
            dur(self.init)
        );
        let rps = self.imported as f64 / self.import_time.as_secs_f64().max(1e-9);
        let _ = writeln!(
            o,
            "| import of {} connections (refresh-token uploads, 32 at a time) | {} ({rps:.0}/s) | | |",
            self.imported,
            dur(self.import_time)
        );
        if let Some(kib) = self.rss_idle_kib {
            let _ = writeln!(
                o,
                "| RSS with {} connections stored, idle | {} | < 64 MiB | {} |",
                self.imported,
                mib(kib),
                verdict(kib < 64 * 1024)
            );
        }
        if let Some(peak) = self.token.iter().filter_map(|s| s.rss_peak_kib).max() {
            let _ = writeln!(
                o,
                "| RSS peak under token-issue load (same server) | {} | < 64 MiB | {} |",
                mib(peak),
                verdict(peak < 64 * 1024)
            );
        }
        let _ = writeln!(
            o,
            "| data directory at the end of the run | {} | | |",
            mib(self.data_dir_bytes / 1024)
        );
        match &self.audit {
            Some(Audit::Measured {
                events,
                verify,
                token_issued_bytes,
            }) => {
                let rate = *events as f64 / verify.as_secs_f64().max(1e-9);
                let _ = writeln!(
                    o,
                    "| audit verify (`GET /v1/audit/verify`) | {events} events in {} ({rate:.0} events/s) | | |",
                    dur(*verify)
                );
                let size = token_issued_bytes.map_or("export not available".into(), |b| {
                    format!("{b:.0} bytes of JSON")
                });
                let _ = writeln!(
                    o,
                    "| audit event size (`token_issued`, export line, newest 1000 events) | {size} | | |"
                );
                let _ = writeln!(
                    o,
                    "| data directory per audit event (everything stored, incl. {} connections, / events) | {:.2} KB | | |",
                    self.imported,
                    self.data_dir_bytes as f64 / 1000.0 / (*events).max(1) as f64
                );
                if let Some((dir, log)) = self.load_growth {
                    let _ = writeln!(
                        o,
                        "| data directory growth per event over the load steps (`token_issued`) | {dir:.0} B | ≤ 300 B | {} |",
                        verdict(dir <= 300.0)
                    );
                    let _ = writeln!(
                        o,
                        "| audit log growth per event over the load steps (segment bytes / events) | {log:.0} B | | |"
                    );
                }
            }
            Some(Audit::Pending) | None => {
                let _ = writeln!(o, "| audit verify speed | pending audit merge | | |");
                let _ = writeln!(o, "| audit event size | pending audit merge | | |");
            }
        }
        o.push_str(&self.cluster);
        o
    }
}

/// The storm's two rows: one refresh and one token for every caller, and
/// the last caller answered within the fake's latency + `slack_ms`.
pub(crate) fn storm_rows(o: &mut String, s: &Storm, label: &str, slack_ms: u64) {
    let _ = writeln!(
        o,
        "| {label}: upstream refreshes, {} callers | {} ({} failed, {} distinct tokens) | exactly 1 | {} |",
        s.callers,
        s.refreshes,
        s.failures,
        s.distinct_tokens,
        verdict(s.refreshes == 1 && s.failures == 0 && s.distinct_tokens == 1)
    );
    let bound = Duration::from_millis(s.fake_latency_ms + slack_ms);
    let _ = writeln!(
        o,
        "| {label}: last caller answered (median caller) | {} ({}) | ≤ {} (fake latency {} ms + {slack_ms} ms) | {} |",
        dur(s.last_answer),
        dur(s.median_answer),
        dur(bound),
        s.fake_latency_ms,
        verdict(s.last_answer <= bound)
    );
}
