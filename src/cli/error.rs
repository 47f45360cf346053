//! What a failed command prints and the exit code it ends with.
//!
//! Scripts branch on the exit code, so the mapping from an HTTP status to a
//! code lives in one place ([`Exit::for_status`]) and is pinned by a test.
//! Errors are printed as the API's message and hint (plus the status and
//! stable code), never as a `Debug` dump; the hint of a fix is in CLI words
//! (`super::fix`).

use std::process::ExitCode;

/// Exit codes of the `zoho-vault` command (documented in `docs/cli.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Success = 0,
    /// Anything not listed below (local I/O, internal errors, a broken
    /// audit chain).
    Failure = 1,
    /// Bad command line (clap's own code), bad local input (an unreadable or
    /// malformed file), or a request the API refused as malformed (400).
    Usage = 2,
    /// No token, a bad or expired token, a wrong passphrase, or a token not
    /// granted the connection (401, 403).
    Auth = 3,
    /// No such connection or service token (404).
    NotFound = 4,
    /// The request conflicts with the vault's state: the connection exists,
    /// it needs re-authorization, the vault is not initialised (409), or
    /// Zoho refused the grant (422); or with local state: the backup file
    /// exists, the restore target holds a vault, the data directory is in
    /// use by a running service.
    Conflict = 5,
    /// Try again later: the refresh budget or Zoho's throttle (429), the
    /// vault is sealed (503), Zoho is unreachable or failing (502, 504), any
    /// other 5xx, or the vault itself cannot be reached.
    Unavailable = 6,
}

impl Exit {
    /// The exit code for an HTTP error status. The one place this mapping
    /// is made.
    pub fn for_status(status: u16) -> Exit {
        match status {
            400 | 413 | 415 => Exit::Usage,
            401 | 403 => Exit::Auth,
            404 => Exit::NotFound,
            409 | 422 => Exit::Conflict,
            429 | 500..=599 => Exit::Unavailable,
            _ => Exit::Failure,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A failure the CLI knows how to explain and classify. Other errors
/// (`anyhow` at the edge) exit with [`Exit::Failure`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The vault answered with its JSON error shape (or a non-JSON error).
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable error code (`?` when the body was not the error shape).
        code: String,
        /// The API's message.
        message: String,
        /// What to do about it, when the API says: in CLI words when the
        /// answer carried a fix the CLI words itself (`super::fix`), else
        /// the API's hint.
        hint: Option<String>,
        /// The fix as data, when the API sent one.
        fix: Option<crate::model::Fix>,
        /// `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    /// No HTTP answer at all (refused, timed out, broken connection).
    #[error("cannot reach the vault at {addr}: {reason}")]
    Unreachable {
        /// The address tried.
        addr: String,
        /// The innermost cause (no secrets: reqwest errors carry the URL only).
        reason: String,
    },
    /// A command that needs a token was given none.
    #[error("no token: set ZOHO_VAULT_TOKEN or pass --token (an admin `zva_` token, or a service `zvs_` token for `token`)")]
    NoToken,
    /// Bad local input: a file that cannot be read or parsed, a bad name.
    #[error("{0}")]
    Usage(String),
    /// The command conflicts with local state: the output file exists, the
    /// restore target holds a vault, the data directory is in use.
    #[error("{0}")]
    Conflict(String),
}

impl CliError {
    /// The exit code this failure ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Api { status, .. } => Exit::for_status(*status),
            CliError::Unreachable { .. } => Exit::Unavailable,
            CliError::NoToken => Exit::Auth,
            CliError::Usage(_) => Exit::Usage,
            CliError::Conflict(_) => Exit::Conflict,
        }
    }

    /// Builds [`CliError::Unreachable`] from a transport error, keeping only
    /// the innermost cause ("Connection refused", "operation timed out").
    pub fn unreachable(addr: &str, err: &reqwest::Error) -> CliError {
        let mut cause: &dyn std::error::Error = err;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let reason = if err.is_timeout() {
            "no answer in time".to_string()
        } else {
            cause.to_string()
        };
        CliError::Unreachable {
            addr: addr.to_string(),
            reason,
        }
    }

    /// The text printed on stderr (without the `error: ` prefix).
    fn describe(&self) -> String {
        match self {
            CliError::Api {
                status,
                code,
                message,
                hint,
                retry_after,
                ..
            } => {
                let mut text = format!("{message} (HTTP {status}, {code})");
                if let Some(hint) = hint {
                    text.push_str(&format!("\nhint: {hint}"));
                }
                if let Some(secs) = retry_after {
                    text.push_str(&format!("\nretry after: {secs} s"));
                }
                text
            }
            other => other.to_string(),
        }
    }
}

/// Prints `result`'s error, if any, on stderr and answers the exit code.
/// This is what `main` returns.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => Exit::Success.into(),
        Err(err) => {
            let exit = match err.chain().find_map(|e| e.downcast_ref::<CliError>()) {
                Some(known) => {
                    // Context added on the way up comes first, then ours.
                    let outer: Vec<String> = err
                        .chain()
                        .take_while(|e| e.downcast_ref::<CliError>().is_none())
                        .map(ToString::to_string)
                        .collect();
                    let mut prefix = outer.join(": ");
                    if !prefix.is_empty() {
                        prefix.push_str(": ");
                    }
                    eprintln!("error: {prefix}{}", known.describe());
                    known.exit()
                }
                None => {
                    // `{:#}` is the cause chain on one line, not a Debug dump.
                    eprintln!("error: {err:#}");
                    if err
                        .chain()
                        .any(|e| e.downcast_ref::<reqwest::Error>().is_some())
                    {
                        Exit::Unavailable
                    } else {
                        Exit::Failure
                    }
                }
            };
            exit.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        let table = [
            (400, 2),
            (401, 3),
            (403, 3),
            (404, 4),
            (409, 5),
            (422, 5),
            (429, 6),
            (500, 6),
            (502, 6),
            (503, 6),
            (504, 6),
            (418, 1),
        ];
        for (status, code) in table {
            assert_eq!(Exit::for_status(status) as u8, code, "HTTP {status}");
        }
    }

    #[test]
    fn local_failures_have_their_own_codes() {
        assert_eq!(CliError::NoToken.exit(), Exit::Auth);
        assert_eq!(CliError::Usage("x".into()).exit(), Exit::Usage);
        assert_eq!(CliError::Conflict("x".into()).exit(), Exit::Conflict);
        let unreachable = CliError::Unreachable {
            addr: "http://127.0.0.1:1".into(),
            reason: "refused".into(),
        };
        assert_eq!(unreachable.exit(), Exit::Unavailable);
    }

    #[test]
    fn an_api_error_prints_message_status_code_and_hint() {
        let err = CliError::Api {
            status: 409,
            code: "needs_reauth".into(),
            message: "connection `acme` needs re-authorization".into(),
            hint: Some("upload a new self_client.json".into()),
            fix: None,
            retry_after: None,
        };
        assert_eq!(
            err.describe(),
            "connection `acme` needs re-authorization (HTTP 409, needs_reauth)\nhint: upload a new self_client.json"
        );
    }
}
