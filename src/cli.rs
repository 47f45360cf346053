//! The `zoho-vault` command line.
//!
//! Offline commands (`init`, `serve`, `rekey`) work on the data directory;
//! the others are clients of a running vault's HTTP API, addressed with
//! `ZOHO_VAULT_ADDR` / `--addr` and authenticated with `ZOHO_VAULT_TOKEN` /
//! `--token`.

mod audit;
mod client;
mod offline;
pub mod passphrase;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "zoho-vault",
    version,
    about = "Encrypted vault for Zoho OAuth credentials that issues short-lived access tokens"
)]
pub struct Cli {
    /// Settings file layered over config/default.toml.
    #[arg(long, global = true, env = "ZOHO_VAULT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the passphrase comes from (else `ZOHO_VAULT_PASSPHRASE`, else a
/// terminal prompt).
#[derive(Debug, Args, Clone)]
pub struct PassphraseArgs {
    /// Read the passphrase from this file (first line).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// How to reach a running vault.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// Vault address.
    #[arg(long, env = "ZOHO_VAULT_ADDR", default_value = "http://127.0.0.1:8700")]
    pub addr: String,
    /// Bearer token (admin or service).
    #[arg(long, env = "ZOHO_VAULT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the vault in the data directory and print the first admin token once.
    #[command(after_help = "Example:\n  ZOHO_VAULT_PASSPHRASE='long passphrase' zoho-vault init")]
    Init {
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Run the HTTP service; unseals itself when a passphrase is given, else starts sealed.
    #[command(after_help = "Example:\n  ZOHO_VAULT_PASSPHRASE='long passphrase' zoho-vault serve")]
    Serve {
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Initialise the vault on first start, and ask for the passphrase on
        /// the terminal when none is given (what `make run` uses).
        #[arg(long)]
        init: bool,
    },
    /// Re-wrap the data key under a new passphrase (run with the service stopped).
    #[command(
        after_help = "Example:\n  ZOHO_VAULT_PASSPHRASE=old ZOHO_VAULT_NEW_PASSPHRASE=new zoho-vault rekey"
    )]
    Rekey {
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Read the new passphrase from this file (else
        /// `ZOHO_VAULT_NEW_PASSPHRASE`, else a prompt).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Show whether the running vault is initialised and sealed.
    #[command(after_help = "Example:\n  zoho-vault status --addr http://127.0.0.1:8700")]
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Unseal the running vault.
    #[command(after_help = "Example:\n  zoho-vault unseal --passphrase-file /run/secrets/vault")]
    Unseal {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// Seal the running vault (admin token).
    #[command(after_help = "Example:\n  ZOHO_VAULT_TOKEN=zva_... zoho-vault seal")]
    Seal {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Read, verify, export or prune the audit trail (admin token).
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init { passphrase } => offline::init(cli.config.as_deref(), &passphrase).await,
        Command::Serve { passphrase, init } => {
            offline::serve(cli.config.as_deref(), &passphrase, init).await
        }
        Command::Rekey {
            passphrase,
            new_passphrase_file,
        } => {
            offline::rekey(
                cli.config.as_deref(),
                &passphrase,
                new_passphrase_file.as_deref(),
            )
            .await
        }
        Command::Status { client } => client::status(&client).await,
        Command::Unseal { client, passphrase } => client::unseal(&client, &passphrase).await,
        Command::Seal { client } => client::seal(&client).await,
        Command::Audit { command } => audit::run(command).await,
    }
}
