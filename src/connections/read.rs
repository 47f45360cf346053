//! The read side of connection administration: one connection, all of
//! them, the ones idle long enough for a keep-alive, health counts, and
//! the secret-free view an admin sees.

use time::OffsetDateTime;

use super::{ConnectionError, ConnectionManager};
use crate::model::connection::{
    BudgetView, CachedToken, ConnectionRecord, ConnectionView, HealthState, TokenView,
};
use crate::model::ConnectionName;
use crate::vault::Keyring;

impl ConnectionManager {
    /// Metadata of one connection.
    pub async fn get(
        &self,
        keyring: &Keyring,
        name: &ConnectionName,
    ) -> Result<ConnectionView, ConnectionError> {
        let record = self.record(keyring, name).await?;
        let cached: Option<CachedToken> = self
            .store
            .get_sealed(keyring.data_key(), name.as_bytes())
            .await?;
        Ok(self.view(record, cached))
    }

    /// The stored record of connection `name`; a name that is not a valid
    /// connection name is simply not found.
    pub(crate) async fn record(
        &self,
        keyring: &Keyring,
        name: &str,
    ) -> Result<ConnectionRecord, ConnectionError> {
        ConnectionName::parse(name).map_err(|_| ConnectionError::NotFound(name.to_string()))?;
        self.store
            .get_sealed(keyring.data_key(), name.as_bytes())
            .await?
            .ok_or_else(|| ConnectionError::NotFound(name.to_string()))
    }

    /// Metadata of every connection, by name.
    pub async fn list(&self, keyring: &Keyring) -> Result<Vec<ConnectionView>, ConnectionError> {
        let dk = keyring.data_key();
        let records = self
            .store
            .scan_sealed::<ConnectionRecord>(dk, &[], usize::MAX)
            .await?;
        // One scan of the token tree instead of a read per connection.
        let mut cached: std::collections::HashMap<Vec<u8>, CachedToken> = self
            .store
            .scan_sealed::<CachedToken>(dk, &[], usize::MAX)
            .await?
            .into_iter()
            .collect();
        Ok(records
            .into_iter()
            .map(|(key, record)| {
                let token = cached.remove(&key);
                self.view(record, token)
            })
            .collect())
    }

    /// Connections that can refresh (active or degraded) and whose last
    /// success is older than `idle`.
    pub async fn idle_since(
        &self,
        keyring: &Keyring,
        idle: std::time::Duration,
    ) -> Result<Vec<String>, ConnectionError> {
        // The clock the refreshes stamp `last_success_at` with.
        let cutoff = crate::clock::now() - idle;
        let records = self
            .store
            .scan_sealed::<ConnectionRecord>(keyring.data_key(), &[], usize::MAX)
            .await?;
        Ok(records
            .into_iter()
            .filter(|(_, r)| {
                matches!(r.health.state, HealthState::Active | HealthState::Degraded)
                    && r.health.last_success_at.is_none_or(|t| t < cutoff)
            })
            .map(|(_, r)| r.name)
            .collect())
    }

    /// How many connections are in each health state (for metrics).
    pub async fn health_counts(
        &self,
        keyring: &Keyring,
    ) -> Result<Vec<(&'static str, i64)>, ConnectionError> {
        let records = self
            .store
            .scan_sealed::<ConnectionRecord>(keyring.data_key(), &[], usize::MAX)
            .await?;
        Ok(HealthState::ALL
            .iter()
            .map(|state| {
                let n = records
                    .iter()
                    .filter(|(_, r)| r.health.state == *state)
                    .count();
                (state.as_str(), n as i64)
            })
            .collect())
    }

    /// The public view of a record: metadata, health, the cached token's
    /// timing and the budget, never a secret.
    pub(super) fn view(
        &self,
        record: ConnectionRecord,
        cached: Option<CachedToken>,
    ) -> ConnectionView {
        let budget = crate::model::budget::Budget {
            limit: self.budget_limit,
            window_secs: self.budget_window,
        };
        let now = OffsetDateTime::now_utc().unix_timestamp();
        ConnectionView {
            budget: BudgetView {
                used: budget.used(&record.mints, now),
                limit: budget.limit,
                window_secs: budget.window_secs,
            },
            token: cached.map(|c| TokenView {
                expires_at: c.expires_at,
                minted_at: c.minted_at,
            }),
            name: record.name,
            client_id: record.client_id,
            scopes: record.scopes,
            data_center: record.data_center,
            accounts_url: record.accounts_url,
            api_domain: record.api_domain,
            source: record.source,
            redirect_uri: record.redirect_uri,
            created_at: record.created_at,
            updated_at: record.updated_at,
            health: record.health,
        }
    }
}
