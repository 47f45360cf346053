//! The upload body of `connection add`: self_client.json as is, or an
//! import built from files. Secrets come from files (or stdin), never from
//! flags, and file contents never appear in error messages.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use crate::cli::error::CliError;

/// Reads a whole file, or stdin for `-`.
pub(super) fn read_input(path: &Path) -> Result<String, CliError> {
    let mut text = String::new();
    let result = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    result.map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(text)
}

/// The first line of a secret file, trimmed; empty is an error.
fn read_secret(path: &Path, what: &str) -> Result<String, CliError> {
    let text = zeroize::Zeroizing::new(read_input(path)?);
    let first = text.lines().next().unwrap_or_default().trim().to_string();
    if first.is_empty() {
        return Err(CliError::Usage(format!(
            "{} holds no {what}",
            path.display()
        )));
    }
    Ok(first)
}

/// self_client.json as a JSON object, untouched.
pub(super) fn self_client_file(path: &Path) -> Result<Map<String, Value>, CliError> {
    let text = zeroize::Zeroizing::new(read_input(path)?);
    // serde_json's messages name a line and column, never the content.
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CliError::Usage(format!(
            "{} is not a JSON object like Zoho's self_client.json",
            path.display()
        ))),
        Err(e) => Err(CliError::Usage(format!(
            "{} is not valid JSON: {e}",
            path.display()
        ))),
    }
}

/// The upload body for importing a refresh token.
pub(super) fn import(
    refresh_token_file: &Path,
    client_id: &str,
    client_secret_file: Option<&Path>,
    scope: Vec<String>,
) -> Result<Map<String, Value>, CliError> {
    let secret_file = client_secret_file
        .ok_or_else(|| CliError::Usage("--client-secret-file is required".into()))?;
    let mut body = Map::new();
    body.insert("client_id".into(), Value::String(client_id.to_string()));
    body.insert(
        "client_secret".into(),
        Value::String(read_secret(secret_file, "client secret")?),
    );
    body.insert(
        "refresh_token".into(),
        Value::String(read_secret(refresh_token_file, "refresh token")?),
    );
    if !scope.is_empty() {
        body.insert(
            "scope".into(),
            Value::Array(scope.into_iter().map(Value::String).collect()),
        );
    }
    Ok(body)
}

/// Warns on stderr when a secret-bearing file (`self_client.json`, which
/// holds the client secret) can be read by other users of the machine.
pub(super) fn warn_if_readable_by_others(path: &Path) {
    if path == Path::new("-") {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o044 != 0 {
                eprintln!(
                    "warning: {} is readable by other users (mode {:o}) and holds the client \
                     secret; `chmod 600` such files, or better, delete them once uploaded",
                    path.display(),
                    mode & 0o777
                );
            }
        }
    }
}

/// After a successful upload: the file's secret now lives in the vault.
pub(super) fn remind_to_delete(path: &Path) {
    if path != Path::new("-") {
        eprintln!(
            "The vault keeps its own encrypted copy: delete {} now (it holds the client \
             secret), e.g. `shred -u {}` or `rm {}`.",
            path.display(),
            path.display(),
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_reads_the_first_line_of_each_secret_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = dir.path().join("rt");
        let secret = dir.path().join("secret");
        std::fs::write(&rt, "1000.aaa.bbb\n").expect("write");
        std::fs::write(&secret, "  s3cr3t  \nignored\n").expect("write");
        let body = import(&rt, "1000.ID", Some(&secret), vec!["A.b.READ".into()]).expect("body");
        assert_eq!(body["client_id"], "1000.ID");
        assert_eq!(body["client_secret"], "s3cr3t");
        assert_eq!(body["refresh_token"], "1000.aaa.bbb");
        assert_eq!(body["scope"], serde_json::json!(["A.b.READ"]));
        std::fs::write(&secret, "\n").expect("write");
        let err = import(&rt, "1000.ID", Some(&secret), vec![]).expect_err("empty");
        assert!(err.to_string().contains("holds no client secret"));
    }

    #[test]
    fn a_file_that_is_not_a_json_object_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("self_client.json");
        std::fs::write(&path, "client_secret=hunter2").expect("write");
        let err = self_client_file(&path).expect_err("not json").to_string();
        assert!(
            err.contains("not valid JSON") && !err.contains("hunter2"),
            "{err}"
        );
        std::fs::write(&path, "[1, 2]").expect("write");
        let err = self_client_file(&path).expect_err("array").to_string();
        assert!(err.contains("not a JSON object"), "{err}");
        std::fs::write(&path, r#"{"client_id": "1000.X", "extra": 1}"#).expect("write");
        let map = self_client_file(&path).expect("object");
        assert_eq!(map.len(), 2, "kept as is");
    }
}
