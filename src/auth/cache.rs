//! The verification cache: tokens verified within [`LAST_USE_EVERY`], by
//! hash, so the hot path of a request does not touch the store.
//!
//! It holds no secret, and only tokens that verified are cached, so garbage
//! cannot grow it. A revocation drops the entry here at once and is
//! published on the coordination seam ([`Coordinator`]), so every registry
//! that listens (in this process, and in other replicas once the seam spans
//! them) drops it before its next verification. The bounded lifetime stays
//! as the backstop for a change nobody published.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use time::OffsetDateTime;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;

use super::principal::Principal;
use super::record::TokenRecord;
use super::LAST_USE_EVERY;
use crate::coord::{Coordinator, Invalidation};
use crate::crypto::token::TokenKind;

/// A cached verification.
#[derive(Clone)]
pub(super) struct Verified {
    pub(super) kind: TokenKind,
    pub(super) principal: Principal,
    pub(super) expires_at: Option<OffsetDateTime>,
    at: Instant,
}

/// See the module documentation.
pub(super) struct VerificationCache {
    verified: RwLock<HashMap<[u8; 32], Verified>>,
    /// Bumped by every revocation: a verification read from the store
    /// before a revocation is not cached after it.
    revocations: AtomicU64,
    coord: Arc<dyn Coordinator>,
    /// Invalidations published by anyone (this registry included), drained
    /// before every lookup.
    invalidations: Mutex<Receiver<Invalidation>>,
}

impl VerificationCache {
    pub(super) fn new(coord: Arc<dyn Coordinator>) -> Self {
        Self {
            verified: RwLock::default(),
            revocations: AtomicU64::new(0),
            invalidations: Mutex::new(coord.subscribe()),
            coord,
        }
    }

    /// The revocation generation; read it before reading the store and hand
    /// it to [`Self::remember`].
    pub(super) fn generation(&self) -> u64 {
        self.revocations.load(Ordering::Acquire)
    }

    /// A verification younger than [`LAST_USE_EVERY`] that no published
    /// revocation has dropped; older ones are read again from the store,
    /// which also writes the token's last use.
    pub(super) fn get(&self, hash: &[u8; 32]) -> Option<Verified> {
        self.apply_invalidations();
        let map = self.verified.read().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|v| v.at.elapsed() < LAST_USE_EVERY)
            .cloned()
    }

    /// Caches a verification read from the store at `generation`, unless a
    /// revocation happened since.
    pub(super) fn remember(
        &self,
        hash: &[u8; 32],
        record: &TokenRecord,
        principal: &Principal,
        generation: u64,
    ) {
        let mut map = self.verified.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock that revocations also take.
        if self.revocations.load(Ordering::Acquire) != generation {
            return;
        }
        map.insert(
            *hash,
            Verified {
                kind: record.kind,
                principal: principal.clone(),
                expires_at: record.expires_at,
                at: Instant::now(),
            },
        );
    }

    /// The token with this hash was revoked: dropped here before this
    /// returns, and published for every other listener.
    pub(super) fn revoked(&self, hash: &[u8]) {
        self.forget(hash);
        match <[u8; 32]>::try_from(hash) {
            Ok(hash) => self.coord.publish(Invalidation::BearerRevoked(hash)),
            // Not a SHA-256: no cache anywhere is keyed by it.
            Err(_) => tracing::warn!("a revoked token's stored hash is not 32 bytes"),
        }
    }

    /// Drops the verification of the token with this hash, and keeps any
    /// verification read before now from being cached.
    pub(super) fn forget(&self, hash: &[u8]) {
        let mut map = self.verified.write().unwrap_or_else(|p| p.into_inner());
        self.revocations.fetch_add(1, Ordering::AcqRel);
        map.retain(|k, _| k.as_slice() != hash);
    }

    /// Drops every cached verification (on seal, or when told to).
    pub(super) fn clear(&self) {
        let mut map = self.verified.write().unwrap_or_else(|p| p.into_inner());
        self.revocations.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }

    /// Applies every invalidation published since the last call. One that
    /// was missed (the receiver lagged) could have been a revocation, so a
    /// gap drops everything.
    fn apply_invalidations(&self) {
        let mut rx = self.invalidations.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match rx.try_recv() {
                Ok(Invalidation::BearerRevoked(hash)) => self.forget(&hash),
                Ok(Invalidation::All) | Err(TryRecvError::Lagged(_)) => self.clear(),
                Ok(Invalidation::ConnectionChanged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }
}
