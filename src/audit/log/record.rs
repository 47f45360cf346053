//! The binary encoding of one log record (format version 1).
//!
//! A record on disk is a frame:
//!
//! ```text
//! u32 LE  payload length (bytes)
//! u32 LE  CRC-32 (IEEE) of the payload
//! payload
//! ```
//!
//! The payload's first byte is its kind, which doubles as the encoding
//! version: [`KIND_EVENT_V1`] holds one chained event, [`KIND_DRAINED_V1`]
//! says that the events recorded while sealed, up to a counter, are now in
//! the chain (written in the same durable append as those events).
//!
//! An event payload (integers little-endian, `str` = LEB128 length + UTF-8):
//!
//! ```text
//! u8   kind = 1
//! u8   flags: bit0 time is compact, bit1 prev is 32 raw bytes, bit2 hash is
//!      32 raw bytes (a value not in the usual shape is kept as a str)
//! u64  seq
//! time: compact = i64 unix seconds + u32 nanoseconds, else str
//! u8   action (its index in AuditAction::ALL)
//! u8   outcome (0 success, 1 failure, 2 denied)
//! str  actor
//! opt str connection, opt str request_id, opt str source (u8 0/1, then str)
//! LEB128 detail count, then per detail: u8 key id (0 = a str key follows,
//!      else an index into DETAIL_KEYS + 1), u8 tag (0 false, 1 true,
//!      2 int as i64, 3 text str), value
//! prev (32 bytes or str), hash (32 bytes or str)
//! ```
//!
//! Decoding gives back the exact record (every string as written), so the
//! chain's hashes verify on the decoded record. WARNING: part of the on-disk
//! format; add a new kind for any change, never edit this one.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::audit::event::{AuditAction, AuditRecord, Detail, Details, Outcome};

/// Bytes of a frame header (length + checksum).
pub const FRAME_HEADER: usize = 8;
/// A chained event.
pub const KIND_EVENT_V1: u8 = 1;
/// Pending events up to a counter were chained.
pub const KIND_DRAINED_V1: u8 = 2;
/// Largest payload accepted when reading; a length above it is damage.
pub const MAX_PAYLOAD: u32 = 64 * 1024;

/// Detail keys stored as one byte. WARNING: append only.
pub(super) const DETAIL_KEYS: [&str; 18] = [
    "actor_name",
    "source",
    "expires_at",
    "fingerprint",
    "status",
    "reason",
    "route",
    "method",
    "data_center",
    "refresh_token_rotated",
    "error",
    "revoked_upstream",
    "token_id",
    "token_name",
    "connections",
    "kind",
    "filter",
    "until_seq",
];

/// A decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A chained event.
    Event(Box<AuditRecord>),
    /// Pending events up to this counter are in the chain.
    Drained(u64),
}

/// Appends the frame of `payload` to `out`.
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The payload of a "drained up to `counter`" marker.
pub fn encode_drained(counter: u64) -> Vec<u8> {
    let mut out = vec![KIND_DRAINED_V1];
    out.extend_from_slice(&counter.to_le_bytes());
    out
}

/// The payload of a chained event.
pub fn encode_event(r: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_event_into(r, &mut out);
    out
}

/// Appends the frame of `r`'s event to `out`, encoded in place (the
/// writer's batch buffer: no payload copy per event).
pub fn frame_event(r: &AuditRecord, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER]);
    encode_event_into(r, out);
    let payload = &out[start + FRAME_HEADER..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + FRAME_HEADER].copy_from_slice(&crc);
}

/// Appends the payload of a chained event to `out`.
fn encode_event_into(r: &AuditRecord, out: &mut Vec<u8>) {
    out.push(KIND_EVENT_V1);
    let compact_time = compact_time(&r.time);
    let prev = raw_hash(&r.prev);
    let hash = raw_hash(&r.hash);
    let flags = u8::from(compact_time.is_some())
        | (u8::from(prev.is_some()) << 1)
        | (u8::from(hash.is_some()) << 2);
    out.push(flags);
    out.extend_from_slice(&r.seq.to_le_bytes());
    match compact_time {
        Some((secs, nanos)) => {
            out.extend_from_slice(&secs.to_le_bytes());
            out.extend_from_slice(&nanos.to_le_bytes());
        }
        None => put_str(out, &r.time),
    }
    let action = AuditAction::ALL
        .iter()
        .position(|a| *a == r.action)
        .unwrap_or_default();
    out.push(action as u8);
    out.push(match r.outcome {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Denied => 2,
    });
    put_str(out, &r.actor);
    for field in [&r.connection, &r.request_id, &r.source] {
        match field {
            Some(v) => {
                out.push(1);
                put_str(out, v);
            }
            None => out.push(0),
        }
    }
    put_len(out, r.details.len());
    for (key, value) in &r.details {
        match DETAIL_KEYS.iter().position(|k| k == key) {
            Some(i) => out.push(i as u8 + 1),
            None => {
                out.push(0);
                put_str(out, key);
            }
        }
        match value {
            Detail::Bool(b) => out.push(u8::from(*b)),
            Detail::Int(i) => {
                out.push(2);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Detail::Text(t) => {
                out.push(3);
                put_str(out, t);
            }
        }
    }
    for (raw, text) in [(prev, &r.prev), (hash, &r.hash)] {
        match raw {
            Some(bytes) => out.extend_from_slice(&bytes),
            None => put_str(out, text),
        }
    }
}

/// Decodes a payload whose checksum already matched.
pub fn decode(payload: &[u8]) -> Result<Payload, &'static str> {
    let mut r = Reader { buf: payload };
    match r.u8()? {
        KIND_EVENT_V1 => decode_event(&mut r).map(|e| Payload::Event(Box::new(e))),
        KIND_DRAINED_V1 => Ok(Payload::Drained(r.u64()?)),
        _ => Err("unknown record kind"),
    }
}

fn decode_event(r: &mut Reader<'_>) -> Result<AuditRecord, &'static str> {
    let flags = r.u8()?;
    let seq = r.u64()?;
    let time = if flags & 1 != 0 {
        let secs = i64::from_le_bytes(r.array()?);
        let nanos = u32::from_le_bytes(r.array()?);
        format_time(secs, nanos).ok_or("bad time")?
    } else {
        r.string()?
    };
    let action = *AuditAction::ALL
        .get(usize::from(r.u8()?))
        .ok_or("unknown action")?;
    let outcome = match r.u8()? {
        0 => Outcome::Success,
        1 => Outcome::Failure,
        2 => Outcome::Denied,
        _ => return Err("unknown outcome"),
    };
    let actor = r.string()?;
    let connection = r.opt_string()?;
    let request_id = r.opt_string()?;
    let source = r.opt_string()?;
    let count = r.len()?;
    let mut details = Details::new();
    for _ in 0..count {
        let key = match r.u8()? {
            0 => r.string()?,
            i => (*DETAIL_KEYS
                .get(usize::from(i) - 1)
                .ok_or("unknown detail key")?)
            .to_string(),
        };
        let value = match r.u8()? {
            0 => Detail::Bool(false),
            1 => Detail::Bool(true),
            2 => Detail::Int(i64::from_le_bytes(r.array()?)),
            3 => Detail::Text(r.string()?),
            _ => return Err("unknown detail type"),
        };
        details.insert(key, value);
    }
    let prev = if flags & 2 != 0 {
        lower_hex(r.array::<32>()?)
    } else {
        r.string()?
    };
    let hash = if flags & 4 != 0 {
        lower_hex(r.array::<32>()?)
    } else {
        r.string()?
    };
    if !r.buf.is_empty() {
        return Err("trailing bytes");
    }
    Ok(AuditRecord {
        seq,
        time,
        action,
        actor,
        connection,
        outcome,
        details,
        request_id,
        source,
        prev,
        hash,
    })
}

/// `(seconds, nanoseconds)` when formatting them back gives `time` exactly.
fn compact_time(time: &str) -> Option<(i64, u32)> {
    let t = OffsetDateTime::parse(time, &Rfc3339).ok()?;
    let (secs, nanos) = (t.unix_timestamp(), t.nanosecond());
    (format_time(secs, nanos).as_deref() == Some(time)).then_some((secs, nanos))
}

fn format_time(secs: i64, nanos: u32) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .replace_nanosecond(nanos)
        .ok()?;
    t.format(&Rfc3339).ok()
}

/// Lowercase hex of a hash (`hex::encode` goes through a char iterator:
/// a tenth of verify's time).
fn lower_hex(bytes: [u8; 32]) -> String {
    let mut out = [0u8; 64];
    // 64 bytes hold the hex of 32: cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out);
    std::str::from_utf8(&out)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// 32 bytes when `text` is 64 lowercase hex digits (so it re-encodes the same).
fn raw_hash(text: &str) -> Option<[u8; 32]> {
    let lower = text.bytes().all(|b| !b.is_ascii_uppercase());
    let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
    lower.then_some(bytes)
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        if self.buf.len() < n {
            return Err("record too short");
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "record too short")
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize, &'static str> {
        let mut n: usize = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.u8()?;
            n |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err("bad length")
    }

    fn string(&mut self) -> Result<String, &'static str> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "bad text")
    }

    fn opt_string(&mut self) -> Result<Option<String>, &'static str> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err("bad optional"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::chain_event;
    use crate::audit::event::{AuditEvent, RequestContext};

    fn sample() -> AuditRecord {
        let key = crate::crypto::keys::DataKey::make().derive_subkey("audit-chain");
        let ctx = RequestContext {
            request_id: Some("req-1".into()),
            source: Some("127.0.0.1".into()),
            channel: None,
        };
        let mut event = AuditEvent::unseal(Some("wrong_passphrase"), &ctx);
        event.details.insert("odd_key".into(), Detail::Int(-5));
        event.details.insert("flag".into(), Detail::Bool(true));
        event.connection = Some("acme".into());
        chain_event(&key, 42, event, crate::audit::keys::GENESIS.into())
    }

    #[test]
    fn an_event_decodes_to_exactly_the_record_encoded() {
        let record = sample();
        let payload = encode_event(&record);
        assert_eq!(decode(&payload), Ok(Payload::Event(Box::new(record))));
    }

    #[test]
    fn values_in_an_unusual_shape_are_kept_as_written() {
        let mut record = sample();
        record.time = "2025-01-31T12:00:00.000+00:00".into();
        record.prev = "ABCDEF".into();
        record.hash = "0".repeat(64).to_uppercase();
        let payload = encode_event(&record);
        assert_eq!(decode(&payload), Ok(Payload::Event(Box::new(record))));
    }

    #[test]
    fn an_event_framed_in_place_is_the_frame_of_its_payload() {
        let record = sample();
        let mut expected = vec![7u8];
        frame(&encode_event(&record), &mut expected);
        let mut framed = vec![7u8];
        frame_event(&record, &mut framed);
        assert_eq!(framed, expected);
    }

    #[test]
    fn a_drained_marker_round_trips() {
        assert_eq!(decode(&encode_drained(9)), Ok(Payload::Drained(9)));
    }

    #[test]
    fn truncated_payloads_are_refused_not_panicked_on() {
        let payload = encode_event(&sample());
        for cut in 0..payload.len() {
            assert!(decode(&payload[..cut]).is_err(), "cut at {cut}");
        }
    }
}
