//! Client credentials and the urlencoded request bodies of the accounts
//! server. [`FormRequest::encode`] is the only code in the crate that exposes
//! a client secret, code or token to build a request.

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// A self client's id and secret. `Debug` shows the id only.
#[derive(Clone)]
pub struct ClientCredentials {
    /// `1000.` plus 30 characters; not a secret.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// One of the three accounts-server calls and its parameters.
pub(crate) enum FormRequest<'a> {
    Exchange {
        creds: &'a ClientCredentials,
        code: &'a SecretString,
        redirect_uri: Option<&'a str>,
    },
    Refresh {
        creds: &'a ClientCredentials,
        refresh_token: &'a SecretString,
    },
    Revoke {
        token: &'a SecretString,
    },
}

impl FormRequest<'_> {
    pub(crate) fn operation(&self) -> &'static str {
        match self {
            FormRequest::Exchange { .. } => "exchange_code",
            FormRequest::Refresh { .. } => "refresh",
            FormRequest::Revoke { .. } => "revoke",
        }
    }

    /// The urlencoded body. The only place credentials are exposed; the
    /// buffer is wiped on drop. `redirect_uri` is omitted when `None`
    /// (self-client exchange).
    pub(crate) fn encode(&self) -> Zeroizing<String> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        match self {
            FormRequest::Exchange {
                creds,
                code,
                redirect_uri,
            } => {
                form.append_pair("grant_type", "authorization_code")
                    .append_pair("client_id", &creds.client_id)
                    .append_pair("client_secret", creds.client_secret.expose_secret())
                    .append_pair("code", code.expose_secret());
                if let Some(uri) = redirect_uri {
                    form.append_pair("redirect_uri", uri);
                }
            }
            FormRequest::Refresh {
                creds,
                refresh_token,
            } => {
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", &creds.client_id)
                    .append_pair("client_secret", creds.client_secret.expose_secret())
                    .append_pair("refresh_token", refresh_token.expose_secret());
            }
            FormRequest::Revoke { token } => {
                form.append_pair("token", token.expose_secret());
            }
        }
        Zeroizing::new(form.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> ClientCredentials {
        ClientCredentials {
            client_id: "1000.CLIENTID".into(),
            client_secret: SecretString::from("super-secret-value"),
        }
    }

    fn pairs(body: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn self_client_exchange_omits_redirect_uri() {
        let creds = creds();
        let code = SecretString::from("1000.code.value");
        let body = FormRequest::Exchange {
            creds: &creds,
            code: &code,
            redirect_uri: None,
        }
        .encode();
        let pairs = pairs(&body);
        assert!(pairs.iter().all(|(k, _)| k != "redirect_uri"), "{pairs:?}");
        assert!(pairs.contains(&("grant_type".into(), "authorization_code".into())));
        assert!(pairs.contains(&("client_secret".into(), "super-secret-value".into())));
        assert!(pairs.contains(&("code".into(), "1000.code.value".into())));

        let body = FormRequest::Exchange {
            creds: &creds,
            code: &code,
            redirect_uri: Some("https://vault.example/v1/oauth/callback"),
        }
        .encode();
        assert!(pairs_contains(
            &body,
            "redirect_uri",
            "https://vault.example/v1/oauth/callback"
        ));
    }

    fn pairs_contains(body: &str, key: &str, value: &str) -> bool {
        pairs(body).contains(&(key.to_string(), value.to_string()))
    }

    #[test]
    fn refresh_and_revoke_forms() {
        let creds = creds();
        let token = SecretString::from("1000.rt&=x");
        let body = FormRequest::Refresh {
            creds: &creds,
            refresh_token: &token,
        }
        .encode();
        assert!(pairs_contains(&body, "grant_type", "refresh_token"));
        assert!(pairs_contains(&body, "refresh_token", "1000.rt&=x"));
        assert!(pairs_contains(&body, "client_id", "1000.CLIENTID"));
        let body = FormRequest::Revoke { token: &token }.encode();
        assert_eq!(
            pairs(&body),
            vec![("token".to_string(), "1000.rt&=x".to_string())]
        );
    }

    #[test]
    fn credentials_debug_redacts_secret() {
        let dbg = format!("{:?} {:#?}", creds(), creds());
        assert!(!dbg.contains("super-secret-value"), "{dbg}");
        assert!(dbg.contains("1000.CLIENTID"));
    }
}
