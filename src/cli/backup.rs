//! `zoho-vault backup FILE` and `zoho-vault restore FILE`.
//!
//! `backup` downloads `GET /v1/sys/backup` from the running vault (admin
//! token), or with `--offline` reads the data directory itself while the
//! service is stopped. Either way the file is written as `FILE.partial`
//! (mode 0600), checked completely with [`backup::verify`], and only then
//! renamed to `FILE`: a `FILE` that exists is always a whole backup.
//!
//! `restore` is offline only: it checks the whole file, then writes it into
//! the configured `data_dir`, which must be empty.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::client::{download, send_raw};
use super::error::CliError;
use super::output;
use super::passphrase::{self, Purpose};
use super::progress::Progress;
use super::ClientArgs;
use crate::backup::{self, BackupError, BackupKey, Summary};
use crate::config::Settings;
use crate::service::{OfflineBackupError, OpenError, VaultService};
use crate::store::{self, StoreError};
use crate::telemetry;
use crate::vault::{Vault, VaultError};

/// `zoho-vault backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the backup (written as FILE.partial, then renamed).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// Read the data directory directly instead of asking the running vault
    /// (the service must be stopped; no token needed, but the passphrase
    /// is, to sign the backup).
    #[arg(long)]
    pub offline: bool,
    /// With --offline: read the passphrase from this file (else
    /// ZOHO_VAULT_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE", requires = "offline")]
    pub passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `zoho-vault restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup written by `zoho-vault backup` (or `GET /v1/sys/backup`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Read the passphrase the vault had when the backup was taken from
    /// this file (else ZOHO_VAULT_PASSPHRASE, else a prompt): it proves the
    /// file is the vault's own, unedited.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// `FILE.partial`, beside `FILE`.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

/// Creates (or truncates) `path` readable and writable by its owner only.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        // An old FILE.partial keeps its mode on open: set it again.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}

fn refuse_existing(file: &Path) -> Result<(), CliError> {
    if file.exists() {
        return Err(CliError::Conflict(format!(
            "{} exists; choose another name, or pass --force to replace it",
            file.display()
        )));
    }
    Ok(())
}

/// `zoho-vault backup FILE [--force] [--offline]`.
pub async fn run_backup(config: Option<&Path>, args: BackupArgs) -> anyhow::Result<()> {
    if !args.force {
        refuse_existing(&args.file)?;
    }
    if args.file.is_dir() {
        return Err(CliError::Usage(format!("{} is a directory", args.file.display())).into());
    }
    let partial = partial_path(&args.file);
    let written = if args.offline {
        offline_backup(config, args.passphrase_file.as_deref(), &partial).await
    } else {
        online_backup(&args.client, &partial).await
    };
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let summary = match check(&partial, None).await {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context(format!(
                "the backup is incomplete or damaged and was removed; {} was not written",
                args.file.display()
            )));
        }
    };
    if !args.force {
        if let Err(e) = refuse_existing(&args.file) {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
    }
    std::fs::rename(&partial, &args.file)
        .with_context(|| format!("cannot rename the backup to {}", args.file.display()))?;
    sync_parent(&args.file);
    let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    println!("backup written to {}", args.file.display());
    output::pairs(&[
        ("entries", summary.entries.to_string()),
        ("size", format!("{size} bytes ({})", human(size))),
        ("taken at", rfc3339(summary.created_at)),
        ("audit head", head(&summary)),
    ]);
    eprintln!(
        "The backup is still encrypted: restoring it needs the passphrase the vault has now \
         (a later rekey does not change that). Keep it as safe as the data directory."
    );
    Ok(())
}

/// Downloads the running vault's backup into `partial`.
async fn online_backup(client: &ClientArgs, partial: &Path) -> anyhow::Result<()> {
    let mut resp = send_raw(download(client, "/v1/sys/backup")?).await?;
    let progress = Progress::bytes("downloading the backup", resp.content_length());
    let mut out = BufWriter::new(
        create_private(partial).with_context(|| format!("cannot create {}", partial.display()))?,
    );
    while let Some(chunk) = resp
        .chunk()
        .await
        .context("the download was cut off before the end")?
    {
        out.write_all(&chunk)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        progress.advance(chunk.len() as u64);
    }
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", partial.display()))?;
    Ok(())
}

/// Opens the configured data directory for an offline command, saying what
/// to do when a running service holds it.
async fn open_offline(config: Option<&Path>, what: &str) -> anyhow::Result<Arc<VaultService>> {
    let settings = Settings::load(config)?;
    telemetry::init(&settings.log);
    let dir = settings.data_dir.clone();
    if !store::exists(&settings).await? {
        return Err(CliError::Usage(format!("there is no vault in {}", dir.display())).into());
    }
    match VaultService::open(settings).await {
        Ok(service) => Ok(service),
        Err(OpenError::Vault(VaultError::Store(StoreError::Locked(_)))) => {
            Err(CliError::Conflict(format!(
                "the data directory {} is in use by a running zoho-vault; {what}",
                dir.display()
            ))
            .into())
        }
        Err(e) => Err(e).with_context(|| format!("cannot open the vault in {}", dir.display())),
    }
}

/// Writes the data directory's backup into `partial` (service stopped).
async fn offline_backup(
    config: Option<&Path>,
    passphrase_file: Option<&Path>,
    partial: &Path,
) -> anyhow::Result<()> {
    let service = open_offline(
        config,
        "stop the service, or drop --offline to back up through it",
    )
    .await?;
    let pass = passphrase::require(
        passphrase_file,
        passphrase::ENV,
        "Vault passphrase",
        Purpose::Existing,
    )?;
    match service
        .backup_offline(pass, || create_private(partial))
        .await
    {
        Ok(()) => Ok(()),
        Err(OfflineBackupError::Vault(e)) => Err(e.into()),
        Err(OfflineBackupError::Audit(e)) => Err(anyhow::Error::from(e)
            .context("the backup could not be recorded in the audit trail; nothing was backed up")),
        Err(OfflineBackupError::Create(e)) => {
            Err(anyhow::Error::from(e).context(format!("cannot create {}", partial.display())))
        }
        Err(OfflineBackupError::Backup(e)) => Err(e.into()),
    }
}

/// Verifies a whole backup file; its MAC too when `key` is given.
async fn check(path: &Path, key: Option<Arc<BackupKey>>) -> anyhow::Result<Summary> {
    let path = path.to_path_buf();
    let summary = tokio::task::spawn_blocking(move || {
        let file = File::open(&path)?;
        backup::verify(BufReader::new(file), key.as_deref())
    })
    .await
    .context("the verification task failed")??;
    Ok(summary)
}

/// `zoho-vault restore FILE`.
pub async fn run_restore(config: Option<&Path>, args: RestoreArgs) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    telemetry::init(&settings.log);
    let dir = settings.data_dir.clone();
    let file = args.file.clone();
    // The whole file first, MAC included: a bad one changes nothing, not
    // even the data directory's existence.
    let refused = |e: anyhow::Error| {
        let reason = match e.downcast_ref::<BackupError>() {
            Some(BackupError::Io(io)) => format!("cannot read {}: {io}", file.display()),
            Some(other) => format!("{}: {other}; nothing was restored", file.display()),
            None => format!("{e:#}"),
        };
        anyhow::Error::from(CliError::Usage(reason))
    };
    let header = {
        let path = file.clone();
        tokio::task::spawn_blocking(move || {
            backup::vault_header(BufReader::new(File::open(&path)?))
        })
        .await
        .context("the verification task failed")?
        .map_err(|e| refused(e.into()))?
    };
    let pass = passphrase::require(
        args.passphrase_file.as_deref(),
        passphrase::ENV,
        "Passphrase of the vault the backup was taken from",
        Purpose::Existing,
    )?;
    let data = tokio::task::spawn_blocking(move || Vault::open_stored_header(&header, &pass))
        .await
        .context("the key derivation task failed")?;
    let key = match data {
        Ok(data) => Arc::new(BackupKey::derive(&data)),
        Err(VaultError::WrongPassphrase) => {
            return Err(CliError::Usage(format!(
                "the passphrase does not open the vault header in {}; give the passphrase the vault had when the backup was taken. Nothing was restored",
                file.display()
            ))
            .into())
        }
        Err(e) => return Err(refused(e.into())),
    };
    check(&file, Some(Arc::clone(&key)))
        .await
        .map_err(refused)?;
    let store = match store::open(&settings).await {
        Ok(store) => store,
        Err(StoreError::Locked(_)) => {
            return Err(CliError::Conflict(format!(
                "the data directory {} is in use by a running zoho-vault; restore works offline only: stop the service and restore into an empty data directory",
                dir.display()
            ))
            .into())
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open the store in {}", dir.display()))
        }
    };
    let blocking = Arc::clone(store.blocking());
    let source = file.clone();
    let progress = Progress::waiting("restoring");
    let restored = tokio::task::spawn_blocking(move || {
        let input = File::open(&source)?;
        backup::restore_backup(blocking.as_ref(), BufReader::new(input), &key)
    })
    .await
    .context("the restore task failed")?;
    drop(progress);
    let summary = match restored {
        Ok(summary) => summary,
        Err(BackupError::TargetNotEmpty) => {
            return Err(CliError::Conflict(format!(
                "{} is not empty (it holds a vault, or the remains of an interrupted restore); nothing was changed. Restore into a new, empty data directory (ZOHO_VAULT_DATA_DIR or data_dir)",
                dir.display()
            ))
            .into())
        }
        Err(e) => return Err(e).context("the restore failed; the data directory was left empty"),
    };
    store.flush().await?;
    println!("restored {} into {}", file.display(), dir.display());
    output::pairs(&[
        ("entries", summary.entries.to_string()),
        ("backup taken at", rfc3339(summary.created_at)),
        ("audit head", head(&summary)),
    ]);
    println!(
        "\nNext: start the service on this data directory with the passphrase the vault had \
         when the backup was taken, e.g.\n  ZOHO_VAULT_DATA_DIR={} zoho-vault serve --passphrase-file FILE\n\
         then check it: `zoho-vault status`, `zoho-vault audit verify`, `zoho-vault connection list`.\n\
         The vault is as it was at {}: revoke again any service or admin token revoked since, \
         and re-create what was added since.",
        dir.display(),
        rfc3339(summary.created_at)
    );
    Ok(())
}

/// Makes a rename durable (best effort).
fn sync_parent(file: &Path) {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

/// The audit chain's head recorded in a backup, for the operator to keep
/// (docs/audit.md: keep heads outside the vault).
fn head(summary: &Summary) -> String {
    summary.head.as_ref().map_or_else(
        || "none (empty trail)".to_string(),
        |h| format!("event {}, hash {}", h.seq, h.hash),
    )
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into())
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = "bytes";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if unit == "bytes" {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests;
