//! Connecting, and what a PostgreSQL error means to the layers above
//! (retry, unreachable, or a failure), with URLs redacted.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::Connection;

use super::StoreError;

pub(super) fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url).map_err(|_| {
        StoreError::Backend(format!(
            "store.postgres.url {} is not a valid PostgreSQL URL",
            redact_url(url)
        ))
    })
}

/// One direct connection, whose error says why it failed.
pub(super) async fn probe(
    url: &str,
    options: &PgConnectOptions,
) -> Result<sqlx::PgConnection, StoreError> {
    sqlx::PgConnection::connect_with(options)
        .await
        .map_err(|e| {
            StoreError::Backend(format!(
                "cannot connect to PostgreSQL at {}: {}",
                redact_url(url),
                describe(&e)
            ))
        })
}

/// Deadlock victims and serialization failures changed nothing and may be
/// retried.
pub(super) fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(
        e.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("40P01" | "40001")
    )
}

pub(super) fn backend(e: sqlx::Error) -> StoreError {
    match e {
        // The database is down, restarting or out of connections: worth
        // telling the caller to retry, unlike a failed statement.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => {
            StoreError::Unreachable(format!("PostgreSQL: {}", describe(&e)))
        }
        // Connection exceptions, a server shutting down or starting up, too
        // many connections.
        sqlx::Error::Database(ref d)
            if d.code().is_some_and(|c| {
                c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03" | "53300")
            }) =>
        {
            StoreError::Unreachable(format!("PostgreSQL: {}", describe(&e)))
        }
        _ => StoreError::Backend(format!("PostgreSQL: {}", describe(&e))),
    }
}

/// sqlx's message for an error. Its messages carry neither the connection
/// URL nor bound values.
pub(super) fn describe(e: &sqlx::Error) -> String {
    e.to_string()
}

/// `url` with any password replaced by `***`, fit for logs and errors. A
/// string that does not parse as a URL is not shown at all, since where
/// its password sits is unknown.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "[unparseable URL, not shown]".to_string();
    };
    if parsed.password().is_some() {
        // Only fails for URLs that cannot have a password at all.
        let _ = parsed.set_password(Some("***"));
    }
    let redacted_query: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("password") {
                "***".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !redacted_query.is_empty() {
        parsed
            .query_pairs_mut()
            .clear()
            .extend_pairs(redacted_query);
    }
    parsed.to_string()
}
