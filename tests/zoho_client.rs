//! Transport tests of `zoho_vault::zoho::ZohoClient` against a tiny local
//! actix-web server that answers canned Zoho-shaped bodies. This fixture only
//! exercises the client's HTTP paths; the real fake Zoho lives elsewhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use url::Url;
use zoho_vault::zoho::{ClientCredentials, ZohoClient, ZohoClientConfig, ZohoError};

const SECRET: &str = "client-secret-0123456789";
const SUCCESS: &str = r#"{"access_token":"1000.aaaa.bbbb","refresh_token":"1000.cccc.dddd","api_domain":"https://www.zohoapis.com","token_type":"Bearer","expires_in":3600}"#;
const THROTTLE: &str = r#"{"error_description":"You have made too many requests continuously. Please try again after some time.","error":"Access Denied","status":"failure"}"#;

/// One canned answer: status, body, and how long to wait before answering.
struct Canned(u16, &'static str, Duration);

fn now(status: u16, body: &'static str) -> Canned {
    Canned(status, body, Duration::ZERO)
}

/// What the fixture saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: String,
    content_type: String,
    user_agent: String,
    form: Vec<(String, String)>,
    /// When the request reached the fixture.
    arrived: OffsetDateTime,
}

impl Seen {
    fn field(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

type Responder = Box<dyn Fn(usize) -> Canned + Send + Sync>;

struct Fixture {
    hits: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    respond: Responder,
}

struct TestServer {
    url: Url,
    fixture: web::Data<Fixture>,
    handle: ServerHandle,
}

impl TestServer {
    fn hits(&self) -> usize {
        self.fixture.hits.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.fixture.seen.lock().expect("lock").clone()
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, fx: web::Data<Fixture>) -> HttpResponse {
    let arrived = OffsetDateTime::now_utc();
    let n = fx.hits.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let seen = Seen {
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        content_type: header("content-type"),
        user_agent: header("user-agent"),
        form: url::form_urlencoded::parse(&body).into_owned().collect(),
        arrived,
    };
    fx.seen.lock().expect("lock").push(seen);
    let Canned(status, body, delay) = (fx.respond)(n);
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    let mut answer = HttpResponse::build(StatusCode::from_u16(status).expect("status"));
    if status == 302 {
        answer.insert_header(("location", "/elsewhere"));
    }
    answer
        .content_type("application/json;charset=UTF-8")
        .body(body)
}

/// Starts the fixture on 127.0.0.1:0; `respond(n)` answers the n-th request (0-based).
fn spawn(respond: impl Fn(usize) -> Canned + Send + Sync + 'static) -> TestServer {
    let fixture = web::Data::new(Fixture {
        hits: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
        respond: Box::new(respond),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let data = fixture.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(handle))
    })
    .listen(listener)
    .expect("listen")
    .workers(1)
    .disable_signals()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let url = Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    TestServer {
        url,
        fixture,
        handle,
    }
}

/// A client whose timeout is long enough that only the timeout tests,
/// which pass their own, ever hit it on a loaded machine.
fn client(max_attempts: u32) -> ZohoClient {
    client_with_timeout(max_attempts, Duration::from_secs(10))
}

fn client_with_timeout(max_attempts: u32, timeout: Duration) -> ZohoClient {
    ZohoClient::new(ZohoClientConfig {
        timeout,
        connect_timeout: Duration::from_millis(300),
        max_attempts,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        expiry_margin: Duration::from_secs(60),
    })
    .expect("client")
}

fn creds() -> ClientCredentials {
    ClientCredentials {
        client_id: "1000.TESTCLIENT".into(),
        client_secret: SecretString::from(SECRET),
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

#[actix_web::test]
async fn self_client_exchange_sends_a_form_without_redirect_uri() {
    let server = spawn(|_| now(200, SUCCESS));
    let grant = client(3)
        .exchange_code(&server.url, &creds(), &secret("1000.code.one"), None)
        .await
        .expect("grant");
    assert_eq!(grant.access_token.expose_secret(), "1000.aaaa.bbbb");
    assert!(grant.refresh_token.is_some());
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.path, "/oauth/v2/token");
    assert_eq!(req.query, "", "nothing travels in the query string");
    assert_eq!(req.content_type, "application/x-www-form-urlencoded");
    assert!(
        req.user_agent.starts_with("zoho-vault/"),
        "{}",
        req.user_agent
    );
    assert_eq!(req.field("grant_type"), Some("authorization_code"));
    assert_eq!(req.field("client_id"), Some("1000.TESTCLIENT"));
    assert_eq!(req.field("client_secret"), Some(SECRET));
    assert_eq!(req.field("code"), Some("1000.code.one"));
    assert_eq!(req.field("redirect_uri"), None);
    server.stop().await;
}

#[actix_web::test]
async fn redirect_flow_exchange_sends_redirect_uri() {
    let server = spawn(|_| now(200, SUCCESS));
    let uri = "https://vault.example/v1/oauth/callback";
    client(3)
        .exchange_code(&server.url, &creds(), &secret("1000.code.two"), Some(uri))
        .await
        .expect("grant");
    assert_eq!(server.seen()[0].field("redirect_uri"), Some(uri));
    server.stop().await;
}

#[actix_web::test]
async fn refresh_expiry_counts_from_send_time_minus_margin() {
    // A slow answer: the expiry must count from before the request left,
    // not from when the answer came back. Decided by the order of instants
    // (sent <= arrived at Zoho < answered), not by how long anything took.
    let server = spawn(|_| {
        Canned(
            200,
            r#"{"access_token":"1000.x.y","expires_in":3600}"#,
            Duration::from_millis(50),
        )
    });
    let before = OffsetDateTime::now_utc();
    let grant = client_with_timeout(1, Duration::from_secs(30))
        .refresh(&server.url, &creds(), &secret("1000.refresh.tok"))
        .await
        .expect("grant");
    let req = &server.seen()[0];
    let counted_from = grant.expires_at - time::Duration::seconds(3600 - 60);
    assert!(counted_from >= before, "{counted_from} < {before}");
    assert!(
        counted_from <= req.arrived,
        "the expiry counts from {counted_from}, after the request reached Zoho at {}",
        req.arrived
    );
    assert!(grant.refresh_token.is_none());
    assert_eq!(req.field("grant_type"), Some("refresh_token"));
    assert_eq!(req.field("refresh_token"), Some("1000.refresh.tok"));
    server.stop().await;
}

#[actix_web::test]
async fn zoho_error_answers_are_never_retried() {
    let cases: [(u16, &'static str, ZohoError); 5] = [
        (200, r#"{"error":"invalid_code"}"#, ZohoError::InvalidCode),
        (
            200,
            r#"{"error":"invalid_client"}"#,
            ZohoError::InvalidClient,
        ),
        (400, r#"{"error":"invalid_grant"}"#, ZohoError::InvalidCode),
        (
            200,
            THROTTLE,
            ZohoError::Throttled {
                description: String::new(),
            },
        ),
        (
            400,
            THROTTLE,
            ZohoError::Throttled {
                description: String::new(),
            },
        ),
    ];
    for (status, body, expected) in cases {
        let server = spawn(move |_| now(status, body));
        let err = client(3)
            .refresh(&server.url, &creds(), &secret("1000.refresh.tok"))
            .await
            .expect_err("error");
        assert_eq!(
            std::mem::discriminant(&err),
            std::mem::discriminant(&expected),
            "{err:?}"
        );
        assert_eq!(server.hits(), 1, "{body} must not be retried");
        assert!(!err.to_string().contains(SECRET));
        server.stop().await;
    }
}

#[actix_web::test]
async fn server_errors_are_retried_then_surfaced() {
    let server = spawn(|_| now(500, "<html>Internal error</html>"));
    let err = client(3)
        .refresh(&server.url, &creds(), &secret("1000.refresh.tok"))
        .await
        .expect_err("error");
    assert_eq!(err, ZohoError::UpstreamStatus { status: 500 });
    assert_eq!(server.hits(), 3);
    server.stop().await;
}

#[actix_web::test]
async fn a_transient_failure_then_success_recovers() {
    let server = spawn(|n| {
        if n == 0 {
            now(503, "")
        } else {
            now(200, SUCCESS)
        }
    });
    let grant = client(3)
        .refresh(&server.url, &creds(), &secret("1000.refresh.tok"))
        .await
        .expect("grant");
    assert_eq!(grant.access_token.expose_secret(), "1000.aaaa.bbbb");
    assert_eq!(server.hits(), 2);
    server.stop().await;
}

#[actix_web::test]
async fn timeouts_are_retried_then_surfaced() {
    let server = spawn(|_| Canned(200, SUCCESS, Duration::from_secs(2)));
    let err = client_with_timeout(2, Duration::from_millis(300))
        .refresh(&server.url, &creds(), &secret("1000.refresh.tok"))
        .await
        .expect_err("timeout");
    assert_eq!(err, ZohoError::Timeout);
    assert_eq!(server.hits(), 2);
    server.stop().await;
}

#[actix_web::test]
async fn redirects_are_not_followed() {
    let server = spawn(|_| now(302, ""));
    let err = client(3)
        .exchange_code(&server.url, &creds(), &secret("1000.code.x"), None)
        .await
        .expect_err("redirect");
    assert_eq!(err, ZohoError::UpstreamStatus { status: 302 });
    assert_eq!(server.hits(), 1);
    server.stop().await;
}

#[actix_web::test]
async fn network_errors_are_retried_and_carry_no_secret() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let err = client(2)
        .refresh(&url, &creds(), &secret("1000.refresh.tok"))
        .await
        .expect_err("refused");
    assert!(
        matches!(err, ZohoError::Network(_) | ZohoError::Timeout),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(SECRET) && !text.contains("1000.refresh.tok"),
        "{text}"
    );
}

#[actix_web::test]
async fn revoke_success_and_rejection() {
    let server = spawn(|n| {
        if n == 0 {
            now(200, r#"{"status":"success"}"#)
        } else {
            now(400, "")
        }
    });
    let client = client(3);
    client
        .revoke(&server.url, &secret("1000.refresh.tok"))
        .await
        .expect("revoked");
    let err = client
        .revoke(&server.url, &secret("1000.refresh.tok"))
        .await
        .expect_err("400");
    assert_eq!(err, ZohoError::RevokeRejected);
    assert_eq!(server.hits(), 2, "a 400 on revoke is not retried");
    let seen = server.seen();
    assert_eq!(seen[0].path, "/oauth/v2/token/revoke");
    assert_eq!(
        seen[0].form,
        vec![("token".to_string(), "1000.refresh.tok".to_string())]
    );
    server.stop().await;
}
