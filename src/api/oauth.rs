//! `GET /v1/oauth/callback`: where Zoho sends the browser back at the end
//! of the redirect flow. There is no bearer token (the `state` in the query
//! is the credential), and the reader is a person in a browser, so this is
//! the one route that answers HTML instead of JSON, errors included: a
//! small self-contained page (no scripts, no external assets, everything
//! escaped) that says in plain words what happened and what to do next.
//!
//! Every page carries `data-outcome` on `<body>` (`connected`, `declined`,
//! `expired`, `used`, `unknown`, `incomplete`, `zoho_error`,
//! `unknown_accounts_server`, `changed`, `refused`, `upstream`, `sealed`,
//! `internal`) for scripts and tests. The query holds the state and the
//! code: it is never logged, and the pages send no referrer.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use time::OffsetDateTime;

use super::extract::Ctx;
use super::resource;
use crate::connections::redirect::{zoho_place, CallbackError, CallbackParams, Connected};
use crate::service::VaultService;
use crate::zoho::ErrorClass;

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/oauth/callback").route(web::get().to(callback)));
}

/// Finish the browser flow
///
/// Where Zoho sends the person's browser back after the consent page. No
/// bearer token: the single-use `state` is the credential. Answers a small
/// HTML page in every case, errors included (`Cache-Control: no-store`,
/// `Referrer-Policy: no-referrer`, a CSP without scripts); `<body
/// data-outcome="...">` names the case for scripts. Unknown parameters and
/// a trailing `&` are ignored; a parameter given twice is refused.
#[utoipa::path(
    get,
    path = "/v1/oauth/callback",
    tag = "oauth",
    operation_id = "oauth_callback",
    params(
        ("state" = Option<String>, Query, description = "The state from the authorization link (required to get anywhere)"),
        ("code" = Option<String>, Query, description = "The one-time authorization code"),
        ("error" = Option<String>, Query, description = "Zoho's error instead of a code (`access_denied` when the person chose Deny)"),
        ("location" = Option<String>, Query, description = "The person's data center (`us`, `eu`, ...); used when `accounts-server` is absent"),
        ("accounts-server" = Option<String>, Query, description = "The accounts server to exchange the code at; only known Zoho data centers (or the connection's own `accounts_url` while custom URLs are allowed)"),
    ),
    responses(
        (status = 200, description = "`connected`, or `declined` (Deny; the link stays valid)", body = String, content_type = "text/html"),
        (status = 400, description = "`incomplete`, `unknown`, `expired`, `used`, `zoho_error` or `unknown_accounts_server`", body = String, content_type = "text/html"),
        (status = 409, description = "`changed`: the connection was deleted or created anew since the link was made", body = String, content_type = "text/html"),
        (status = 422, description = "`refused`: Zoho refused the code", body = String, content_type = "text/html"),
        (status = 429, description = "`refused`: Zoho throttled the exchange", body = String, content_type = "text/html"),
        (status = 500, description = "`internal`", body = String, content_type = "text/html"),
        (status = 502, description = "`upstream`: Zoho unreachable after retries", body = String, content_type = "text/html"),
        (status = 503, description = "`sealed`: unseal, then open the link again", body = String, content_type = "text/html"),
        (status = 504, description = "`upstream`: Zoho timed out", body = String, content_type = "text/html"),
    )
)]
#[tracing::instrument(skip_all)]
async fn callback(service: web::Data<VaultService>, req: HttpRequest, ctx: Ctx) -> HttpResponse {
    let result = match CallbackParams::parse(req.query_string()) {
        Ok(params) => service.finish_authorization(params, &ctx.0).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(connected) => {
            tracing::info!(connection = %connected.name, replaced = connected.replaced, "browser flow finished: connected");
            // Started from the admin console: back to the connection's page.
            if let Some(to) = super::console::return_to_console(&req, &connected.name) {
                return super::console::back_to_console(&to);
            }
            connected_page(&connected).render()
        }
        Err(e) => {
            match &e {
                CallbackError::Store(inner) => {
                    tracing::error!(error = %inner, "browser flow failed on storage")
                }
                other => tracing::info!(outcome = %other, "browser flow did not connect"),
            }
            error_page(&e).render()
        }
    }
}

/// One page: status, outcome tag, heading and paragraphs (plain text,
/// escaped when rendered).
struct Page {
    status: StatusCode,
    outcome: &'static str,
    title: &'static str,
    paragraphs: Vec<String>,
}

const NEW_LINK: &str = "Ask your vault administrator for a new link (they make one with POST /v1/connections/{name}/authorize).";

fn new_link(name: &str) -> String {
    NEW_LINK.replace("{name}", name)
}

fn connected_page(c: &Connected) -> Page {
    let mut paragraphs = vec![format!(
        "Connection {} is connected to Zoho ({}). You can close this tab.",
        c.name,
        zoho_place(c.data_center, &c.accounts_url)
    )];
    if c.replaced {
        paragraphs.push(
            "This authorization replaces the connection's previous one, which the vault revokes at Zoho."
                .into(),
        );
    }
    Page {
        status: StatusCode::OK,
        outcome: "connected",
        title: "Connected to Zoho",
        paragraphs,
    }
}

fn hhmm(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[hour]:[minute] UTC");
    t.format(&fmt).unwrap_or_default()
}

fn error_page(e: &CallbackError) -> Page {
    use StatusCode as S;
    let page = |status, outcome, title, paragraphs: Vec<String>| Page {
        status,
        outcome,
        title,
        paragraphs,
    };
    match e {
        CallbackError::Declined { name, expires_at } => page(
            S::OK,
            "declined",
            "You declined",
            vec![
                format!("You chose Deny on Zoho's page, so connection {name} was not connected. Nothing was changed."),
                format!("If that was a mistake, open the same link again before {} and choose Accept.", hhmm(*expires_at)),
            ],
        ),
        CallbackError::Expired { name } => page(
            S::BAD_REQUEST,
            "expired",
            "This link has expired",
            vec![
                format!("The authorization link for connection {name} is no longer valid: links work for a few minutes only. Nothing was changed."),
                new_link(name),
            ],
        ),
        CallbackError::Used { name } => page(
            S::BAD_REQUEST,
            "used",
            "This link was already used",
            vec![
                format!("The authorization link for connection {name} has been used already; each link works once. Nothing was changed by this visit."),
                "If you just connected, there is nothing more to do (reloading the page brings you here). Otherwise:".into(),
                new_link(name),
            ],
        ),
        CallbackError::UnknownState => page(
            S::BAD_REQUEST,
            "unknown",
            "Unknown link",
            vec![
                "This authorization link was not made by this vault, or it is too old to be remembered. Nothing was changed.".into(),
                NEW_LINK.replace("{name}", "NAME"),
            ],
        ),
        CallbackError::Malformed(what) => page(
            S::BAD_REQUEST,
            "incomplete",
            "Incomplete link",
            vec![
                format!("This page was opened without the details Zoho adds when it sends you back ({what}). Nothing was changed."),
                "Open the authorization link from your vault administrator and follow it to the end.".into(),
            ],
        ),
        CallbackError::ZohoReported { name, error } => page(
            S::BAD_REQUEST,
            "zoho_error",
            "Zoho reported an error",
            vec![
                format!("Zoho sent you back with the error \u{201c}{error}\u{201d} instead of an authorization, so connection {name} was not connected. Nothing was changed."),
                "You may open the same link again while it is valid. If the error repeats, tell your vault administrator what it said.".into(),
            ],
        ),
        CallbackError::MissingCode { name } => page(
            S::BAD_REQUEST,
            "incomplete",
            "No authorization from Zoho",
            vec![
                format!("Zoho sent you back without an authorization code, so connection {name} was not connected. Nothing was changed."),
                "You may open the same link again while it is valid.".into(),
            ],
        ),
        CallbackError::UnknownAccountsServer { name, given } => page(
            S::BAD_REQUEST,
            "unknown_accounts_server",
            "Unknown Zoho server",
            vec![
                format!("The answer named the accounts server \u{201c}{given}\u{201d}, which is not one of Zoho's data centers, so the vault sent it nothing. Connection {name} was not connected."),
                "If you came here straight from Zoho's page, the link may have been tampered with: tell your vault administrator.".into(),
            ],
        ),
        CallbackError::ConnectionChanged { name } => page(
            S::CONFLICT,
            "changed",
            "The connection changed",
            vec![
                format!("Connection {name} was deleted, or deleted and created again, after this link was made, so the link no longer applies. Nothing was changed."),
                new_link(name),
            ],
        ),
        CallbackError::Refused { name, err } => page(
            if err.class() == ErrorClass::Throttled { S::TOO_MANY_REQUESTS } else { S::UNPROCESSABLE_ENTITY },
            "refused",
            "Zoho refused the authorization",
            vec![
                format!("Zoho refused the authorization for connection {name}: {err}. Nothing was stored, and this link is used up."),
                format!("{} If it fails again, the administrator should check the client's redirect URI and secret in Zoho's API console.", new_link(name)),
            ],
        ),
        CallbackError::Upstream { name, err } => page(
            if matches!(err, crate::zoho::ZohoError::Timeout) { S::GATEWAY_TIMEOUT } else { S::BAD_GATEWAY },
            "upstream",
            "Zoho did not answer",
            vec![
                format!("The vault could not reach Zoho to finish connecting {name} ({err}). Nothing was stored, and this link is used up."),
                format!("Try again in a few minutes. {}", new_link(name)),
            ],
        ),
        CallbackError::Sealed => page(
            S::SERVICE_UNAVAILABLE,
            "sealed",
            "The vault is sealed",
            vec![
                "The vault is locked (sealed), so it cannot finish connecting. Nothing was changed.".into(),
                "Ask the operator to unseal it, then open the link again while it is still valid.".into(),
            ],
        ),
        CallbackError::Store(_) => page(
            S::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong",
            vec![
                "The vault could not finish connecting because of an internal error; its log has the details.".into(),
                "Tell your vault administrator.".into(),
            ],
        ),
    }
}

/// Minimal escaping for text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;line-height:1.5;color:#222}h1{font-size:1.4em}p.foot{color:#666;font-size:.85em}";

impl Page {
    fn html(&self) -> String {
        let paragraphs: String = self
            .paragraphs
            .iter()
            .map(|p| format!("<p>{}</p>\n", escape(p)))
            .collect();
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"referrer\" content=\"no-referrer\">\
             <title>{title} - zoho-vault</title><style>{STYLE}</style></head>\n\
             <body data-outcome=\"{outcome}\">\n<h1>{title}</h1>\n{paragraphs}\
             <p class=\"foot\">zoho-vault</p>\n</body></html>\n",
            title = escape(self.title),
            outcome = escape(self.outcome),
        )
    }

    fn render(self) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ))
            .body(self.html())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Principal;
    use crate::crypto::token::TokenKind;
    use crate::zoho::DataCenter;

    #[test]
    fn the_success_page_says_where_in_plain_words() {
        let c = Connected {
            name: "acme".into(),
            data_center: Some(DataCenter::Eu),
            accounts_url: "https://accounts.zoho.eu".into(),
            replaced: false,
            by: Principal {
                token_id: "t".into(),
                name: "n".into(),
                kind: TokenKind::Admin,
                connections: vec![],
                access: Default::default(),
                proxy_paths: Vec::new(),
            },
        };
        let html = connected_page(&c).html();
        assert!(html.contains("Connection acme is connected to Zoho (EU). You can close this tab."));
        assert!(html.contains("data-outcome=\"connected\""));
    }

    #[test]
    fn pages_escape_everything_they_echo() {
        let e = CallbackError::ZohoReported {
            name: "a<b".into(),
            error: "<script>alert(1)</script>".into(),
        };
        let html = error_page(&e).html();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("a&lt;b"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external references: {html}"
        );
    }

    #[test]
    fn statuses_are_pinned() {
        let cases = [
            (CallbackError::UnknownState, 400, "unknown"),
            (CallbackError::Expired { name: "a".into() }, 400, "expired"),
            (CallbackError::Used { name: "a".into() }, 400, "used"),
            (CallbackError::Sealed, 503, "sealed"),
            (
                CallbackError::Declined {
                    name: "a".into(),
                    expires_at: OffsetDateTime::UNIX_EPOCH,
                },
                200,
                "declined",
            ),
            (
                CallbackError::UnknownAccountsServer {
                    name: "a".into(),
                    given: "https://evil.example".into(),
                },
                400,
                "unknown_accounts_server",
            ),
            (
                CallbackError::Refused {
                    name: "a".into(),
                    err: crate::zoho::ZohoError::InvalidCode,
                },
                422,
                "refused",
            ),
        ];
        for (e, status, outcome) in cases {
            let p = error_page(&e);
            assert_eq!(p.status.as_u16(), status, "{e}");
            assert_eq!(p.outcome, outcome);
        }
    }
}
