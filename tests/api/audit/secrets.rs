//! The trail holds no secret: no planted secret appears in an audit event,
//! an export or the server log (nor on disk).

use serde_json::{json, Value};

use super::{access_token, stale};
use crate::helpers::{Planted, TestApp, ZohoApp, PASSPHRASE};

#[tokio::test]
async fn no_planted_secret_reaches_events_exports_or_the_server_log() {
    let z = ZohoApp::spawn();
    z.set_access_token_ttl(3000); // see `vault_with`
    let mut planted = Planted::default();
    planted.add("passphrase", PASSPHRASE);
    planted.add("admin token", &z.app.admin);
    let upload = z.upload_body();
    planted.add(
        "client secret",
        upload["client_secret"].as_str().expect("secret"),
    );
    planted.add("grant code", upload["code"].as_str().expect("code"));
    assert_eq!(z.put_connection("acme", &upload).await.0, 201);
    let rt = z.import("globex").await;
    planted.add("refresh token", &rt);
    z.set_access_token_ttl(3600);
    let (svc_id, svc) = z.app.create_service_token("billing", &["acme"]).await;
    planted.add("service token", &svc);

    // Issue (cached and refreshed), look a token up, be refused, revoke,
    // delete, present a bogus token, fail to unseal.
    for demand in [json!({}), stale()] {
        let (status, answer) = z.issue("acme", &svc, demand).await;
        assert_eq!(status, 200, "{answer}");
        planted.add("access token", access_token(&answer));
        z.app.fingerprint(access_token(&answer)).await;
    }
    assert_eq!(z.issue("globex", &svc, json!({})).await.0, 403);
    let bogus = "zvs_plantedBOGUSAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    planted.add("bogus bearer token", bogus);
    assert_eq!(z.issue("acme", bogus, json!({})).await.0, 401);
    let path = format!("/v1/service-tokens/{svc_id}");
    assert_eq!(z.app.admin_delete(&path).await.0, 200);
    assert_eq!(z.app.admin_delete("/v1/connections/globex").await.0, 200);
    let wrong = "planted wrong passphrase 4c1e";
    planted.add("wrong passphrase", wrong);
    assert_eq!(z.app.admin_post("/v1/sys/seal", json!({})).await.0, 200);
    assert_eq!(z.app.server.unseal(wrong).await, 401);
    assert_eq!(z.app.server.unseal(PASSPHRASE).await, 200);

    let events = z.app.all_events("").await;
    assert!(events.len() >= 15, "{events:#?}");
    planted.assert_absent("an audit event", &Value::from(events).to_string());
    let export = z.app.cli(&["audit", "export"]);
    assert!(export.status.success());
    planted.assert_absent("the export", &String::from_utf8_lossy(&export.stdout));
    planted.assert_absent("the CLI's stderr", &String::from_utf8_lossy(&export.stderr));

    let ZohoApp { app, .. } = z;
    let TestApp { dir, server, .. } = app;
    let log = server.log_text();
    server.stop();
    assert!(log.contains("serving"), "the server log is captured");
    planted.assert_absent("the server log", &log);
    dir.assert_no_plaintext(&planted.secrets());
}
