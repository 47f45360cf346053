//! Service tokens: list, create (the plain token shown once), revoke.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use secrecy::{ExposeSecret, SecretString};

use super::connections::done_note;
use super::error::ConsoleError;
use super::form::Fields;
use super::layout::{self, csrf, maybe_when, page, Note};
use super::session::{see_other, Ui};
use super::Failure;
use crate::audit::AuditAction;
use crate::auth::{TokenAccess, TokenRecord};
use crate::service::VaultService;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/service-tokens")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(super::page("/service-tokens/{id}/revoke").route(web::post().to(revoke)));
}

const TITLE: &str = "Service tokens";

const CREATED: &str = "The service token was created.";

fn body(ui: &Ui, tokens: &[TokenRecord], new_token: Option<&str>) -> Markup {
    html! {
        @if let Some(plain) = new_token {
            section.new-token aria-labelledby="new-h" {
                h2 id="new-h" { "Your new token" }
                p { "Copy it now: it is shown this once and cannot be shown again." }
                code id="new-token" { (plain) }
            }
        }
        div.scroll {
            table id="service-tokens" {
                caption { "Service tokens (never the tokens themselves)" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Connections" }
                    th scope="col" { "Access" } th scope="col" { "Proxy paths" } th scope="col" { "Created" }
                    th scope="col" { "Expires" } th scope="col" { "Last used" } th scope="col" { span.visually-hidden { "Revoke" } }
                } }
                tbody {
                    @for t in tokens {
                        tr data-token-id=(t.id) {
                            th scope="row" { (t.name) }
                            td { code { (t.id) } }
                            td { (t.connections.join(", ")) }
                            td { (t.access.as_str()) }
                            td { (t.proxy_paths.join(", ")) }
                            td { (layout::when(t.created_at)) }
                            td { (maybe_when(t.expires_at)) }
                            td { (maybe_when(t.last_used_at)) }
                            td {
                                form.revoke method="post" action=(format!("/ui/service-tokens/{}/revoke", t.id)) {
                                    (csrf(&ui.session))
                                    button.danger type="submit" aria-label=(format!("Revoke {}", t.name)) { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="create-h" {
            h2 id="create-h" { "Create a service token" }
            form id="create-token" method="post" action="/ui/service-tokens" {
                (csrf(&ui.session))
                label for="token-name" { "Name" }
                input id="token-name" type="text" name="name" required autocomplete="off";
                label for="token-connections" { "Connections (comma-separated names, or * for all)" }
                input id="token-connections" type="text" name="connections" required autocomplete="off";
                label for="token-access" { "Access" }
                select id="token-access" name="access" {
                    option value="token" { "token: may fetch access tokens and use the proxy" }
                    option value="proxy" { "proxy: may only use the proxy" }
                }
                label for="token-paths" { "Proxy paths (comma-separated prefixes; empty: every path)" }
                input id="token-paths" type="text" name="proxy_paths" autocomplete="off";
                button type="submit" { "Create" }
            }
        }
    }
}

/// The list; right after a creation, with the new token (taken from the
/// session, so it is shown once).
async fn list(
    req: HttpRequest,
    service: web::Data<VaultService>,
    ui: Ui,
) -> Result<HttpResponse, ConsoleError> {
    let tokens = match service.service_tokens().await {
        Ok(tokens) => tokens,
        Err(e) => return Ok(Failure::from(e).page(&ui, TITLE, html! {})),
    };
    let new_token = service.console_take_flash(&ui.id).await;
    let note = match new_token {
        Some(_) => Some(Note::Flash(CREATED)),
        None => done_note(&req),
    };
    let new_token = new_token.as_ref().map(|t| t.expose_secret());
    Ok(layout::html(
        StatusCode::OK,
        page(&ui.session, TITLE, note, body(&ui, &tokens, new_token)),
    ))
}

async fn create(
    service: web::Data<VaultService>,
    ui: Ui,
    form: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::parse(&form);
    ui.check_csrf(&fields)?;
    let access = match fields.get("access").unwrap_or("token") {
        "token" => TokenAccess::Token,
        "proxy" => TokenAccess::Proxy,
        _ => {
            let f = Failure::invalid("access must be token or proxy");
            return Ok(f.page(&ui, TITLE, html! {}));
        }
    };
    let by = &ui.session.principal;
    let created = service
        .create_service_token(
            by,
            fields.text("name").unwrap_or_default(),
            fields.list("connections"),
            None,
            (access, fields.list("proxy_paths")),
            &ui.ctx,
        )
        .await;
    // POST/redirect/GET: the list shows the token once from the session,
    // and a reload of it makes nothing.
    if let Ok((plain, _)) = &created {
        let secret = SecretString::from(plain.expose().to_string());
        match service.console_put_flash(&ui.id, secret).await {
            Ok(true) => return Ok(see_other("/ui/service-tokens")),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot keep a new token for the next page"),
        }
    }
    // Else the token is shown on this answer, so it is not lost.
    let tokens = service.service_tokens().await;
    match (created, tokens) {
        (Ok((plain, _)), Ok(tokens)) => {
            let note = Note::Flash(CREATED);
            let page = page(
                &ui.session,
                TITLE,
                Some(note),
                body(&ui, &tokens, Some(plain.expose())),
            );
            Ok(layout::html(StatusCode::CREATED, page))
        }
        (Err(e), tokens) => {
            let f = Failure::from(e);
            f.record(&service, &ui, AuditAction::ServiceTokenCreated, None)
                .await;
            let tokens = tokens.unwrap_or_default();
            Ok(f.page(&ui, TITLE, body(&ui, &tokens, None)))
        }
        // The list failed, but the new token exists: it is shown all the same.
        (Ok((plain, _)), Err(e)) => {
            Ok(Failure::from(e).page(&ui, TITLE, body(&ui, &[], Some(plain.expose()))))
        }
    }
}

async fn revoke(
    service: web::Data<VaultService>,
    ui: Ui,
    path: web::Path<String>,
    form: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    ui.check_csrf(&Fields::parse(&form))?;
    let id = path.into_inner();
    if !crate::auth::is_token_id(&id) {
        return Err(ConsoleError::NotFound);
    }
    match service
        .revoke_service_token(&ui.session.principal, &id, &ui.ctx)
        .await
    {
        Ok(Some(_)) => Ok(see_other("/ui/service-tokens?done=revoked")),
        Ok(None) => Err(ConsoleError::NotFound),
        Err(e) => {
            let f = Failure::from(e);
            f.record(&service, &ui, AuditAction::ServiceTokenRevoked, None)
                .await;
            Ok(f.page(&ui, TITLE, html! {}))
        }
    }
}
