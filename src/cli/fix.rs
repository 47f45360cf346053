//! A [`Fix`] in CLI words: the command or flag to use, with the
//! connection's real name. The API sends each fix as data (`fix` in an
//! error, `action` in a connection's health) next to its own hint in HTTP
//! words; the CLI prints these words instead, and the API's hint only for a
//! fix it has no words of its own for (a retry, or a code from a newer
//! server).

use serde_json::Value;

use crate::model::Fix;

/// The fix as a hint for someone at the command line; `None` when the
/// API's hint says it as well (nothing in it is HTTP-specific) or when the
/// CLI has no command for it.
pub(crate) fn cli_words(fix: &Fix) -> Option<String> {
    let add = |c: &str| format!("`zoho-vault connection add {c} self_client.json`");
    Some(match fix {
        Fix::Unseal => {
            "unseal it: `zoho-vault unseal` (reads ZOHO_VAULT_PASSPHRASE, or asks)".into()
        }
        Fix::Init => "initialise it on the server: `zoho-vault init`".into(),
        Fix::SendBearerToken => "use a valid token: `export ZOHO_VAULT_TOKEN=zva_...` (an admin \
                                 token), or a service `zvs_...` token for `zoho-vault token`; \
                                 or pass --token"
            .into(),
        Fix::CreateAdminToken => return None,
        Fix::DeleteFirst { connection } => format!(
            "delete it first (`zoho-vault connection delete {connection}`) or choose another name"
        ),
        Fix::UseDataCenter => "pass `--data-center DC` instead of `--accounts-url`, or set \
                               zoho.allow_custom_accounts_url = true on the server"
            .into(),
        Fix::CheckDataCenter { connection } => format!(
            "check the client id, and that `--data-center` names the data center where the \
             self client was created (com, eu, in, com.au, jp, ca, sa, uk, com.cn; default \
             com): a wrong data center looks the same to Zoho; then run `zoho-vault connection \
             add {connection} self_client.json --data-center DC` with a new code"
        ),
        Fix::CopyClientSecret { connection } => format!(
            "copy the client secret again from the API console (Self Client > Client Secret), \
             then run `zoho-vault connection add {connection} ...` again"
        ),
        Fix::NewCode { connection } => format!(
            "generate a new code in Zoho's API console (Self Client > Generate Code) and run {} \
             within its lifetime; each code works once",
            add(connection)
        ),
        Fix::Reauthorize { connection } => format!(
            "generate a new code in Zoho's API console (Self Client > Generate Code, same \
             scopes) and upload it again: {} replaces the dead credentials in place, keeping \
             the name, the data center and the grants; no delete needed (or add it with \
             `--refresh-token-file FILE` to import a fresh refresh token)",
            add(connection)
        ),
        Fix::AuthorizeInBrowser { connection } => format!(
            "authorize it in a browser: `zoho-vault connection authorize {connection}` prints a \
             link; open it, sign in to Zoho as the account to connect and press Accept"
        ),
        Fix::ReplaceClient { connection } => format!(
            "Zoho no longer accepts this client: check in the API console that the client \
             still exists and its secret is unchanged, then upload it again with a new code: \
             {} (no delete needed)",
            add(connection)
        ),
        Fix::UseRedirectClient { connection } => format!(
            "the browser flow needs a server-based client: register one in Zoho's API console \
             with the vault's callback URL (https://<vault>/v1/oauth/callback) as redirect \
             URI, `zoho-vault connection delete {connection}`, and create it again with that \
             client (docs/browser-flow.md)"
        ),
        Fix::CheckRedirectUri { connection } => format!(
            "the redirect URI must equal the one registered for the client in Zoho's API \
             console (self-client uploads need none); then run `zoho-vault connection add \
             {connection} ...` again"
        ),
        Fix::CheckUpload { connection } => format!(
            "check the client id, secret, data center and code in Zoho's API console, then run \
             `zoho-vault connection add {connection} ...` again"
        ),
        Fix::AskWithoutMinValid {
            connection,
            after_secs,
        } => format!(
            "run `zoho-vault token {connection}` without `--min-valid` to get the cached token, \
             or try again in {after_secs} s"
        ),
        Fix::WaitAndRetry {
            after_secs: Some(secs),
        } => format!("try again in {secs} s"),
        Fix::WaitAndRetry { after_secs: None } => return None,
    })
}

/// The hint to print for an answer's `fix` (data) and `hint` (the API's
/// words): the CLI's words when it has them.
pub(crate) fn hint(fix: Option<&Fix>, api_hint: Option<&str>) -> Option<String> {
    fix.and_then(cli_words)
        .or_else(|| api_hint.map(str::to_string))
}

/// Reads a fix sent as data; an absent or unknown one is `None`.
pub(crate) fn parse(value: &Value) -> Option<Fix> {
    serde_json::from_value(value.clone()).ok()
}

/// The fix of a connection's health (`health.action`, else the text of
/// `health.fix`), in CLI words.
pub(crate) fn of_health(health: &Value) -> Option<String> {
    hint(parse(&health["action"]).as_ref(), health["fix"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> String {
        "acme".into()
    }

    /// Every fix the CLI words itself names commands with the real name,
    /// never a route, a header or a placeholder.
    #[test]
    fn cli_words_name_commands_never_routes() {
        let fixes = [
            Fix::Unseal,
            Fix::Init,
            Fix::SendBearerToken,
            Fix::DeleteFirst { connection: acme() },
            Fix::UseDataCenter,
            Fix::CheckDataCenter { connection: acme() },
            Fix::CopyClientSecret { connection: acme() },
            Fix::NewCode { connection: acme() },
            Fix::Reauthorize { connection: acme() },
            Fix::AuthorizeInBrowser { connection: acme() },
            Fix::ReplaceClient { connection: acme() },
            Fix::UseRedirectClient { connection: acme() },
            Fix::CheckRedirectUri { connection: acme() },
            Fix::CheckUpload { connection: acme() },
            Fix::AskWithoutMinValid {
                connection: acme(),
                after_secs: 30,
            },
        ];
        for fix in fixes {
            let words = cli_words(&fix).expect("the CLI words it");
            for bad in [
                "/v1/connections",
                "/v1/sys",
                "{name}",
                "Authorization",
                "PUT ",
                "DELETE ",
                "POST ",
            ] {
                assert!(!words.contains(bad), "{fix:?}: {words}");
            }
            assert!(
                words.contains("zoho-vault") || words.contains("--"),
                "{words}"
            );
        }
    }

    #[test]
    fn reauthorize_names_the_commands_with_the_connection() {
        let words = cli_words(&Fix::Reauthorize { connection: acme() }).expect("words");
        assert!(!words.contains("connection delete"), "{words}");
        assert!(
            words.contains("`zoho-vault connection add acme self_client.json`"),
            "{words}"
        );
    }

    #[test]
    fn a_known_wait_is_said_in_seconds_never_as_the_http_header() {
        let wait = Fix::WaitAndRetry {
            after_secs: Some(40),
        };
        let words = hint(Some(&wait), Some("retry after the Retry-After delay")).expect("words");
        assert_eq!(words, "try again in 40 s");
    }

    #[test]
    fn a_retry_or_an_unknown_fix_keeps_the_api_hint() {
        let retry = Fix::WaitAndRetry { after_secs: None };
        assert_eq!(
            hint(Some(&retry), Some("try again shortly")).as_deref(),
            Some("try again shortly")
        );
        let unknown = serde_json::json!({"code": "from_the_future"});
        assert_eq!(parse(&unknown), None);
        assert_eq!(hint(None, Some("x")).as_deref(), Some("x"));
    }
}
