//! Connection pages: the list, one connection (its events and chart), and
//! the actions: add (upload `self_client.json` or start the browser flow),
//! re-authorise, delete.

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use maud::{html, Markup};
use secrecy::SecretString;

use super::chart;
use super::error::ConsoleError;
use super::form::Fields;
use super::layout::{self, csrf, maybe_when, page, path_segment, Note};
use super::session::{flow_cookie, see_other, Ui};
use super::Failure;
use crate::audit::{AuditAction, AuditRecord, Query, ReadKind};
use crate::connections::upload::UploadRequest;
use crate::model::connection::ConnectionView;
use crate::model::ConnectionName;
use crate::service::VaultService;

/// Largest `self_client.json` accepted (Zoho's are a few hundred bytes),
/// and of any other field of the upload form.
const MAX_FILE: usize = 16 * 1024;

/// Most fields an upload form may have (it has five).
const MAX_FIELDS: usize = 16;

/// Events shown on a connection's page.
const EVENTS: usize = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/connections")
            .route(web::get().to(list))
            .route(web::post().to(upload)),
    )
    .service(super::page("/connections/new").route(web::get().to(new)))
    .service(super::page("/connections/authorize").route(web::post().to(browser_flow)))
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
                    th scope="col" { "Name" } th scope="col" { "State" } th scope="col" { "Data center" }
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

const DATA_CENTERS: [&str; 9] = [
    "com", "eu", "in", "com.au", "jp", "ca", "sa", "uk", "com.cn",
];

/// The data center, and a custom accounts server when the settings allow
/// one (`zoho.allow_custom_accounts_url`; it wins over the data center).
fn where_fields(prefix: &str, custom: bool) -> Markup {
    let dc = format!("{prefix}-dc");
    let url = format!("{prefix}-accounts");
    html! {
        label for=(dc) { "Data center" }
        select id=(dc) name="data_center" {
            @for d in DATA_CENTERS { option value=(d) { (d) } }
        }
        @if custom {
            label for=(url) { "Custom accounts server (optional; replaces the data center)" }
            input id=(url) type="url" name="accounts_url" autocomplete="off";
        }
    }
}

fn new_body(ui: &Ui, callback: &str, custom: bool) -> Markup {
    html! {
        section aria-labelledby="upload-h" {
            h2 id="upload-h" { "Upload self_client.json" }
            p { "In Zoho's API console, open your Self Client, generate a code with the scopes you need, and download self_client.json. Upload it here within the code's lifetime. Uploading under the name of a connection that needs re-authorisation replaces its credentials in place." }
            form id="upload" method="post" action="/ui/connections" enctype="multipart/form-data" {
                (csrf(&ui.session))
                label for="upload-name" { "Connection name" }
                input id="upload-name" type="text" name="name" required pattern="[A-Za-z0-9._-]{1,128}" autocomplete="off";
                label for="self_client" { "self_client.json" }
                input id="self_client" type="file" name="self_client" accept=".json,application/json" required;
                (where_fields("upload", custom))
                button type="submit" { "Upload" }
            }
        }
        section aria-labelledby="browser-h" {
            h2 id="browser-h" { "Connect through the browser" }
            p { "For a server-based client registered in Zoho's API console with this redirect URI: " code { (callback) } ". You will be sent to Zoho to sign in and accept, then back here." }
            form id="browser-flow" method="post" action="/ui/connections/authorize" {
                (csrf(&ui.session))
                label for="flow-name" { "Connection name" }
                input id="flow-name" type="text" name="name" required pattern="[A-Za-z0-9._-]{1,128}" autocomplete="off";
                label for="client_id" { "Client id" }
                input id="client_id" type="text" name="client_id" required autocomplete="off";
                label for="client_secret" { "Client secret" }
                input id="client_secret" type="password" name="client_secret" required autocomplete="off";
                label for="scopes" { "Scopes (comma-separated)" }
                input id="scopes" type="text" name="scopes" required autocomplete="off";
                label for="redirect_uri" { "Redirect URI" }
                input id="redirect_uri" type="url" name="redirect_uri" value=(callback) required;
                (where_fields("flow", custom))
                button type="submit" { "Continue to Zoho" }
            }
        }
    }
}

/// The vault's own callback URL as the browser reaches it.
fn callback_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/v1/oauth/callback", info.scheme(), info.host())
}

async fn new(
    req: HttpRequest,
    service: web::Data<VaultService>,
    ui: Ui,
) -> Result<HttpResponse, ConsoleError> {
    let custom = service.settings().zoho.allow_custom_accounts_url;
    let body = new_body(&ui, &callback_url(&req), custom);
    Ok(layout::html(
        StatusCode::OK,
        page(&ui.session, "Add a connection", None, body),
    ))
}

fn name_of(text: Option<String>) -> Result<ConnectionName, Failure> {
    ConnectionName::parse(text.unwrap_or_default()).map_err(|msg| {
        Failure::invalid(format!(
            "{msg}. A connection name is 1 to 128 of A-Z a-z 0-9 . _ -"
        ))
    })
}

/// Reads the multipart upload: text fields and the file, capped.
async fn read_upload(mut form: Multipart) -> Result<(Fields, Vec<u8>), Failure> {
    let mut fields = Fields::default();
    let mut file = Vec::new();
    let mut count = 0;
    while let Some(item) = form.next().await {
        count += 1;
        if count > MAX_FIELDS {
            return Err(Failure::invalid("the upload has more fields than the form"));
        }
        let mut field = item.map_err(|_| Failure::invalid("the upload could not be read"))?;
        let name = field.name().unwrap_or_default().to_string();
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| Failure::invalid("the upload could not be read"))?;
            if data.len() + chunk.len() > MAX_FILE {
                return Err(Failure::invalid(
                    "the file is larger than a self_client.json can be (16 KiB)",
                ));
            }
            data.extend_from_slice(&chunk);
        }
        if name == "self_client" {
            file = data;
        } else {
            fields.push(&name, String::from_utf8_lossy(&data).into_owned());
        }
    }
    Ok((fields, file))
}

fn upload_request(file: &[u8], fields: &Fields) -> Result<UploadRequest, Failure> {
    let mut json: serde_json::Value = serde_json::from_slice(file).map_err(|_| {
        Failure::invalid(
            "the file is not JSON: upload the self_client.json Zoho's API console gave you",
        )
    })?;
    if let Some(obj) = json.as_object_mut() {
        if !obj.contains_key("accounts_url") && !obj.contains_key("data_center") {
            let (key, value) = match fields.text("accounts_url") {
                Some(url) => ("accounts_url", url),
                None => (
                    "data_center",
                    fields.text("data_center").unwrap_or_default(),
                ),
            };
            obj.insert(key.into(), serde_json::Value::String(value));
        }
    }
    serde_json::from_value(json).map_err(|e| {
        Failure::invalid(format!(
            "the file is not a self_client.json ({e}); upload the file Zoho's API console gave you"
        ))
    })
}

async fn upload(
    service: web::Data<VaultService>,
    ui: Ui,
    form: Multipart,
) -> Result<HttpResponse, ConsoleError> {
    let (fields, file) = match read_upload(form).await {
        Ok(read) => read,
        Err(f) => return Ok(f.page(&ui, "Add a connection", html! {})),
    };
    ui.check_csrf(&fields)?;
    let name = match name_of(fields.text("name")) {
        Ok(n) => n,
        Err(f) => return Ok(f.page(&ui, "Add a connection", html! {})),
    };
    let req = match upload_request(&file, &fields) {
        Ok(r) => r,
        Err(f) => return Ok(f.page(&ui, "Add a connection", html! {})),
    };
    let by = &ui.session.principal;
    match service.create_connection(by, &name, req, &ui.ctx).await {
        Ok(_) => Ok(see_other(&format!(
            "/ui/connections/{}?done=created",
            path_segment(&name)
        ))),
        Err(e) => {
            let f = Failure::from(e);
            f.record(&service, &ui, AuditAction::ConnectionCreated, Some(&name))
                .await;
            Ok(f.page(&ui, "Add a connection", html! {}))
        }
    }
}

/// Sends the browser to Zoho's consent page, marked to come back here.
fn to_zoho(service: &VaultService, name: &str, url: &url::Url) -> HttpResponse {
    let secure = service.settings().tls.cert_file.is_some();
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.as_str()))
        .finish();
    if res.add_cookie(&flow_cookie(name, secure)).is_err() {
        tracing::error!("cannot set the console's browser-flow cookie");
    }
    res
}

async fn browser_flow(
    service: web::Data<VaultService>,
    ui: Ui,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::parse(&body);
    ui.check_csrf(&fields)?;
    let title = "Add a connection";
    let name = match name_of(fields.text("name")) {
        Ok(n) => n,
        Err(f) => return Ok(f.page(&ui, title, html! {})),
    };
    let req = UploadRequest {
        client_id: fields.text("client_id").unwrap_or_default(),
        client_secret: SecretString::from(
            fields
                .get("client_secret")
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        code: None,
        refresh_token: None,
        scope: crate::connections::upload::Scopes(fields.list("scopes")),
        expiry_time: None,
        grant_type: None,
        redirect_uri: fields.text("redirect_uri"),
        data_center: fields
            .text("data_center")
            .filter(|_| fields.text("accounts_url").is_none()),
        accounts_url: fields.text("accounts_url"),
    };
    let by = &ui.session.principal;
    if let Err(e) = service.create_connection(by, &name, req, &ui.ctx).await {
        let f = Failure::from(e);
        f.record(&service, &ui, AuditAction::ConnectionCreated, Some(&name))
            .await;
        return Ok(f.page(&ui, title, html! {}));
    }
    match service.authorize_connection(by, &name).await {
        Ok(auth) => Ok(to_zoho(&service, &name, &auth.url)),
        Err(e) => Ok(Failure::from(e).page(&ui, title, html! {})),
    }
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
            dt { "Data center" } dd { (data_center(&view)) }
            dt { "Client id" } dd { (view.client_id) }
            dt { "Scopes" } dd { (view.scopes.join(", ")) }
            dt { "Created" } dd { (layout::when(view.created_at)) }
            dt { "Last refresh" } dd { (maybe_when(view.health.last_success_at)) }
            dt { "Last error" } dd { (last_error(&view)) }
            dt { "Cached token expires" } dd { (maybe_when(view.token.as_ref().map(|t| t.expires_at))) }
        }
        div.actions {
            form id="reauthorize" method="post" action=(format!("/ui/connections/{seg}/reauthorize")) {
                (csrf(&ui.session))
                button type="submit" { "Re-authorise in the browser" }
            }
            form id="delete" method="post" action=(format!("/ui/connections/{seg}/delete")) {
                (csrf(&ui.session))
                button.danger type="submit" { "Delete (revokes at Zoho)" }
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
        Ok(auth) => Ok(to_zoho(&service, &name, &auth.url)),
        Err(e) => Ok(Failure::from(e).page(&ui, name.as_str(), html! {})),
    }
}

async fn delete(
    service: web::Data<VaultService>,
    ui: Ui,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    ui.check_csrf(&Fields::parse(&body))?;
    let name = path_name(&path)?;
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
