//! The browser redirect flow (docs/zoho.md): `GET /oauth/v2/auth`
//! shows a consent page with Accept and Deny buttons that post to
//! `POST /oauth/v2/auth/decide`, which redirects (302) to the client's
//! registered URI with `code`, `location`, `accounts-server` and `state`, or
//! with `error=access_denied` (a guess) on Deny. A wrong redirect URI or an
//! unknown client gets an error page and no redirect, as Zoho does.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::params::Params;
use super::server::Shared;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/v2/auth", web::get().to(authorize))
        .route("/oauth/v2/auth/decide", web::post().to(decide));
}

/// The authorize parameters, checked against the registered client.
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
}

/// An error page to show instead of redirecting: (title, message).
type PageError = (&'static str, &'static str);

fn check(shared: &Shared, params: &Params) -> Result<AuthRequest, PageError> {
    let client_id = params.get("client_id").unwrap_or_default();
    let registered = match shared.lock().client_redirect_uri(client_id) {
        Ok(uri) => uri,
        Err(_) => return Err(("Invalid Client", "The client_id is not registered.")),
    };
    let redirect_uri = params.get("redirect_uri").unwrap_or_default();
    if registered.as_deref() != Some(redirect_uri) {
        return Err((
            "Invalid Redirect Uri",
            "Redirect URI passed does not match with the one configured",
        ));
    }
    Ok(AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scope: params.get("scope").unwrap_or_default().to_owned(),
        state: params.get("state").map(str::to_owned),
    })
}

async fn authorize(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let params = Params::from_query(&req);
    if params.get("response_type") != Some("code") {
        return error_page("Invalid Request", "response_type must be code.");
    }
    let auth = match check(&shared, &params) {
        Ok(auth) => auth,
        Err((title, message)) => return error_page(title, message),
    };
    let hidden = |name: &str, value: &str| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            escape(value)
        )
    };
    let body = format!(
        r#"<!doctype html><html><head><title>Zoho Accounts (fake)</title></head><body>
<h1>Allow access?</h1><p>Client <code>{client}</code> asks for: <code>{scope}</code></p>
<form method="post" action="/oauth/v2/auth/decide">{fields}
<button type="submit" name="decision" value="accept">Accept</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></body></html>"#,
        client = escape(&auth.client_id),
        scope = escape(&auth.scope),
        fields = [
            hidden("client_id", &auth.client_id),
            hidden("redirect_uri", &auth.redirect_uri),
            hidden("scope", &auth.scope),
            hidden("state", auth.state.as_deref().unwrap_or_default()),
        ]
        .concat(),
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

async fn decide(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let Ok(params) = Params::read(&req, payload).await else {
        return error_page("Invalid Request", "Unreadable form.");
    };
    // The form comes back from the browser: check it again.
    let auth = match check(&shared, &params) {
        Ok(auth) => auth,
        Err((title, message)) => return error_page(title, message),
    };
    let Ok(mut target) = url::Url::parse(&auth.redirect_uri) else {
        return error_page("Invalid Redirect Uri", "The redirect URI is not a URL.");
    };
    {
        let mut query = target.query_pairs_mut();
        if params.get("decision") == Some("accept") {
            let scopes = auth
                .scope
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let mut state = shared.lock();
            let now = state.now_ms();
            let code = state.issue_redirect_code(&auth.client_id, scopes, &auth.redirect_uri, now);
            query
                .append_pair("code", &code)
                .append_pair("location", &state.config.location)
                .append_pair("accounts-server", &shared.base_url);
        } else {
            query.append_pair("error", "access_denied");
        }
        if let Some(state) = &auth.state {
            query.append_pair("state", state);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.to_string()))
        .finish()
}

fn error_page(title: &str, message: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::BAD_REQUEST)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html><body><h1>{}</h1><p>{}</p></body></html>",
            escape(title),
            escape(message)
        ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
