//! Uploading over a connection that needs re-authorisation: the new
//! credentials replace the dead ones in place, so the connection keeps its
//! name, its grants and its history, and receivers hear
//! `connection.recovered` instead of a delete and a create.

use super::{ConnectionError, ConnectionManager};
use crate::model::connection::{CachedToken, ConnectionRecord, HealthState};
use crate::model::grant::seal_grant;
use crate::store::records::open_value;
use crate::store::{Op, StoreError, Tree};
use crate::vault::Keyring;
use crate::webhooks::event::{Event, EventType};
use crate::webhooks::outbox;

impl ConnectionManager {
    /// The stored bytes and record of `name` when an upload may replace it
    /// (it is `needs_reauth`); `None` when there is no such connection. Any
    /// other state is refused: a live connection is never overwritten.
    pub(super) async fn replaceable(
        &self,
        keyring: &Keyring,
        name: &str,
    ) -> Result<Option<(Vec<u8>, ConnectionRecord)>, ConnectionError> {
        let Some(sealed) = self
            .store
            .get(Tree::Connections, name.as_bytes().to_vec())
            .await?
        else {
            return Ok(None);
        };
        let record: ConnectionRecord = open_value(keyring.data_key(), name.as_bytes(), &sealed)?;
        if record.health.state != HealthState::NeedsReauth {
            return Err(ConnectionError::Exists(name.to_string()));
        }
        Ok(Some((sealed, record)))
    }

    /// Writes the new record, its fresh access token and the
    /// `connection.recovered` event in one write, only if the stored record
    /// is still the one read before Zoho was asked (`sealed`). A record that
    /// changed meanwhile is left alone and the upload refused as a conflict.
    pub(super) async fn replace(
        &self,
        keyring: &Keyring,
        sealed: Vec<u8>,
        record: &ConnectionRecord,
        cached: &CachedToken,
        previous: HealthState,
    ) -> Result<(), ConnectionError> {
        let [record_op, token_op] = seal_grant(keyring.data_key(), record, cached)?;
        let Op::Put { key, value, .. } = record_op else {
            return Err(StoreError::Backend("sealing a record must put it".into()).into());
        };
        let event = outbox::enqueue(&Event::connection(
            EventType::ConnectionRecovered,
            record.updated_at,
            &record.name,
            Some(record.health.state),
            Some(previous),
            None,
            None,
        ))?;
        let swapped = self
            .store
            .compare_and_swap_with(
                Tree::Connections,
                key,
                Some(sealed),
                Some(value),
                vec![token_op, event],
            )
            .await?;
        if swapped.is_err() {
            return Err(ConnectionError::Exists(record.name.clone()));
        }
        self.changed(&record.name);
        Ok(())
    }
}
