//! Applying a grant from Zoho (code exchange, refresh, browser-flow
//! exchange) to a connection record: the one place that builds the cached
//! access token and seals both.

use time::OffsetDateTime;

use super::connection::{CachedToken, ConnectionRecord, Health};
use crate::crypto::keys::DataKey;
use crate::store::records::{seal_op, SealedSecret};
use crate::store::{Op, StoreError};
use crate::zoho::Grant;

/// Applies `grant` to `record`: a refresh token in the grant replaces the
/// stored one, the grant's API domain (else the record's) is kept, and the
/// connection is healthy as of `done`. Answers the access token to cache,
/// minted at `sent_at` (when the request left, so its expiry is never late).
pub fn apply_grant(
    record: &mut ConnectionRecord,
    grant: &Grant,
    sent_at: OffsetDateTime,
    done: OffsetDateTime,
) -> CachedToken {
    if let Some(new_token) = grant.refresh_token.clone() {
        record.refresh_token = Some(SealedSecret::new(new_token));
    }
    if let Some(domain) = &grant.api_domain {
        record.api_domain = domain.clone();
    }
    record.health = Health::active(done);
    record.updated_at = done;
    CachedToken {
        access_token: SealedSecret::new(grant.access_token.clone()),
        api_domain: record.api_domain.clone(),
        expires_at: grant.expires_at,
        minted_at: sent_at,
    }
}

/// The record and its cached token, sealed, as writes for one batch.
pub fn seal_grant(
    data_key: &DataKey,
    record: &ConnectionRecord,
    cached: &CachedToken,
) -> Result<[Op; 2], StoreError> {
    let key = record.name.as_bytes();
    Ok([
        seal_op(data_key, key, record)?,
        seal_op(data_key, key, cached)?,
    ])
}
