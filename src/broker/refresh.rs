//! The refresh itself, run by the holder of the connection's refresh lease:
//! the record's state and budget checks, the Zoho call, and the fenced
//! write of its outcome.

use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use super::errors::{coord_error, reauth_fix, zoho_code};
use super::flight::{Cached, Outcome, Slot};
use super::{Broker, Issued};
use crate::coord::RefreshLease;
use crate::model::connection::{ConnectionRecord, HealthState, LastError};
use crate::model::error::{corrupt_url, ConnectionError, ZohoOp};
use crate::model::grant::{apply_grant, seal_grant};
use crate::model::Fix;
use crate::store::records::seal_op;
use crate::store::{Op, StoreError, Tree};
use crate::vault::Keyring;
use crate::webhooks::event::{Event, EventType};
use crate::webhooks::outbox;
use crate::zoho::{ClientCredentials, ErrorClass, ZohoError};

/// A refresh whose final write was fenced off (an admin writer overtook
/// it): the caller starts again from the store.
pub(super) struct Fenced;

/// The lease a refresh holds and the stored record it read under it.
pub(super) struct Current {
    pub(super) lease: RefreshLease,
    pub(super) sealed: Vec<u8>,
}

impl Broker {
    /// Writes the record (and then `extra`) only if the lease is still
    /// current and the stored record is still the one the refresh read.
    async fn fenced_write(
        &self,
        current: &Current,
        record_op: Op,
        extra: Vec<Op>,
    ) -> Result<Result<(), Fenced>, ConnectionError> {
        if !self
            .coord
            .is_current(&current.lease)
            .await
            .map_err(coord_error)?
        {
            return Ok(Err(Fenced));
        }
        let Op::Put { key, value, .. } = record_op else {
            return Err(StoreError::Backend("a fenced write must put the record".into()).into());
        };
        // The rest (the cached token, a webhook event) lands in the same
        // write, so a crash cannot keep one without the other.
        let swapped = self
            .store
            .compare_and_swap_with(
                Tree::Connections,
                key,
                Some(current.sealed.clone()),
                Some(value),
                extra,
            )
            .await?;
        if swapped.is_err() {
            return Ok(Err(Fenced));
        }
        Ok(Ok(()))
    }

    /// Runs with the connection's refresh lease held (in `current`).
    pub(super) async fn refresh(
        &self,
        keyring: &Keyring,
        slot: &Slot,
        mut record: ConnectionRecord,
        current: Current,
    ) -> Result<Result<Issued, Fenced>, ConnectionError> {
        let name = record.name.clone();
        let now = self.now();
        let previous = record.health.state;
        let Some(refresh_token) = record.refresh_token.as_ref().map(|rt| rt.secret().clone())
        else {
            return Err(ConnectionError::PendingAuthorization { name });
        };
        match record.health.state {
            HealthState::PendingAuthorization => {
                return Err(ConnectionError::PendingAuthorization { name });
            }
            HealthState::NeedsReauth => {
                return Err(ConnectionError::NeedsReauth {
                    name,
                    reason: record
                        .health
                        .last_error
                        .map(|e| e.message)
                        .unwrap_or_else(|| "the refresh token no longer works".into()),
                    fix: record
                        .health
                        .action
                        .unwrap_or_else(|| reauth_fix(&record.name, &record.redirect_uri)),
                    code: "needs_reauth".into(),
                    fresh: false,
                });
            }
            HealthState::Throttled => {
                if let Some(until) = record.health.throttled_until.filter(|u| *u > now) {
                    return Err(ConnectionError::Throttled {
                        name,
                        retry_after: (until - now).whole_seconds().max(1) as u64,
                    });
                }
            }
            HealthState::Active | HealthState::Degraded => {}
        }
        // Spent before the call: an attempt whose answer is lost may still
        // have minted a token at Zoho.
        let unix_now = now.unix_timestamp();
        let settled = self.budget().settle(&mut record.mints, unix_now);
        if let Err(retry_after) = self.budget().spend(&mut record.mints, unix_now) {
            self.count_refresh("budget");
            if settled {
                // Keep the mints moved back from the future, or every later
                // check would move them again and stay blocked until the
                // clock caught up with them.
                let record_op = seal_op(keyring.data_key(), name.as_bytes(), &record)?;
                if let Err(fenced) = self.fenced_write(&current, record_op, Vec::new()).await? {
                    return Ok(Err(fenced));
                }
            }
            return Err(ConnectionError::BudgetExhausted { name, retry_after });
        }
        let accounts_url = Url::parse(&record.accounts_url).map_err(|_| corrupt_url(&name))?;
        let creds = ClientCredentials {
            client_id: record.client_id.clone(),
            client_secret: record.client_secret.secret().clone(),
        };
        let result = self
            .zoho
            .refresh(&accounts_url, &creds, &refresh_token)
            .await;
        let dk = keyring.data_key();
        match result {
            Ok(grant) => {
                self.count_refresh("ok");
                let done = self.now();
                let rotated = grant.refresh_token.is_some();
                let cached = apply_grant(&mut record, &grant, now, done);
                // Durable before the token leaves: a rotated refresh token
                // must never be lost.
                let [record_op, cached_op] = seal_grant(dk, &record, &cached)?;
                let mut extra = vec![cached_op];
                if previous != HealthState::Active {
                    extra.push(state_event(&record, previous, done)?);
                }
                let written = self.fenced_write(&current, record_op, extra).await?;
                if let Err(fenced) = written {
                    return Ok(Err(fenced));
                }
                let fresh = Cached::from_record(&cached, done);
                slot.set(Some(fresh.clone()));
                slot.finish(Outcome::Refreshed);
                let mut issued = fresh.issue(done, true);
                issued.rotated = rotated;
                Ok(Ok(issued))
            }
            Err(err) => {
                self.record_failure(keyring, slot, record, err, now, &current)
                    .await
            }
        }
    }

    fn count_refresh(&self, outcome: &str) {
        self.metrics.refreshes.with_label_values(&[outcome]).inc();
    }

    async fn record_failure(
        &self,
        keyring: &Keyring,
        slot: &Slot,
        mut record: ConnectionRecord,
        err: ZohoError,
        now: OffsetDateTime,
        current: &Current,
    ) -> Result<Result<Issued, Fenced>, ConnectionError> {
        let name = record.name.clone();
        let previous = record.health.state;
        let class = err.class();
        self.count_refresh(match class {
            ErrorClass::Transient => "transient",
            ErrorClass::Throttled => "throttled",
            ErrorClass::NeedsReauth | ErrorClass::Config => "needs_reauth",
        });
        let (state, code, fix) = match class {
            ErrorClass::Transient => (HealthState::Degraded, "upstream_unavailable", None),
            ErrorClass::Throttled => (HealthState::Throttled, "upstream_throttled", None),
            ErrorClass::NeedsReauth => (
                HealthState::NeedsReauth,
                "needs_reauth",
                Some(reauth_fix(&name, &record.redirect_uri)),
            ),
            ErrorClass::Config => (
                HealthState::NeedsReauth,
                "needs_reauth",
                Some(Fix::ReplaceClient {
                    connection: name.clone(),
                }),
            ),
        };
        record.health.state = state;
        // The text is the API's to write (from `action`); an older
        // record's text must not outlive the fix it described.
        record.health.fix = None;
        record.health.action = fix.clone();
        record.health.last_error = Some(LastError {
            at: now,
            code: code.into(),
            message: err.to_string(),
        });
        record.health.throttled_until = (class == ErrorClass::Throttled)
            .then(|| now + Duration::from_secs(self.settings.throttle_backoff_secs));
        record.updated_at = now;
        let record_op = seal_op(keyring.data_key(), name.as_bytes(), &record)?;
        let mut extra = Vec::new();
        if state == HealthState::NeedsReauth {
            // A dead refresh token kills its access tokens too.
            extra.push(Op::Delete {
                tree: Tree::AccessTokens,
                key: name.as_bytes().to_vec(),
            });
        }
        if state != previous {
            extra.push(state_event(&record, previous, now)?);
        }
        if let Err(fenced) = self.fenced_write(current, record_op, extra).await? {
            // The connection changed meanwhile: this failure is about a
            // refresh token that is no longer there.
            return Ok(Err(fenced));
        }
        if state == HealthState::NeedsReauth {
            slot.set(None);
        }
        // Published only once durable: the callers queued behind this
        // refresh answer from it instead of asking Zoho again.
        slot.finish(Outcome::Failed(err.clone()));
        let outcome = match class {
            ErrorClass::Transient => self.transient_answer(&name, slot, err),
            ErrorClass::Throttled => Err(ConnectionError::Throttled {
                name,
                retry_after: self.settings.throttle_backoff_secs,
            }),
            ErrorClass::NeedsReauth | ErrorClass::Config => Err(ConnectionError::NeedsReauth {
                name,
                reason: err.to_string(),
                fix: fix.unwrap_or_else(|| reauth_fix(&record.name, &record.redirect_uri)),
                code: zoho_code(&err).into(),
                fresh: true,
            }),
        };
        outcome.map(Ok)
    }

    /// The answer to a transient failure: the cached token while it is
    /// still valid (checked now, after the call: it may have died while
    /// Zoho failed), else the failure.
    pub(super) fn transient_answer(
        &self,
        name: &str,
        slot: &Slot,
        err: ZohoError,
    ) -> Result<Issued, ConnectionError> {
        let now = self.now();
        match slot.fresh(now, Duration::ZERO) {
            Some(c) => Ok(c.issue(now, false)),
            None => Err(ConnectionError::Zoho {
                connection: name.to_string(),
                op: ZohoOp::Refresh,
                err,
            }),
        }
    }
}

/// The outbox write announcing that `record` moved out of `previous`.
fn state_event(
    record: &ConnectionRecord,
    previous: HealthState,
    at: OffsetDateTime,
) -> Result<Op, StoreError> {
    let state = record.health.state;
    let kind = EventType::for_state(state).unwrap_or(EventType::ConnectionDegraded);
    let event = Event::connection(
        kind,
        at,
        &record.name,
        Some(state),
        Some(previous),
        record.health.last_error.as_ref(),
        record.health.action.as_ref(),
    );
    outbox::enqueue(&event)
}
