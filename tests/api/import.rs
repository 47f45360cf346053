//! `zoho-vault connection import-csv`: bulk import of refresh tokens from a
//! script's token table, against the fake Zoho (docs/migration.md).

use std::process::Output;

use serde_json::Value;

use crate::helpers::{Planted, ZohoApp, SCOPES};

fn import(z: &ZohoApp, token: &str, args: &[&str]) -> Output {
    let mut cmd = z.app.dir.command();
    cmd.env("ZOHO_VAULT_ADDR", &z.app.server.base)
        .env("ZOHO_VAULT_TOKEN", token)
        .args(["connection", "import-csv"])
        .args(args);
    cmd.output().expect("run zoho-vault")
}

fn both(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn a_csv_import_reports_every_row_goes_on_past_failures_and_prints_no_secret() {
    let z = ZohoApp::spawn();
    let rt1 = z.fake.mint_refresh_token(&z.client, &SCOPES).expect("rt");
    let rt2 = z.fake.mint_refresh_token(&z.client, &SCOPES).expect("rt");
    let dead = "1000.00000000000000000000000000000000.00000000000000000000000000000000";
    let (id, secret) = (&z.client.client_id, &z.client.client_secret);
    let csv = format!(
        "name,client_id,client_secret,refresh_token,data_center\n\
         tenant-1,{id},{secret},{rt1}\n\
         tenant-2,\"{id}\",\"{secret}\",\"{rt2}\"\n\
         tenant-3,{id},{secret},{dead}\n\
         bad name!,{id},{secret},{rt1}\n\
         tenant-1,{id},{secret},{rt1}\n\
         tenant-5,{id},{secret},{rt1},mars\n\
         tenant-6,{id},{secret}\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("zoho_tokens.csv");
    std::fs::write(&file, csv).expect("write");
    let fake_url = z.fake.base_url();
    let out = import(
        &z,
        &z.app.admin,
        &[file.to_str().expect("utf-8"), "--accounts-url", &fake_url],
    );
    let all = both(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = |n: u32| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("line {n} ")))
            .unwrap_or_else(|| panic!("no report for line {n}: {all}"))
            .to_string()
    };
    assert!(
        line(2).starts_with("ok") && line(2).contains("tenant-1"),
        "{all}"
    );
    assert!(
        line(3).starts_with("ok") && line(3).contains("tenant-2"),
        "{all}"
    );
    assert!(
        line(4).starts_with("failed") && line(4).contains("HTTP 422"),
        "{all}"
    );
    assert!(line(5).contains("invalid connection name"), "{all}");
    assert!(line(6).contains("already used on line 2"), "{all}");
    assert!(line(7).contains("unknown data center"), "{all}");
    assert!(line(8).contains("expected 4 or 5 fields"), "{all}");
    assert!(
        stdout.contains("imported 2 of 7 rows (5 failed, 0 skipped)"),
        "{all}"
    );
    assert!(all.contains("5 of 7 rows were not imported"), "{all}");
    let mut planted = Planted::default();
    planted.add("client secret", secret);
    planted.add("refresh token", &rt1);
    planted.add("second refresh token", &rt2);
    planted.add("dead refresh token", dead);
    planted.assert_absent("import output", &all);

    let (status, list) = z.app.admin_get("/v1/connections").await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["tenant-1", "tenant-2"]);
    let service = z.service_token(&["tenant-1", "tenant-2"]).await;
    for name in ["tenant-1", "tenant-2"] {
        let (status, body) = z.issue(name, &service, serde_json::json!({})).await;
        assert_eq!(status, 200, "{name}: {body}");
    }

    // --json, every row good: exit 0 and one document.
    let rt3 = z.fake.mint_refresh_token(&z.client, &SCOPES).expect("rt");
    std::fs::write(&file, format!("tenant-7,{id},{secret},{rt3}\n")).expect("write");
    let out = import(
        &z,
        &z.app.admin,
        &[
            file.to_str().expect("utf-8"),
            "--accounts-url",
            &fake_url,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", both(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["imported"], 1, "{doc}");
    assert_eq!(doc["rows"][0]["result"], "imported", "{doc}");
    assert_eq!(doc["rows"][0]["line"], 1, "{doc}");
    planted.add("third refresh token", &rt3);
    planted.assert_absent("json output", &both(&out));

    // A name the vault already has: that row fails with the vault's 409.
    let out = import(
        &z,
        &z.app.admin,
        &[file.to_str().expect("utf-8"), "--accounts-url", &fake_url],
    );
    let all = both(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("HTTP 409, connection_exists"), "{all}");
    planted.assert_absent("output", &all);

    // A refused token fails every row: the run stops, exit 3.
    let rt4 = z.fake.mint_refresh_token(&z.client, &SCOPES).expect("rt");
    std::fs::write(
        &file,
        format!("a,{id},{secret},{rt4}\nb,{id},{secret},{rt4}\nc,{id},{secret},{rt4}\n"),
    )
    .expect("write");
    let bogus = "zva_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let out = import(
        &z,
        bogus,
        &[
            file.to_str().expect("utf-8"),
            "--accounts-url",
            &fake_url,
            "--jobs",
            "1",
        ],
    );
    let all = both(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("the import stopped"), "{all}");
    assert!(all.contains("skipped"), "{all}");
}
