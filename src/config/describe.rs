//! Settings errors in an operator's words: the environment variable as it
//! was set (or the key of the file) and what is wrong with its value.
//! figment's own rendering names an upper-case dotted key (`STORE.BACKEND`)
//! that is neither, and quotes a list of accepted values in nested
//! backticks.

use figment::error::{Error, Kind};

use super::ENV_PREFIX;

/// Every error of a failed load, one sentence each.
pub(super) fn describe(errors: Error) -> String {
    errors.into_iter().map(one).collect::<Vec<_>>().join("; ")
}

fn one(e: Error) -> String {
    let source = e.metadata.as_ref().map(|m| match &m.source {
        Some(figment::Source::File(path)) => format!("{} {}", m.name, path.display()),
        _ => m.name.to_string(),
    });
    let from_env = source.as_deref().is_some_and(|s| s.contains("environment"));
    let key = e
        .path
        .iter()
        .map(|p| p.to_lowercase())
        .collect::<Vec<_>>()
        .join(".");
    let var = format!(
        "{ENV_PREFIX}{}",
        e.path
            .iter()
            .map(|p| p.to_uppercase())
            .collect::<Vec<_>>()
            .join("__")
    );
    let what = match &e.kind {
        Kind::UnknownVariant(value, expected) => {
            format!("`{value}` is not one of {}", one_of(expected))
        }
        Kind::UnknownField(field, expected) => {
            format!(
                "`{field}` is not a setting here; it may be {}",
                one_of(expected)
            )
        }
        Kind::InvalidType(_, expected) if expected.starts_with("struct ") => {
            let example = if from_env {
                format!("{var}__NAME")
            } else {
                format!("[{key}] with NAME = ...")
            };
            format!(
                "this is a section, not a single value: set the settings inside it \
                 ({example}; docs/configuration.md lists them)"
            )
        }
        kind => kind.to_string(),
    };
    match (e.path.is_empty(), from_env, source) {
        (true, _, Some(source)) => format!("{what} (in {source})"),
        (true, _, None) => what,
        (false, true, _) => format!("{var} (setting `{key}`): {what}"),
        (false, false, Some(source)) => format!("`{key}` in {source}: {what}"),
        (false, false, None) => format!("`{key}`: {what}"),
    }
}

fn one_of(expected: &[&str]) -> String {
    let quoted: Vec<String> = expected.iter().map(|v| format!("`{v}`")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "the accepted values".into(),
    }
}
