//! The verification cache: tokens verified within [`LAST_USE_EVERY`], by
//! hash, so the hot path of a request does not touch the store.
//!
//! It holds no secret, and only tokens that verified are cached, so garbage
//! cannot grow it. Its bounded lifetime is the backstop for changes made
//! where this process cannot see them; revocations made here drop the entry
//! at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use time::OffsetDateTime;

use super::principal::Principal;
use super::record::TokenRecord;
use super::LAST_USE_EVERY;
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
#[derive(Default)]
pub(super) struct VerificationCache {
    verified: RwLock<HashMap<[u8; 32], Verified>>,
    /// Bumped by every revocation: a verification read from the store
    /// before a revocation is not cached after it.
    revocations: AtomicU64,
}

impl VerificationCache {
    /// The revocation generation; read it before reading the store and hand
    /// it to [`Self::remember`].
    pub(super) fn generation(&self) -> u64 {
        self.revocations.load(Ordering::Acquire)
    }

    /// A verification younger than [`LAST_USE_EVERY`]; older ones are read
    /// again from the store, which also writes the token's last use and
    /// bounds how long a change made elsewhere takes to be seen.
    pub(super) fn get(&self, hash: &[u8; 32]) -> Option<Verified> {
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

    /// Drops the verification of the token with this hash, and keeps any
    /// verification read before now from being cached.
    pub(super) fn forget(&self, hash: &[u8]) {
        let mut map = self.verified.write().unwrap_or_else(|p| p.into_inner());
        self.revocations.fetch_add(1, Ordering::AcqRel);
        map.retain(|k, _| k.as_slice() != hash);
    }

    /// Drops every cached verification (on seal).
    pub(super) fn clear(&self) {
        self.verified
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
