//! The client for Zoho's accounts server: data centers, code exchange,
//! refresh and revocation, and the mapping of Zoho's answers to
//! [`ZohoError`]s with an [`ErrorClass`] that tells the broker what to do.
//!
//! Protocol facts and sources live in `docs/zoho.md`; the
//! behaviour of this module (DC table, error table, retries, expiry rule) in
//! `docs/zoho-client.md`.
//! Secrets are `SecretString`s throughout and every secret-bearing type has a
//! redacting `Debug`.

mod client;
mod datacenter;
mod error;
mod form;
mod grant;
mod response;
mod retry;

pub use client::{CallObserver, ZohoClient, ZohoClientConfig, USER_AGENT};
pub use datacenter::{DataCenter, UnknownDataCenter};
pub use error::{ErrorClass, ZohoError};
pub use form::ClientCredentials;
pub use grant::{
    compute_expires_at, normalise_lifetime, unexpired_at, Grant, DEFAULT_LIFETIME, MAX_LIFETIME,
    MILLIS_THRESHOLD,
};
pub use response::{parse_revoke_response, parse_token_response};
pub use retry::{backoff_ceiling, full_jitter};
