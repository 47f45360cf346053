//! Reading the trail: validated, cursor-paged queries (run by the
//! [`AuditStore`]), export pages, and pruning.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::chain::ChainKey;
use super::event::{AuditAction, AuditRecord};
use super::keys::{Checkpoint, Field};
use super::log::SignedCheckpoint;
use super::store::AuditStore;
use super::AuditError;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page of a query.
pub const MAX_LIMIT: usize = 1000;
/// Largest page of an export.
pub const MAX_EXPORT_LIMIT: usize = 10_000;

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

    /// The most selective indexed filter, if any.
    pub(crate) fn index(&self) -> Option<(Field, &str)> {
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

    /// Whether `r` passes every filter.
    pub(crate) fn matches(&self, r: &AuditRecord) -> bool {
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

/// One page of an export: events after `after` in seq order, stopping at
/// `limit` or at the first event later than `until` (an export is always a
/// prefix of the trail, fit for a prune). `next` is set when more may follow.
pub async fn export_page(
    store: &dyn AuditStore,
    after: Option<u64>,
    until: Option<OffsetDateTime>,
    limit: usize,
) -> Result<(Vec<AuditRecord>, Option<u64>), AuditError> {
    let floor = store.checkpoint().await?.map_or(0, |c| c.seq) + 1;
    let start = floor.max(after.map_or(0, |a| a.saturating_add(1)));
    let mut out = Vec::new();
    for record in store.scan(start, limit).await? {
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

/// Prunes every event up to `until_seq`: stores the checkpoint (that
/// event's seq and hash, signed with `key`) first, so readers and verify
/// ignore what it covers from then on; the store then drops what it can
/// (the segment log: every whole segment before the open one).
pub async fn prune(
    store: &dyn AuditStore,
    key: &dyn ChainKey,
    until_seq: u64,
) -> Result<Checkpoint, AuditError> {
    let current = store.checkpoint().await?.map_or(0, |c| c.seq);
    if until_seq <= current {
        return Err(AuditError::InvalidPrune(format!(
            "events up to {current} are already pruned"
        )));
    }
    let last = store
        .scan(until_seq, 1)
        .await?
        .into_iter()
        .next()
        .filter(|r| r.seq == until_seq)
        .ok_or_else(|| {
            AuditError::InvalidPrune(format!("there is no event {until_seq} to prune up to"))
        })?;
    let checkpoint = Checkpoint {
        seq: last.seq,
        hash: last.hash,
    };
    let dropped = store
        .prune(SignedCheckpoint::sign(key, &checkpoint))
        .await?;
    tracing::info!(until_seq, segments = dropped, "audit trail pruned");
    Ok(checkpoint)
}
