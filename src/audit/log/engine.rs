//! The segment log: recovery at open, durable group appends, positional
//! reads, and dropping whole segments. Blocking; callers run it off the
//! async workers.
//!
//! In memory, per segment: its sequence range, its committed length, a
//! sparse seq → offset table (one entry per [`SPARSE`] events) and the set of
//! indexed values its events hold (hashed), so a filtered query reads only
//! segments that can match. All of it is rebuilt from the files at open.

mod recover;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::canonical::CanonicalPage;
use super::checkpoint::SignedCheckpoint;
use super::record::{encode_drained, frame, frame_event, Payload};
use super::segment::{file_name, header, parse_name, FrameReader, HEADER_LEN};
use super::Damage;
use crate::audit::event::AuditRecord;
use crate::audit::keys::{indexed_values, Checkpoint, Field};
use recover::{last_record_head, recover};

/// A new segment is started once the open one holds this many bytes.
pub const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// One sparse-table entry per this many events.
const SPARSE: u64 = 64;

/// A log failure.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// File I/O failed.
    #[error("audit log I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// A record before the tail cannot be read.
    #[error("{0}")]
    Damaged(Damage),
    /// An earlier write failed half-way and could not be undone.
    #[error("the audit log is in an unknown state after a failed write; restart the vault")]
    Poisoned,
}

struct Segment {
    first_seq: u64,
    path: PathBuf,
    name: String,
    /// Last event's seq; `first_seq - 1` while empty.
    last_seq: u64,
    /// Committed length: everything before it is durable and whole.
    len: u64,
    sparse: Vec<(u64, u64)>,
    values: HashSet<u64>,
}

impl Segment {
    fn add(&mut self, record: &AuditRecord, offset: u64) {
        if (record.seq - self.first_seq).is_multiple_of(SPARSE) {
            self.sparse.push((record.seq, offset));
        }
        for (field, value) in indexed_values(record) {
            self.values.insert(value_key(field, value));
        }
        self.last_seq = record.seq;
    }

    /// Where to start reading for `seq`.
    fn offset_for(&self, seq: u64) -> u64 {
        let i = self.sparse.partition_point(|(s, _)| *s <= seq);
        i.checked_sub(1).map_or(HEADER_LEN, |i| self.sparse[i].1)
    }

    fn damage(&self, offset: u64, seq: Option<u64>, reason: &str) -> Damage {
        Damage {
            segment: self.name.clone(),
            offset,
            seq,
            reason: reason.to_string(),
        }
    }
}

struct Inner {
    segments: Vec<Segment>,
    open: Option<File>,
    head: Option<Checkpoint>,
    drained: u64,
    poisoned: bool,
}

/// A read-only view of one segment, taken under the lock.
pub struct SegmentView {
    path: PathBuf,
    name: String,
    /// First and last seq held.
    pub range: (u64, u64),
    start: u64,
    len: u64,
}

impl SegmentView {
    /// Its file and the committed byte range to read for the events asked.
    pub fn file(&self) -> (&Path, std::ops::Range<u64>) {
        (&self.path, self.start..self.len)
    }
}

/// The log in one directory.
pub struct SegmentLog {
    dir: PathBuf,
    segment_bytes: u64,
    inner: Mutex<Inner>,
}

/// The in-memory key of an indexed value.
pub fn value_key(field: Field, value: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (field as u8, value).hash(&mut h);
    h.finish()
}

impl SegmentLog {
    /// Opens the log in `dir` (creating it), recovering the tail: a torn
    /// last record is cut off; any other unreadable record refuses the
    /// open with its segment and offset.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        Self::open_with(dir, SEGMENT_BYTES)
    }

    /// [`Self::open`] with another segment size (tests).
    pub fn open_with(dir: &Path, segment_bytes: u64) -> Result<Self, LogError> {
        std::fs::create_dir_all(dir)?;
        let mut names: Vec<(u64, String)> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                Some((parse_name(&name)?, name))
            })
            .collect();
        names.sort();
        let mut segments = Vec::with_capacity(names.len());
        let mut drained = 0;
        let count = names.len();
        for (i, (first_seq, name)) in names.into_iter().enumerate() {
            let path = dir.join(&name);
            let mut segment = Segment {
                first_seq,
                path,
                name,
                last_seq: first_seq.saturating_sub(1),
                len: HEADER_LEN,
                sparse: Vec::new(),
                values: HashSet::new(),
            };
            let is_last = i + 1 == count;
            drained = drained.max(recover(&mut segment, is_last)?);
            segments.push(segment);
        }
        let head = segments.iter().rev().find_map(last_record_head);
        let open = match segments.last() {
            Some(s) => Some(OpenOptions::new().append(true).open(&s.path)?),
            None => None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            segment_bytes,
            inner: Mutex::new(Inner {
                segments,
                open,
                head: head.transpose()?,
                drained,
                poisoned: false,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last event's seq and hash, if any event is in the log.
    pub fn head(&self) -> Option<Checkpoint> {
        self.lock().head.clone()
    }

    /// The highest pending counter known to be chained.
    pub fn drained(&self) -> u64 {
        self.lock().drained
    }

    /// Appends `records` (consecutive, after the head) and, if given, the
    /// marker that pending events up to `drained` are chained; durable
    /// (`fdatasync`) before it returns.
    pub fn append(&self, records: &[AuditRecord], drained: Option<u64>) -> Result<(), LogError> {
        let mut inner = self.lock();
        if inner.poisoned {
            return Err(LogError::Poisoned);
        }
        let Some(first) = records.first() else {
            return Ok(());
        };
        let mut buf = Vec::with_capacity(records.len() * 300);
        let mut offsets = Vec::with_capacity(records.len());
        for r in records {
            offsets.push(buf.len() as u64);
            frame_event(r, &mut buf);
        }
        if let Some(n) = drained {
            frame(&encode_drained(n), &mut buf);
        }
        let rotate = match inner.segments.last() {
            None => true,
            Some(s) => s.len > HEADER_LEN && s.len + buf.len() as u64 > self.segment_bytes,
        };
        if rotate {
            self.start_segment(&mut inner, first.seq)?;
        }
        let base = inner.segments.last().map_or(HEADER_LEN, |s| s.len);
        let written = match inner.open.as_mut() {
            Some(file) => file.write_all(&buf).and_then(|()| file.sync_data()),
            None => Err(std::io::Error::other("no open segment")),
        };
        if let Err(e) = written {
            // Cut back to the last whole batch so a later append does not
            // follow half a record; if even that fails, stop appending.
            let undone = inner
                .open
                .as_ref()
                .is_some_and(|f| f.set_len(base).and_then(|()| f.sync_data()).is_ok());
            inner.poisoned = !undone;
            return Err(e.into());
        }
        let segment = inner.segments.last_mut().ok_or(LogError::Poisoned)?;
        for (r, at) in records.iter().zip(offsets) {
            segment.add(r, base + at);
        }
        segment.len = base + buf.len() as u64;
        if let Some(last) = records.last() {
            inner.head = Some(Checkpoint {
                seq: last.seq,
                hash: last.hash.clone(),
            });
        }
        if let Some(n) = drained {
            inner.drained = inner.drained.max(n);
        }
        Ok(())
    }

    fn start_segment(&self, inner: &mut Inner, first_seq: u64) -> Result<(), LogError> {
        let name = file_name(first_seq);
        let path = self.dir.join(&name);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        file.write_all(&header(first_seq))?;
        file.sync_all()?;
        sync_dir(&self.dir)?;
        inner.open = Some(OpenOptions::new().append(true).open(&path)?);
        inner.segments.push(Segment {
            first_seq,
            path,
            name,
            last_seq: first_seq.saturating_sub(1),
            len: HEADER_LEN,
            sparse: Vec::new(),
            values: HashSet::new(),
        });
        Ok(())
    }

    /// Views of the segments holding events in `[from, to]`, in order;
    /// with `value`, only those whose events may hold it.
    pub fn segments(&self, from: u64, to: u64, value: Option<u64>) -> Vec<SegmentView> {
        let inner = self.lock();
        inner
            .segments
            .iter()
            .filter(|s| s.last_seq >= s.first_seq && s.first_seq <= to && s.last_seq >= from)
            .filter(|s| value.is_none_or(|v| s.values.contains(&v)))
            .map(|s| SegmentView {
                path: s.path.clone(),
                name: s.name.clone(),
                range: (s.first_seq, s.last_seq),
                start: s.offset_for(from),
                len: s.len,
            })
            .collect()
    }

    /// Events with seq in `[from, to]` from `view`, in file order, at most
    /// `limit`. Reads the file: damage done since the open is reported.
    pub fn read(
        view: &SegmentView,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, LogError> {
        let mut reader = FrameReader::open(&view.path, view.start, view.len)?;
        let mut out = Vec::new();
        let mut expected = None::<u64>;
        while out.len() < limit {
            let Some(frame) = reader.next_frame() else {
                break;
            };
            let record = match frame {
                Ok((_, Payload::Event(r))) => r,
                Ok((_, Payload::Drained(_))) => continue,
                Err(bad) => {
                    return Err(LogError::Damaged(Damage {
                        segment: view.name.clone(),
                        offset: bad.offset,
                        seq: expected.or(Some(from)),
                        reason: bad.reason.to_string(),
                    }))
                }
            };
            expected = Some(record.seq.saturating_add(1));
            if record.seq < from {
                continue;
            }
            if record.seq > to {
                break;
            }
            out.push(*record);
        }
        Ok(out)
    }

    /// Deletes every segment but the open one whose events all lie at or
    /// before `checkpoint` (written first, durably). Returns how many.
    pub fn prune(&self, checkpoint: &SignedCheckpoint) -> Result<usize, LogError> {
        checkpoint.store(&self.dir)?;
        let mut inner = self.lock();
        let open = inner.segments.len().saturating_sub(1);
        let doomed = inner.segments[..open]
            .iter()
            .take_while(|s| s.last_seq <= checkpoint.seq)
            .count();
        for s in &inner.segments[..doomed] {
            std::fs::remove_file(&s.path)?;
        }
        inner.segments.drain(..doomed);
        sync_dir(&self.dir)?;
        Ok(doomed)
    }

    /// The checkpoint left by the last prune.
    pub fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, LogError> {
        Ok(SignedCheckpoint::load(&self.dir)?)
    }

    /// Up to `limit` events from seq `from` on, in order, as stored.
    pub fn records_from(&self, from: u64, limit: usize) -> Result<Vec<AuditRecord>, LogError> {
        let mut out = Vec::new();
        for view in self.segments(from, u64::MAX, None) {
            if out.len() == limit {
                break;
            }
            out.extend(Self::read(&view, from, u64::MAX, limit - out.len())?);
        }
        Ok(out)
    }

    /// Up to `limit` events from seq `from` on, in order, as canonical
    /// bytes for verify (no record is built; see [`super::canonical`]).
    /// Damage is reported as [`Self::read`] reports it.
    pub fn canonical_from(&self, from: u64, limit: usize) -> Result<CanonicalPage, LogError> {
        let mut page = CanonicalPage::default();
        let mut payload = Vec::new();
        for view in self.segments(from, u64::MAX, None) {
            let mut reader = FrameReader::open(&view.path, view.start, view.len)?;
            let mut expected = None::<u64>;
            while page.events.len() < limit {
                let Some(frame) = reader.next_payload(&mut payload) else {
                    break;
                };
                let pushed = frame
                    .map_err(|bad| (bad.offset, bad.reason))
                    .and_then(|at| page.push(&payload).map_err(|reason| (at, reason)));
                let seq = match pushed {
                    Ok(Some(seq)) => seq,
                    Ok(None) => continue,
                    Err((offset, reason)) => {
                        return Err(LogError::Damaged(Damage {
                            segment: view.name.clone(),
                            offset,
                            seq: expected.or(Some(from)),
                            reason: reason.to_string(),
                        }))
                    }
                };
                expected = Some(seq.saturating_add(1));
                if seq < from {
                    page.pop();
                }
            }
            if page.events.len() == limit {
                break;
            }
        }
        Ok(page)
    }

    /// Total bytes of the segment files.
    pub fn bytes(&self) -> u64 {
        self.lock().segments.iter().map(|s| s.len).sum()
    }
}

/// Makes a directory entry change (a new or removed file) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}
