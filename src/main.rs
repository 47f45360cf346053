//! The `zoho-vault` binary: parse the command line and hand over to the
//! library; failures exit with the codes documented in docs/cli.md.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = zoho_vault::cli::Cli::parse();
    zoho_vault::cli::finish(zoho_vault::cli::run(cli).await)
}
