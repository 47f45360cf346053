//! Commands that work on the data directory itself: init, serve, rekey.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};

use super::passphrase::{self, Purpose};
use super::PassphraseArgs;
use crate::config::{Settings, StoreBackend};
use crate::service::VaultService;
use crate::startup::Application;
use crate::telemetry;
use crate::vault::VaultError;

async fn open(config: Option<&Path>) -> anyhow::Result<Arc<VaultService>> {
    open_with(Settings::load(config)?).await
}

async fn open_with(settings: Settings) -> anyhow::Result<Arc<VaultService>> {
    telemetry::init(&settings.log);
    let place = where_stored(&settings);
    VaultService::open(settings)
        .await
        .with_context(|| format!("cannot open the vault in {place}"))
}

/// Where the vault lives, for messages: the data directory, or the
/// database (without its password).
fn where_stored(settings: &Settings) -> String {
    match settings.store.backend {
        StoreBackend::Sled => settings.data_dir.display().to_string(),
        StoreBackend::Postgres => match &settings.store.postgres.url {
            Some(url) => format!("PostgreSQL {url:?}"),
            None => "PostgreSQL (store.postgres.url is not set)".to_string(),
        },
    }
}

fn print_admin_token(token: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "admin token: {token}")?;
    out.flush()?;
    eprintln!(
        "The vault is initialised. The admin token above is shown only once: store it in your \
         secret manager now (ZOHO_VAULT_TOKEN for the CLI)."
    );
    Ok(())
}

/// `zoho-vault init`.
pub async fn init(config: Option<&Path>, args: &PassphraseArgs) -> anyhow::Result<()> {
    let service = open(config).await?;
    if service.is_initialized().await? {
        bail!("{}", VaultError::AlreadyInitialized);
    }
    let pass = passphrase::require(
        args.passphrase_file.as_deref(),
        passphrase::ENV,
        "New vault passphrase",
        Purpose::New,
    )?;
    let token = service.initialize(pass).await?;
    print_admin_token(token.expose())
}

/// `zoho-vault serve [--init]`.
pub async fn serve(config: Option<&Path>, args: &PassphraseArgs, init: bool) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    // Bind first: a busy port must fail before the data directory is
    // touched, let alone a vault created (and its admin token printed).
    let listener = crate::startup::bind(&settings.listen)?;
    crate::tls::tls_config(&settings.tls)?;
    let file = args.passphrase_file.as_deref();
    // A new vault's passphrase is read before the store is created, so a
    // missing or too short one leaves no empty store behind.
    let mut new_pass = None;
    if init && !crate::store::exists(&settings).await? {
        new_pass = Some(passphrase::require(
            file,
            passphrase::ENV,
            "New vault passphrase",
            Purpose::New,
        )?);
    }
    let service = open_with(settings).await?;
    if !service.is_initialized().await? {
        if init {
            let pass = match new_pass {
                Some(pass) => pass,
                None => passphrase::require(
                    file,
                    passphrase::ENV,
                    "New vault passphrase",
                    Purpose::New,
                )?,
            };
            let token = service.initialize(pass).await?;
            print_admin_token(token.expose())?;
        } else {
            tracing::warn!(
                "the vault is not initialised: run `zoho-vault init` (or `serve --init`)"
            );
        }
    } else {
        let prompt = init.then_some("Vault passphrase");
        match passphrase::obtain(file, passphrase::ENV, prompt, Purpose::Existing)? {
            Some(pass) => {
                service
                    .unseal(pass)
                    .await
                    .context("cannot unseal the vault at start")?;
                tracing::info!("vault unsealed");
            }
            None => tracing::warn!(
                "starting sealed: unseal with `zoho-vault unseal` or POST /v1/sys/unseal"
            ),
        }
    }
    let app = Application::build_on(Arc::clone(&service), listener)
        .context("cannot start the HTTP server")?;
    // Logged before the stdout line, which scripts wait for.
    tracing::info!(addr = %app.addr(), "serving");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "zoho-vault listening on {}", app.url())?;
        out.flush()?;
    }
    let background = tokio::spawn(crate::refresh_ahead::run(
        Arc::clone(&service),
        service.settings().refresh_ahead.clone(),
    ));
    let denial_windows = tokio::spawn(Arc::clone(&service).close_denial_windows_periodically());
    let webhooks = tokio::spawn(Arc::clone(&service).deliver_webhooks());
    let sessions = tokio::spawn(Arc::clone(&service).sweep_console_sessions_periodically());
    app.run_until_stopped().await?;
    sessions.abort();
    webhooks.abort();
    background.abort();
    denial_windows.abort();
    // No count of denials is lost with the process.
    service.close_denial_windows().await;
    service.flush_proxy_completions().await;
    service.flush_store().await?;
    tracing::info!("stopped; store flushed");
    Ok(())
}

/// `zoho-vault rekey`.
pub async fn rekey(
    config: Option<&Path>,
    args: &PassphraseArgs,
    new_file: Option<&Path>,
) -> anyhow::Result<()> {
    let service = open(config).await?;
    if !service.is_initialized().await? {
        bail!("{}", VaultError::NotInitialized);
    }
    let old = passphrase::require(
        args.passphrase_file.as_deref(),
        passphrase::ENV,
        "Current passphrase",
        Purpose::Existing,
    )?;
    let new = passphrase::require(
        new_file,
        passphrase::NEW_ENV,
        "New passphrase",
        Purpose::New,
    )?;
    let (result, recorded) = service.rekey(old, new).await;
    if let Err(e) = recorded {
        eprintln!("warning: the rekey could not be recorded in the audit trail: {e}");
    }
    result?;
    eprintln!("The data key is now wrapped by the new passphrase; the old one no longer unseals this vault.");
    Ok(())
}
