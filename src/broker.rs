//! Token issue: one cached access token per connection, shared by every
//! caller, refreshed lazily and by one caller at a time.
//!
//! Single flight: a caller whose demand the cache cannot meet takes the
//! connection's refresh lease from the coordinator ([`crate::coord`]), looks
//! at the cache again (another caller may have refreshed meanwhile) and only
//! then asks Zoho; everyone queued behind it finds the new token. The final
//! write is fenced: it happens only while the lease is current and as a
//! compare-and-set on the stored record, so a refresh that an admin writer
//! (delete, re-authorization) overtook writes nothing. The vault's own
//! budget ([`budget::Budget`]) keeps mints below Zoho's limit; a throttle
//! answer from Zoho parks the connection until its back-off passes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use secrecy::SecretString;
use time::OffsetDateTime;
use url::Url;

use crate::config::BrokerSettings;
use crate::coord::{Coordinator, Invalidation, RefreshLease};
use crate::metrics::Metrics;
use crate::model::budget::Budget;
use crate::model::connection::{CachedToken, ConnectionRecord, HealthState, LastError};
use crate::model::error::{corrupt_url, ConnectionError, ZohoOp};
use crate::model::grant::{apply_grant, seal_grant};
use crate::model::Fix;
use crate::store::records::{open_value, seal_op};
use crate::store::{AsyncStore, Op, StoreError, Tree};
use crate::vault::Keyring;
use crate::zoho::{ClientCredentials, ErrorClass, ZohoClient, ZohoError};

/// An access token handed to a caller.
pub struct Issued {
    /// The token.
    pub access_token: SecretString,
    /// The API host to call with it.
    pub api_domain: String,
    /// When the vault stops handing it out.
    pub expires_at: OffsetDateTime,
    /// Whether this call refreshed it (else it came from the cache).
    pub refreshed: bool,
    /// Whether the refresh answer rotated the refresh token.
    pub rotated: bool,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("refreshed", &self.refreshed)
            .finish()
    }
}

#[derive(Clone)]
struct Cached {
    token: SecretString,
    api_domain: String,
    expires_at: OffsetDateTime,
    minted_at: OffsetDateTime,
}

impl Cached {
    fn from_record(c: &CachedToken) -> Self {
        Self {
            token: c.access_token.secret().clone(),
            api_domain: c.api_domain.clone(),
            expires_at: c.expires_at,
            minted_at: c.minted_at,
        }
    }

    /// Whether a token this close to expiry should be refreshed ahead of
    /// demand: within `ahead` of expiry and past half its life (so a token
    /// that lives shorter than `ahead` is not refreshed over and over).
    fn due_ahead(&self, now: OffsetDateTime, ahead: Duration) -> bool {
        let remaining = self.expires_at - now;
        let half_life = (self.expires_at - self.minted_at) / 2;
        remaining < ahead && remaining < half_life
    }

    fn valid_for(&self, now: OffsetDateTime, min: Duration) -> bool {
        self.expires_at - now >= min
    }

    fn issue(&self, refreshed: bool) -> Issued {
        Issued {
            access_token: self.token.clone(),
            api_domain: self.api_domain.clone(),
            expires_at: self.expires_at,
            refreshed,
            rotated: false,
        }
    }
}

#[derive(Default)]
struct Slot {
    /// Whether the cache was loaded from the store (read and written only
    /// by the holder of the connection's refresh lease).
    loaded: AtomicBool,
    cache: RwLock<Option<Cached>>,
    /// Bumped by every successful refresh, so callers that queued behind a
    /// refresh share its result instead of starting another one.
    generation: std::sync::atomic::AtomicU64,
    /// When a caller last asked (unix seconds); refresh-ahead serves only
    /// connections in use.
    last_demand: std::sync::atomic::AtomicI64,
}

impl Slot {
    fn fresh(&self, now: OffsetDateTime, min: Duration) -> Option<Cached> {
        let guard = self.cache.read().ok()?;
        guard.as_ref().filter(|c| c.valid_for(now, min)).cloned()
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn set(&self, cached: Option<Cached>) {
        if let Ok(mut guard) = self.cache.write() {
            *guard = cached;
        }
    }
}

/// The token broker. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    store: AsyncStore,
    zoho: ZohoClient,
    settings: BrokerSettings,
    metrics: Arc<Metrics>,
    coord: Arc<dyn Coordinator>,
    /// Invalidations from the coordinator, applied before each use of the
    /// cache (so one published before a call is seen by that call).
    invalidations: Arc<Mutex<tokio::sync::broadcast::Receiver<Invalidation>>>,
    slots: Arc<Mutex<HashMap<String, Arc<Slot>>>>,
}

/// A refresh whose final write was fenced off (an admin writer overtook
/// it): the caller starts again from the store.
struct Fenced;

/// How many times a caller starts again after its refresh was fenced off
/// before it reports the connection as changed.
const FENCED_RETRIES: usize = 3;

impl Broker {
    /// A broker over the store.
    pub fn new(
        store: AsyncStore,
        zoho: ZohoClient,
        settings: BrokerSettings,
        metrics: Arc<Metrics>,
        coord: Arc<dyn Coordinator>,
    ) -> Self {
        let invalidations = Arc::new(Mutex::new(coord.subscribe()));
        Self {
            store,
            zoho,
            settings,
            metrics,
            coord,
            invalidations,
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Drops the cache entries every published invalidation names.
    fn apply_invalidations(&self) {
        use tokio::sync::broadcast::error::TryRecvError;
        let mut rx = self.invalidations.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match rx.try_recv() {
                Ok(Invalidation::ConnectionChanged(name)) => self.forget(&name),
                Ok(Invalidation::All) | Err(TryRecvError::Lagged(_)) => self.forget_all(),
                Ok(Invalidation::BearerRevoked(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }

    fn budget(&self) -> Budget {
        Budget {
            limit: self.settings.mint_budget,
            window_secs: self.settings.mint_window_secs,
        }
    }

    fn slot(&self, name: &str) -> Arc<Slot> {
        self.apply_invalidations();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(slots.entry(name.to_string()).or_default())
    }

    /// Drops the in-memory state of a connection.
    fn forget(&self, name: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Drops every cached token from memory.
    fn forget_all(&self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The validity a caller demands: its `min_valid_secs`, checked against
    /// the maximum, or the default when it names none.
    pub fn demand(&self, min_valid_secs: Option<u64>) -> Result<Duration, ConnectionError> {
        let max = self.settings.max_min_valid_secs;
        match min_valid_secs {
            Some(secs) if secs > max => Err(ConnectionError::Invalid(format!(
                "`min_valid_secs` may be at most {max}"
            ))),
            Some(secs) => Ok(Duration::from_secs(secs)),
            None => Ok(Duration::from_secs(self.settings.default_min_valid_secs)),
        }
    }

    /// An access token valid for at least `min_valid` (when Zoho allows).
    pub async fn issue(
        &self,
        keyring: &Keyring,
        name: &str,
        min_valid: Duration,
    ) -> Result<Issued, ConnectionError> {
        let slot = self.slot(name);
        slot.last_demand.store(
            OffsetDateTime::now_utc().unix_timestamp(),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.issue_from(keyring, name, slot, min_valid).await
    }

    /// Connections in use (asked for within `active`) whose cached token is
    /// due for a refresh ahead of demand (see `Cached::due_ahead`).
    pub fn due_ahead(&self, ahead: Duration, active: Duration) -> Vec<String> {
        self.apply_invalidations();
        let now = OffsetDateTime::now_utc();
        let active_since = now.unix_timestamp() - active.as_secs() as i64;
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .filter(|(_, slot)| {
                slot.last_demand.load(std::sync::atomic::Ordering::Relaxed) >= active_since
                    && slot
                        .cache
                        .read()
                        .ok()
                        .and_then(|c| c.as_ref().map(|c| c.due_ahead(now, ahead)))
                        .unwrap_or(false)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Refreshes a connection's token now unless a fresh one appeared
    /// meanwhile, through the same single flight and budget as callers,
    /// without counting as demand. `force` refreshes even a token that is
    /// not due (the keep-alive).
    pub async fn refresh_ahead(
        &self,
        keyring: &Keyring,
        name: &str,
        ahead: Duration,
        force: bool,
    ) -> Result<Issued, ConnectionError> {
        let slot = self.slot(name);
        let now = OffsetDateTime::now_utc();
        let cached = slot.cache.read().ok().and_then(|c| c.clone());
        let min_valid = match cached {
            Some(c) if !force && !c.due_ahead(now, ahead) => return Ok(c.issue(false)),
            // Anything longer than what is left forces a refresh.
            Some(c) => (c.expires_at - now).unsigned_abs() + Duration::from_secs(1),
            None => Duration::from_secs(u64::from(u32::MAX)),
        };
        self.issue_from(keyring, name, slot, min_valid).await
    }

    async fn issue_from(
        &self,
        keyring: &Keyring,
        name: &str,
        mut slot: Arc<Slot>,
        min_valid: Duration,
    ) -> Result<Issued, ConnectionError> {
        for _ in 0..FENCED_RETRIES {
            match self.attempt(keyring, name, &slot, min_valid).await? {
                Ok(issued) => return Ok(issued),
                // Overtaken by an admin writer: start again from the store.
                Err(Fenced) => slot = self.slot(name),
            }
        }
        Err(ConnectionError::NotFound(name.to_string()))
    }

    async fn attempt(
        &self,
        keyring: &Keyring,
        name: &str,
        slot: &Arc<Slot>,
        min_valid: Duration,
    ) -> Result<Result<Issued, Fenced>, ConnectionError> {
        if let Some(hit) = slot.fresh(OffsetDateTime::now_utc(), min_valid) {
            return Ok(Ok(hit.issue(false)));
        }
        let seen = slot.generation();
        let lease = self
            .coord
            .acquire_refresh(name)
            .await
            .map_err(coord_error)?;
        if slot.generation() != seen {
            // A refresh finished while we waited: it is the best token
            // there is, whatever our demand.
            if let Some(shared) = slot.fresh(OffsetDateTime::now_utc(), Duration::ZERO) {
                return Ok(Ok(shared.issue(false)));
            }
        }
        let dk = keyring.data_key();
        if !slot.loaded.load(Ordering::Acquire) {
            let cached: Option<CachedToken> = self.store.get_sealed(dk, name.as_bytes()).await?;
            slot.set(cached.as_ref().map(Cached::from_record));
            slot.loaded.store(true, Ordering::Release);
        }
        if let Some(hit) = slot.fresh(OffsetDateTime::now_utc(), min_valid) {
            return Ok(Ok(hit.issue(false)));
        }
        let Some(stored) = self
            .store
            .get(Tree::Connections, name.as_bytes().to_vec())
            .await?
        else {
            drop(lease);
            self.forget(name);
            return Err(ConnectionError::NotFound(name.to_string()));
        };
        let record: ConnectionRecord = open_value(dk, name.as_bytes(), &stored)?;
        let current = Current {
            lease,
            sealed: stored,
        };
        self.refresh(keyring, slot, record, current).await
    }

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
        let swapped = self
            .store
            .compare_and_swap(
                Tree::Connections,
                key,
                Some(current.sealed.clone()),
                Some(value),
            )
            .await?;
        if swapped.is_err() {
            return Ok(Err(Fenced));
        }
        // Nothing else writes this connection while the lease is held, so
        // the rest cannot land on a deleted or replaced connection.
        self.store.apply(extra).await?;
        Ok(Ok(()))
    }

    /// Runs with the connection's refresh lease held (in `current`).
    async fn refresh(
        &self,
        keyring: &Keyring,
        slot: &Slot,
        mut record: ConnectionRecord,
        current: Current,
    ) -> Result<Result<Issued, Fenced>, ConnectionError> {
        let name = record.name.clone();
        let now = OffsetDateTime::now_utc();
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
        if let Err(retry_after) = self.budget().spend(&mut record.mints, now.unix_timestamp()) {
            self.count_refresh("budget");
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
                let done = OffsetDateTime::now_utc();
                let rotated = grant.refresh_token.is_some();
                let cached = apply_grant(&mut record, &grant, now, done);
                // Durable before the token leaves: a rotated refresh token
                // must never be lost.
                let [record_op, cached_op] = seal_grant(dk, &record, &cached)?;
                let written = self
                    .fenced_write(&current, record_op, vec![cached_op])
                    .await?;
                if let Err(fenced) = written {
                    return Ok(Err(fenced));
                }
                let fresh = Cached::from_record(&cached);
                slot.set(Some(fresh.clone()));
                slot.generation
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                let mut issued = fresh.issue(true);
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
        if let Err(fenced) = self.fenced_write(current, record_op, extra).await? {
            // The connection changed meanwhile: this failure is about a
            // refresh token that is no longer there.
            return Ok(Err(fenced));
        }
        if state == HealthState::NeedsReauth {
            slot.set(None);
        }
        let outcome = match class {
            ErrorClass::Transient => {
                // Valid now, after the call: it may have died while Zoho failed.
                let still_valid = slot.fresh(OffsetDateTime::now_utc(), Duration::ZERO);
                match still_valid {
                    Some(c) => Ok(c.issue(false)),
                    None => Err(ConnectionError::Zoho {
                        connection: name,
                        op: ZohoOp::Refresh,
                        err,
                    }),
                }
            }
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
}

/// The lease a refresh holds and the stored record it read under it.
struct Current {
    lease: RefreshLease,
    sealed: Vec<u8>,
}

fn coord_error(e: crate::coord::CoordError) -> ConnectionError {
    ConnectionError::Store(StoreError::Backend(e.to_string()))
}

/// How to revive a connection whose refresh token died: the browser flow
/// when the connection has a redirect URI, a new self-client code otherwise.
fn reauth_fix(name: &str, redirect_uri: &Option<String>) -> Fix {
    Fix::reauthorize(name, redirect_uri.is_some())
}

/// The Zoho error's wire name, for audit events.
fn zoho_code(err: &ZohoError) -> &'static str {
    match err {
        ZohoError::InvalidCode => "invalid_code",
        ZohoError::InvalidClient => "invalid_client",
        ZohoError::InvalidClientSecret => "invalid_client_secret",
        ZohoError::InvalidRedirectUri => "invalid_redirect_uri",
        _ => "rejected",
    }
}
