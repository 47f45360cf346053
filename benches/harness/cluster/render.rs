//! The cluster section of the report. Targets are shown, never asserted.

use std::fmt::Write;
use std::time::Duration;

use super::{ClusterRun, REPLICAS};
use crate::load::Step;
use crate::report::{dur, ms, storm_rows, verdict};

fn row(o: &mut String, label: &str, s: &Step) {
    let _ = writeln!(
        o,
        "| {label} | {} | {:.0} | {} | {} | {} | {} |",
        s.conns,
        s.rps,
        ms(s.p50_us),
        ms(s.p99_us),
        ms(s.p999_us),
        s.errors
    );
}

/// The section: `run` is the cluster's figures (or why there are none),
/// `single` the single-node sled token issue steps and `openbao` OpenBao's
/// (name, steps), both from the same run.
pub fn render(
    run: &Result<ClusterRun, String>,
    single: &[Step],
    openbao: Option<(&str, &[Step])>,
    openbao_note: &str,
) -> String {
    let mut o = String::from("\n## Cluster mode: three replicas on one PostgreSQL\n\n");
    let c = match run {
        Ok(c) => c,
        Err(why) => {
            let _ = writeln!(o, "{why}");
            return o;
        }
    };
    let _ = writeln!(
        o,
        "- {REPLICAS} `zoho-vault serve` replicas (release build, default pool size) on one {} \
         started for the run (loopback, fsync on), on the same cores as everything else; \
         the load is one wrk per replica at once, the connections split between them, \
         req/s summed, each percentile the worst replica's\n",
        c.postgres
    );
    let _ = writeln!(
        o,
        "| target | conns | req/s | p50 ms | p99 ms | p99.9 ms | errors |"
    );
    let _ = writeln!(o, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for s in &c.token {
        row(&mut o, "cluster: token issue over 3 replicas", s);
    }
    for s in single {
        row(&mut o, "single node (sled): token issue", s);
    }
    if let Some((name, steps)) = openbao {
        for s in steps {
            row(&mut o, &format!("{name} KV-v2 read, file audit"), s);
        }
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "| figure | value | target | |");
    let _ = writeln!(o, "| --- | --- | --- | --- |");
    let at64 = |steps: &[Step]| steps.iter().find(|s| s.conns == 64).copied();
    match (at64(&c.token), openbao.and_then(|(_, s)| at64(s))) {
        (Some(t), Some(b)) => {
            let r = t.rps / b.rps;
            let _ = writeln!(
                o,
                "| cluster token issue / OpenBao KV read, 64 conns | {r:.1}× | ≥ 5× | {} |",
                verdict(r >= 5.0)
            );
        }
        (Some(_), None) => {
            let _ = writeln!(
                o,
                "| cluster token issue / OpenBao KV read, 64 conns | OpenBao {openbao_note} | ≥ 5× | |"
            );
        }
        _ => {
            let _ = writeln!(
                o,
                "| cluster figures at 64 conns | not measured (`--conns`) | | |"
            );
        }
    }
    if let (Some(t), Some(s)) = (at64(&c.token), at64(single)) {
        let _ = writeln!(
            o,
            "| cluster / single node (sled), 64 conns | {:.0}% | | |",
            100.0 * t.rps / s.rps
        );
    }
    storm_rows(&mut o, &c.storm, "storm over replicas", 100);
    if !c.storm_statements.is_empty() {
        let calls: Vec<String> = c
            .storm_statements
            .iter()
            .map(|(q, n)| format!("{n}× `{}`", q.replace('|', "\\|")))
            .collect();
        let _ = writeln!(
            o,
            "| storm over replicas: PostgreSQL statements (most called) | {} | | |",
            calls.join("; ")
        );
    }
    let mut rev = c.revocations.clone();
    rev.sort();
    if let (Some(median), Some(max)) = (rev.get(rev.len() / 2), rev.last()) {
        let _ = writeln!(
            o,
            "| revocation on one replica → refused on another (median, worst of {}) | {} ({}) | ≤ 1 s | {} |",
            rev.len(),
            dur(*median),
            dur(*max),
            verdict(*max <= Duration::from_secs(1))
        );
    }
    let t = &c.time;
    let _ = writeln!(
        o,
        "| audit batches over the load (all replicas) | {:.0} ({:.1} events each, mean write {:.2} ms) | | |",
        t.flushes,
        t.issues as f64 / t.flushes.max(1.0),
        t.mean_flush_ms
    );
    if let Some((conns, w)) = &c.waits {
        let _ = writeln!(
            o,
            "| PostgreSQL backends at {conns} conns ({} samples of pg_stat_activity, busy backends) | \
             {:.0}% waiting for a row lock (the chain head), {:.0}% WAL write/flush, \
             {:.0}% running, {:.0}% in a transaction waiting for the replica, {:.0}% other | | |",
            w.samples,
            w.share(w.lock),
            w.share(w.wal),
            w.share(w.running),
            w.share(w.client),
            w.share(w.other)
        );
    }
    match &t.statements {
        Some(st) => {
            let _ = writeln!(
                o,
                "| PostgreSQL per token issue | {:.2} statements, {:.3} explicit transactions, {:.3} ms server time | | |",
                st.per_issue, st.transactions_per_issue, st.ms_per_issue
            );
            let _ = writeln!(
                o,
                "\nBusiest statements during the load (pg_stat_statements):\n"
            );
            let _ = writeln!(o, "| statement | calls per issue | mean ms |");
            let _ = writeln!(o, "| --- | ---: | ---: |");
            for (q, calls, mean) in &st.top {
                let q = q.replace('|', "\\|");
                let _ = writeln!(o, "| `{q}` | {calls:.3} | {mean:.3} |");
            }
        }
        None => {
            let _ = writeln!(
                o,
                "| PostgreSQL per token issue | pg_stat_statements not available | | |"
            );
        }
    }
    o
}
