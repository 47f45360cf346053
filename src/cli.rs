//! The `zoho-vault` command line.
//!
//! Offline commands (`init`, `serve`, `rekey`, `restore`, and `backup
//! --offline`) work on the data directory; the others are clients of a running vault's HTTP API, addressed with
//! `ZOHO_VAULT_ADDR` / `--addr` and authenticated with `ZOHO_VAULT_TOKEN` /
//! `--token`. Client commands print tables for people and the API's JSON
//! with `--json`; failures end with the exit codes of [`Exit`] (see
//! `docs/cli.md`).

mod audit;
mod backup;
mod client;
mod connection;
mod error;
mod fix;
mod offline;
mod output;
pub mod passphrase;
mod progress;
mod service_token;
mod token;
mod webhook;

pub use error::{finish, CliError, Exit};

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
    #[arg(
        long,
        env = "ZOHO_VAULT_ADDR",
        default_value = "http://127.0.0.1:8700",
        value_name = "URL",
        value_parser = client::parse_addr
    )]
    pub addr: String,
    /// Also trust the CA certificate(s) in this PEM file (a vault behind a
    /// private CA or with a self-signed certificate).
    #[arg(long, env = "ZOHO_VAULT_CACERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Bearer token: admin (`zva_`), or service (`zvs_`) for `token`. Prefer
    /// the environment variable: flags show up in `ps`.
    #[arg(
        long,
        env = "ZOHO_VAULT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
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
    #[command(after_help = "\
Example:
  ZOHO_VAULT_PASSPHRASE='long passphrase' zoho-vault serve

Environment:
  ZOHO_VAULT_PASSPHRASE   the passphrase (else --passphrase-file, else starts sealed;
                          with --init on a terminal, a prompt)
  ZOHO_VAULT_LISTEN       address to listen on (default 127.0.0.1:8700)
  ZOHO_VAULT_DATA_DIR     data directory (default ./data)
  ZOHO_VAULT_CONFIG       settings file (--config)
  ZOHO_VAULT_TLS__CERT_FILE, ZOHO_VAULT_TLS__KEY_FILE
                          serve HTTPS (PEM files; reloaded on SIGHUP)
  ZOHO_VAULT_LOG__LEVEL   log level (default info)
Every setting of docs/configuration.md can be set as ZOHO_VAULT_<SECTION>__<KEY>.")]
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
    /// Write a backup of the encrypted store to FILE (admin token; or --offline with the service stopped).
    #[command(after_help = "\
Examples:
  ZOHO_VAULT_TOKEN=zva_... zoho-vault backup /var/backups/zoho-vault/$(date -u +%Y%m%dT%H%M%SZ).backup
  zoho-vault backup vault.backup --offline      # service stopped: reads data_dir itself

The file is written as FILE.partial (mode 0600), checked, then renamed to FILE.
It stays encrypted: restoring it needs the passphrase the vault has now.")]
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty data directory (offline: the service stopped).
    #[command(after_help = "\
Example:
  ZOHO_VAULT_DATA_DIR=/var/lib/zoho-vault/data-restored zoho-vault restore vault.backup
  ZOHO_VAULT_DATA_DIR=/var/lib/zoho-vault/data-restored zoho-vault serve --passphrase-file FILE

The whole file is checked first; a data directory that holds a vault is refused.")]
    Restore(backup::RestoreArgs),
    /// Show whether the running vault is initialised and sealed, and who the token is.
    #[command(after_help = "\
Examples:
  zoho-vault status --addr http://127.0.0.1:8700
  zoho-vault status --json

Exit codes: 0 unsealed (and the token, if set, is valid); 2 sealed or not
initialised; 3 the token was refused; 6 the vault cannot be reached.")]
    Status {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Unseal the running vault.
    #[command(after_help = "\
Example:
  zoho-vault unseal --passphrase-file /run/secrets/vault

Environment:
  ZOHO_VAULT_PASSPHRASE   the passphrase (else --passphrase-file, else a prompt on a terminal)
  ZOHO_VAULT_ADDR         vault address (--addr)
  ZOHO_VAULT_CACERT       CA certificate to trust (--ca-cert)")]
    Unseal {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        passphrase: PassphraseArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Seal the running vault: keys and cached tokens leave memory (admin token).
    #[command(after_help = "Example:\n  ZOHO_VAULT_TOKEN=zva_... zoho-vault seal")]
    Seal {
        #[command(flatten)]
        client: ClientArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Add, list, show or delete Zoho connections (admin token).
    #[command(
        after_help = "Examples:\n  zoho-vault connection add acme self_client.json --data-center eu\n  zoho-vault connection list"
    )]
    Connection {
        #[command(subcommand)]
        command: connection::ConnectionCommand,
    },
    /// Print a connection's access token, alone on one line (service or admin token).
    #[command(after_help = "\
Examples:
  ZOHO_VAULT_TOKEN=zvs_... zoho-vault token acme
  curl -H \"Authorization: Zoho-oauthtoken $(zoho-vault token acme)\" \\
       -H 'X-com-zoho-invoice-organizationid: 10234695' \\
       https://www.zohoapis.com/invoice/v3/invoices
  zoho-vault token acme --min-valid 600 --json   # with api_domain and expiry")]
    Token(token::TokenArgs),
    /// Create, list or revoke service tokens for backends (admin token).
    #[command(
        after_help = "Examples:\n  zoho-vault service-token create --name billing --connection acme\n  zoho-vault service-token list"
    )]
    ServiceToken {
        #[command(subcommand)]
        command: service_token::ServiceTokenCommand,
    },
    /// Add, list, remove or test webhook endpoints (admin token).
    #[command(
        after_help = "Examples:\n  zoho-vault webhook add https://hooks.example.com/in --event connection.needs_reauth\n  zoho-vault webhook list"
    )]
    Webhook {
        #[command(subcommand)]
        command: webhook::WebhookCommand,
    },
    /// Read, verify, export or prune the audit trail (admin token).
    #[command(
        after_help = "Examples:\n  zoho-vault audit list --connection acme\n  zoho-vault audit verify"
    )]
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "\
Examples:
  zoho-vault completions bash > /etc/bash_completion.d/zoho-vault
  zoho-vault completions zsh > \"${fpath[1]}/_zoho-vault\"
  zoho-vault completions fish > ~/.config/fish/completions/zoho-vault.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout.
    #[command(after_help = "Example:\n  zoho-vault man > /usr/local/share/man/man1/zoho-vault.1")]
    Man,
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
        Command::Backup(args) => backup::run_backup(cli.config.as_deref(), args).await,
        Command::Restore(args) => backup::run_restore(cli.config.as_deref(), args).await,
        Command::Status { client, json } => client::status(&client, json).await,
        Command::Unseal {
            client,
            passphrase,
            json,
        } => client::unseal(&client, &passphrase, json).await,
        Command::Seal { client, json } => client::seal(&client, json).await,
        Command::Connection { command } => connection::run(command).await,
        Command::Token(args) => token::run(args).await,
        Command::ServiceToken { command } => service_token::run(command).await,
        Command::Audit { command } => audit::run(command).await,
        Command::Webhook { command } => webhook::run(command).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "zoho-vault", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            let mut out = std::io::stdout().lock();
            man.render(&mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
