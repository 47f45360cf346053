//! Verify's bulk path over raw pages of the segment log: one thread reads
//! whole segments and cuts them into pages; one thread per core turns each
//! event of a page into its canonical bytes, MACs them and checks the
//! page's own links (seq + 1, `prev` = the previous `hash`); the calling
//! thread then only joins pages end to end, in order.
//!
//! A page is either clean (every event checks out) or not; the sweep stops
//! before the first page that is not, or that the reader cannot vouch for,
//! and the caller verifies that page event by event, which names the first
//! bad record exactly as the careful path always has.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use super::{ChainKey, RecordHasher};
use crate::audit::keys::Checkpoint;
use crate::audit::log::canonical::{write_canonical, HashField, StoredHash};
use crate::audit::log::sweep::{RawPage, RawPages};

/// How far a sweep got.
pub(super) struct Swept {
    /// Events verified.
    pub count: u64,
    /// The last verified event (the starting head when none).
    pub head: Checkpoint,
    /// It stopped before a page it could not vouch for (at `head.seq + 1`);
    /// `false`: it verified every event the log held when it started.
    pub stopped: bool,
}

/// A page whose events verify among themselves.
struct Clean {
    first_seq: u64,
    first_prev: StoredHash,
    last_seq: u64,
    last_hash: StoredHash,
    count: u64,
}

/// Verifies `pages` after `head` on every core (blocking).
pub(super) fn sweep(pages: RawPages, key: &dyn ChainKey, head: &Checkpoint) -> Swept {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let stop = AtomicBool::new(false);
    let (page_tx, page_rx) = mpsc::sync_channel::<(usize, RawPage)>(threads * 2);
    let page_rx = Mutex::new(page_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Option<Clean>)>();
    let mut swept = Swept {
        count: 0,
        head: head.clone(),
        stopped: false,
    };
    let mut head_hash = StoredHash::Text(head.hash.clone());
    std::thread::scope(|scope| {
        let (stop, page_rx) = (&stop, &page_rx);
        let reader_done = done_tx.clone();
        scope.spawn(move || {
            for (i, page) in pages.enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(page) = page else {
                    // Ends the sweep at this page.
                    let _ = reader_done.send((i, None));
                    break;
                };
                if page_tx.send((i, page)).is_err() {
                    break;
                }
            }
        });
        for _ in 0..threads {
            let done = done_tx.clone();
            scope.spawn(move || {
                let mut hasher = RecordHasher::new(key);
                let mut buf = Vec::with_capacity(1024);
                loop {
                    // A poisoned lock only means another worker panicked.
                    let next = page_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((i, page)) = next else { break };
                    let clean = if stop.load(Ordering::Relaxed) {
                        None
                    } else {
                        check_page(&page, &mut hasher, &mut buf)
                    };
                    if done.send((i, clean)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // Joins pages in order as they come back.
        let mut waiting = BTreeMap::new();
        let mut next = 0usize;
        'pages: for (i, clean) in done_rx.iter() {
            waiting.insert(i, clean);
            while let Some(clean) = waiting.remove(&next) {
                next += 1;
                let joins = clean.filter(|c| {
                    c.first_seq == swept.head.seq.wrapping_add(1)
                        && same(field(&c.first_prev), field(&head_hash))
                });
                let Some(c) = joins else {
                    swept.stopped = true;
                    break 'pages;
                };
                swept.count += c.count;
                swept.head.seq = c.last_seq;
                head_hash = c.last_hash;
            }
        }
        // A page that never came back (a worker died) is not verified.
        swept.stopped |= !waiting.is_empty();
        // Lets the reader and the workers wind down; `done_rx` lives on
        // until they have, so no send of theirs blocks or fails early.
        stop.store(true, Ordering::Relaxed);
    });
    let mut hex = [0u8; 64];
    swept.head.hash = head_hash.as_str(&mut hex).to_owned();
    swept
}

/// The page's summary when every event's hash is the MAC of its canonical
/// bytes and each links to the one before; `None` otherwise.
fn check_page(page: &RawPage, hasher: &mut RecordHasher<'_>, buf: &mut Vec<u8>) -> Option<Clean> {
    let mut first: Option<(u64, HashField<'_>)> = None;
    let mut last: Option<(u64, HashField<'_>)> = None;
    let mut count = 0u64;
    for payload in page.payloads() {
        buf.clear();
        let event = write_canonical(payload, buf)?;
        if !event.hash.is(&hasher.mac_canonical(buf)) {
            return None;
        }
        match last {
            None => first = Some((event.seq, event.prev)),
            Some((seq, hash)) => {
                if event.seq != seq.checked_add(1)? || !same(event.prev, hash) {
                    return None;
                }
            }
        }
        last = Some((event.seq, event.hash));
        count += 1;
    }
    let ((first_seq, first_prev), (last_seq, last_hash)) = (first?, last?);
    Some(Clean {
        first_seq,
        first_prev: first_prev.into(),
        last_seq,
        last_hash: last_hash.into(),
        count,
    })
}

fn field(hash: &StoredHash) -> HashField<'_> {
    match hash {
        StoredHash::Raw(raw) => HashField::Raw(raw),
        StoredHash::Text(text) => HashField::Text(text),
    }
}

/// Whether two stored hashes read the same as text (what the chain links).
fn same(a: HashField<'_>, b: HashField<'_>) -> bool {
    match (a, b) {
        (HashField::Raw(a), HashField::Raw(b)) => a == b,
        (HashField::Text(a), HashField::Text(b)) => a == b,
        (HashField::Raw(raw), text @ HashField::Text(_))
        | (text @ HashField::Text(_), HashField::Raw(raw)) => text.is(raw),
    }
}
