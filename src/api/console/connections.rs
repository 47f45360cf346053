//! Connection pages: the list, one connection (its events and chart), and
//! the actions: add (upload `self_client.json` or start the browser flow),
//! re-authorise, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::chart;
use super::error::ConsoleError;
use super::form::Fields;
use super::layout::{self, csrf, maybe_when, page, path_segment, Note};
use super::session::{see_other, Ui};
use super::Failure;
use crate::audit::{AuditAction, AuditRecord, Query, ReadKind};
use crate::model::connection::ConnectionView;
use crate::model::ConnectionName;
use crate::service::VaultService;

mod add;

/// Events shown on a connection's page.
const EVENTS: usize = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/connections")
            .route(web::get().to(list))
            .route(web::post().to(add::upload)),
    )
    .service(super::page("/connections/new").route(web::get().to(add::new)))
    .service(super::page("/connections/authorize").route(web::post().to(add::browser_flow)))
    .service(super::page("/connections/{name}").route(web::get().to(show)))
    .service(super::page("/connections/{name}/reauthorize").route(web::post().to(reauthorize)))
    .service(super::page("/connections/{name}/delete").route(web::post().to(delete)));
}

fn state(view: &ConnectionView) -> Markup {
    let s = view.health.state.as_str();
    html! { span class=(format!("state state-{s}")) { (s) } }
}

fn data_center(view: &ConnectionView) -> String {
    view.data_center
        .map_or_else(|| view.accounts_url.clone(), |dc| dc.code().to_string())
}

/// The fix for a connection's health, in console words.
fn health_fix(view: &ConnectionView) -> Option<String> {
    view.health
        .action
        .as_ref()
        .map(super::fix::console_words)
        .or_else(|| view.health.fix.clone())
}

fn last_error(view: &ConnectionView) -> String {
    view.health.last_error.as_ref().map_or_else(
        || "—".into(),
        |e| format!("{}: {} ({})", e.code, e.message, layout::when(e.at)),
    )
}

async fn list(
    req: HttpRequest,
    service: web::Data<VaultService>,
    ui: Ui,
) -> Result<HttpResponse, ConsoleError> {
    let note = done_note(&req);
    let connections = match service.connections().await {
        Ok(c) => c,
        Err(e) => return Ok(Failure::from(e).page(&ui, "Connections", html! {})),
    };
    let body = html! {
        p { a id="add-connection" href="/ui/connections/new" { "Add a connection" } }
        @if connections.is_empty() {
            p { "No connections yet." }
        }
        div.scroll {
            table id="connections" {
                caption { "Every connection and its health" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "State" } th scope="col" { "Data center or accounts server" }
                    th scope="col" { "Scopes" } th scope="col" { "Last refresh" } th scope="col" { "Last error" }
                    th scope="col" { "Fix" }
                } }
                tbody {
                    @for c in &connections {
                        tr data-connection=(c.name) {
                            th scope="row" { a href=(format!("/ui/connections/{}", path_segment(&c.name))) { (c.name) } }
                            td { (state(c)) }
                            td { (data_center(c)) }
                            td { (c.scopes.join(", ")) }
                            td { (maybe_when(c.health.last_success_at)) }
                            td { (last_error(c)) }
                            td { (health_fix(c).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        page(&ui.session, "Connections", note, body),
    ))
}

fn path_name(path: &web::Path<String>) -> Result<ConnectionName, ConsoleError> {
    ConnectionName::parse(path.as_str().to_string()).map_err(|_| ConsoleError::NotFound)
}

/// What `?done=` says after an action (a fixed set: nothing from the
/// query is echoed).
pub fn done_note(req: &HttpRequest) -> Option<Note<'static>> {
    let q = Fields::parse(req.query_string().as_bytes());
    let text = match q.get("done")? {
        "created" => "The connection was added.",
        "connected" => "Connected to Zoho: the connection is active.",
        "deleted" => "The connection was deleted.",
        "revoked" => "The service token was revoked.",
        "webhook_deleted" => "The webhook endpoint was deleted.",
        _ => return None,
    };
    Some(Note::Flash(text))
}

async fn show(
    req: HttpRequest,
    service: web::Data<VaultService>,
    ui: Ui,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let name = path_name(&path)?;
    let view = match service.connection(&name).await {
        Ok(v) => v,
        Err(e) => {
            let f = Failure::from(e);
            if f.status == StatusCode::NOT_FOUND {
                return Err(ConsoleError::NotFound);
            }
            return Ok(f.page(&ui, name.as_str(), html! {}));
        }
    };
    let (events, times) = match traffic(&service, &ui, &name).await {
        Ok(t) => t,
        Err(f) => return Ok(f.page(&ui, name.as_str(), html! {})),
    };
    let now = crate::clock::now();
    let seg = path_segment(&name);
    let fix = health_fix(&view);
    let body = html! {
        p { "State: " (state(&view)) }
        @if let Some(fix) = &fix { p.fix { (fix) } }
        dl.facts {
            dt { "Data center or accounts server" } dd { (data_center(&view)) }
            dt { "Client id" } dd { (view.client_id) }
            dt { "Scopes" } dd { (view.scopes.join(", ")) }
            dt { "Created" } dd { (layout::when(view.created_at)) }
            dt { "Last refresh" } dd { (maybe_when(view.health.last_success_at)) }
            dt { "Last error" } dd { (last_error(&view)) }
            dt { "Cached token expires" } dd { (maybe_when(view.token.as_ref().map(|t| t.expires_at))) }
        }
        div.actions {
            // Only a browser-flow connection has a redirect URI to send
            // the browser back to; the others are replaced by an upload.
            @if view.redirect_uri.is_some() {
                form id="reauthorize" method="post" action=(format!("/ui/connections/{seg}/reauthorize")) {
                    (csrf(&ui.session))
                    button type="submit" { "Re-authorise in the browser" }
                }
            }
            form id="delete" method="post" action=(format!("/ui/connections/{seg}/delete")) {
                (csrf(&ui.session))
                button.danger type="submit" { "Delete (revokes at Zoho)" }
            }
        }
        @if view.redirect_uri.is_none() {
            p.hint {
                "To give this connection new credentials, upload a new self_client.json under the name "
                code { (view.name) } " on the " a href=(format!("/ui/connections/new?name={seg}")) { "Add a connection" }
                " page, with the same data center or accounts server: it replaces the old credentials in place."
            }
        }
        h2 { "Traffic, last 24 hours" }
        (chart::chart(now, &times))
        h2 { "Last " (EVENTS) " events" }
        (events_table(&events))
    };
    Ok(layout::html(
        StatusCode::OK,
        page(&ui.session, name.as_str(), done_note(&req), body),
    ))
}

/// The connection's last events, and the times of its token issues and
/// refreshes over the chart's window. Reading the trail is audited first.
async fn traffic(
    service: &VaultService,
    ui: &Ui,
    name: &ConnectionName,
) -> Result<(Vec<AuditRecord>, Vec<time::OffsetDateTime>), Failure> {
    let by = &ui.session.principal;
    let filter = format!("connection={name}");
    service
        .audit_read(by, ReadKind::Query, Some(&filter), &ui.ctx)
        .await?;
    let latest = service
        .audit_query(Query {
            connection: Some(name.to_string()),
            limit: EVENTS,
            ..Query::default()
        })
        .await?;
    let since = chart::start(crate::clock::now());
    let mut times = Vec::new();
    let mut after = None;
    // At most 50 pages of 1000: a chart, not an export.
    for _ in 0..50 {
        let page = service
            .audit_query(Query {
                connection: Some(name.to_string()),
                since: Some(since),
                after,
                limit: 1000,
                ..Query::default()
            })
            .await?;
        times.extend(
            page.events
                .iter()
                .filter(|r| {
                    matches!(
                        r.action,
                        AuditAction::TokenIssued | AuditAction::ConnectionRefreshed
                    )
                })
                .filter_map(|r| crate::audit::query::parse_time("time", &r.time).ok()),
        );
        after = match page.next.and_then(|n| n.parse().ok()) {
            Some(n) => Some(n),
            None => break,
        };
    }
    Ok((latest.events, times))
}

/// A table of audit events (shared with the audit page).
pub fn events_table(events: &[AuditRecord]) -> Markup {
    html! {
        div.scroll {
            table id="events" {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "Time" } th scope="col" { "Action" }
                    th scope="col" { "Actor" } th scope="col" { "Connection" } th scope="col" { "Outcome" }
                    th scope="col" { "Details" }
                } }
                tbody {
                    @for e in events {
                        tr data-seq=(e.seq) {
                            td { (e.seq) }
                            td { (e.time) }
                            td { (e.action.as_str()) }
                            td { (e.actor) }
                            td { (e.connection.as_deref().unwrap_or("")) }
                            td { (format!("{:?}", e.outcome).to_lowercase()) }
                            td { (details(e)) }
                        }
                    }
                }
            }
        }
    }
}

fn details(e: &AuditRecord) -> String {
    use crate::audit::Detail;
    e.details
        .iter()
        .map(|(k, v)| match v {
            Detail::Bool(b) => format!("{k}={b}"),
            Detail::Int(i) => format!("{k}={i}"),
            Detail::Text(t) => format!("{k}={t}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn reauthorize(
    service: web::Data<VaultService>,
    ui: Ui,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    ui.check_csrf(&Fields::parse(&body))?;
    let name = path_name(&path)?;
    match service
        .authorize_connection(&ui.session.principal, &name)
        .await
    {
        Ok(auth) => Ok(add::to_zoho(&service, &name, &auth.url)),
        Err(e) => Ok(Failure::from(e).page(&ui, name.as_str(), html! {})),
    }
}

async fn delete(
    service: web::Data<VaultService>,
    ui: Ui,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::parse(&body);
    ui.check_csrf(&fields)?;
    let name = path_name(&path)?;
    // Deleting revokes the refresh token at Zoho and cannot be undone, and
    // the console has no script to ask: the first post asks on a page.
    if fields.text("confirm").as_deref() != Some("yes") {
        let seg = path_segment(&name);
        let body = html! {
            p { "Delete the connection " code { (name.as_str()) } "? Its refresh token is revoked at Zoho, and backends using it are refused at once. This cannot be undone." }
            form id="confirm-delete" method="post" action=(format!("/ui/connections/{seg}/delete")) {
                (csrf(&ui.session))
                input type="hidden" name="confirm" value="yes";
                button.danger type="submit" { "Delete " (name.as_str()) }
            }
            p { a href=(format!("/ui/connections/{seg}")) { "Cancel" } }
        };
        return Ok(layout::html(
            StatusCode::OK,
            page(&ui.session, name.as_str(), None, body),
        ));
    }
    match service
        .delete_connection(&ui.session.principal, &name, true, &ui.ctx)
        .await
    {
        Ok(_) => Ok(see_other("/ui/connections?done=deleted")),
        Err(e) => {
            let f = Failure::from(e);
            f.record(&service, &ui, AuditAction::ConnectionDeleted, Some(&name))
                .await;
            Ok(f.page(&ui, name.as_str(), html! {}))
        }
    }
}
