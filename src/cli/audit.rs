//! `zoho-vault audit list|verify|export|prune`: clients of the `/v1/audit`
//! routes (admin token).
//!
//! `audit verify --file F` checks an export by sending it to the running
//! vault (`POST /v1/audit/verify-export`): the audit key never leaves the
//! server and the data directory stays locked by it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::client::{request, request_with, send, send_raw, Wait};
use super::progress::Progress;
use super::ClientArgs;

/// Audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List events, newest first, as a table (or JSON with --json).
    #[command(
        after_help = "Example:\n  zoho-vault audit list --connection acme --action token_issued"
    )]
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Only this connection.
        #[arg(long)]
        connection: Option<String>,
        /// Only this actor (`admin:<id>`, `service:<id>`, `anonymous`).
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (e.g. `token_issued`, `access_denied`).
        #[arg(long)]
        action: Option<String>,
        /// Only tokens with this fingerprint (`fp_...`).
        #[arg(long)]
        fingerprint: Option<String>,
        /// Events at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Events at or before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Page size (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Continue after this cursor (the `next` printed by a previous page).
        #[arg(long)]
        after: Option<String>,
        /// Oldest first.
        #[arg(long)]
        asc: bool,
        /// Print the JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Verify the live chain, or an export file with --file.
    #[command(
        after_help = "Examples:\n  zoho-vault audit verify\n  zoho-vault audit verify --file audit.jsonl"
    )]
    Verify {
        #[command(flatten)]
        client: ClientArgs,
        /// An export (JSON lines) to check instead of the live trail.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Export events as JSON lines, oldest first.
    #[command(
        after_help = "Example:\n  zoho-vault audit export --until 2025-01-31T00:00:00Z --file audit.jsonl"
    )]
    Export {
        #[command(flatten)]
        client: ClientArgs,
        /// Stop at the first event after this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Delete events up to a sequence number (after exporting them).
    #[command(after_help = "Example:\n  zoho-vault audit prune --until-seq 100000")]
    Prune {
        #[command(flatten)]
        client: ClientArgs,
        /// Last sequence number to delete.
        #[arg(long)]
        until_seq: u64,
    },
}

/// Runs an audit subcommand.
pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::List {
            client,
            connection,
            actor,
            action,
            fingerprint,
            since,
            until,
            limit,
            after,
            asc,
            json,
        } => {
            let mut query: Vec<(&str, String)> = vec![
                ("limit", limit.to_string()),
                ("order", if asc { "asc" } else { "desc" }.into()),
            ];
            let optional = [
                ("connection", connection),
                ("actor", actor),
                ("action", action),
                ("fingerprint", fingerprint),
                ("since", since),
                ("until", until),
                ("after", after),
            ];
            query.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            let page = send(request(&client, Method::GET, "/v1/audit")?.query(&query)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print_table(&page);
            }
            Ok(())
        }
        AuditCommand::Verify { client, file } => verify(&client, file).await,
        AuditCommand::Export {
            client,
            until,
            file,
        } => export(&client, until, file).await,
        AuditCommand::Prune { client, until_seq } => {
            let answer = send(
                request(&client, Method::POST, "/v1/audit/prune")?
                    .json(&serde_json::json!({ "until_seq": until_seq })),
            )
            .await?;
            println!(
                "pruned events up to {}; checkpoint hash {}",
                answer["checkpoint"]["seq"],
                answer["checkpoint"]["hash"].as_str().unwrap_or("?")
            );
            Ok(())
        }
    }
}

fn print_table(page: &Value) {
    println!(
        "{:>8}  {:<20}  {:<24}  {:<8}  {:<28}  CONNECTION",
        "SEQ", "TIME", "ACTION", "OUTCOME", "ACTOR"
    );
    for e in page["events"].as_array().into_iter().flatten() {
        let time = e["time"].as_str().unwrap_or("");
        println!(
            "{:>8}  {:<20}  {:<24}  {:<8}  {:<28}  {}",
            // A JSON number ignores width flags; its text does not.
            e["seq"].to_string(),
            time.get(..19).unwrap_or(time),
            e["action"].as_str().unwrap_or(""),
            e["outcome"].as_str().unwrap_or(""),
            e["actor"].as_str().unwrap_or(""),
            e["connection"].as_str().unwrap_or("-"),
        );
    }
    if let Some(next) = page["next"].as_str() {
        println!("more: --after {next}");
    }
}

async fn verify(client: &ClientArgs, file: Option<PathBuf>) -> anyhow::Result<()> {
    // Verifying takes as long as the trail is long: no overall timeout.
    let progress = Progress::waiting("verifying the audit trail");
    let report = match &file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            send(
                request_with(client, Method::POST, "/v1/audit/verify-export", Wait::Long)?
                    .header("content-type", "application/x-ndjson")
                    .body(text),
            )
            .await?
        }
        None => {
            send(request_with(
                client,
                Method::GET,
                "/v1/audit/verify",
                Wait::Long,
            )?)
            .await?
        }
    };
    drop(progress);
    let what = file.as_ref().map_or_else(
        || "the audit trail".to_string(),
        |p| p.display().to_string(),
    );
    if report["ok"] == Value::Bool(true) {
        println!(
            "{what}: OK, {} events verified from seq {} to {}; head hash {}",
            report["count"],
            report["anchor"]["seq"].as_u64().unwrap_or(0) + 1,
            report["head_seq"],
            report["head_hash"].as_str().unwrap_or("?"),
        );
        return Ok(());
    }
    let broken = &report["broken"];
    let mut place = String::new();
    if let Some(seq) = broken["seq"].as_u64() {
        place.push_str(&format!(" at event {seq}"));
    }
    if let Some(line) = broken["line"].as_u64() {
        place.push_str(&format!(" (line {line})"));
    }
    bail!(
        "{what} is BROKEN{place}: {}: {}\n{} events verified before the break",
        broken["problem"].as_str().unwrap_or("?"),
        broken["message"].as_str().unwrap_or(""),
        report["count"],
    )
}

async fn export(
    client: &ClientArgs,
    until: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let Some(path) = file else {
        let mut out = std::io::stdout().lock();
        export_to(client, until, &mut out).await?;
        out.flush()?;
        return Ok(());
    };
    // FILE.partial, renamed when whole: a FILE that exists is a complete
    // export, never the first pages of one.
    let partial = {
        let mut name = path.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    };
    let result = async {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?,
        );
        let count = export_to(client, until, &mut out).await?;
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot write {}", partial.display()))?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("cannot rename the export to {}", path.display()))?;
        anyhow::Ok(count)
    }
    .await;
    match result {
        Ok(count) => {
            eprintln!("exported {count} events to {}", path.display());
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Writes every page of the export to `out`; answers the event count.
async fn export_to(
    client: &ClientArgs,
    until: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let progress = Progress::items("exporting events");
    let mut after: Option<String> = None;
    let mut count = 0usize;
    loop {
        let mut query: Vec<(&str, String)> = vec![("limit", "10000".into())];
        if let Some(u) = &until {
            query.push(("until", u.clone()));
        }
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        // Errors come back in the API's shape, with the usual exit codes.
        let resp = send_raw(
            request_with(client, Method::GET, "/v1/audit/export", Wait::Stream)?.query(&query),
        )
        .await?;
        let next = resp
            .headers()
            .get("x-audit-next")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp
            .text()
            .await
            .context("the export was cut off before the end")?;
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
        count += lines;
        progress.advance(lines as u64);
        out.write_all(text.as_bytes())?;
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(count)
}
