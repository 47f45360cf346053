//! A [`Fix`] in console words: the button to press or the form to fill,
//! with the connection's real name. The API and the CLI word the same
//! fixes their own way.

use crate::model::Fix;

/// The fix as a sentence for the console.
pub fn console_words(fix: &Fix) -> String {
    match fix {
        Fix::Unseal => "Unseal the vault (zoho-vault unseal), then log in again.".into(),
        Fix::Reauthorize { connection } => format!(
            "Generate a new code in Zoho's API console (Self Client > Generate Code, same scopes) and upload the new self_client.json under the name {connection} on the Add a connection page: it replaces the dead credentials in place."
        ),
        Fix::AuthorizeInBrowser { connection } => format!(
            "Press Re-authorise on the page of {connection}, sign in to Zoho as the account to connect and press Accept."
        ),
        Fix::DeleteFirst { connection } => format!(
            "The name {connection} is taken: delete that connection first or choose another name."
        ),
        Fix::NewCode { connection } => format!(
            "Generate a new code in Zoho's API console (Self Client > Generate Code) and upload the new self_client.json for {connection} within its lifetime; each code works once."
        ),
        Fix::CopyClientSecret { connection } => format!(
            "Copy the client secret again from Zoho's API console, then add {connection} again."
        ),
        Fix::CheckDataCenter { connection } => format!(
            "Check the client id, and that the data center is where the client was created, then add {connection} again."
        ),
        Fix::ReplaceClient { connection } => format!(
            "Zoho no longer accepts this client: check it in Zoho's API console, then upload {connection} again with a new code."
        ),
        Fix::UseRedirectClient { connection } => format!(
            "The browser flow needs a server-based client with the vault's callback as redirect URI: delete {connection} and add it again with the browser-flow form."
        ),
        Fix::WaitAndRetry {
            after_secs: Some(s),
        } => format!("Wait {s} seconds and try again."),
        Fix::WaitAndRetry { after_secs: None } => "Wait a little and try again.".into(),
        // The rest are worded for API clients; the API's words serve.
        other => crate::api::error::http_words(other),
    }
}
