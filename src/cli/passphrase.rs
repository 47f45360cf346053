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
        let ask = |text: &str| rpassword::prompt_password(text).map(SecretString::from);
        match purpose {
            Purpose::Existing => Some(ask(&format!("{label}: "))?),
            Purpose::New => Some(choose_new(label, ask, |line| eprintln!("{line}"))?),
        }
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

/// How many times a new passphrase is asked for before giving up.
const NEW_TRIES: usize = 5;

/// Asks for a new passphrase on the terminal: states the rule first, then
/// asks again (instead of exiting) when an entry is too short or the two
/// entries differ. `ask` prompts and reads one line; `say` prints a line
/// for the person at the terminal.
fn choose_new(
    label: &str,
    mut ask: impl FnMut(&str) -> std::io::Result<SecretString>,
    mut say: impl FnMut(&str),
) -> anyhow::Result<SecretString> {
    say(&format!(
        "Choose a passphrase of at least {MIN_LEN} characters. It is asked for at every \
         unseal and cannot be recovered: losing it loses the vault."
    ));
    for _ in 0..NEW_TRIES {
        let first = ask(&format!("{label}: "))?;
        let length = first.expose_secret().chars().count();
        if length < MIN_LEN {
            say(&format!(
                "That is {length} characters; the minimum is {MIN_LEN}. Try again."
            ));
            continue;
        }
        let again = ask(&format!("{label} (again): "))?;
        if first.expose_secret() != again.expose_secret() {
            say("The two entries differ. Try again.");
            continue;
        }
        return Ok(first);
    }
    bail!("no acceptable passphrase after {NEW_TRIES} tries; nothing was changed")
}

/// Like [`obtain`], but a missing passphrase is an error naming the sources.
/// Every failure here (none given, an unreadable file, an empty or too
/// short passphrase) is the command's input: a usage error (exit 2).
pub fn require(
    file: Option<&Path>,
    env_var: &str,
    prompt: &str,
    purpose: Purpose,
) -> anyhow::Result<SecretString> {
    let usage = |message: String| anyhow::Error::from(super::error::CliError::Usage(message));
    match obtain(file, env_var, Some(prompt), purpose) {
        Ok(Some(passphrase)) => Ok(passphrase),
        Ok(None) => Err(usage(format!(
            "no passphrase given: set {env_var}, pass {} FILE, or run on a terminal",
            file_flag(env_var)
        ))),
        Err(e) => Err(usage(format!("{e:#}"))),
    }
}

/// The command-line flag that reads the passphrase `env_var` also holds.
fn file_flag(env_var: &str) -> &'static str {
    if env_var == NEW_ENV {
        "--new-passphrase-file"
    } else {
        "--passphrase-file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs [`choose_new`] on scripted entries; answers the result and what
    /// was said.
    fn scripted(entries: &[&str]) -> (anyhow::Result<String>, Vec<String>) {
        let mut entries = entries.iter();
        let mut said = Vec::new();
        let result = choose_new(
            "New vault passphrase",
            |_| {
                entries
                    .next()
                    .map(|e| SecretString::from(e.to_string()))
                    .ok_or_else(|| std::io::Error::other("no more input"))
            },
            |line| said.push(line.to_string()),
        );
        (result.map(|p| p.expose_secret().to_string()), said)
    }

    #[test]
    fn the_minimum_length_is_stated_before_the_first_question() {
        let (result, said) = scripted(&["long enough words", "long enough words"]);
        assert_eq!(result.expect("chosen"), "long enough words");
        assert!(said[0].contains("at least 12 characters"), "{said:?}");
    }

    #[test]
    fn a_short_entry_is_asked_again_instead_of_failing() {
        let (result, said) = scripted(&["short", "long enough words", "long enough words"]);
        assert_eq!(result.expect("chosen"), "long enough words");
        assert!(said.iter().any(|l| l.contains("minimum is 12")), "{said:?}");
    }

    #[test]
    fn mismatched_entries_are_asked_again_instead_of_failing() {
        let (result, said) = scripted(&[
            "long enough words",
            "long enough wordz",
            "another long one",
            "another long one",
        ]);
        assert_eq!(result.expect("chosen"), "another long one");
        assert!(said.iter().any(|l| l.contains("differ")), "{said:?}");
    }

    #[test]
    fn it_gives_up_after_a_few_bad_entries() {
        let (result, _) = scripted(&["a", "b", "c", "d", "e", "f"]);
        assert!(result.is_err());
    }
}
