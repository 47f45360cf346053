//! Reading the trail: filtered, cursor-paged queries over the indexes,
//! export pages, and pruning.
//!
//! A query with an indexed filter (`fingerprint`, `connection`, `actor`,
//! `action`, most selective first) scans only that value's index prefix and
//! reads just the records it points to; other filters are checked on those
//! records. Time filters alone walk the trail by sequence number.

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::chain::load_checkpoint;
use super::event::{AuditAction, AuditRecord};
use super::keys::{
    index_keys, index_prefix, parse_seq, seq_key, Checkpoint, Field, CHECKPOINT_KEY,
};
use super::AuditError;
use crate::store::{BlockingStore, Op, Scan, StoreError, Tree};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page of a query.
pub const MAX_LIMIT: usize = 1000;
/// Largest page of an export.
pub const MAX_EXPORT_LIMIT: usize = 10_000;
/// Keys read per scan.
const PAGE: usize = 256;

/// Sort order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Newest first (the default).
    #[default]
    Desc,
    /// Oldest first.
    Asc,
}

/// The query string of `GET /v1/audit`, as sent.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueryParams {
    /// Connection name.
    pub connection: Option<String>,
    /// Actor (`admin:<id>`, `service:<id>`, `anonymous`, `operator`).
    pub actor: Option<String>,
    /// Action name, e.g. `token_issued`.
    pub action: Option<String>,
    /// Token fingerprint (`fp_...`, from `POST /v1/audit/fingerprint`).
    pub fingerprint: Option<String>,
    /// Events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Events at or before this RFC 3339 time.
    pub until: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    /// `desc` (default) or `asc`.
    #[param(inline)]
    pub order: Option<Order>,
}

/// A validated query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Connection filter.
    pub connection: Option<String>,
    /// Actor filter.
    pub actor: Option<String>,
    /// Action filter.
    pub action: Option<AuditAction>,
    /// Fingerprint filter.
    pub fingerprint: Option<String>,
    /// Lower time bound (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Upper time bound (inclusive).
    pub until: Option<OffsetDateTime>,
    /// Cursor: events strictly after (asc) or before (desc) this seq.
    pub after: Option<u64>,
    /// Page size.
    pub limit: usize,
    /// Sort order.
    pub order: Order,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            connection: None,
            actor: None,
            action: None,
            fingerprint: None,
            since: None,
            until: None,
            after: None,
            limit: DEFAULT_LIMIT,
            order: Order::Desc,
        }
    }
}

/// Parses an RFC 3339 time, naming the parameter on failure.
pub fn parse_time(name: &str, value: &str) -> Result<OffsetDateTime, AuditError> {
    OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        AuditError::InvalidQuery(format!(
            "`{name}` must be an RFC 3339 time such as 2025-01-31T12:00:00Z"
        ))
    })
}

fn no_nul(name: &str, value: Option<String>) -> Result<Option<String>, AuditError> {
    match value {
        Some(v) if v.is_empty() || v.contains('\0') || v.len() > 256 => Err(
            AuditError::InvalidQuery(format!("`{name}` must be 1 to 256 characters")),
        ),
        other => Ok(other),
    }
}

impl TryFrom<QueryParams> for Query {
    type Error = AuditError;

    fn try_from(p: QueryParams) -> Result<Self, AuditError> {
        let action = match p.action.as_deref() {
            None => None,
            Some(name) => Some(AuditAction::parse(name).ok_or_else(|| {
                AuditError::InvalidQuery(format!(
                    "unknown action; expected one of {}",
                    AuditAction::ALL.map(|a| a.as_str()).join(", ")
                ))
            })?),
        };
        let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AuditError::InvalidQuery(format!(
                "`limit` must be between 1 and {MAX_LIMIT}"
            )));
        }
        let after = match p.after.as_deref() {
            None => None,
            Some(c) => Some(c.parse::<u64>().map_err(|_| {
                AuditError::InvalidQuery("`after` must be the `next` of a previous page".into())
            })?),
        };
        Ok(Self {
            connection: no_nul("connection", p.connection)?,
            actor: no_nul("actor", p.actor)?,
            action,
            fingerprint: no_nul("fingerprint", p.fingerprint)?,
            since: p
                .since
                .as_deref()
                .map(|s| parse_time("since", s))
                .transpose()?,
            until: p
                .until
                .as_deref()
                .map(|s| parse_time("until", s))
                .transpose()?,
            after,
            limit,
            order: p.order.unwrap_or_default(),
        })
    }
}

impl Query {
    /// A short description for the `audit_read` event.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        };
        add("connection", self.connection.clone());
        add("actor", self.actor.clone());
        add("action", self.action.map(|a| a.as_str().to_string()));
        add("fingerprint", self.fingerprint.clone());
        add("since", self.since.and_then(|t| t.format(&Rfc3339).ok()));
        add("until", self.until.and_then(|t| t.format(&Rfc3339).ok()));
        add("after", self.after.map(|a| a.to_string()));
        parts.join(" ")
    }

    fn index(&self) -> Option<(Field, &str)> {
        if let Some(f) = &self.fingerprint {
            return Some((Field::Fingerprint, f));
        }
        if let Some(c) = &self.connection {
            return Some((Field::Connection, c));
        }
        if let Some(a) = &self.actor {
            return Some((Field::Actor, a));
        }
        self.action.map(|a| (Field::Action, a.as_str()))
    }

    fn matches(&self, r: &AuditRecord) -> bool {
        let time = || OffsetDateTime::parse(&r.time, &Rfc3339).ok();
        self.connection
            .as_ref()
            .is_none_or(|c| r.connection.as_ref() == Some(c))
            && self.actor.as_ref().is_none_or(|a| &r.actor == a)
            && self.action.is_none_or(|a| r.action == a)
            && self
                .fingerprint
                .as_deref()
                .is_none_or(|f| r.fingerprint() == Some(f))
            && self.since.is_none_or(|s| time().is_some_and(|t| t >= s))
            && self.until.is_none_or(|u| time().is_some_and(|t| t <= u))
    }
}

/// One page of events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
pub struct Page {
    /// The events, in the requested order.
    pub events: Vec<AuditRecord>,
    /// Cursor for the next page (`after=`); absent on the last page.
    pub next: Option<String>,
}

fn corrupt(seq: u64, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        tree: Tree::Audit.name(),
        key: seq.to_string(),
        reason: e.to_string(),
    }
}

fn read_record(store: &dyn BlockingStore, seq: u64) -> Result<Option<AuditRecord>, StoreError> {
    store
        .get(Tree::Audit, &seq_key(seq))?
        .map(|v| serde_json::from_slice(&v).map_err(|e| corrupt(seq, &e)))
        .transpose()
}

/// Runs a query (blocking).
pub fn run_query(store: &dyn BlockingStore, q: &Query) -> Result<Page, StoreError> {
    let floor = load_checkpoint(store)?.seq.saturating_add(1);
    // Inclusive seq window still to scan.
    let (mut low, mut high) = (floor, u64::MAX);
    match (q.order, q.after) {
        (Order::Asc, Some(a)) => low = low.max(a.saturating_add(1)),
        (Order::Desc, Some(0)) => {
            return Ok(Page {
                events: vec![],
                next: None,
            })
        }
        (Order::Desc, Some(a)) => high = a - 1,
        _ => {}
    }
    let prefix = q.index().map(|(f, v)| index_prefix(f, v));
    let key_of = |seq: u64| match &prefix {
        Some(p) => [p.as_slice(), &seq.to_be_bytes()].concat(),
        None => seq_key(seq),
    };
    let tree = if prefix.is_some() {
        Tree::AuditIndex
    } else {
        Tree::Audit
    };
    let mut events = Vec::new();
    while low <= high {
        let scan = Scan {
            tree,
            start: Bound::Included(key_of(low)),
            end: Bound::Included(key_of(high)),
            reverse: q.order == Order::Desc,
            limit: PAGE,
        };
        let entries = store.scan(&scan)?;
        let full = entries.len() == PAGE;
        for (k, v) in entries {
            let seq_bytes = &k[k.len().saturating_sub(8)..];
            let Some(seq) = parse_seq(seq_bytes) else {
                continue;
            };
            let record = if prefix.is_some() {
                match read_record(store, seq)? {
                    Some(r) => r,
                    None => continue,
                }
            } else {
                serde_json::from_slice(&v).map_err(|e| corrupt(seq, &e))?
            };
            if q.matches(&record) {
                events.push(record);
                if events.len() == q.limit {
                    return Ok(Page {
                        events,
                        next: Some(seq.to_string()),
                    });
                }
            }
            match q.order {
                Order::Asc => low = seq.saturating_add(1),
                Order::Desc if seq == 0 => return Ok(Page { events, next: None }),
                Order::Desc => high = seq - 1,
            }
        }
        if !full {
            break;
        }
    }
    Ok(Page { events, next: None })
}

/// One page of an export: events after `after` in seq order, stopping at
/// `limit` or at the first event later than `until` (an export is always a
/// prefix of the trail, fit for a prune). `next` is set when more may follow.
pub fn export_page(
    store: &dyn BlockingStore,
    after: Option<u64>,
    until: Option<OffsetDateTime>,
    limit: usize,
) -> Result<(Vec<AuditRecord>, Option<u64>), StoreError> {
    let floor = load_checkpoint(store)?.seq.saturating_add(1);
    let start = floor.max(after.map_or(0, |a| a.saturating_add(1)));
    let scan = Scan {
        tree: Tree::Audit,
        start: Bound::Included(seq_key(start)),
        end: Bound::Unbounded,
        reverse: false,
        limit,
    };
    let mut out = Vec::new();
    for (k, v) in store.scan(&scan)? {
        let seq = parse_seq(&k).unwrap_or_default();
        let record: AuditRecord = serde_json::from_slice(&v).map_err(|e| corrupt(seq, &e))?;
        let late = until
            .is_some_and(|u| OffsetDateTime::parse(&record.time, &Rfc3339).is_ok_and(|t| t > u));
        if late {
            return Ok((out, None));
        }
        out.push(record);
    }
    let next = (out.len() == limit)
        .then(|| out.last().map(|r| r.seq))
        .flatten();
    Ok((out, next))
}

/// Prunes every event up to `until_seq` (blocking). See
/// [`super::AuditLog::prune`].
pub fn prune(store: &dyn BlockingStore, until_seq: u64) -> Result<Checkpoint, AuditError> {
    let current = load_checkpoint(store)?;
    if until_seq <= current.seq {
        return Err(AuditError::InvalidPrune(format!(
            "events up to {} are already pruned",
            current.seq
        )));
    }
    let Some(last) = read_record(store, until_seq)? else {
        return Err(AuditError::InvalidPrune(format!(
            "there is no event {until_seq} to prune up to"
        )));
    };
    let checkpoint = Checkpoint {
        seq: last.seq,
        hash: last.hash,
    };
    let value = serde_json::to_vec(&checkpoint)
        .map_err(|_| AuditError::InvalidPrune("the checkpoint cannot be encoded".into()))?;
    // Checkpoint first: from now on readers and verify skip what it covers,
    // so a crash half-way through the deletes leaves a valid trail.
    store.apply(vec![Op::Put {
        tree: Tree::AuditIndex,
        key: CHECKPOINT_KEY.to_vec(),
        value,
    }])?;
    loop {
        let scan = Scan {
            tree: Tree::Audit,
            start: Bound::Unbounded,
            end: Bound::Included(seq_key(until_seq)),
            reverse: false,
            limit: PAGE,
        };
        let entries = store.scan(&scan)?;
        if entries.is_empty() {
            break;
        }
        let mut ops = Vec::new();
        for (k, v) in entries {
            if let Ok(record) = serde_json::from_slice::<AuditRecord>(&v) {
                ops.extend(index_keys(&record).into_iter().map(|key| Op::Delete {
                    tree: Tree::AuditIndex,
                    key,
                }));
            }
            ops.push(Op::Delete {
                tree: Tree::Audit,
                key: k,
            });
        }
        store.apply(ops)?;
    }
    Ok(checkpoint)
}
