//! Verify's bulk read: each segment's committed bytes in one read, cut
//! into pages of event payloads without copying them (the frames are
//! checked here, the payloads are turned into canonical bytes and hashed
//! by the caller's threads).
//!
//! A page holds the events [`super::SegmentLog::canonical_from`] would
//! return for the same `from` and `limit`. Anything this reader is not sure
//! of (a frame that fails its checksum, a torn or cut-short segment, an
//! unknown kind, a read error) ends the sweep with [`Unsure`]: the caller
//! then reads that page the careful way, which names the damage.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;

use super::engine::SegmentView;
use super::record::{decode, Payload, FRAME_HEADER, KIND_DRAINED_V1, KIND_EVENT_V1, MAX_PAYLOAD};

/// The sweep cannot vouch for the next page: read it the careful way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsure;

/// Payloads of one segment's buffer.
struct Part {
    buf: Arc<Vec<u8>>,
    payloads: Vec<Range<usize>>,
}

/// Up to a page of event payloads, in log order (a page may span two
/// segments).
#[derive(Default)]
pub struct RawPage {
    parts: Vec<Part>,
    events: usize,
}

impl RawPage {
    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.events
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Each event's whole payload (kind byte first), in order.
    pub fn payloads(&self) -> impl Iterator<Item = &[u8]> {
        self.parts.iter().flat_map(|part| {
            part.payloads
                .iter()
                .map(|r| part.buf.get(r.clone()).unwrap_or_default())
        })
    }
}

/// Pages of the events from `from` on, over the segments as they were when
/// the sweep started (events appended later are not in it).
pub struct RawPages {
    views: VecDeque<SegmentView>,
    from: u64,
    page: usize,
    /// The segment being cut: its bytes and the next frame's position.
    current: Option<(Arc<Vec<u8>>, usize)>,
    done: bool,
}

impl RawPages {
    /// A sweep of `views` (in log order) from seq `from`, `page` events at
    /// a time.
    pub fn new(views: Vec<SegmentView>, from: u64, page: usize) -> Self {
        Self {
            views: views.into(),
            from,
            page: page.max(1),
            current: None,
            done: false,
        }
    }

    /// The next segment's committed bytes from where `from` may start.
    fn load(&mut self) -> Result<bool, Unsure> {
        let Some(view) = self.views.pop_front() else {
            return Ok(false);
        };
        let (path, range) = view.file();
        let mut file = File::open(path).map_err(|_| Unsure)?;
        let size = file.metadata().map_err(|_| Unsure)?.len();
        if size < range.end {
            // Cut shorter than committed: damage the careful read names.
            return Err(Unsure);
        }
        file.seek(SeekFrom::Start(range.start))
            .map_err(|_| Unsure)?;
        let len = usize::try_from(range.end.saturating_sub(range.start)).map_err(|_| Unsure)?;
        let mut buf = vec![0u8; len];
        file.read_exact(&mut buf).map_err(|_| Unsure)?;
        self.current = Some((Arc::new(buf), 0));
        Ok(true)
    }

    fn next_page(&mut self) -> Result<Option<RawPage>, Unsure> {
        let mut page = RawPage::default();
        while page.events < self.page {
            let Some((buf, pos)) = self.current.as_mut() else {
                if !self.load()? {
                    break;
                }
                continue;
            };
            let mut part = Part {
                buf: Arc::clone(buf),
                payloads: Vec::new(),
            };
            while page.events < self.page && *pos < buf.len() {
                let span = frame_at(buf, *pos)?;
                *pos = span.end;
                let payload = &buf[span.clone()];
                match payload.first().copied() {
                    Some(KIND_EVENT_V1) => {
                        let seq = payload
                            .get(2..10)
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_le_bytes)
                            .ok_or(Unsure)?;
                        if seq >= self.from {
                            part.payloads.push(span);
                            page.events += 1;
                        }
                    }
                    // A marker the careful read would accept: skipped.
                    Some(KIND_DRAINED_V1) if matches!(decode(payload), Ok(Payload::Drained(_))) => {
                    }
                    _ => return Err(Unsure),
                }
            }
            if *pos >= buf.len() {
                self.current = None;
            }
            if !part.payloads.is_empty() {
                page.parts.push(part);
            }
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

impl Iterator for RawPages {
    type Item = Result<RawPage, Unsure>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_page();
        // Ends after a short page (the trail's end) or anything unsure.
        self.done = !matches!(&next, Ok(Some(p)) if p.len() == self.page);
        next.transpose()
    }
}

/// The payload of the whole frame at `pos`, its checksum checked.
fn frame_at(buf: &[u8], pos: usize) -> Result<Range<usize>, Unsure> {
    let head = buf.get(pos..pos + FRAME_HEADER).ok_or(Unsure)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return Err(Unsure);
    }
    let start = pos + FRAME_HEADER;
    let span = start..start + len as usize;
    let payload = buf.get(span.clone()).ok_or(Unsure)?;
    if crc32fast::hash(payload) != crc {
        return Err(Unsure);
    }
    Ok(span)
}
