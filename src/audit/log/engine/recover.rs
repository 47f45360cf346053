//! Recovery at open: each segment is scanned frame by frame; a torn tail
//! of the last segment (a crash mid-append, never acknowledged) is cut off,
//! any other damage is reported, never skipped.

use std::fs::OpenOptions;
use std::io::Write;

use super::{LogError, Segment, SegmentLog, SegmentView};
use crate::audit::keys::Checkpoint;
use crate::audit::log::record::Payload;
use crate::audit::log::segment::{header, FrameReader, HEADER_LEN};

/// Scans one segment at open; returns the highest drained marker seen.
pub(super) fn recover(segment: &mut Segment, is_last: bool) -> Result<u64, LogError> {
    let file_len = std::fs::metadata(&segment.path)?.len();
    if file_len < HEADER_LEN && is_last {
        // A crash while creating the segment: nothing in it was acknowledged.
        let file = OpenOptions::new().write(true).open(&segment.path)?;
        file.set_len(0)?;
        (&file).write_all(&header(segment.first_seq))?;
        file.sync_all()?;
        return Ok(0);
    }
    FrameReader::check_header(&segment.path, segment.first_seq)
        .map_err(|bad| LogError::Damaged(segment.damage(bad.offset, None, bad.reason)))?;
    let mut reader = FrameReader::open(&segment.path, HEADER_LEN, file_len)?;
    let mut drained = 0;
    while let Some(frame) = reader.next_frame() {
        let next = segment.last_seq.saturating_add(1);
        match frame {
            Ok((at, Payload::Event(record))) => {
                if record.seq != next {
                    let reason = format!("event {} found where event {next} belongs", record.seq);
                    return Err(LogError::Damaged(segment.damage(at, Some(next), &reason)));
                }
                segment.add(&record, at);
            }
            Ok((_, Payload::Drained(n))) => drained = drained.max(n),
            Err(bad) if bad.torn && is_last => {
                tracing::warn!(
                    segment = %segment.name,
                    offset = bad.offset,
                    "cutting off a torn audit record left by a crash (it was never acknowledged)"
                );
                let file = OpenOptions::new().write(true).open(&segment.path)?;
                file.set_len(bad.offset)?;
                file.sync_all()?;
                break;
            }
            Err(bad) => {
                return Err(LogError::Damaged(segment.damage(
                    bad.offset,
                    Some(next),
                    bad.reason,
                )))
            }
        }
    }
    segment.len = reader.offset();
    Ok(drained)
}

/// The head of a segment: its last event's seq and hash.
pub(super) fn last_record_head(segment: &Segment) -> Option<Result<Checkpoint, LogError>> {
    if segment.last_seq < segment.first_seq {
        return None;
    }
    let view = SegmentView {
        path: segment.path.clone(),
        name: segment.name.clone(),
        range: (segment.first_seq, segment.last_seq),
        start: segment.offset_for(segment.last_seq),
        len: segment.len,
    };
    let read = SegmentLog::read(&view, segment.last_seq, segment.last_seq, 1);
    Some(read.and_then(|mut r| {
        r.pop()
            .map(|r| Checkpoint {
                seq: r.seq,
                hash: r.hash,
            })
            .ok_or(LogError::Poisoned)
    }))
}
