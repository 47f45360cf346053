//! The chain's canonical bytes written straight from a binary event
//! payload: the verify fast path.
//!
//! Decoding a record builds a dozen owned strings and a map only for
//! `serde_json` to write them back out; here the payload is read in place
//! (borrowed slices) and the compact JSON written into one reused buffer.
//! The bytes are exactly those of `serde_json::to_writer` on the decoded
//! record's hashed part (a property test holds the two to it). Any payload
//! this path is not sure about (a decode error, details out of key order)
//! gives `None`, and the caller falls back to [`super::record::decode`].

use std::io::Write;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::record::{decode, Payload, DETAIL_KEYS, KIND_EVENT_V1};
use crate::audit::event::AuditAction;

/// A stored hash as the payload holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashField<'a> {
    /// 32 raw bytes (stored as lowercase hex in the record).
    Raw(&'a [u8; 32]),
    /// Any other value, as written.
    Text(&'a str),
}

impl HashField<'_> {
    /// Whether this is the lowercase hex of `mac`.
    pub fn is(&self, mac: &[u8; 32]) -> bool {
        match self {
            HashField::Raw(raw) => *raw == mac,
            HashField::Text(text) => {
                let mut hex = [0u8; 64];
                hex::encode_to_slice(mac, &mut hex).is_ok() && text.as_bytes() == hex
            }
        }
    }

    /// The value as stored in the record (lowercase hex when raw).
    pub fn to_text(&self) -> String {
        match self {
            HashField::Raw(raw) => hex::encode(raw),
            HashField::Text(text) => (*text).to_owned(),
        }
    }
}

/// What the chain links need of one event whose canonical bytes were
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chained<'a> {
    /// The record's seq.
    pub seq: u64,
    /// Its `prev`.
    pub prev: HashField<'a>,
    /// Its stored `hash`.
    pub hash: HashField<'a>,
}

/// Appends the canonical JSON of the event in `payload` (a whole payload,
/// kind byte first) to `out`. `None` (with `out` in an unspecified state)
/// when the payload is not an event this path can vouch for: decode it.
pub fn write_canonical<'a>(payload: &'a [u8], out: &mut Vec<u8>) -> Option<Chained<'a>> {
    let mut r = Cursor { buf: payload };
    if r.u8()? != KIND_EVENT_V1 {
        return None;
    }
    let flags = r.u8()?;
    let seq = u64::from_le_bytes(r.array()?);
    out.extend_from_slice(b"{\"seq\":");
    write!(out, "{seq}").ok()?;
    out.extend_from_slice(b",\"time\":");
    if flags & 1 != 0 {
        let secs = i64::from_le_bytes(r.array()?);
        let nanos = u32::from_le_bytes(r.array()?);
        let t = OffsetDateTime::from_unix_timestamp(secs)
            .ok()?
            .replace_nanosecond(nanos)
            .ok()?;
        // RFC 3339 output is digits, `-`, `:`, `.`, `T`, `Z` and `+`:
        // nothing JSON escapes.
        out.push(b'"');
        t.format_into(out, &Rfc3339).ok()?;
        out.push(b'"');
    } else {
        json_str(out, r.str()?);
    }
    let action = AuditAction::ALL.get(usize::from(r.u8()?))?;
    out.extend_from_slice(b",\"action\":\"");
    out.extend_from_slice(action.as_str().as_bytes());
    let outcome: &[u8] = match r.u8()? {
        0 => b"success",
        1 => b"failure",
        2 => b"denied",
        _ => return None,
    };
    out.extend_from_slice(b"\",\"actor\":");
    json_str(out, r.str()?);
    if let Some(connection) = r.opt_str()? {
        out.extend_from_slice(b",\"connection\":");
        json_str(out, connection);
    }
    out.extend_from_slice(b",\"outcome\":\"");
    out.extend_from_slice(outcome);
    out.push(b'"');
    let request_id = r.opt_str()?;
    let source = r.opt_str()?;
    let count = r.len()?;
    let mut last_key: Option<&str> = None;
    for i in 0..count {
        let key = match r.u8()? {
            0 => r.str()?,
            k => *DETAIL_KEYS.get(usize::from(k) - 1)?,
        };
        // Decoding gathers details into a sorted map (a repeated key keeps
        // its last value): only keys in strictly rising order are written
        // here as they come.
        if last_key.is_some_and(|last| last >= key) {
            return None;
        }
        last_key = Some(key);
        out.extend_from_slice(if i == 0 { b",\"details\":{" } else { b"," });
        json_str(out, key);
        out.push(b':');
        match r.u8()? {
            0 => out.extend_from_slice(b"false"),
            1 => out.extend_from_slice(b"true"),
            2 => write!(out, "{}", i64::from_le_bytes(r.array()?)).ok()?,
            3 => json_str(out, r.str()?),
            _ => return None,
        }
    }
    if count > 0 {
        out.push(b'}');
    }
    if let Some(request_id) = request_id {
        out.extend_from_slice(b",\"request_id\":");
        json_str(out, request_id);
    }
    if let Some(source) = source {
        out.extend_from_slice(b",\"source\":");
        json_str(out, source);
    }
    out.extend_from_slice(b",\"prev\":");
    let prev = r.hash_field(flags & 2 != 0)?;
    match prev {
        HashField::Raw(raw) => {
            let mut hex = [0u8; 64];
            hex::encode_to_slice(raw, &mut hex).ok()?;
            out.push(b'"');
            out.extend_from_slice(&hex);
            out.push(b'"');
        }
        HashField::Text(text) => json_str(out, text),
    }
    out.push(b'}');
    let hash = r.hash_field(flags & 4 != 0)?;
    r.buf.is_empty().then_some(Chained { seq, prev, hash })
}

/// A stored hash, owned (no heap in the usual raw case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredHash {
    /// 32 raw bytes (lowercase hex in the record).
    Raw([u8; 32]),
    /// Any other value, as written.
    Text(String),
}

impl StoredHash {
    /// The value as the record holds it; `hex` is scratch for the raw case.
    pub fn as_str<'a>(&'a self, hex: &'a mut [u8; 64]) -> &'a str {
        match self {
            StoredHash::Raw(raw) => {
                // 64 bytes hold the hex of 32, and hex is ASCII.
                let _ = hex::encode_to_slice(raw, hex);
                std::str::from_utf8(hex).unwrap_or_default()
            }
            StoredHash::Text(text) => text,
        }
    }

    /// Whether this is the lowercase hex of `mac`.
    pub fn is(&self, mac: &[u8; 32]) -> bool {
        match self {
            StoredHash::Raw(raw) => raw == mac,
            StoredHash::Text(text) => HashField::Text(text).is(mac),
        }
    }
}

impl From<HashField<'_>> for StoredHash {
    fn from(field: HashField<'_>) -> Self {
        match field {
            HashField::Raw(raw) => StoredHash::Raw(*raw),
            HashField::Text(text) => StoredHash::Text(text.to_owned()),
        }
    }
}

/// One event of a [`CanonicalPage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalEvent {
    /// Its seq.
    pub seq: u64,
    /// Where its canonical JSON lies in the page's bytes.
    pub span: std::ops::Range<usize>,
    /// Its `prev`.
    pub prev: StoredHash,
    /// Its stored `hash`.
    pub hash: StoredHash,
}

/// Events read for verify: their canonical JSON back to back in one
/// buffer, and what the links need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanonicalPage {
    /// The canonical JSON of every event, back to back.
    pub bytes: Vec<u8>,
    /// The events, in log order.
    pub events: Vec<CanonicalEvent>,
}

impl CanonicalPage {
    /// Adds the event in `payload` and gives its seq (`None` for a payload
    /// that is not an event); the reason when it cannot be decoded. A
    /// payload the fast path does not vouch for goes through the decoder.
    pub fn push(&mut self, payload: &[u8]) -> Result<Option<u64>, &'static str> {
        let start = self.bytes.len();
        if let Some(c) = write_canonical(payload, &mut self.bytes) {
            self.events.push(CanonicalEvent {
                seq: c.seq,
                span: start..self.bytes.len(),
                prev: c.prev.into(),
                hash: c.hash.into(),
            });
            return Ok(Some(c.seq));
        }
        self.bytes.truncate(start);
        match decode(payload)? {
            Payload::Drained(_) => Ok(None),
            Payload::Event(r) => {
                // Plain strings, integers and a map into a Vec: cannot fail.
                let _ = serde_json::to_writer(&mut self.bytes, &r.hashed_part());
                let seq = r.seq;
                self.events.push(CanonicalEvent {
                    seq,
                    span: start..self.bytes.len(),
                    prev: StoredHash::Text(r.prev),
                    hash: StoredHash::Text(r.hash),
                });
                Ok(Some(seq))
            }
        }
    }

    /// Drops the last event added.
    pub fn pop(&mut self) {
        if let Some(e) = self.events.pop() {
            self.bytes.truncate(e.span.start);
        }
    }
}

/// A JSON string as `serde_json` writes it: `"` and `\` escaped, the
/// control characters as `\b \t \n \f \r` or `\u00xx`, all else as is.
fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Reads a payload in place; every read checks its bounds.
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// LEB128, as [`super::record`] writes it.
    fn len(&mut self) -> Option<usize> {
        let mut n: usize = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.u8()?;
            n |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    fn opt_str(&mut self) -> Option<Option<&'a str>> {
        match self.u8()? {
            0 => Some(None),
            1 => self.str().map(Some),
            _ => None,
        }
    }

    fn hash_field(&mut self, raw: bool) -> Option<HashField<'a>> {
        if raw {
            let bytes: &'a [u8; 32] = self.take(32)?.try_into().ok()?;
            Some(HashField::Raw(bytes))
        } else {
            self.str().map(HashField::Text)
        }
    }
}

#[cfg(test)]
mod tests;
