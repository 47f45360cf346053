//! Verify over the embedded log, fastest first: a sweep of raw pages on
//! every core ([`super::sweep`]) as far as every page is clean, then the
//! careful canonical pages from where it stopped: the next page is read
//! while this one is hashed on every core, then the links are checked
//! event by event (which names the first bad record). After one careful
//! page the sweep takes over again.

use std::sync::Arc;

use super::{on_every_core, sweep, ChainKey, Problem, RecordHasher, Verifier, PAGE};
use crate::audit::log::canonical::{CanonicalEvent, CanonicalPage};
use crate::audit::store::AuditStore;
use crate::audit::AuditError;

/// Verifies the events from `start` on into `verifier`; `false` (nothing
/// done) when the store has no canonical pages.
pub(super) async fn verify_canonical(
    store: &dyn AuditStore,
    key: &Arc<dyn ChainKey>,
    verifier: &mut Verifier<'_>,
    mut start: u64,
) -> Result<bool, AuditError> {
    loop {
        let mut careful_pages = None;
        if let Some(pages) = store.raw_pages(start, PAGE) {
            let (k, head) = (Arc::clone(key), verifier.head().clone());
            let swept = tokio::task::spawn_blocking(move || sweep::sweep(pages, k.as_ref(), &head))
                .await
                .map_err(|_| AuditError::Store("the audit verify task failed".into()))?;
            verifier.advance(swept.count, swept.head);
            if !swept.stopped {
                return Ok(true);
            }
            start = verifier.head().seq.saturating_add(1);
            careful_pages = Some(1);
        }
        match verify_careful(store, key, verifier, start, careful_pages).await? {
            Careful::Unsupported => return Ok(false),
            Careful::Done => return Ok(true),
            Careful::From(next) => start = next,
        }
    }
}

/// Where the careful path left off.
enum Careful {
    /// The store has no canonical pages (nothing done).
    Unsupported,
    /// At the end of the trail, or at a break.
    Done,
    /// `pages` pages done, all whole: go on from this seq.
    From(u64),
}

/// Verifies canonical pages from `start`, at most `pages` of them.
async fn verify_careful(
    store: &dyn AuditStore,
    key: &Arc<dyn ChainKey>,
    verifier: &mut Verifier<'_>,
    mut start: u64,
    mut pages: Option<usize>,
) -> Result<Careful, AuditError> {
    let mut scanned = match store.scan_canonical(start, PAGE).await {
        Ok(None) => return Ok(Careful::Unsupported),
        other => other,
    };
    loop {
        let page = match scanned {
            Ok(page) => page.unwrap_or_default(),
            Err(AuditError::Damaged { seq, message }) => {
                // Verify what precedes the damage, then name it.
                let readable = seq.map_or(0, |s| s.saturating_sub(start));
                if readable > 0 {
                    let before = store
                        .scan_canonical(start, readable as usize)
                        .await?
                        .unwrap_or_default();
                    let (before, ok) = check_hashes(Arc::clone(key), before).await?;
                    push_page(verifier, &before, &ok);
                }
                verifier.fail(seq, None, Problem::Unreadable, message);
                break;
            }
            Err(e) => return Err(e),
        };
        let next = page
            .events
            .last()
            .filter(|_| page.events.len() == PAGE)
            .map(|last| last.seq.saturating_add(1));
        pages = pages.map(|n| n.saturating_sub(1));
        let hashing = check_hashes(Arc::clone(key), page);
        let ((page, ok), following) = match next {
            Some(n) if pages == Some(0) => {
                let (page, ok) = hashing.await?;
                push_page(verifier, &page, &ok);
                return Ok(if verifier.is_broken() {
                    Careful::Done
                } else {
                    Careful::From(n)
                });
            }
            Some(n) => {
                let (checked, following) = tokio::join!(hashing, store.scan_canonical(n, PAGE));
                (checked?, Some((n, following)))
            }
            None => (hashing.await?, None),
        };
        push_page(verifier, &page, &ok);
        match following {
            Some((n, f)) if !verifier.is_broken() => {
                start = n;
                scanned = f;
            }
            _ => break,
        }
    }
    Ok(Careful::Done)
}

/// Whether each event's stored hash is the MAC of its canonical bytes,
/// computed off the async workers on every core.
async fn check_hashes(
    key: Arc<dyn ChainKey>,
    page: CanonicalPage,
) -> Result<(CanonicalPage, Vec<bool>), AuditError> {
    tokio::task::spawn_blocking(move || {
        let bytes = &page.bytes;
        let ok = on_every_core(&page.events, |events: &[CanonicalEvent]| {
            let mut hasher = RecordHasher::new(key.as_ref());
            events
                .iter()
                .map(|e| {
                    let json = bytes.get(e.span.clone()).unwrap_or_default();
                    e.hash.is(&hasher.mac_canonical(json))
                })
                .collect::<Vec<_>>()
        });
        (page, ok)
    })
    .await
    .map_err(|_| AuditError::Store("the audit verify task failed".into()))
}

/// Checks one page's links in order (`ok[i]`: event `i`'s hash matches).
fn push_page(verifier: &mut Verifier<'_>, page: &CanonicalPage, ok: &[bool]) {
    // Asked only at a break: a scan then is cheaper than a set per page.
    let elsewhere = |s: u64| page.events.iter().any(|e| e.seq == s);
    let (mut prev_hex, mut hash_hex) = ([0u8; 64], [0u8; 64]);
    for (i, event) in page.events.iter().enumerate() {
        let hash_ok = ok.get(i).copied().unwrap_or(false);
        let prev = event.prev.as_str(&mut prev_hex);
        let hash = event.hash.as_str(&mut hash_hex);
        verifier.push_link(prev, hash, event.seq, hash_ok, None, &elsewhere);
        if verifier.is_broken() {
            return;
        }
    }
}
