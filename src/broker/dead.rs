//! A token Zoho refused although the vault still thought it valid (revoked
//! at Zoho, or expired early): forget it and refresh once, through the same
//! single flight and budget as every other refresh.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{Broker, Issued};
use crate::model::error::ConnectionError;
use crate::model::ConnectionName;
use crate::vault::Keyring;

impl Broker {
    /// A token to use instead of `dead`. Many callers that saw the same
    /// token refused share one refresh: the first drops the dead token from
    /// the cache and refreshes; the others queue behind its lease and share
    /// its outcome, or find the new token already cached.
    pub async fn replace_dead(
        &self,
        keyring: &Keyring,
        name: &ConnectionName,
        dead: &SecretString,
    ) -> Result<Issued, ConnectionError> {
        let slot = self.slot(name);
        let now = self.now();
        if slot.forget_if(dead.expose_secret()) {
            if let Some(c) = slot.fresh(now, Duration::ZERO) {
                return Ok(c.issue(now, false));
            }
        }
        let min_valid = Duration::from_secs(self.settings.default_min_valid_secs);
        self.issue_from(keyring, name, slot, min_valid).await
    }
}
