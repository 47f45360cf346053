//! Unseal back-off is per source address: a guesser is slowed and refused
//! at once (429 with `Retry-After`), and the operator's right passphrase from
//! another address is never held behind it.
//!
//! Clients bind to distinct loopback addresses (127.0.0.2, 127.0.0.3, ...),
//! which Linux routes to the server on 127.0.0.1, so the server sees
//! distinct peers. The back-off is set to an hour: within a test run it
//! never ends, so no outcome depends on timing.

use std::net::{IpAddr, Ipv4Addr};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{error_code, Server, VaultDir, PASSPHRASE};
use crate::support::events;

const WRONG: &str = "not the passphrase at all";

/// A sealed vault whose back-off outlasts any test run.
struct Sealed {
    server: Server,
    admin: String,
    _dir: VaultDir,
}

fn sealed() -> Sealed {
    let dir = VaultDir::new();
    let admin = dir.init(PASSPHRASE);
    let server = Server::start(
        &dir,
        None,
        &[
            ("ZOHO_VAULT_UNSEAL__BASE_DELAY_MS", "3600000"),
            ("ZOHO_VAULT_UNSEAL__MAX_DELAY_MS", "7200000"),
        ],
    );
    Sealed {
        server,
        admin,
        _dir: dir,
    }
}

/// A client whose requests come from 127.0.0.`last`.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .expect("client")
}

struct Attempt {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn unseal_from(server: &Server, client: &reqwest::Client, passphrase: &str) -> Attempt {
    let resp = client
        .post(server.url("/v1/sys/unseal"))
        .json(&json!({ "passphrase": passphrase }))
        .send()
        .await
        .expect("request");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (status, body) = (resp.status().as_u16(), Value::Null);
    let text = resp.text().await.expect("body");
    Attempt {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(body),
    }
}

fn assert_backing_off(a: &Attempt) {
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(error_code(&a.body), "unseal_rate_limited");
    let wait = a.retry_after.expect("Retry-After");
    assert!(wait >= 3_000, "the hour-long back-off is announced: {wait}");
}

#[tokio::test]
async fn a_second_wrong_attempt_from_the_same_address_is_refused_with_retry_after() {
    let vault = sealed();
    let server = &vault.server;
    let guesser = client_from(2);
    assert_eq!(unseal_from(server, &guesser, WRONG).await.status, 401);
    assert_backing_off(&unseal_from(server, &guesser, WRONG).await);
    // Even the right passphrase waits out the address's back-off.
    assert_backing_off(&unseal_from(server, &guesser, PASSPHRASE).await);
    assert_eq!(server.health().await["sealed"], true);
}

#[tokio::test]
async fn one_address_backing_off_does_not_slow_another() {
    let vault = sealed();
    let server = &vault.server;
    assert_eq!(
        unseal_from(server, &client_from(2), WRONG).await.status,
        401
    );
    let other = unseal_from(server, &client_from(3), WRONG).await;
    assert_eq!(other.status, 401, "{}", other.body);
    assert_eq!(error_code(&other.body), "wrong_passphrase");
}

#[tokio::test]
async fn concurrent_guesses_get_429_while_the_right_passphrase_from_another_address_unseals() {
    let vault = sealed();
    let server = &vault.server;
    let guesser = client_from(2);
    // Twenty at once from one address: one is tried, the rest are refused
    // without a key derivation.
    let first = join_all((0..20).map(|_| unseal_from(server, &guesser, WRONG))).await;
    let tried = first.iter().filter(|a| a.status == 401).count();
    assert_eq!(tried, 1, "exactly one guess reaches the passphrase check");
    first.iter().filter(|a| a.status != 401).for_each(|a| {
        assert_eq!(a.status, 429, "{}", a.body);
        assert!(
            a.retry_after.is_some_and(|s| s >= 1),
            "Retry-After on every refusal"
        );
    });

    // More guesses race the operator's attempt from another address.
    let operator = client_from(3);
    let (guesses, right) = tokio::join!(
        join_all((0..20).map(|_| unseal_from(server, &guesser, WRONG))),
        unseal_from(server, &operator, PASSPHRASE),
    );
    assert_eq!(right.status, 200, "{}", right.body);
    assert_eq!(right.body["already_unsealed"], false);
    for guess in &guesses {
        // Refused, or answered "already unsealed" (never checked) once the
        // operator got there first.
        if guess.status == 200 {
            assert_eq!(guess.body["already_unsealed"], true);
        } else {
            assert_backing_off(guess);
        }
    }
    assert_eq!(server.health().await["sealed"], false);
}

#[tokio::test]
async fn refusals_of_a_backing_off_address_are_not_audited_but_its_failure_is() {
    let vault = sealed();
    let server = &vault.server;
    let guesser = client_from(2);
    assert_eq!(unseal_from(server, &guesser, WRONG).await.status, 401);
    for _ in 0..5 {
        assert_eq!(unseal_from(server, &guesser, WRONG).await.status, 429);
    }
    let unsealed = unseal_from(server, &client_from(3), PASSPHRASE).await;
    assert_eq!(unsealed.status, 200, "{}", unsealed.body);
    let trail = events(server, &vault.admin, "action=unseal&order=asc&limit=100").await;
    let from_guesser: Vec<_> = trail
        .iter()
        .filter(|e| e["source"] == "127.0.0.2")
        .map(|e| e["outcome"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(from_guesser, vec!["failure"], "{trail:#?}");
    assert!(trail
        .iter()
        .any(|e| e["source"] == "127.0.0.3" && e["outcome"] == "success"));
}

#[tokio::test]
async fn the_cli_explains_the_back_off_after_a_wrong_passphrase_and_says_when_to_try_again() {
    let vault = sealed();
    let unseal = |passphrase: &str| {
        vault
            ._dir
            .command()
            .env("ZOHO_VAULT_PASSPHRASE", passphrase)
            .args(["unseal", "--addr", &vault.server.base])
            .output()
            .expect("run unseal")
    };
    let wrong = unseal(WRONG);
    assert_eq!(wrong.status.code(), Some(3));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("doubles how long this address must wait"),
        "{err}"
    );

    let waiting = unseal(PASSPHRASE);
    assert_eq!(waiting.status.code(), Some(6));
    let err = String::from_utf8_lossy(&waiting.stderr);
    assert!(err.contains("unseal_rate_limited"), "{err}");
    let hint = err
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_default();
    assert!(
        hint.contains("try again in ") && hint.ends_with(" s"),
        "{err}"
    );
    assert!(!hint.contains("Retry-After"), "{err}");
}
