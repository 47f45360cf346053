//! `zoho-vault connection import-csv FILE`: imports refresh tokens in bulk
//! from a CSV file, one connection per row (see docs/migration.md).
//!
//! Each row is `name,client_id,client_secret,refresh_token[,data_center]`
//! and becomes `PUT /v1/connections/{name}` with `refresh_token`, which the
//! vault validates with one refresh. A bad row is reported by its line
//! number and the run goes on; only failures that would fail every row (the
//! vault unreachable, the token refused, the vault sealed) stop it. The
//! file holds secrets: no message ever quotes a field other than the name,
//! and the name only once it is a valid connection name.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::body::read_input;
use super::data_centers;
use crate::cli::client::{authed, send};
use crate::cli::error::CliError;
use crate::cli::output;
use crate::cli::ClientArgs;
use crate::model::ConnectionName;
use crate::zoho::DataCenter;

/// `connection import-csv` arguments.
#[derive(Debug, Args)]
pub struct ImportCsvArgs {
    /// CSV file (`-` reads stdin): `name,client_id,client_secret,refresh_token[,data_center]`
    /// per row; a first row starting with `name` is a header; `#` starts a comment line.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Data center for rows without one (default `com`).
    #[arg(long, value_name = "DC", value_parser = data_centers(), conflicts_with = "accounts_url")]
    pub data_center: Option<String>,
    /// Custom accounts server for rows without a data center (the vault
    /// must allow it: zoho.allow_custom_accounts_url).
    #[arg(long, value_name = "URL")]
    pub accounts_url: Option<String>,
    /// Rows imported at the same time (1 to 32).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub jobs: u16,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print one JSON document with every row's result.
    #[arg(long)]
    pub json: bool,
}

/// One row, ready to send or already refused locally.
enum Row {
    Ready {
        line: u64,
        name: String,
        body: Map<String, Value>,
    },
    Bad {
        line: u64,
        name: Option<String>,
        reason: String,
    },
}

/// What became of a row.
struct Outcome {
    line: u64,
    name: Option<String>,
    result: RowResult,
}

enum RowResult {
    Imported { state: String },
    Failed { error: Value, text: String },
    Skipped,
}

const FIELDS: &str = "name,client_id,client_secret,refresh_token[,data_center]";

/// Parses the CSV text into rows. No message quotes a secret field.
fn parse(text: &str, data_center: Option<&str>, accounts_url: Option<&str>) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut first = true;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rows.push(Row::Bad {
                    line,
                    name: None,
                    reason: "not readable as CSV (check quotes and the text encoding, UTF-8)"
                        .into(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let is_header = first
            && record
                .get(0)
                .is_some_and(|f| f.eq_ignore_ascii_case("name"));
        first = false;
        if is_header || record.iter().all(str::is_empty) {
            continue;
        }
        let parsed = row(line, &record, data_center, accounts_url);
        // A name twice in one file: the second row is refused here, not
        // left to race the first one at the vault.
        let parsed = match parsed {
            Row::Ready { line, name, .. } if seen.contains_key(&name) => Row::Bad {
                line,
                reason: format!(
                    "the name is already used on line {} of this file",
                    seen[&name]
                ),
                name: Some(name),
            },
            Row::Ready { line, name, body } => {
                seen.insert(name.clone(), line);
                Row::Ready { line, name, body }
            }
            bad => bad,
        };
        rows.push(parsed);
    }
    rows
}

fn row(
    line: u64,
    record: &csv::StringRecord,
    data_center: Option<&str>,
    accounts_url: Option<&str>,
) -> Row {
    let bad = |name: Option<&str>, reason: String| Row::Bad {
        line,
        name: name.map(str::to_string),
        reason,
    };
    if !(4..=5).contains(&record.len()) {
        return bad(
            None,
            format!("expected 4 or 5 fields ({FIELDS}), found {}", record.len()),
        );
    }
    let field = |i: usize| record.get(i).unwrap_or_default();
    let name = field(0);
    if let Err(reason) = ConnectionName::parse(name) {
        return bad(None, format!("invalid connection name: {reason}"));
    }
    for (i, what) in [(1, "client_id"), (2, "client_secret"), (3, "refresh_token")] {
        if field(i).is_empty() {
            return bad(Some(name), format!("the {what} field is empty"));
        }
    }
    let mut body = Map::new();
    body.insert("client_id".into(), field(1).into());
    body.insert("client_secret".into(), field(2).into());
    body.insert("refresh_token".into(), field(3).into());
    match (field(4), data_center, accounts_url) {
        ("", Some(dc), _) => {
            body.insert("data_center".into(), dc.into());
        }
        ("", None, Some(url)) => {
            body.insert("accounts_url".into(), url.into());
        }
        ("", None, None) => {}
        (dc, _, _) => {
            if !DataCenter::ALL.iter().any(|d| d.code() == dc) {
                let known: Vec<&str> = DataCenter::ALL.iter().map(|d| d.code()).collect();
                return bad(
                    Some(name),
                    format!("unknown data center; use one of {}", known.join(", ")),
                );
            }
            body.insert("data_center".into(), dc.into());
        }
    }
    Row::Ready {
        line,
        name: name.to_string(),
        body,
    }
}

/// Whether a failure would fail every other row too.
fn stops_the_run(err: &anyhow::Error) -> bool {
    match err.downcast_ref::<CliError>() {
        Some(CliError::Api { status, .. }) => matches!(status, 401 | 403 | 503),
        Some(CliError::Unreachable { .. } | CliError::NoToken) => true,
        _ => false,
    }
}

fn failure(err: &anyhow::Error) -> RowResult {
    match err.downcast_ref::<CliError>() {
        Some(CliError::Api {
            status,
            code,
            message,
            hint,
            fix,
            ..
        }) => {
            let mut text = format!("{message} (HTTP {status}, {code})");
            if let Some(h) = hint {
                text.push_str(&format!("; hint: {h}"));
            }
            RowResult::Failed {
                error: json!({"status": status, "code": code, "message": message, "hint": hint, "fix": fix}),
                text,
            }
        }
        _ => {
            let text = format!("{err:#}");
            RowResult::Failed {
                error: json!({"message": text}),
                text,
            }
        }
    }
}

/// Imports one row; the error too when it stops the run.
async fn import_one(
    client: &ClientArgs,
    row: Row,
    stop: &AtomicBool,
) -> (Outcome, Option<anyhow::Error>) {
    let (line, name, body) = match row {
        Row::Bad { line, name, reason } => {
            let outcome = Outcome {
                line,
                name,
                result: RowResult::Failed {
                    error: json!({"message": reason}),
                    text: reason,
                },
            };
            return (outcome, None);
        }
        Row::Ready { line, name, body } => (line, name, body),
    };
    if stop.load(Ordering::SeqCst) {
        let outcome = Outcome {
            line,
            name: Some(name),
            result: RowResult::Skipped,
        };
        return (outcome, None);
    }
    let sent = match authed(client, Method::PUT, &format!("/v1/connections/{name}")) {
        Ok(req) => send(req.json(&Value::Object(body))).await,
        Err(e) => Err(e),
    };
    let (result, fatal) = match sent {
        Ok(view) => (
            RowResult::Imported {
                state: output::text(&view["health"]["state"]),
            },
            None,
        ),
        Err(e) => {
            let result = failure(&e);
            if stops_the_run(&e) {
                stop.store(true, Ordering::SeqCst);
                (result, Some(e))
            } else {
                (result, None)
            }
        }
    };
    let outcome = Outcome {
        line,
        name: Some(name),
        result,
    };
    (outcome, fatal)
}

fn print_human(o: &Outcome) {
    let name = o.name.as_deref().unwrap_or("-");
    match &o.result {
        RowResult::Imported { state } => println!("ok       line {:<5} {name}  {state}", o.line),
        RowResult::Failed { text, .. } => println!("failed   line {:<5} {name}  {text}", o.line),
        RowResult::Skipped => println!(
            "skipped  line {:<5} {name}  not tried: the run stopped at an earlier failure",
            o.line
        ),
    }
}

fn as_json(o: &Outcome) -> Value {
    let mut v = json!({"line": o.line, "name": o.name});
    match &o.result {
        RowResult::Imported { state } => {
            v["result"] = "imported".into();
            v["state"] = state.as_str().into();
        }
        RowResult::Failed { error, .. } => {
            v["result"] = "failed".into();
            v["error"] = error.clone();
        }
        RowResult::Skipped => v["result"] = "skipped".into(),
    }
    v
}

/// Runs `connection import-csv`.
pub async fn run(args: ImportCsvArgs) -> anyhow::Result<()> {
    if args.client.token.as_deref().is_none_or(str::is_empty) {
        return Err(CliError::NoToken.into());
    }
    let text = zeroize::Zeroizing::new(read_input(&args.file)?);
    let rows = parse(
        &text,
        args.data_center.as_deref(),
        args.accounts_url.as_deref(),
    );
    if rows.is_empty() {
        return Err(
            CliError::Usage(format!("{} holds no rows ({FIELDS})", args.file.display())).into(),
        );
    }
    let total = rows.len();
    let stop = AtomicBool::new(false);
    let client = &args.client;
    let stop_ref = &stop;
    // `buffered` keeps the file's order while a few rows are in flight.
    let mut results = futures_util::stream::iter(rows)
        .map(|row| import_one(client, row, stop_ref))
        .buffered(usize::from(args.jobs));
    let mut outcomes = Vec::with_capacity(total);
    let mut fatal: Option<anyhow::Error> = None;
    while let Some((outcome, stopped)) = results.next().await {
        if !args.json {
            print_human(&outcome);
        }
        if fatal.is_none() {
            fatal = stopped;
        }
        outcomes.push(outcome);
    }
    let count = |f: fn(&RowResult) -> bool| outcomes.iter().filter(|o| f(&o.result)).count();
    let imported = count(|r| matches!(r, RowResult::Imported { .. }));
    let failed = count(|r| matches!(r, RowResult::Failed { .. }));
    let skipped = count(|r| matches!(r, RowResult::Skipped));
    if args.json {
        output::json(&json!({
            "imported": imported,
            "failed": failed,
            "skipped": skipped,
            "rows": outcomes.iter().map(as_json).collect::<Vec<_>>(),
        }))?;
    } else {
        println!("imported {imported} of {total} rows ({failed} failed, {skipped} skipped)");
    }
    if let Some(e) = fatal {
        // Exits with the code of the failure that stopped the run.
        return Err(e.context(
            "the import stopped (import the rows not imported again once this is fixed)",
        ));
    }
    if imported < total {
        anyhow::bail!(
            "{} of {total} rows were not imported; fix them and import only those rows again (imported names now exist)",
            total - imported
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
