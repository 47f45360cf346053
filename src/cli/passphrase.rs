//! Getting the passphrase: a file, an environment variable, or a prompt on
//! the terminal (asked twice when choosing a new one).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};

/// Environment variable holding the passphrase.
pub const ENV: &str = "ZOHO_VAULT_PASSPHRASE";
/// Environment variable holding the new passphrase for `rekey`.
pub const NEW_ENV: &str = "ZOHO_VAULT_NEW_PASSPHRASE";
/// Shortest passphrase accepted for a new vault or a rekey.
pub const MIN_LEN: usize = 12;

/// Whether a new passphrase is being chosen (asked twice, length checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Unlocking an existing vault.
    Existing,
    /// Choosing a new passphrase.
    New,
}

/// Reads the passphrase from `file`, else `env_var`, else the terminal
/// (when `prompt` is allowed and stdin is a terminal). `Ok(None)` when no
/// source is available.
pub fn obtain(
    file: Option<&Path>,
    env_var: &str,
    prompt: Option<&str>,
    purpose: Purpose,
) -> anyhow::Result<Option<SecretString>> {
    let found = if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read passphrase file {}", path.display()))?;
        let first = text.lines().next().unwrap_or_default().to_string();
        Some(SecretString::from(first))
    } else if let Ok(value) = std::env::var(env_var) {
        Some(SecretString::from(value))
    } else if let Some(label) = prompt.filter(|_| std::io::stdin().is_terminal()) {
        let first = rpassword::prompt_password(format!("{label}: "))?;
        if purpose == Purpose::New {
            let again = rpassword::prompt_password(format!("{label} (again): "))?;
            if first != again {
                bail!("the two passphrases differ; nothing was changed");
            }
        }
        Some(SecretString::from(first))
    } else {
        None
    };
    if let (Some(p), Purpose::New) = (&found, purpose) {
        if p.expose_secret().chars().count() < MIN_LEN {
            bail!("the passphrase must be at least {MIN_LEN} characters long");
        }
    }
    if found.as_ref().is_some_and(|p| p.expose_secret().is_empty()) {
        bail!("the passphrase is empty");
    }
    Ok(found)
}

/// Like [`obtain`], but a missing passphrase is an error naming the sources.
pub fn require(
    file: Option<&Path>,
    env_var: &str,
    prompt: &str,
    purpose: Purpose,
) -> anyhow::Result<SecretString> {
    obtain(file, env_var, Some(prompt), purpose)?.with_context(|| {
        format!("no passphrase given: set {env_var}, pass a passphrase file, or run on a terminal")
    })
}
