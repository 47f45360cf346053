//! `make bench`: the benchmark harness (a `harness = false` bench target).
//!
//! It starts the release `fake-zoho` and `zoho-vault` binaries on loopback
//! port 0 in a temporary directory under `target/tmp/`, uploads
//! connections, creates service tokens and drives
//! `POST /v1/connections/{name}/token` with `wrk` at 1, 16 and 64
//! connections, next to two baselines measured in the same run: the
//! server's cheapest route (`GET /v1/sys/health`) and, when installed,
//! OpenBao reading a KV-v2 secret. Then the refresh storm, unseal time,
//! resident memory with many connections, audit verification and the
//! disk's fsync latency. See docs/benchmarks.md.
//!
//! Only `cargo bench` runs it (it passes `--bench`); under `cargo test`
//! the binary returns at once, so the bench is never part of the tests.
//! It stops only the processes it started, by PID, also on an error or
//! Ctrl-C, and sends traffic to 127.0.0.1 only.

mod cluster;
mod load;
mod openbao;
mod probes;
mod procs;
mod proxy;
mod report;
mod storm;
mod vault;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};

use load::{Request, Step, Target};
use report::{Machine, Results};
use vault::{Fake, Vault};

/// An unrouted path: the 404 fallback is the HTTP stack's floor.
const FLOOR_PATH: &str = "/bench/no-such-route";

/// Connections the load steps spread over, each with its own service token.
const BENCH_CONNECTIONS: usize = 8;

/// Command-line options (after `cargo bench --bench harness --`).
struct Options {
    duration: Duration,
    rounds: u32,
    conns: Vec<u32>,
    openbao: OpenBaoMode,
    callers: usize,
    storm_latency_ms: u64,
    stored: usize,
    cluster: bool,
    /// `--only proxy`: just the proxy step (A/B runs while tuning it).
    only_proxy: bool,
    /// Only the cluster step, once per `--cluster-bin` (A/B comparisons).
    cluster_only: bool,
    /// The zoho-vault binaries the cluster step runs, in turn.
    cluster_bins: Vec<String>,
}

#[derive(PartialEq)]
enum OpenBaoMode {
    /// When installed.
    Auto,
    /// Must run (fail when not installed).
    On,
    Off,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut o = Options {
            duration: Duration::from_secs(10),
            rounds: 2,
            conns: vec![1, 16, 64],
            openbao: OpenBaoMode::Auto,
            callers: 1000,
            storm_latency_ms: 200,
            stored: 10_000,
            cluster: true,
            only_proxy: false,
            cluster_only: false,
            cluster_bins: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .with_context(|| format!("{name} needs a value"))
                    .cloned()
            };
            match arg.as_str() {
                "--bench" => {}
                "--duration-secs" => o.duration = Duration::from_secs(value(arg)?.parse()?),
                "--rounds" => o.rounds = value(arg)?.parse::<u32>()?.max(1),
                "--conns" => {
                    o.conns = value(arg)?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?
                }
                "--openbao" => o.openbao = OpenBaoMode::On,
                "--no-openbao" => o.openbao = OpenBaoMode::Off,
                "--callers" => o.callers = value(arg)?.parse()?,
                "--storm-latency-ms" => o.storm_latency_ms = value(arg)?.parse()?,
                "--stored-connections" => o.stored = value(arg)?.parse()?,
                "--no-cluster" => o.cluster = false,
                "--only" => match value(arg)?.as_str() {
                    "proxy" => o.only_proxy = true,
                    other => bail!("--only takes `proxy`, not {other}"),
                },
                "--cluster-only" => o.cluster_only = true,
                "--cluster-bin" => o.cluster_bins.push(value(arg)?),
                other => bail!(
                    "unknown option {other}; options: --duration-secs N, --rounds N, --conns 1,16,64, \
                     --openbao, --no-openbao, --callers N, --storm-latency-ms N, \
                     --stored-connections N, --no-cluster, --only proxy, --cluster-only, \
                     --cluster-bin PATH"
                ),
            }
        }
        if o.duration > Duration::from_secs(60) {
            bail!("--duration-secs is at most 60: the harness bounds its own run time");
        }
        Ok(o)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("harness: the benchmark runs only under `cargo bench` (`make bench`)");
        return ExitCode::SUCCESS;
    }
    let outcome = match Options::parse(&args) {
        Ok(options) => run(options).await,
        Err(e) => Err(e),
    };
    procs::kill_all();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> anyhow::Result<()> {
    procs::stop_on_signal()?;
    let root = tempfile::Builder::new()
        .prefix("bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .context("temporary directory")?;
    procs::set_run_dir(root.path());
    if options.cluster_only {
        return cluster::only(&options, root.path()).await;
    }
    let (measured, file) = if options.only_proxy {
        let text = proxy::alone(
            root.path(),
            BENCH_CONNECTIONS,
            options.duration,
            options.rounds,
        );
        (text.await, "target/bench/proxy.md")
    } else {
        let results = measure(&options, root.path()).await;
        (results.map(|r| r.render()), "target/bench/results.md")
    };
    match measured {
        Ok(text) => {
            println!("\n{text}");
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).context("target/bench")?;
            }
            std::fs::write(&out, &text).context("write the report")?;
            eprintln!("bench: report written to {}", out.display());
            Ok(())
        }
        Err(e) => {
            procs::kill_all();
            let kept = root.keep();
            Err(e.context(format!("logs kept in {}", kept.display())))
        }
    }
}

fn note(what: &str) {
    eprintln!("bench: {what}");
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn measure(o: &Options, dir: &Path) -> anyhow::Result<Results> {
    let machine = Machine::probe();
    note("fsync probe");
    let fsync = probes::fsync(dir, 200)?;

    let bao_bin = match o.openbao {
        OpenBaoMode::Off => None,
        _ => openbao::find_bao(&openbao::venv()),
    };
    let openbao_note = match (&o.openbao, &bao_bin) {
        (OpenBaoMode::On, None) => bail!(
            "OpenBao is not installed in {}: run `make bench-openbao`",
            openbao::venv().display()
        ),
        (OpenBaoMode::Off, _) => "skipped (--no-openbao)".to_string(),
        (_, None) => "not installed (`make bench-openbao`)".to_string(),
        (_, Some(_)) => String::new(),
    };

    note("starting fake-zoho and zoho-vault (release builds)");
    let fake = Fake::start(env!("CARGO_BIN_EXE_fake-zoho"), dir).await?;
    let (vault, init) = Vault::init_and_serve_sealed(env!("CARGO_BIN_EXE_zoho-vault"), dir).await?;
    note(&format!(
        "zoho-vault pid {} on {}, fake-zoho pid {} on {}, files in {}",
        vault.proc.pid(),
        vault.base,
        fake.proc.pid(),
        fake.base,
        dir.display()
    ));

    note("unseal x3");
    let mut unseal = Vec::new();
    for i in 0..3 {
        if i > 0 {
            vault.seal().await?;
        }
        unseal.push(vault.unseal().await?);
    }
    let audit_on = !matches!(probes::audit(&vault).await?, probes::Audit::Pending);

    note("uploading the load connections and their service tokens");
    let mut token_requests = Vec::new();
    for i in 0..BENCH_CONNECTIONS {
        let (name, svc) = vault.load_connection(&fake, i).await?;
        vault.issue(&name, &svc, &serde_json::json!({})).await?;
        token_requests.push(Request::token(&name, &svc));
    }

    note(&format!("importing {} connections", o.stored));
    let import_time = probes::import_connections(&vault, &fake, o.stored, 32).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle_kib = procs::vm_rss_kib(vault.proc.pid());

    let bao = match &bao_bin {
        Some(bin) => {
            note("starting OpenBao");
            let bao = openbao::OpenBao::start(bin, dir).await?;
            note(&format!("OpenBao pid {} on {}", bao.proc.pid(), bao.base));
            Some(bao)
        }
        None => None,
    };

    let token = Target {
        label: "token",
        base: &vault.base,
        requests: token_requests,
        watch_pid: Some(vault.proc.pid()),
        expect_4xx: false,
    };
    let bare = Target {
        label: "bare",
        base: &vault.base,
        requests: vec![Request {
            method: "GET",
            path: "/v1/sys/health".into(),
            headers: Vec::new(),
            body: None,
        }],
        watch_pid: None,
        expect_4xx: false,
    };
    // Not a route: the server's 404 fallback. No store access, no
    // extractor, a small JSON body: the HTTP stack's floor, to show what
    // the health route itself costs.
    let (status, _) = vault::call(vault.http.get(vault.url(FLOOR_PATH))).await?;
    if status != 404 {
        bail!("{FLOOR_PATH} answered {status}, not 404");
    }
    let floor = Target {
        label: "floor",
        base: &vault.base,
        requests: vec![Request {
            method: "GET",
            path: FLOOR_PATH.into(),
            headers: Vec::new(),
            body: None,
        }],
        watch_pid: None,
        expect_4xx: true,
    };
    let bao_target = bao.as_ref().map(|b| Target {
        label: "openbao",
        base: &b.base,
        requests: vec![b.read_request()],
        watch_pid: None,
        expect_4xx: false,
    });
    let mut targets = vec![&floor, &bare, &token];
    targets.extend(bao_target.as_ref());

    let footprint_before = probes::footprint(&vault).await.ok();
    note("warm-up, 2 s per target");
    for t in &targets {
        load::run(dir, t, 16, Duration::from_secs(2)).await?;
    }
    // Each step is split into rounds, and the targets take turns within a
    // concurrency (in reverse order every other round), so a burst of
    // noise from other work on the machine hits every target alike.
    let round = Duration::from_secs((o.duration.as_secs() / o.rounds as u64).max(1));
    let mut steps: Vec<Vec<Step>> = vec![Vec::new(); targets.len()];
    for &conns in &o.conns {
        let mut rounds: Vec<Vec<Step>> = vec![Vec::new(); targets.len()];
        for r in 0..o.rounds {
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            for i in order {
                note(&format!(
                    "{} at {conns} connections, round {} of {}, {} s",
                    targets[i].label,
                    r + 1,
                    o.rounds,
                    round.as_secs()
                ));
                rounds[i].push(load::run(dir, targets[i], conns, round).await?);
            }
        }
        for (i, r) in rounds.iter().enumerate() {
            steps[i].push(Step::combine(r).context("no rounds")?);
        }
    }
    let mut steps = steps.into_iter();
    let floor_steps = steps.next().unwrap_or_default();
    let bare_steps = steps.next().unwrap_or_default();
    let token_steps = steps.next().unwrap_or_default();
    let bao_steps = steps.next();
    let openbao = match (bao, bao_steps) {
        (Some(b), Some(s)) => {
            let version = b
                .version
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            b.proc.stop().await;
            Some((version, s))
        }
        _ => None,
    };

    let footprint_after = probes::footprint(&vault).await.ok();
    let names: Vec<String> = (0..BENCH_CONNECTIONS)
        .map(|i| format!("bench-{i}"))
        .collect();
    let proxy = proxy::run(dir, &vault, &fake, &names, o.duration, o.rounds, None).await?;

    note(&format!(
        "refresh storm: {} callers, fake latency {} ms",
        o.callers, o.storm_latency_ms
    ));
    let storm = storm::run(
        std::slice::from_ref(&vault),
        &fake,
        o.callers,
        o.storm_latency_ms,
        async { Ok(()) },
    )
    .await?;

    note("audit verify");
    let audit = probes::audit(&vault).await?;

    vault.proc.stop().await;
    // Three replicas on PostgreSQL, with the same fake Zoho, compared with
    // the figures above.
    let cluster_run = if o.cluster {
        cluster::run(o, dir, &fake).await?
    } else {
        Err("skipped (--no-cluster)".to_string())
    };
    let cluster = cluster::render(
        &cluster_run,
        &token_steps,
        openbao.as_ref().map(|(v, s)| (v.as_str(), s.as_slice())),
        &openbao_note,
    );
    fake.proc.stop().await;
    Ok(Results {
        machine,
        duration: o.duration,
        rounds: o.rounds,
        audit_on,
        token: token_steps,
        bare: bare_steps,
        floor: floor_steps,
        openbao,
        openbao_note,
        storm: Some(storm),
        proxy: Some(proxy),
        unseal,
        init,
        imported: o.stored,
        import_time,
        rss_idle_kib,
        audit: Some(audit),
        fsync,
        data_dir_bytes: dir_bytes(&vault.data_dir),
        cluster,
        load_growth: footprint_before
            .zip(footprint_after)
            .and_then(|(b, a)| probes::growth_per_event(&b, &a)),
    })
}
