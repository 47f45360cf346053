//! A small Zoho Invoice API (v3, as documented by Zoho) so tests can prove an
//! access token works: `POST /invoice/v3/contacts`, `POST /invoice/v3/invoices`,
//! `GET /invoice/v3/invoices` (a fixed page) and `GET /invoice/v3/organizations`. Nothing is stored beyond counters
//! and id sequences, so benchmarks can hammer it.

use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};

use super::params::Params;
use super::server::{zoho_json, Shared};

/// The org header; `?organization_id=` works too (§6).
const ORG_HEADER: &str = "X-com-zoho-invoice-organizationid";

/// Id sequence for created records; ids only need to be unique.
static NEXT_ID: AtomicU64 = AtomicU64::new(460_000_000_000_001);

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/invoice/v3/contacts", web::post().to(create_contact))
        .route("/invoice/v3/invoices", web::post().to(create_invoice))
        .route("/invoice/v3/invoices", web::get().to(list_invoices))
        .route("/invoice/v3/organizations", web::get().to(organizations));
}

/// An Invoice API failure, answered in Zoho's `{"code","message"}` envelope.
#[derive(Debug, thiserror::Error)]
enum InvoiceError {
    #[error("The request could not be authenticated. Please pass a valid Zoho-oauthtoken.")]
    NoAuthorization,
    /// A dead, expired or unknown token: HTTP 401.
    #[error("You are not authorized to perform this operation")]
    NotAuthorized,
    /// A live token without the scope: the same code 57, but HTTP 400
    /// (§6), which a refresh does not fix.
    #[error("You are not authorized to perform this operation")]
    ScopeMissing,
    /// Code 2 and the wording are guesses for these (§6 has no source).
    #[error("Invalid value passed for {0}")]
    InvalidValue(&'static str),
    #[error("Enter a valid Contact Name")]
    ContactName,
}

impl ResponseError for InvoiceError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NoAuthorization | Self::NotAuthorized => StatusCode::UNAUTHORIZED,
            Self::ScopeMissing | Self::InvalidValue(_) | Self::ContactName => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            Self::NoAuthorization => 14,
            Self::NotAuthorized | Self::ScopeMissing => 57,
            Self::InvalidValue(_) => 2,
            Self::ContactName => 3013,
        };
        zoho_json(
            self.status_code(),
            &json!({"code": code, "message": self.to_string()}),
        )
    }
}

/// Checks the token (and its scope) and the organization. `Err` is the
/// answer to send.
fn authorize(
    req: &HttpRequest,
    shared: &Shared,
    scope: &str,
    need_org: bool,
) -> Result<(), InvoiceError> {
    shared.lock().count_invoice_call();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(InvoiceError::NoAuthorization)?;
    let auth = auth.to_str().unwrap_or_default();
    let token = auth
        .strip_prefix("Zoho-oauthtoken ")
        .or_else(|| auth.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim();
    {
        let state = shared.lock();
        let scopes = state
            .access_token_scopes(token, state.now_ms())
            .ok_or(InvoiceError::NotAuthorized)?;
        if state.config.enforce_scopes && !grants(scopes, scope) {
            // Zoho answers 57 for a missing scope too, with HTTP 400 (§6).
            return Err(InvoiceError::ScopeMissing);
        }
    }
    let org = req
        .headers()
        .get(ORG_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            Params::from_query(req)
                .get("organization_id")
                .map(str::to_owned)
        });
    if need_org && org.is_none_or(|o| o.trim().is_empty()) {
        // A guess: the exact code for a missing organization is unknown.
        return Err(InvoiceError::InvalidValue("organization_id"));
    }
    Ok(())
}

/// Whether `scopes` allows `needed` (`ZohoInvoice.contacts.CREATE`), also
/// through `ZohoInvoice.contacts.ALL` or `ZohoInvoice.fullaccess.all`.
/// Scope case varies in the wild (§7), so comparison ignores it.
fn grants(scopes: &[String], needed: &str) -> bool {
    let resource_all = needed
        .rsplit_once('.')
        .map(|(resource, _)| format!("{resource}.ALL"))
        .unwrap_or_default();
    scopes.iter().any(|s| {
        s.eq_ignore_ascii_case(needed)
            || s.eq_ignore_ascii_case(&resource_all)
            || s.eq_ignore_ascii_case("ZohoInvoice.fullaccess.all")
    })
}

/// The record sent as a JSON body or as the multipart/form field `JSONString`.
async fn read_record(req: &HttpRequest, payload: web::Payload) -> Result<Value, InvoiceError> {
    let invalid = || InvoiceError::InvalidValue("JSONString");
    let params = Params::read(req, payload).await.map_err(|_| invalid())?;
    if let Some(json) = params.json.clone() {
        return Ok(json);
    }
    let text = params.get("JSONString").ok_or_else(invalid)?;
    serde_json::from_str(text).map_err(|_| invalid())
}

async fn create_contact(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, InvoiceError> {
    authorize(&req, &shared, "ZohoInvoice.contacts.CREATE", true)?;
    let record = read_record(&req, payload).await?;
    let name = record["contact_name"].as_str().unwrap_or_default().trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(InvoiceError::ContactName);
    }
    let contact_id = NEXT_ID.fetch_add(1, Ordering::Relaxed).to_string();
    Ok(zoho_json(
        StatusCode::CREATED,
        &json!({
            "code": 0,
            "message": "The contact has been added.",
            "contact": {"contact_id": contact_id, "contact_name": name, "contact_type": "customer"},
        }),
    ))
}

async fn create_invoice(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, InvoiceError> {
    authorize(&req, &shared, "ZohoInvoice.invoices.CREATE", true)?;
    let record = read_record(&req, payload).await?;
    let customer_id = record["customer_id"].as_str().unwrap_or_default();
    if customer_id.is_empty() {
        return Err(InvoiceError::InvalidValue("customer_id"));
    }
    let Some(items) = record["line_items"].as_array().filter(|i| !i.is_empty()) else {
        return Err(InvoiceError::InvalidValue("line_items"));
    };
    let total: f64 = items
        .iter()
        .map(|i| i["rate"].as_f64().unwrap_or(0.0) * i["quantity"].as_f64().unwrap_or(1.0))
        .sum();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    Ok(zoho_json(
        StatusCode::CREATED,
        &json!({
            "code": 0,
            "message": "The invoice has been created.",
            "invoice": {
                "invoice_id": id.to_string(),
                "invoice_number": format!("INV-{:06}", id % 1_000_000),
                "customer_id": customer_id,
                "status": "draft",
                "line_items": items,
                "total": total,
            },
        }),
    ))
}

async fn organizations(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, InvoiceError> {
    authorize(&req, &shared, "ZohoInvoice.settings.READ", false)?;
    let org = shared.lock().config.organization_id.clone();
    Ok(zoho_json(
        StatusCode::OK,
        &json!({
            "code": 0,
            "message": "success",
            "organizations": [{"organization_id": org, "name": "Fake Org", "is_default_org": true}],
        }),
    ))
}

/// Invoices on the one page `GET /invoice/v3/invoices` answers.
const LISTED_INVOICES: u64 = 10;

/// A fixed first page of the organization's invoices, in the shape of
/// Zoho's list answer: the same for every call, so a test can compare what
/// a client got through the vault with what the fake holds, and a
/// benchmark can read it at any rate.
async fn list_invoices(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, InvoiceError> {
    authorize(&req, &shared, "ZohoInvoice.invoices.READ", true)?;
    let invoices: Vec<Value> = (1..=LISTED_INVOICES)
        .map(|n| {
            json!({
                "invoice_id": format!("{}", 460_000_000_000_000 + n),
                "invoice_number": format!("INV-{n:06}"),
                "customer_id": "460000000026049",
                "customer_name": "Bowman & Co",
                "status": if n % 3 == 0 { "paid" } else { "sent" },
                "date": "2026-01-15",
                "due_date": "2026-02-14",
                "currency_code": "EUR",
                // Whole amounts: the same number in every JSON reader.
                "total": 100 * n,
                "balance": if n % 3 == 0 { 0 } else { 100 * n },
            })
        })
        .collect();
    Ok(zoho_json(
        StatusCode::OK,
        &json!({
            "code": 0,
            "message": "success",
            "invoices": invoices,
            "page_context": {"page": 1, "per_page": 200, "has_more_page": false},
        }),
    ))
}
