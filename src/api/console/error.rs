//! The console's refusals that are not a page's own error message: no
//! session (back to the login page), a form without its CSRF token (403),
//! a sealed vault (503).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::layout;

/// Why a console request was not served.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: log in first.
    #[error("no console session")]
    Login,
    /// A state-changing form without this session's CSRF token.
    #[error("missing or wrong CSRF token")]
    Csrf,
    /// The vault is sealed: nothing can be shown.
    #[error("the vault is sealed")]
    Sealed,
    /// No such page or record.
    #[error("not found")]
    NotFound,
    /// The server is misconfigured (no service in the app data).
    #[error("internal error")]
    Internal,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::Login => StatusCode::SEE_OTHER,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::Sealed => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, text) = match self {
            ConsoleError::Login => return super::session::see_other("/ui/"),
            ConsoleError::Csrf => (
                "Refused",
                "This form did not come from your console session (its security token is missing or wrong), so nothing was changed. Reload the page and try again.",
            ),
            ConsoleError::Sealed => (
                "The vault is sealed",
                "The vault is sealed, so the console cannot show or change anything and every session has ended. Unseal it (zoho-vault unseal), then log in again.",
            ),
            ConsoleError::NotFound => ("Not found", "There is no such page or record."),
            ConsoleError::Internal => (
                "Something went wrong",
                "The console could not answer; the server log has the details.",
            ),
        };
        layout::html(self.status_code(), layout::bare(title, text))
    }
}
