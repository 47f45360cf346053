//! `fake-zoho`: runs the fake Zoho accounts server and Invoice API (see
//! docs/fake-zoho.md). Prints `fake-zoho listening on http://ADDR` once it
//! accepts connections, so scripts can read the address; Ctrl-C stops it.

use std::io::Write;

use clap::Parser;
use zoho_vault::fake_zoho::{FakeZoho, FakeZohoConfig};

/// Fake Zoho accounts server for tests, demos and benchmarks.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "FAKE_ZOHO_LISTEN", default_value = "127.0.0.1:8800")]
    listen: String,
    /// actix worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Access-token lifetime and `expires_in`, in seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_ttl_secs: i64,
    /// HTTP status of throttle answers (200 or 400).
    #[arg(long, default_value_t = 200)]
    throttle_http_status: u16,
    /// Mints allowed per refresh token per window.
    #[arg(long, default_value_t = 10)]
    mint_limit: usize,
    /// Rolling mint window, in seconds.
    #[arg(long, default_value_t = 600)]
    mint_window_secs: i64,
    /// Live access tokens kept per refresh token.
    #[arg(long, default_value_t = 10)]
    live_token_cap: usize,
    /// Refresh tokens kept per (user, client).
    #[arg(long, default_value_t = 20)]
    refresh_token_cap: usize,
    /// Answer `expires_in` in milliseconds plus `expires_in_sec` (pre-2019).
    #[arg(long)]
    legacy_expires: bool,
    /// Leave `scope` out of token answers.
    #[arg(long)]
    no_scope: bool,
    /// `api_domain` in token answers (default: the fake's own URL).
    #[arg(long)]
    api_domain: Option<String>,
    /// `location` in redirect callbacks.
    #[arg(long, default_value = "us")]
    location: String,
    /// Delay added to every token and revoke answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = FakeZohoConfig {
        access_token_ttl_secs: args.access_token_ttl_secs,
        throttle_http_status: args.throttle_http_status,
        mint_limit: args.mint_limit,
        mint_window_secs: args.mint_window_secs,
        live_token_cap: args.live_token_cap,
        refresh_token_cap: args.refresh_token_cap,
        legacy_expires: args.legacy_expires,
        include_scope: !args.no_scope,
        api_domain: args.api_domain,
        location: args.location,
        latency_ms: args.latency_ms,
        ..FakeZohoConfig::default()
    };
    let fake = FakeZoho::start_on(args.listen.as_str(), config, args.workers)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "fake-zoho listening on {}", fake.base_url())?;
    stdout.flush()?;
    tokio::signal::ctrl_c().await?;
    drop(fake);
    Ok(())
}
