//! What an admin or a caller can do about a failure, as data.
//!
//! The domain decides *which* fix applies; each edge says it in its own
//! words: the HTTP API names the route and the header
//! (`crate::api::error`), the CLI names the command and the flag
//! (`crate::cli::fix`). Both carry the real connection name. The wire form
//! (`{"code": "reauthorize", "connection": "acme"}`) is part of the HTTP
//! error body and of the stored health of a connection, so codes are never
//! renamed; new ones may be added.

use serde::{Deserialize, Deserializer, Serialize};

/// A machine-readable fix. `code` names it; the other fields say what it
/// applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Fix {
    /// The vault is sealed: unseal it with the passphrase.
    Unseal,
    /// The vault has no keys yet: initialise it on the server.
    Init,
    /// The request needs a valid bearer token (`zva_` admin, `zvs_`
    /// service).
    SendBearerToken,
    /// The last admin token cannot be revoked: create another one first.
    CreateAdminToken,
    /// The name is taken: delete the connection first or choose another name.
    DeleteFirst {
        /// The existing connection.
        connection: String,
    },
    /// Custom accounts URLs are disabled: name a data center instead (or
    /// allow custom URLs in the server's settings).
    UseDataCenter,
    /// Zoho does not know the client: check the client id and the data
    /// center (a wrong data center looks the same to Zoho).
    CheckDataCenter {
        /// The connection being created.
        connection: String,
    },
    /// Zoho refused the client secret: copy it again from the API console.
    CopyClientSecret {
        /// The connection being created.
        connection: String,
    },
    /// The self-client code expired or was used: generate a new code and
    /// upload the new self_client.json within its lifetime.
    NewCode {
        /// The connection being created.
        connection: String,
    },
    /// The refresh token is dead: generate a new code, delete the
    /// connection and upload it again (or import a fresh refresh token).
    Reauthorize {
        /// The connection.
        connection: String,
    },
    /// The connection waits for (or needs again) the browser flow: make an
    /// authorization link and accept it.
    AuthorizeInBrowser {
        /// The connection.
        connection: String,
    },
    /// Zoho no longer accepts the client (deleted, secret changed): check
    /// it in the API console, then delete and upload the connection again.
    ReplaceClient {
        /// The connection.
        connection: String,
    },
    /// The browser flow needs a server-based client with the vault's
    /// callback as redirect URI; the connection has none.
    UseRedirectClient {
        /// The connection.
        connection: String,
    },
    /// The redirect URI is not the one registered for the client.
    CheckRedirectUri {
        /// The connection.
        connection: String,
    },
    /// Zoho refused the upload with an answer the vault does not know:
    /// check client id, secret, data center and code, then upload again.
    CheckUpload {
        /// The connection being created.
        connection: String,
    },
    /// The refresh budget is spent: ask without a minimum validity (the
    /// cached token is served), or wait.
    AskWithoutMinValid {
        /// The connection.
        connection: String,
        /// Seconds until a refresh fits the budget.
        after_secs: u64,
    },
    /// Temporary: try again (after `after_secs` when known).
    WaitAndRetry {
        /// Seconds to wait, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_secs: Option<u64>,
    },
}

impl Fix {
    /// The stable code (the `code` field of the wire form).
    pub fn code(&self) -> &'static str {
        match self {
            Fix::Unseal => "unseal",
            Fix::Init => "init",
            Fix::SendBearerToken => "send_bearer_token",
            Fix::CreateAdminToken => "create_admin_token",
            Fix::DeleteFirst { .. } => "delete_first",
            Fix::UseDataCenter => "use_data_center",
            Fix::CheckDataCenter { .. } => "check_data_center",
            Fix::CopyClientSecret { .. } => "copy_client_secret",
            Fix::NewCode { .. } => "new_code",
            Fix::Reauthorize { .. } => "reauthorize",
            Fix::AuthorizeInBrowser { .. } => "authorize_in_browser",
            Fix::ReplaceClient { .. } => "replace_client",
            Fix::UseRedirectClient { .. } => "use_redirect_client",
            Fix::CheckRedirectUri { .. } => "check_redirect_uri",
            Fix::CheckUpload { .. } => "check_upload",
            Fix::AskWithoutMinValid { .. } => "ask_without_min_valid",
            Fix::WaitAndRetry { .. } => "wait_and_retry",
        }
    }

    /// How to revive a connection whose refresh token died: the browser
    /// flow when it has a redirect URI, a new self-client code otherwise.
    pub fn reauthorize(connection: &str, has_redirect_uri: bool) -> Fix {
        let connection = connection.to_string();
        if has_redirect_uri {
            Fix::AuthorizeInBrowser { connection }
        } else {
            Fix::Reauthorize { connection }
        }
    }

    /// Reads a stored or received fix leniently: a code this release does
    /// not know (written by a newer one) reads as no fix rather than
    /// failing the whole record or answer.
    pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Fix>, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        Ok(value.and_then(|v| serde_json::from_value(v).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wire_form_is_the_code_and_the_fields() {
        let fix = Fix::Reauthorize {
            connection: "acme".into(),
        };
        assert_eq!(
            serde_json::to_value(&fix).expect("json"),
            json!({"code": "reauthorize", "connection": "acme"})
        );
        assert_eq!(
            serde_json::to_value(Fix::Unseal).expect("json"),
            json!({"code": "unseal"})
        );
        assert_eq!(
            serde_json::to_value(Fix::WaitAndRetry { after_secs: None }).expect("json"),
            json!({"code": "wait_and_retry"})
        );
    }

    #[test]
    fn code_matches_the_serialized_code_for_every_fix() {
        let name = || "acme".to_string();
        let all = [
            Fix::Unseal,
            Fix::Init,
            Fix::SendBearerToken,
            Fix::CreateAdminToken,
            Fix::DeleteFirst { connection: name() },
            Fix::UseDataCenter,
            Fix::CheckDataCenter { connection: name() },
            Fix::CopyClientSecret { connection: name() },
            Fix::NewCode { connection: name() },
            Fix::Reauthorize { connection: name() },
            Fix::AuthorizeInBrowser { connection: name() },
            Fix::ReplaceClient { connection: name() },
            Fix::UseRedirectClient { connection: name() },
            Fix::CheckRedirectUri { connection: name() },
            Fix::CheckUpload { connection: name() },
            Fix::AskWithoutMinValid {
                connection: name(),
                after_secs: 5,
            },
            Fix::WaitAndRetry {
                after_secs: Some(5),
            },
        ];
        for fix in all {
            let wire = serde_json::to_value(&fix).expect("json");
            assert_eq!(wire["code"], fix.code(), "{wire}");
            let back: Fix = serde_json::from_value(wire).expect("reads back");
            assert_eq!(back, fix);
        }
    }

    #[test]
    fn an_unknown_code_reads_as_no_fix() {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(default, deserialize_with = "Fix::lenient")]
            fix: Option<Fix>,
        }
        let h: Holder = serde_json::from_value(json!({"fix": {"code": "from_the_future"}}))
            .expect("still reads");
        assert_eq!(h.fix, None);
        let h: Holder = serde_json::from_value(json!({"fix": {"code": "unseal"}})).expect("reads");
        assert_eq!(h.fix, Some(Fix::Unseal));
    }
}
