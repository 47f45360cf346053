//! Faults across replicas.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;
use zoho_vault::fake_zoho::ConfigPatch;

use crate::cluster::Cluster;

/// Whether replica `node` holds the refresh lease of `name` now.
async fn holds_lease(url: &str, name: &str, node: &str) -> bool {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM zv_leases WHERE name = $1 \
           AND owner LIKE $2 AND lease_until > now())",
    )
    .bind(name)
    .bind(format!("{node}/%"))
    .fetch_one(&mut conn)
    .await
    .expect("lease row")
}

#[tokio::test]
async fn a_replica_killed_while_it_refreshes_is_taken_over_by_the_others_after_its_lease() {
    let Some(mut c) = Cluster::start(3, &[("ZOHO_VAULT_CLUSTER__LEASE_MS", "1000")]).await else {
        return;
    };
    let set = |c: &Cluster, patch: ConfigPatch| c.fake.update_config(patch).expect("config");
    set(
        &c,
        ConfigPatch {
            access_token_ttl_secs: Some(3000),
            ..Default::default()
        },
    );
    c.connect(0, "acme").await;
    set(
        &c,
        ConfigPatch {
            access_token_ttl_secs: Some(3600),
            latency_ms: Some(3000),
            ..Default::default()
        },
    );
    let (_, svc) = c.service_token(0, &["acme"]).await;

    // Replica 0 starts a refresh that Zoho answers slowly...
    let doomed = reqwest::Client::new()
        .post(c.at(0).url("/v1/connections/acme/token"))
        .bearer_auth(&svc)
        .json(&json!({"min_valid_secs": 3000}))
        .send();
    let doomed = tokio::spawn(doomed);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds_lease(&c.db.url, "acme", "replica-0").await {
        assert!(Instant::now() < deadline, "replica-0 never took the lease");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...and dies holding the lease.
    c.replicas.remove(0).server.kill();
    assert!(
        doomed.await.expect("task").is_err(),
        "the killed replica answered"
    );

    // The others wait out its lease, refresh once, and agree.
    let (first, second) = tokio::join!(
        c.issue(0, "acme", &svc, json!({"min_valid_secs": 3000})),
        c.issue(1, "acme", &svc, json!({"min_valid_secs": 3000})),
    );
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(second.0, 200, "{}", second.1);
    assert_eq!(first.1["access_token"], second.1["access_token"]);
    let refreshes = c.fake.counters().refreshes;
    assert!(
        (1..=2).contains(&refreshes),
        "the dead replica's refresh plus at most one more: {refreshes}"
    );
}

/// A TCP proxy in front of PostgreSQL that the test can cut: it stops
/// listening (connections are refused) and shuts down the connections it
/// carries, which is what a replica sees when the database goes down.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    open: Arc<(Mutex<bool>, Condvar)>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let open = Arc::new((Mutex::new(true), Condvar::new()));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (o, l) = (Arc::clone(&open), Arc::clone(&live));
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            loop {
                let Some(current) = &listener else {
                    // Closed: wait until reopened, then listen again on the
                    // same port.
                    let (lock, reopened) = &*o;
                    let mut is_open = lock.lock().expect("lock");
                    while !*is_open {
                        is_open = reopened.wait(is_open).expect("wait");
                    }
                    listener = Some(TcpListener::bind(addr).expect("listen again"));
                    continue;
                };
                let Ok((client, _)) = current.accept() else {
                    continue;
                };
                if !*o.0.lock().expect("lock") {
                    // The wake-up connection of `cut`: stop listening.
                    listener = None;
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut held = l.lock().expect("lock");
                for s in [&client, &server] {
                    held.push(s.try_clone().expect("clone"));
                }
                let pairs = [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ];
                for (mut from, mut to) in pairs {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { addr, open, live }
    }

    /// The database becomes unreachable.
    pub fn cut(&self) {
        *self.open.0.lock().expect("lock") = false;
        // Wakes the accepting thread, which then closes its listener.
        let _ = TcpStream::connect(self.addr);
        for s in self.live.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The database is back.
    pub fn restore(&self) {
        *self.open.0.lock().expect("lock") = true;
        self.open.1.notify_all();
    }

    /// `replicas` replicas that reach their database only through a proxy
    /// the test can cut; `None` when PostgreSQL tests are skipped.
    pub async fn cluster_behind(replicas: usize) -> Option<(Cluster, Proxy)> {
        let mut proxy = None;
        let cluster = Cluster::start_via(replicas, &[], |url| {
            let mut via = url::Url::parse(url).expect("url");
            let upstream = format!(
                "{}:{}",
                via.host_str().expect("host"),
                via.port().unwrap_or(5432)
            );
            let p = Proxy::start(upstream);
            via.set_port(Some(p.addr.port())).expect("port");
            proxy = Some(p);
            via.to_string()
        })
        .await?;
        Some((cluster, proxy.expect("proxy")))
    }
}

#[tokio::test]
async fn with_postgres_unreachable_token_issue_answers_503_and_resumes_by_itself() {
    let Some((c, proxy)) = Proxy::cluster_behind(1).await else {
        return;
    };
    c.connect(0, "acme").await;
    let (_, svc) = c.service_token(0, &["acme"]).await;
    let mut answered = 0;
    let issue = || c.issue(0, "acme", &svc, json!({}));
    assert_eq!(issue().await.0, 200);
    answered += 1;

    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = issue().await;
        if status == 503 {
            let code = body["error"]["code"].as_str().unwrap_or_default();
            assert!(
                matches!(code, "store_unavailable" | "audit_unavailable"),
                "{body}"
            );
            assert!(body["error"]["hint"].is_string(), "{body}");
            assert!(body.get("access_token").is_none());
            break;
        }
        assert_eq!(status, 200, "{body}");
        answered += 1;
        assert!(
            Instant::now() < deadline,
            "still issuing without a database"
        );
    }
    let (status, health) = c.at(0).get("/v1/sys/health", None).await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["error"]["code"], "store_unavailable", "{health}");
    assert!(
        health["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unreachable")),
        "{health}"
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = issue().await;
        if status == 200 {
            answered += 1;
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "never resumed: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, page) = c
        .at(0)
        .get("/v1/audit?action=token_issued&limit=1000", Some(&c.admin))
        .await;
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().map_or(0, Vec::len);
    assert!(
        events >= answered,
        "{answered} tokens answered, {events} events"
    );
    let (_, report) = c.at(0).get("/v1/audit/verify", Some(&c.admin)).await;
    assert_eq!(report["ok"], true, "{report}");
}
