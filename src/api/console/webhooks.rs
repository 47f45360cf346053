//! Webhook endpoints: list, create (the signing secret shown once),
//! delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::connections::done_note;
use super::error::ConsoleError;
use super::form::Fields;
use super::layout::{self, csrf, maybe_when, page, Note};
use super::session::{see_other, Ui};
use super::Failure;
use crate::audit::AuditAction;
use crate::service::VaultService;
use crate::webhooks::{CreateEndpoint, EndpointView};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::page("/webhooks")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(super::page("/webhooks/{id}/delete").route(web::post().to(delete)));
}

const TITLE: &str = "Webhooks";

fn body(ui: &Ui, endpoints: &[EndpointView], secret: Option<&str>) -> Markup {
    html! {
        @if let Some(secret) = secret {
            section.new-token aria-labelledby="secret-h" {
                h2 id="secret-h" { "The endpoint's signing secret" }
                p { "Copy it now into the receiver: it is shown this once." }
                code id="new-secret" { (secret) }
            }
        }
        div.scroll {
            table id="webhooks" {
                caption { "Webhook endpoints (URLs redacted)" }
                thead { tr {
                    th scope="col" { "URL" } th scope="col" { "Id" } th scope="col" { "Events" }
                    th scope="col" { "Description" } th scope="col" { "Pending" } th scope="col" { "Last error" }
                    th scope="col" { "Failing since" } th scope="col" { span.visually-hidden { "Delete" } }
                } }
                tbody {
                    @for w in endpoints {
                        tr data-webhook-id=(w.id) {
                            th scope="row" { (w.url) }
                            td { code { (w.id) } }
                            td { (w.events.join(", ")) }
                            td { (w.description.as_deref().unwrap_or("")) }
                            td { (w.pending) }
                            td { (w.last_error.as_deref().unwrap_or("—")) }
                            td { (maybe_when(w.failing_since)) }
                            td {
                                form.delete-webhook method="post" action=(format!("/ui/webhooks/{}/delete", w.id)) {
                                    (csrf(&ui.session))
                                    button.danger type="submit" aria-label=(format!("Delete {}", w.id)) { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="create-h" {
            h2 id="create-h" { "Add an endpoint" }
            form id="create-webhook" method="post" action="/ui/webhooks" {
                (csrf(&ui.session))
                label for="wh-url" { "URL (https://...)" }
                input id="wh-url" type="url" name="url" required autocomplete="off";
                label for="wh-events" { "Events (comma-separated, or * for all)" }
                input id="wh-events" type="text" name="events" required value="*" autocomplete="off";
                label for="wh-description" { "Description" }
                input id="wh-description" type="text" name="description" autocomplete="off";
                label for="wh-format" { "Format" }
                select id="wh-format" name="format" {
                    option value="json" { "json" }
                    option value="slack" { "slack" }
                }
                button type="submit" { "Add" }
            }
        }
    }
}

async fn list(
    req: HttpRequest,
    service: web::Data<VaultService>,
    ui: Ui,
) -> Result<HttpResponse, ConsoleError> {
    match service.webhooks().await {
        Ok(w) => Ok(layout::html(
            StatusCode::OK,
            page(&ui.session, TITLE, done_note(&req), body(&ui, &w, None)),
        )),
        Err(e) => Ok(Failure::from(e).page(&ui, TITLE, html! {})),
    }
}

async fn create(
    service: web::Data<VaultService>,
    ui: Ui,
    form: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::parse(&form);
    ui.check_csrf(&fields)?;
    let format = serde_json::from_value(serde_json::Value::String(
        fields.text("format").unwrap_or_else(|| "json".into()),
    ));
    let Ok(format) = format else {
        let f = Failure::invalid("the format must be json or slack");
        return Ok(f.page(&ui, TITLE, html! {}));
    };
    let req = CreateEndpoint {
        url: fields.text("url").unwrap_or_default(),
        events: fields.list("events"),
        description: fields.text("description"),
        format,
    };
    let created = service
        .create_webhook(&ui.session.principal, req, &ui.ctx)
        .await;
    let endpoints = service.webhooks().await.unwrap_or_default();
    match created {
        Ok(c) => {
            let secret = secrecy::ExposeSecret::expose_secret(&c.secret).to_string();
            let note = Note::Flash("The webhook endpoint was added.");
            let page = page(
                &ui.session,
                TITLE,
                Some(note),
                body(&ui, &endpoints, Some(&secret)),
            );
            Ok(layout::html(StatusCode::CREATED, page))
        }
        Err(e) => {
            let f = Failure::from(e);
            f.record(&service, &ui, AuditAction::WebhookCreated, None)
                .await;
            Ok(f.page(&ui, TITLE, body(&ui, &endpoints, None)))
        }
    }
}

async fn delete(
    service: web::Data<VaultService>,
    ui: Ui,
    path: web::Path<String>,
    form: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    ui.check_csrf(&Fields::parse(&form))?;
    let id = path.into_inner();
    if !crate::webhooks::admin::is_endpoint_id(&id) {
        return Err(ConsoleError::NotFound);
    }
    match service
        .delete_webhook(&ui.session.principal, &id, &ui.ctx)
        .await
    {
        Ok(_) => Ok(see_other("/ui/webhooks?done=webhook_deleted")),
        Err(e) => {
            let f = Failure::from(e);
            f.record(&service, &ui, AuditAction::WebhookDeleted, None)
                .await;
            Ok(f.page(&ui, TITLE, html! {}))
        }
    }
}
