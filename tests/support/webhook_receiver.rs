//! A webhook receiver for the tests: a small HTTP server on loopback that
//! records every request and answers from a script (or hangs).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Got {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

#[derive(Default)]
struct Shared {
    got: Vec<Got>,
    /// Statuses to answer, in order; 200 once empty.
    script: VecDeque<u16>,
    /// Never answer (a hanging receiver).
    hang: bool,
}

/// A webhook receiver on loopback.
pub struct Receiver {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl Receiver {
    pub fn start(script: &[u16]) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            script: script.iter().copied().collect(),
            ..Shared::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let state = Arc::clone(&shared);
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::from(Arc::clone(&state)))
                        .default_service(web::to(receive))
                })
                .workers(1)
                .listen(listener)
                .expect("listen")
                .run()
                .await
                .expect("receiver");
            });
        });
        Receiver { url, shared }
    }

    pub fn hang(&self) {
        self.shared.lock().expect("receiver state").hang = true;
    }

    pub fn got(&self) -> Vec<Got> {
        self.shared.lock().expect("receiver state").got.clone()
    }

    /// Waits until `enough` holds for what arrived; fails after a minute.
    pub async fn wait_for(&self, what: &str, enough: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.got();
            if enough(&got) {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the receiver never got {what}; it got {:?}",
                got.iter()
                    .map(|g| String::from_utf8_lossy(&g.body).to_string())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_for_type(&self, kind: &str) -> Got {
        let got = self
            .wait_for(kind, |g| g.iter().any(|g| g.json()["type"] == kind))
            .await;
        got.into_iter()
            .find(|g| g.json()["type"] == kind)
            .expect("test value")
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Mutex<Shared>>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (status, hang) = {
        let mut s = shared.lock().expect("receiver state");
        s.got.push(Got {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp").parse().unwrap_or(-1),
            signature: header("webhook-signature"),
            body: body.to_vec(),
        });
        (s.script.pop_front().unwrap_or(200), s.hang)
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("test value")).finish()
}
