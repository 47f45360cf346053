//! Adding a connection from the console: the upload of `self_client.json`
//! and the browser flow, which comes back to the console.

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use maud::{html, Markup};
use secrecy::SecretString;

use super::super::error::ConsoleError;
use super::super::form::Fields;
use super::super::layout::{self, csrf, page, path_segment};
use super::super::session::{flow_cookie, see_other, Ui};
use super::super::Failure;
use crate::audit::AuditAction;
use crate::connections::upload::UploadRequest;
use crate::model::ConnectionName;
use crate::service::VaultService;

/// Largest `self_client.json` accepted (Zoho's are a few hundred bytes),
/// and of any other field of the upload form.
const MAX_FILE: usize = 16 * 1024;

/// Most fields an upload form may have (it has five).
const MAX_FIELDS: usize = 16;

const DATA_CENTERS: [&str; 9] = [
    "com", "eu", "in", "com.au", "jp", "ca", "sa", "uk", "com.cn",
];

/// Where an upload replacing an existing connection should go: its name
/// and where Zoho holds it, so the form is filled in as the connection was.
#[derive(Default)]
struct Prefill {
    name: Option<String>,
    data_center: Option<&'static str>,
    accounts_url: Option<String>,
}

/// The data center, and a custom accounts server when the settings allow
/// one (`zoho.allow_custom_accounts_url`; it wins over the data center).
fn where_fields(prefix: &str, custom: bool, fill: &Prefill) -> Markup {
    let dc = format!("{prefix}-dc");
    let url = format!("{prefix}-accounts");
    html! {
        label for=(dc) { "Data center" }
        select id=(dc) name="data_center" {
            @for d in DATA_CENTERS { option value=(d) selected[fill.data_center == Some(d)] { (d) } }
        }
        @if custom {
            label for=(url) { "Custom accounts server (optional; replaces the data center)" }
            input id=(url) type="url" name="accounts_url" autocomplete="off" value=[fill.accounts_url.as_deref()];
        }
    }
}

fn new_body(ui: &Ui, callback: &str, custom: bool, fill: &Prefill) -> Markup {
    html! {
        section aria-labelledby="upload-h" {
            h2 id="upload-h" { "Upload self_client.json" }
            p { "In Zoho's API console, open your Self Client, generate a code with the scopes you need, and download self_client.json. Upload it here within the code's lifetime. Uploading under the name of a connection that needs re-authorisation replaces its credentials in place." }
            form id="upload" method="post" action="/ui/connections" enctype="multipart/form-data" {
                (csrf(&ui.session))
                label for="upload-name" { "Connection name" }
                input id="upload-name" type="text" name="name" required pattern="[A-Za-z0-9._-]{1,128}" autocomplete="off" value=[fill.name.as_deref()];
                label for="self_client" { "self_client.json" }
                input id="self_client" type="file" name="self_client" accept=".json,application/json" required;
                (where_fields("upload", custom, fill))
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
                (where_fields("flow", custom, &Prefill::default()))
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

pub(super) async fn new(
    req: HttpRequest,
    service: web::Data<VaultService>,
    ui: Ui,
) -> Result<HttpResponse, ConsoleError> {
    let custom = service.settings().zoho.allow_custom_accounts_url;
    // `?name=NAME` (the link on a connection's page): an upload that
    // replaces NAME's credentials, aimed where NAME's Zoho account is.
    let fill = match Fields::parse(req.query_string().as_bytes())
        .text("name")
        .and_then(|n| ConnectionName::parse(n).ok())
    {
        Some(name) => match service.connection(&name).await {
            Ok(view) => Prefill {
                name: Some(view.name),
                data_center: view.data_center.map(|dc| dc.code()),
                accounts_url: view.data_center.is_none().then_some(view.accounts_url),
            },
            Err(_) => Prefill::default(),
        },
        None => Prefill::default(),
    };
    let body = new_body(&ui, &callback_url(&req), custom, &fill);
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

pub(super) async fn upload(
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
pub(super) fn to_zoho(service: &VaultService, name: &str, url: &url::Url) -> HttpResponse {
    let secure = service.settings().tls.cert_file.is_some();
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.as_str()))
        .finish();
    if res.add_cookie(&flow_cookie(name, secure)).is_err() {
        tracing::error!("cannot set the console's browser-flow cookie");
    }
    res
}

pub(super) async fn browser_flow(
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
