//! Segment files: a 16-byte header (`ZVAUDLG1` and the first sequence
//! number the segment is for, u64 LE) followed by record frames
//! ([`super::record`]). Named `<first seq, 20 digits>.seg`, so a directory
//! listing sorts them in trail order.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::record::{decode, Payload, FRAME_HEADER, MAX_PAYLOAD};

/// Magic and format version of a segment file.
pub const MAGIC: &[u8; 8] = b"ZVAUDLG1";
/// Bytes before the first frame.
pub const HEADER_LEN: u64 = 16;

/// The file name of the segment whose first event is `first_seq`.
pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// The first seq a segment file name stands for.
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The header of a new segment.
pub fn header(first_seq: u64) -> [u8; HEADER_LEN as usize] {
    let mut out = [0u8; HEADER_LEN as usize];
    out[..8].copy_from_slice(MAGIC);
    out[8..].copy_from_slice(&first_seq.to_le_bytes());
    out
}

/// A frame that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame {
    /// Byte offset of the frame in its segment.
    pub offset: u64,
    /// What is wrong.
    pub reason: &'static str,
    /// The frame is the last thing in the readable range and incomplete or
    /// failing its checksum: what a crash in the middle of a write leaves.
    pub torn: bool,
}

/// Reads frames in order from `offset` up to `end` (the committed length;
/// anything past it is ignored).
pub struct FrameReader {
    input: BufReader<File>,
    offset: u64,
    end: u64,
}

impl FrameReader {
    /// Opens `path` at `offset` (after the header at least).
    pub fn open(path: &Path, offset: u64, end: u64) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        // A file cut shorter since it was opened (damage) reads as far as
        // it goes; what is missing then shows as missing events.
        let end = end.min(file.metadata()?.len());
        file.seek(SeekFrom::Start(offset))?;
        Ok(Self {
            input: BufReader::with_capacity(64 * 1024, file),
            offset,
            end,
        })
    }

    /// Checks the header of a segment that should start at `first_seq`.
    pub fn check_header(path: &Path, first_seq: u64) -> Result<(), BadFrame> {
        let bad = |reason| BadFrame {
            offset: 0,
            reason,
            torn: false,
        };
        let mut buf = [0u8; HEADER_LEN as usize];
        File::open(path)
            .and_then(|mut f| f.read_exact(&mut buf))
            .map_err(|_| bad("the segment header cannot be read"))?;
        if buf != header(first_seq) {
            return Err(bad("the segment header does not match its file name"));
        }
        Ok(())
    }

    /// The offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next frame and its offset, `None` at `end`.
    pub fn next_frame(&mut self) -> Option<Result<(u64, Payload), BadFrame>> {
        let mut payload = Vec::new();
        let at = match self.next_payload(&mut payload)? {
            Ok(at) => at,
            Err(bad) => return Some(Err(bad)),
        };
        match decode(&payload) {
            Ok(p) => Some(Ok((at, p))),
            Err(reason) => {
                self.offset = at;
                Some(Err(BadFrame {
                    offset: at,
                    reason,
                    torn: false,
                }))
            }
        }
    }

    /// The next frame's payload, its checksum checked but not decoded, into
    /// `payload` (reused across frames), and its offset; `None` at `end`.
    pub fn next_payload(&mut self, payload: &mut Vec<u8>) -> Option<Result<u64, BadFrame>> {
        if self.offset >= self.end {
            return None;
        }
        let at = self.offset;
        let left = self.end - at;
        let bad = |reason, torn| {
            Some(Err(BadFrame {
                offset: at,
                reason,
                torn,
            }))
        };
        if left < FRAME_HEADER as u64 {
            return bad("the last record is cut short", true);
        }
        let mut head = [0u8; FRAME_HEADER];
        if self.input.read_exact(&mut head).is_err() {
            return bad("the record header cannot be read", false);
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let total = FRAME_HEADER as u64 + u64::from(len);
        if total > left {
            // Longer than what is there: a write cut short, or a damaged
            // length. Only the very last frame may be torn.
            return bad("the record runs past the end of the segment", true);
        }
        if len == 0 || len > MAX_PAYLOAD {
            return bad("the record length is impossible", total == left);
        }
        payload.clear();
        payload.resize(len as usize, 0);
        if self.input.read_exact(payload).is_err() {
            return bad("the record cannot be read", false);
        }
        if crc32fast::hash(payload) != crc {
            return bad("the record fails its checksum", total == left);
        }
        self.offset = at + total;
        Some(Ok(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_trail_order_and_parse_back() {
        assert!(file_name(9) < file_name(10));
        assert_eq!(parse_name(&file_name(123)), Some(123));
        assert_eq!(parse_name("123.seg"), None);
        assert_eq!(parse_name("checkpoint"), None);
    }
}
