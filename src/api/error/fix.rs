//! A [`Fix`] in HTTP words: the route to call (with the connection's real
//! name) and the header to send. The CLI says the same fixes in its own
//! words (`crate::cli::fix`).

use crate::model::Fix;

/// The fix as a hint for an HTTP client.
pub(crate) fn http_words(fix: &Fix) -> String {
    match fix {
        Fix::Unseal => "unseal it with POST /v1/sys/unseal or `zoho-vault unseal`".into(),
        Fix::Init => "run `zoho-vault init` on the server".into(),
        Fix::SendBearerToken => {
            "send `Authorization: Bearer zva_...` (admin) or `zvs_...` (service)".into()
        }
        Fix::CreateAdminToken => "create another admin token (POST /v1/admin-tokens) first".into(),
        Fix::DeleteFirst { connection } => {
            format!("delete it first (DELETE /v1/connections/{connection}) or choose another name")
        }
        Fix::UseDataCenter => {
            "name a `data_center` instead, or set zoho.allow_custom_accounts_url = true".into()
        }
        Fix::CheckDataCenter { connection } => format!(
            "check `client_id`, and that `data_center` is where the self client was created \
             (com, eu, in, com.au, jp, ca, sa, uk, com.cn); a wrong data center looks the same \
             to Zoho; then upload again with PUT /v1/connections/{connection}"
        ),
        Fix::CopyClientSecret { connection } => format!(
            "copy the client secret again from the API console (Self Client > Client Secret), \
             then upload again with PUT /v1/connections/{connection}"
        ),
        Fix::NewCode { connection } => format!(
            "generate a new code in Zoho's API console (Self Client > Generate Code) and upload \
             the new self_client.json with PUT /v1/connections/{connection} within its \
             lifetime; each code works once"
        ),
        Fix::Reauthorize { connection } => format!(
            "generate a new code in Zoho's API console (Self Client > Generate Code, same \
             scopes) and upload it again: PUT /v1/connections/{connection} with the new \
             self_client.json (or a fresh refresh token) replaces the dead credentials in place, \
             keeping the name and its grants; no delete needed"
        ),
        Fix::AuthorizeInBrowser { connection } => format!(
            "authorize it in a browser: POST /v1/connections/{connection}/authorize answers a \
             link; open it, sign in to Zoho as the account to connect and press Accept"
        ),
        Fix::ReplaceClient { connection } => format!(
            "Zoho no longer accepts this client: check in the API console that the client \
             still exists and its secret is unchanged, then upload it again with a new code \
             (PUT /v1/connections/{connection}); no delete needed"
        ),
        Fix::UseRedirectClient { connection } => format!(
            "the browser flow needs a server-based client: register one in Zoho's API console \
             with the vault's callback URL (https://<vault>/v1/oauth/callback) as redirect URI, \
             delete this connection (DELETE /v1/connections/{connection}) and create it again \
             with `client_id`, `client_secret`, `scope` and that `redirect_uri`"
        ),
        Fix::CheckRedirectUri { .. } => {
            "the redirect URI must equal the one registered for the client; self-client uploads \
             need none"
                .into()
        }
        Fix::CheckUpload { connection } => format!(
            "check the client id, secret, data center and code in Zoho's API console, then \
             upload again with PUT /v1/connections/{connection}"
        ),
        Fix::AskWithoutMinValid { .. } => {
            "ask without `min_valid_secs` to get the cached token, or retry after the \
             Retry-After delay"
                .into()
        }
        Fix::WaitAndRetry {
            after_secs: Some(_),
        } => "retry after the Retry-After delay".into(),
        Fix::WaitAndRetry { after_secs: None } => "try again shortly".into(),
    }
}
