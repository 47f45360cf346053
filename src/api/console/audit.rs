//! The audit trail: the API's filters, paging, and verifying the chain.
//! Every read is audited first (`audit_read`), as in the API.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::connections::events_table;
use super::error::ConsoleError;
use super::form::Fields;
use super::layout::{self, csrf, page, Note};
use super::session::Ui;
use super::Failure;
use crate::audit::{AuditError, Order, Query, QueryParams, ReadKind};
use crate::service::{ServiceError, VaultService};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::page("/audit").route(web::get().to(list)))
        .service(super::page("/audit/verify").route(web::post().to(verify)));
}

const TITLE: &str = "Audit trail";

/// The API's filter names, as the form's fields.
const FILTERS: [(&str, &str); 6] = [
    ("connection", "Connection"),
    ("actor", "Actor (admin:tok_..., service:tok_..., anonymous)"),
    ("action", "Action (e.g. token_issued)"),
    ("fingerprint", "Token fingerprint (fp_...)"),
    ("since", "Since (RFC 3339, e.g. 2026-01-31T12:00:00Z)"),
    ("until", "Until (RFC 3339)"),
];

fn params(q: &Fields) -> QueryParams {
    QueryParams {
        connection: q.text("connection"),
        actor: q.text("actor"),
        action: q.text("action"),
        fingerprint: q.text("fingerprint"),
        since: q.text("since"),
        until: q.text("until"),
        after: q.text("after"),
        limit: q.text("limit").and_then(|l| l.parse().ok()),
        order: match q.get("order") {
            Some("asc") => Some(Order::Asc),
            _ => None,
        },
    }
}

/// The filters as a query string (paging links keep them).
fn keep(q: &Fields) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, _) in FILTERS {
        if let Some(v) = q.text(name) {
            out.append_pair(name, &v);
        }
    }
    for name in ["limit", "order"] {
        if let Some(v) = q.text(name) {
            out.append_pair(name, &v);
        }
    }
    out.finish()
}

fn filters_form(q: &Fields) -> Markup {
    html! {
        form id="filters" method="get" action="/ui/audit" {
            @for (name, label) in FILTERS {
                label for=(format!("f-{name}")) { (label) }
                input id=(format!("f-{name}")) type="text" name=(name) value=(q.get(name).unwrap_or_default()) autocomplete="off";
            }
            label for="f-limit" { "Events per page (1 to 1000)" }
            input id="f-limit" type="number" min="1" max="1000" name="limit" value=(q.get("limit").unwrap_or("50"));
            label for="f-order" { "Order" }
            select id="f-order" name="order" {
                option value="desc" selected[q.get("order") != Some("asc")] { "newest first" }
                option value="asc" selected[q.get("order") == Some("asc")] { "oldest first" }
            }
            button type="submit" { "Filter" }
        }
    }
}

fn verify_form(ui: &Ui) -> Markup {
    html! {
        form id="verify" method="post" action="/ui/audit/verify" {
            (csrf(&ui.session))
            button type="submit" { "Verify the chain" }
        }
    }
}

async fn list(
    req: HttpRequest,
    service: web::Data<VaultService>,
    ui: Ui,
) -> Result<HttpResponse, ConsoleError> {
    let q = Fields::parse(req.query_string().as_bytes());
    let mut p = params(&q);
    if p.limit.is_none() {
        p.limit = Some(50);
    }
    // `prev=SEQ`: the page before the one that started at SEQ, read in the
    // other order from there and turned around.
    let prev = q.text("prev").and_then(|s| s.parse::<u64>().ok());
    let mut query = match Query::try_from(p) {
        Ok(query) => query,
        Err(e) => {
            let f = Failure::from(ServiceError::from(e));
            let body = html! { (filters_form(&q)) (verify_form(&ui)) };
            return Ok(f.page(&ui, TITLE, body));
        }
    };
    let order = query.order;
    if let Some(seq) = prev {
        query.after = Some(seq);
        query.order = match order {
            Order::Desc => Order::Asc,
            Order::Asc => Order::Desc,
        };
    }
    let by = &ui.session.principal;
    let read = async {
        service
            .audit_read(by, ReadKind::Query, Some(&query.describe()), &ui.ctx)
            .await?;
        service.audit_query(query).await
    };
    let (mut events, more) = match read.await {
        Ok(page) => (page.events, page.next.is_some()),
        Err(e) => return Ok(Failure::from(e).page(&ui, TITLE, filters_form(&q))),
    };
    // Read backwards from a page, `more` says whether pages lie before
    // it, and the page it came from lies after it.
    let (has_prev, has_next) = match prev {
        Some(_) => {
            events.reverse();
            (more, true)
        }
        None => (q.text("after").is_some(), more),
    };
    let kept = keep(&q);
    let link = |cursor: &str, seq: u64| match kept.is_empty() {
        true => format!("/ui/audit?{cursor}={seq}"),
        false => format!("/ui/audit?{kept}&{cursor}={seq}"),
    };
    let body = html! {
        (filters_form(&q))
        (verify_form(&ui))
        @if events.is_empty() {
            p { "No events match these filters on this page." }
        } @else {
            (events_table(&events))
        }
        nav.paging aria-label="Pages" {
            @if let (true, Some(first)) = (has_prev, events.first()) {
                a rel="prev" href=(link("prev", first.seq)) { "Previous page" }
            }
            @if let (true, Some(last)) = (has_next, events.last()) {
                a rel="next" href=(link("after", last.seq)) { "Next page" }
            }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        page(&ui.session, TITLE, None, body),
    ))
}

async fn verify(
    service: web::Data<VaultService>,
    ui: Ui,
    form: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    ui.check_csrf(&Fields::parse(&form))?;
    let by = &ui.session.principal;
    let report = async {
        service
            .audit_read(by, ReadKind::Verify, None, &ui.ctx)
            .await?;
        service.audit_verify().await
    };
    let q = Fields::default();
    let report = match report.await {
        Ok(r) => r,
        Err(e) => return Ok(Failure::from(e).page(&ui, TITLE, filters_form(&q))),
    };
    let note = if report.ok {
        Note::Flash("The chain verifies: every event is in place and unaltered.")
    } else {
        Note::Error(
            "The chain does NOT verify: an event is missing or was altered.",
            Some("Keep the data directory as it is and compare with your latest export and backup; the server log names the first broken event."),
        )
    };
    let body = html! {
        p id="verified-head" {
            "Verified " (report.count) " events up to sequence "
            span.seq { (report.head_seq) } "; head hash "
            code.hash { (report.head_hash) }
        }
        @if let Some(b) = &report.broken { p { "First broken event: " (format!("{b:?}")) } }
        (filters_form(&q))
        (verify_form(&ui))
    };
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok(layout::html(
        status,
        page(&ui.session, TITLE, Some(note), body),
    ))
}

impl From<AuditError> for Failure {
    fn from(e: AuditError) -> Self {
        Failure::from(ServiceError::from(e))
    }
}
