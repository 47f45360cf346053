//! The page frame (head, navigation, logout form, messages) and the login
//! page. maud escapes every interpolated value.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};
use time::OffsetDateTime;

use crate::service::Session;

/// An HTML answer.
pub fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · zoho-vault" }
            link rel="stylesheet" href="/ui/static/console.css";
        }
    }
}

/// The hidden CSRF field of every state-changing form.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf()); }
}

/// A message after an action.
pub enum Note<'a> {
    /// It worked.
    Flash(&'a str),
    /// It did not: what happened and what to do.
    Error(&'a str, Option<&'a str>),
}

/// A console page: navigation, logout, an optional message, the body.
pub fn page(session: &Session, title: &str, note: Option<Note<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    p.brand { "zoho-vault" }
                    nav aria-label="Console" {
                        ul {
                            li { a href="/ui/connections" { "Connections" } }
                            li { a href="/ui/service-tokens" { "Service tokens" } }
                            li { a href="/ui/audit" { "Audit" } }
                            li { a href="/ui/webhooks" { "Webhooks" } }
                        }
                    }
                    form.logout method="post" action="/ui/logout" {
                        (csrf(session))
                        span.who { (session.principal.name) }
                        button type="submit" id="logout" { "Log out" }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    @match note {
                        Some(Note::Flash(text)) => p.flash role="status" { (text) },
                        Some(Note::Error(text, fix)) => p.error role="alert" {
                            (text)
                            @if let Some(fix) = fix { " " (fix) }
                        },
                        None => {},
                    }
                    (body)
                }
            }
        }
    }
}

/// The login page, with the reason of a failed attempt.
pub fn login(error: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body.login {
                main id="main" {
                    h1 { "zoho-vault console" }
                    @if let Some(error) = error {
                        p.error role="alert" { (error) }
                    }
                    form method="post" action="/ui/login" {
                        label for="token" { "Admin token" }
                        input type="password" id="token" name="token" autocomplete="off" required;
                        button type="submit" id="login" { "Log in" }
                    }
                    p.hint { "Log in with an admin token (zva_...). The token stays on this page: the console keeps a session instead." }
                }
            }
        }
    }
}

/// A page without a session (refusals, a sealed vault).
pub fn bare(title: &str, text: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                main id="main" {
                    h1 { (title) }
                    p.error role="alert" { (text) }
                    p { a href="/ui/" { "Back to the console" } }
                }
            }
        }
    }
}

/// A connection name as a path segment (names are `[A-Za-z0-9._-]`, so
/// only a stray character could need escaping).
pub fn path_segment(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes()).collect()
}

/// A time as people read it: `2026-12-01 06:40 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// An optional time, or a dash.
pub fn maybe_when(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| "—".to_string(), when)
}
