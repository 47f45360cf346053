//! A token Zoho refused although the vault still thought it valid (revoked
//! at Zoho, or expired early): forget it and refresh once, through the same
//! single flight and budget as every other refresh.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{Broker, Issued};
use crate::model::connection::CachedToken;
use crate::model::error::ConnectionError;
use crate::model::ConnectionName;
use crate::store::records::open_value;
use crate::store::{StoreError, Tree};
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
        self.drop_stored(keyring, name, dead).await;
        let min_valid = Duration::from_secs(self.settings.default_min_valid_secs);
        self.issue_from(keyring, name, slot, min_valid).await
    }

    /// Removes the stored copy of `dead` too, so that what an admin sees
    /// (`connection show`), a restart and the other replicas do not hold a
    /// token Zoho refused, whatever the refresh that follows does. Only
    /// while the store holds that very token (a compare-and-swap on its
    /// sealed bytes: a token stored meanwhile stays). Best effort: a
    /// successful refresh overwrites it anyway, so a failure is logged.
    async fn drop_stored(&self, keyring: &Keyring, name: &ConnectionName, dead: &SecretString) {
        let key = name.as_bytes().to_vec();
        let dropped = async {
            let Some(sealed) = self.store.get(Tree::AccessTokens, key.clone()).await? else {
                return Ok(());
            };
            let stored: CachedToken = open_value(keyring.data_key(), &key, &sealed)?;
            if stored.access_token.secret().expose_secret() == dead.expose_secret() {
                // A conflict means another token took its place: keep it.
                let _ = self
                    .store
                    .compare_and_swap(Tree::AccessTokens, key, Some(sealed), None)
                    .await?;
            }
            Ok::<(), StoreError>(())
        };
        if let Err(e) = dropped.await {
            tracing::warn!(connection = %name, error = %e, "could not remove a refused access token from the store");
        }
    }
}
