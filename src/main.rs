//! The `zoho-vault` binary: parse the command line and hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zoho_vault::cli::run(zoho_vault::cli::Cli::parse()).await
}
