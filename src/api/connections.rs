//! `/v1/connections`: upload, list, show, delete, token issue, and the
//! start of the browser redirect flow (`authorize`).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ErrorBody;
use super::extract::{Admin, Caller, ConnectionName, Ctx};
use super::{optional_json, resource, ApiError};
use crate::connections::rfc3339;
use crate::connections::upload::UploadRequest;
use crate::model::connection::ConnectionView;
use crate::service::VaultService;

/// The routes of this resource.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // The token route first: the router tries resources in order and
    // matches each one with a path pattern (a regex per dynamic route), so
    // the hottest route pays for one match, not three.
    cfg.service(resource("/connections/{name}/token").route(web::post().to(issue)))
        .service(resource("/connections").route(web::get().to(list)))
        .service(
            resource("/connections/{name}")
                .route(web::put().to(upload))
                .route(web::get().to(show))
                .route(web::delete().to(delete)),
        )
        .service(resource("/connections/{name}/authorize").route(web::post().to(authorize)));
}

/// `authorize` takes no parameters; an empty body or `{}`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {}

#[derive(Serialize, ToSchema)]
struct AuthorizeAnswer<'a> {
    /// Zoho's authorization page, to open in a browser; carries the
    /// single-use `state`.
    url: &'a str,
    /// The link works until then (`oauth.state_ttl_secs`).
    #[schema(format = DateTime)]
    state_expires_at: String,
}

/// Start the browser flow
///
/// Makes a new authorization link for a connection with a `redirect_uri`
/// (a server-based client). Works in every health state, so it also
/// revives a browser-flow connection that needs re-authorization. Older
/// unused links stay valid until they expire.
#[utoipa::path(
    post,
    path = "/v1/connections/{name}/authorize",
    tag = "connections",
    operation_id = "authorize_connection",
    params(ConnectionName),
    request_body(content = Option<AuthorizeBody>, description = "Empty, or `{}`"),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The link to open; `Cache-Control: no-store`", body = AuthorizeAnswer<'_>,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request` (the connection has no scopes) or `invalid_name`", body = ErrorBody<'_>),
        (status = 404, description = "`not_found`: no such connection", body = ErrorBody<'_>),
        (status = 409, description = "`redirect_uri_missing`: a self-client connection cannot use the browser flow", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(connection = %name))]
async fn authorize(
    service: web::Data<VaultService>,
    admin: Admin,
    name: ConnectionName,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let _: Option<AuthorizeBody> = optional_json(&body)?;
    let auth = service.authorize_connection(&admin.0, &name).await?;
    tracing::info!("authorization link made");
    // The URL carries the state, the callback's only credential.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AuthorizeAnswer {
            url: auth.url.as_str(),
            state_expires_at: rfc3339(auth.state_expires_at),
        }))
}

/// Create a connection
///
/// Uploads a `self_client.json` (the code is exchanged at once), imports a
/// refresh token (validated with one refresh), or registers a server-based
/// client for the browser flow (no request to Zoho). Over an existing
/// connection in `needs_reauth`, a code or refresh token replaces its
/// credentials in place (200: same name, grants and history; receivers get
/// `connection.recovered`); only after Zoho accepts them is anything
/// written. Any other existing connection is refused (409).
#[utoipa::path(
    put,
    path = "/v1/connections/{name}",
    tag = "connections",
    operation_id = "create_connection",
    params(ConnectionName),
    request_body = UploadRequest,
    security(("admin" = [])),
    responses(
        (status = 200, description = "Replaced the credentials of a `needs_reauth` connection; metadata and health, never a secret", body = ConnectionView),
        (status = 201, description = "Created; metadata and health, never a secret", body = ConnectionView),
        (status = 400, description = "`invalid_request`, `invalid_body`, `invalid_name` or `custom_accounts_url_disabled`", body = ErrorBody<'_>),
        (status = 409, description = "`connection_exists`: the name is taken by a connection that is not `needs_reauth` (or a browser-flow upload over one)", body = ErrorBody<'_>),
        (status = 422, description = "Zoho refused: `code_expired` (refused before asking Zoho), `code_invalid`, `refresh_token_invalid`, `invalid_client`, `invalid_client_secret`, `invalid_redirect_uri`, `upstream_rejected` (an error Zoho does not document)", body = ErrorBody<'_>),
        (status = 429, description = "`upstream_throttled` (Zoho throttles; `Retry-After`), `rate_limited` (this token)", body = ErrorBody<'_>,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "`upstream_unavailable` or `upstream_error`: Zoho failed after retries, or gave an answer the vault cannot use (an HTML page, `{}`, a token with no usable lifetime)", body = ErrorBody<'_>),
        (status = 504, description = "`upstream_timeout`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(connection = %name))]
async fn upload(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    name: ConnectionName,
    body: web::Json<UploadRequest>,
) -> Result<HttpResponse, ApiError> {
    let uploaded = service
        .create_connection(&admin.0, &name, body.into_inner(), &ctx.0)
        .await?;
    let view = uploaded.view;
    if uploaded.replaced {
        tracing::info!(source = ?view.source, "connection re-authorized in place");
        return Ok(HttpResponse::Ok().json(worded(view)));
    }
    tracing::info!(source = ?view.source, "connection created");
    Ok(HttpResponse::Created().json(worded(view)))
}

#[derive(Serialize, ToSchema)]
struct ConnectionList {
    /// Every connection, by name.
    connections: Vec<ConnectionView>,
}

/// List connections
///
/// Metadata and health of every connection, never a secret.
#[utoipa::path(
    get,
    path = "/v1/connections",
    tag = "connections",
    operation_id = "list_connections",
    security(("admin" = [])),
    responses((status = 200, description = "Every connection", body = ConnectionList))
)]
#[tracing::instrument(skip_all)]
async fn list(service: web::Data<VaultService>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let connections = service.connections().await?;
    let connections = connections.into_iter().map(worded).collect();
    Ok(HttpResponse::Ok().json(ConnectionList { connections }))
}

/// Show a connection
///
/// Metadata and health (state, last success, last error, the fix), the
/// cached token's timing and the refresh budget; never a secret.
#[utoipa::path(
    get,
    path = "/v1/connections/{name}",
    tag = "connections",
    operation_id = "show_connection",
    params(ConnectionName),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The connection", body = ConnectionView),
        (status = 400, description = "`invalid_name`", body = ErrorBody<'_>),
        (status = 404, description = "`not_found`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(connection = %name))]
async fn show(
    service: web::Data<VaultService>,
    _admin: Admin,
    name: ConnectionName,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(worded(service.connection(&name).await?)))
}

/// The health's fix in HTTP words (`health.fix`) next to the fix as data
/// (`health.action`). A record written by an earlier release has only its
/// own text, which is kept.
fn worded(mut view: ConnectionView) -> ConnectionView {
    if let Some(action) = &view.health.action {
        view.health.fix = Some(super::error::http_words(action));
    }
    view
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    /// `false` forgets the connection without revoking its refresh token
    /// at Zoho (default `true`).
    revoke: Option<bool>,
}

#[derive(Serialize, ToSchema)]
struct DeleteAnswer<'a> {
    /// The name of the deleted connection.
    deleted: &'a str,
    /// Whether Zoho confirmed the refresh token's revocation.
    revoked_upstream: bool,
}

/// Delete a connection
///
/// Revokes the refresh token at Zoho (unless `revoke=false`), then forgets
/// the connection and its cached token.
#[utoipa::path(
    delete,
    path = "/v1/connections/{name}",
    tag = "connections",
    operation_id = "delete_connection",
    params(ConnectionName, DeleteQuery),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Deleted", body = DeleteAnswer<'_>),
        (status = 400, description = "`invalid_name` or `invalid_query`", body = ErrorBody<'_>),
        (status = 404, description = "`not_found`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(connection = %name))]
async fn delete(
    service: web::Data<VaultService>,
    admin: Admin,
    ctx: Ctx,
    name: ConnectionName,
    query: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let revoke = query.revoke.unwrap_or(true);
    let revoked = service
        .delete_connection(&admin.0, &name, revoke, &ctx.0)
        .await?;
    tracing::info!(revoked, "connection deleted");
    Ok(HttpResponse::Ok().json(DeleteAnswer {
        deleted: name.as_str(),
        revoked_upstream: revoked,
    }))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    /// The token must stay valid at least this long (default
    /// `broker.default_min_valid_secs`, at most `broker.max_min_valid_secs`).
    min_valid_secs: Option<u64>,
}

#[derive(Serialize, ToSchema)]
struct TokenAnswer<'a> {
    /// The access token, for `Authorization: Zoho-oauthtoken ...`.
    access_token: &'a str,
    /// Always `Zoho-oauthtoken`.
    #[schema(example = "Zoho-oauthtoken")]
    token_type: &'static str,
    /// The API host to call with it.
    api_domain: &'a str,
    /// When the vault stops handing it out (Zoho's expiry minus a margin,
    /// counted from when the refresh was sent).
    #[schema(format = DateTime)]
    expires_at: String,
    /// Seconds until `expires_at`.
    expires_in: i64,
}

/// Issue an access token
///
/// The connection's shared, cached access token, refreshed first (once,
/// however many callers ask at the same moment) when it would not stay
/// valid for `min_valid_secs`. Handed out only after its audit event is
/// durable.
#[utoipa::path(
    post,
    path = "/v1/connections/{name}/token",
    tag = "connections",
    operation_id = "issue_token",
    params(ConnectionName),
    request_body(content = Option<IssueBody>, description = "Optional; empty means the defaults"),
    security(("service" = []), ("admin" = [])),
    responses(
        (status = 200, description = "The token; `Cache-Control: no-store`", body = TokenAnswer<'_>,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_body` or `invalid_name`", body = ErrorBody<'_>),
        (status = 403, description = "`forbidden`: the service token was not granted this connection", body = ErrorBody<'_>),
        (status = 404, description = "`not_found`", body = ErrorBody<'_>),
        (status = 409, description = "`needs_reauth` or `pending_authorization`; `hint` says how to fix it", body = ErrorBody<'_>),
        (status = 429, description = "`refresh_budget_exhausted`, `upstream_throttled` or `rate_limited`", body = ErrorBody<'_>,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "`upstream_unavailable`: no valid cached token, and Zoho failed or gave an answer the vault cannot use (the connection is `degraded`; never an expired token)", body = ErrorBody<'_>),
        (status = 504, description = "`upstream_timeout`", body = ErrorBody<'_>),
    )
)]
#[tracing::instrument(skip_all, fields(connection = %name, actor = %caller.0.actor()))]
async fn issue(
    service: web::Data<VaultService>,
    caller: Caller,
    ctx: Ctx,
    name: ConnectionName,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: IssueBody = optional_json(&body)?.unwrap_or_default();
    // A 403 decided in the service (connection not granted) is audited by
    // the guard middleware, like every refusal past the extractors.
    let issued = service
        .issue_token(&caller.0, &name, body.min_valid_secs, &ctx.0)
        .await?;
    tracing::debug!(refreshed = issued.refreshed, "token issued");
    let expires_in = (issued.expires_at - crate::clock::now())
        .whole_seconds()
        .max(0);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenAnswer {
            access_token: issued.access_token.expose_secret(),
            token_type: "Zoho-oauthtoken",
            api_domain: &issued.api_domain,
            expires_at: rfc3339(issued.expires_at),
            expires_in,
        }))
}
