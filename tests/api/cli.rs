//! The `zoho-vault` client commands against a real vault and the fake Zoho:
//! output for people and for scripts, and the exit codes scripts branch on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::{bin, ZohoApp, PASSPHRASE, SCOPES};

/// Runs `zoho-vault args` against `z`'s vault with `token` (if any) in
/// `ZOHO_VAULT_TOKEN`, from a directory holding the test's files.
fn cli(z: &ZohoApp, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = z.app.dir.command();
    cmd.env("ZOHO_VAULT_ADDR", &z.app.server.base);
    if let Some(t) = token {
        cmd.env("ZOHO_VAULT_TOKEN", t);
    }
    cmd.args(args).output().expect("run zoho-vault")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Asserts success and answers stdout.
#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Asserts the exit code and a readable error (the API's words, no Rust
/// `Debug` dump), and answers stderr.
#[track_caller]
fn fails(out: &Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        stdout(out)
    );
    assert!(err.starts_with("error: "), "{err}");
    for dump in ["Caused by", "Api {", "Error {", "backtrace", "panicked"] {
        assert!(!err.contains(dump), "debug output in: {err}");
    }
    err
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("--json prints JSON")
}

/// Writes the self_client.json Zoho's console would hand out, as is.
fn write_self_client(z: &ZohoApp, dir: &Path, ttl_secs: i64) -> PathBuf {
    let file = z
        .fake
        .self_client_json(&z.client, &SCOPES, ttl_secs)
        .expect("code");
    let path = dir.join(format!("self_client_{ttl_secs}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&file).expect("json")).expect("write");
    path
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn connection_add_list_show_token_and_delete_through_the_cli() {
    let z = ZohoApp::spawn();
    let admin = Some(z.app.admin.as_str());
    let work = tempfile::tempdir().expect("tempdir");
    let file = write_self_client(&z, work.path(), 180);
    let fake = z.fake.base_url();

    let added = ok(&cli(
        &z,
        admin,
        &[
            "connection",
            "add",
            "acme",
            path_str(&file),
            "--accounts-url",
            &fake,
        ],
    ));
    assert!(added.contains("created connection `acme`"), "{added}");
    assert!(added.contains("active"), "{added}");

    // Table for people: a header, then one aligned row.
    let table = ok(&cli(&z, admin, &["connection", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("acme ") && lines[1].contains("active"),
        "{table}"
    );
    assert_eq!(
        lines[0].find("STATE"),
        lines[1].find("active"),
        "aligned: {table}"
    );
    // JSON for scripts: the API's answer as is.
    let list = json(&cli(&z, admin, &["connection", "list", "--json"]));
    assert_eq!(list["connections"][0]["name"], "acme");
    assert_eq!(list["connections"][0]["accounts_url"], fake.as_str());

    let shown = ok(&cli(&z, admin, &["connection", "show", "acme"]));
    assert!(
        shown.contains("state") && shown.contains("active"),
        "{shown}"
    );
    assert!(shown.contains(&z.client.client_id), "{shown}");
    assert!(!shown.contains(&z.client.client_secret), "{shown}");
    let view = json(&cli(&z, admin, &["connection", "show", "acme", "--json"]));
    assert_eq!(view["name"], "acme");
    assert_eq!(view["health"]["state"], "active");

    // `token` prints the access token alone on one line.
    let out = ok(&cli(&z, admin, &["token", "acme", "--min-valid", "60"]));
    assert_eq!(out.lines().count(), 1, "{out:?}");
    assert!(out.ends_with('\n'));
    assert!(z.fake.is_access_token_live(out.trim()), "{out:?}");
    let issued = json(&cli(&z, admin, &["token", "acme", "--json"]));
    assert_eq!(issued["access_token"], out.trim());
    assert_eq!(issued["token_type"], "Zoho-oauthtoken");

    // Import a refresh token from files (no secret on the command line).
    let rt = z.fake.mint_refresh_token(&z.client, &SCOPES).expect("rt");
    let rt_file = work.path().join("rt.txt");
    let secret_file = work.path().join("secret.txt");
    std::fs::write(&rt_file, format!("{rt}\n")).expect("write");
    std::fs::write(&secret_file, format!("{}\n", z.client.client_secret)).expect("write");
    let imported = json(&cli(
        &z,
        admin,
        &[
            "connection",
            "add",
            "globex",
            "--refresh-token-file",
            path_str(&rt_file),
            "--client-id",
            &z.client.client_id,
            "--client-secret-file",
            path_str(&secret_file),
            "--scope",
            &SCOPES.join(","),
            "--accounts-url",
            &fake,
            "--json",
        ],
    ));
    assert_eq!(imported["source"], "refresh_token");
    assert_eq!(imported["scopes"].as_array().map(Vec::len), Some(2));

    // Delete: revoked at Zoho by default, kept alive with --no-revoke.
    let out = ok(&cli(&z, admin, &["connection", "delete", "acme"]));
    assert!(out.contains("revoked at Zoho"), "{out}");
    let out = ok(&cli(
        &z,
        admin,
        &["connection", "delete", "globex", "--no-revoke"],
    ));
    assert!(out.contains("left alive"), "{out}");
    assert!(z.fake.is_refresh_token_live(&rt));
    let list = json(&cli(&z, admin, &["connection", "list", "--json"]));
    assert_eq!(list["connections"], serde_json::json!([]));
    let err = fails(&cli(&z, admin, &["connection", "show", "acme"]), 4);
    assert!(err.contains("HTTP 404"), "{err}");
}

#[test]
fn service_tokens_are_created_listed_used_and_revoked_through_the_cli() {
    let z = ZohoApp::spawn();
    let admin = Some(z.app.admin.as_str());
    let work = tempfile::tempdir().expect("tempdir");
    let file = write_self_client(&z, work.path(), 180);
    let fake = z.fake.base_url();
    ok(&cli(
        &z,
        admin,
        &[
            "connection",
            "add",
            "acme",
            path_str(&file),
            "--accounts-url",
            &fake,
        ],
    ));

    // `create` prints the token alone on stdout; what it grants on stderr.
    let out = cli(
        &z,
        admin,
        &[
            "service-token",
            "create",
            "--name",
            "billing",
            "--connection",
            "acme",
            "--ttl",
            "3600",
        ],
    );
    let token = ok(&out).trim().to_string();
    assert!(token.starts_with("zvs_") && !token.contains(' '), "{token}");
    assert!(stderr(&out).contains("shown only once"), "{}", stderr(&out));
    let created = json(&cli(
        &z,
        admin,
        &[
            "service-token",
            "create",
            "--name",
            "reports",
            "--connection",
            "acme,globex",
            "--json",
        ],
    ));
    assert!(created["token"]
        .as_str()
        .is_some_and(|t| t.starts_with("zvs_")));
    assert_eq!(
        created["connections"],
        serde_json::json!(["acme", "globex"])
    );

    let table = ok(&cli(&z, admin, &["service-token", "list"]));
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains("billing") && table.contains("reports"),
        "{table}"
    );
    assert!(!table.contains("zvs_"), "{table}");
    let list = json(&cli(&z, admin, &["service-token", "list", "--json"]));
    let billing = list["service_tokens"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "billing"))
        .expect("billing listed")
        .clone();
    let id = billing["id"].as_str().expect("id");
    assert!(billing["expires_at"].is_string());

    // The service token gets the access token; the admin token gets the same one.
    let access = ok(&cli(&z, Some(&token), &["token", "acme"]));
    assert_eq!(access.lines().count(), 1);
    assert_eq!(ok(&cli(&z, admin, &["token", "acme"])), access);

    // Auth failures: not granted, not admin, bad token, no token.
    let err = fails(&cli(&z, Some(&token), &["token", "globex"]), 3);
    assert!(err.contains("HTTP 403"), "{err}");
    fails(&cli(&z, Some(&token), &["connection", "list"]), 3);
    let err = fails(
        &cli(&z, Some("zva_not-a-real-token"), &["connection", "list"]),
        3,
    );
    assert!(err.contains("HTTP 401"), "{err}");
    let err = fails(&cli(&z, None, &["connection", "list"]), 3);
    assert!(err.contains("ZOHO_VAULT_TOKEN"), "{err}");

    // Revoke: the token stops working; a second revoke is not found.
    let out = ok(&cli(&z, admin, &["service-token", "revoke", id]));
    assert!(out.contains(id), "{out}");
    fails(&cli(&z, Some(&token), &["token", "acme"]), 3);
    fails(&cli(&z, admin, &["service-token", "revoke", id]), 4);
}

#[test]
fn exit_codes_tell_conflict_refusal_sealed_unreachable_and_usage_apart() {
    let z = ZohoApp::spawn();
    let admin = Some(z.app.admin.as_str());
    let work = tempfile::tempdir().expect("tempdir");
    let fake = z.fake.base_url();
    let file = write_self_client(&z, work.path(), 180);
    let add = |file: &Path, name: &str| {
        cli(
            &z,
            admin,
            &[
                "connection",
                "add",
                name,
                path_str(file),
                "--accounts-url",
                &fake,
            ],
        )
    };
    ok(&add(&file, "acme"));

    // 409: the name is taken. The API's message and hint are printed.
    let again = write_self_client(&z, work.path(), 170);
    let err = fails(&add(&again, "acme"), 5);
    assert!(
        err.contains("already exists") && err.contains("connection_exists"),
        "{err}"
    );
    assert!(err.contains("\nhint: "), "{err}");
    // 422: an expired code is refused before any call to Zoho.
    let expired = write_self_client(&z, work.path(), -10);
    let err = fails(&add(&expired, "late"), 5);
    assert!(err.contains("HTTP 422"), "{err}");
    // 404.
    fails(&cli(&z, admin, &["token", "nosuch"]), 4);

    // Usage: clap's own errors, and local input that cannot be used.
    fails(&cli(&z, admin, &["connection", "add", "x"]), 2);
    fails(
        &cli(&z, admin, &["service-token", "create", "--name", "x"]),
        2,
    );
    fails(
        &cli(
            &z,
            admin,
            &[
                "connection",
                "add",
                "x",
                path_str(&file),
                "--data-center",
                "mars",
            ],
        ),
        2,
    );
    let not_json = work.path().join("not.json");
    std::fs::write(&not_json, "client_id=1000.X").expect("write");
    let err = fails(&add(&not_json, "x"), 2);
    assert!(err.contains("not valid JSON"), "{err}");
    fails(&add(&work.path().join("missing.json"), "x"), 2);
    fails(&add(&file, "../acme"), 2);

    // Sealed is "try again later" (6), and so is a vault that does not answer.
    ok(&cli(&z, admin, &["seal"]));
    let err = fails(&cli(&z, admin, &["connection", "list"]), 6);
    assert!(err.contains("sealed"), "{err}");
    // `status` answers, and exits 2 for a sealed vault (Vault's convention).
    let sealed = cli(&z, None, &["status", "--json"]);
    assert_eq!(sealed.status.code(), Some(2), "{}", stderr(&sealed));
    let status: Value = serde_json::from_slice(&sealed.stdout).expect("--json prints JSON");
    assert_eq!(status["sealed"], true);
    let mut unseal = z.app.dir.command();
    let err = fails(
        &unseal
            .env("ZOHO_VAULT_ADDR", &z.app.server.base)
            .env("ZOHO_VAULT_PASSPHRASE", "not the passphrase at all")
            .arg("unseal")
            .output()
            .expect("unseal"),
        3,
    );
    assert!(err.contains("wrong_passphrase"), "{err}");
    let mut unseal = z.app.dir.command();
    let out = unseal
        .env("ZOHO_VAULT_ADDR", &z.app.server.base)
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        .arg("unseal")
        .output()
        .expect("unseal");
    assert!(ok(&out).contains("unsealed"));
    let mut far = z.app.dir.command();
    let err = fails(
        &far.args(["status", "--addr", "http://127.0.0.1:1"])
            .output()
            .expect("status"),
        6,
    );
    assert!(err.contains("cannot reach the vault"), "{err}");
}

/// Every command and subcommand, as argument lists.
fn command_paths() -> Vec<Vec<String>> {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let mut path = prefix.clone();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            walk(sub, path, out);
        }
    }
    let mut out = Vec::new();
    walk(&zoho_vault::cli::Cli::command(), Vec::new(), &mut out);
    out
}

#[test]
fn every_command_has_help_with_an_example() {
    let paths = command_paths();
    for expected in [
        "connection add",
        "connection list",
        "connection show",
        "connection delete",
        "token",
        "service-token create",
        "service-token list",
        "service-token revoke",
        "status",
        "unseal",
        "seal",
        "audit list",
    ] {
        assert!(
            paths.iter().any(|p| p.join(" ") == expected),
            "missing command `{expected}`"
        );
    }
    for path in paths {
        let out = Command::new(bin())
            .args(&path)
            .arg("--help")
            .output()
            .expect("help");
        let text = ok(&out);
        assert!(
            text.contains("Example"),
            "`zoho-vault {} --help` has no example:\n{text}",
            path.join(" ")
        );
    }
}

#[test]
fn the_demo_walks_through_to_an_invoice_and_cleans_up() {
    // `cargo test --all-targets` builds examples next to the binaries.
    let target = PathBuf::from(bin());
    let demo = target
        .parent()
        .expect("target dir")
        .join("examples")
        .join(format!("demo{}", std::env::consts::EXE_SUFFIX));
    if !demo.exists() {
        let built = Command::new(env!("CARGO"))
            // The demo drives the fake Zoho, so it needs the feature
            // even when this test binary was built without a flag for it.
            .args(["build", "--example", "demo", "--features", "fake-zoho"])
            .status()
            .expect("cargo build --example demo");
        assert!(built.success());
    }
    let mut cmd = Command::new(&demo);
    for (key, _) in std::env::vars() {
        if key.starts_with("ZOHO_VAULT_") {
            cmd.env_remove(key);
        }
    }
    // A token in the caller's environment must not reach the demo's commands.
    let out = cmd
        .env("ZOHO_VAULT_BIN", bin())
        .env("ZOHO_VAULT_TOKEN", "zva_from_the_callers_shell")
        .output()
        .expect("run demo");
    let text = ok(&out);
    for expected in [
        "$ zoho-vault connection add acme self_client.json",
        "$ ZVS=$(zoho-vault service-token create",
        "$ ZOHO_VAULT_TOKEN=$ZVS zoho-vault token acme",
        "curl -s -X POST",
        "created invoice",
        "audit trail: OK",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let dir = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("zoho-vault demo in "))
        .and_then(|l| l.split(' ').next())
        .expect("the demo names its directory");
    assert!(!Path::new(dir).exists(), "{dir} was not removed");
}

#[test]
fn a_token_pasted_with_a_newline_is_a_usage_error_that_says_so() {
    let z = ZohoApp::spawn();
    let pasted = format!("{}\nThe vault is initialised.", z.app.admin);
    let err = fails(&cli(&z, Some(&pasted), &["status"]), 2);
    assert!(err.contains("copy it again"), "{err}");
    assert!(
        !err.contains(&z.app.admin),
        "the error must not echo the token"
    );
}

/// Hints name the command or flag to use, with the real connection name:
/// never a route, a `{name}` placeholder or a header the user never sent.
fn assert_cli_words(err: &str) {
    for http in [
        "/v1/connections",
        "{name}",
        "Authorization",
        "PUT /",
        "DELETE /",
    ] {
        assert!(!err.contains(http), "HTTP words in a CLI hint: {err}");
    }
}

#[test]
fn hints_name_cli_commands_with_the_real_connection_name() {
    let z = ZohoApp::spawn();
    let admin = Some(z.app.admin.as_str());
    let work = tempfile::tempdir().expect("tempdir");
    let fake = z.fake.base_url();

    // A dead refresh token: add again, by name.
    z.set_access_token_ttl(3000);
    let rt = z
        .fake
        .mint_refresh_token(&z.client, &SCOPES)
        .expect("refresh token");
    let rt_file = work.path().join("rt.txt");
    std::fs::write(&rt_file, &rt).expect("write");
    let secret_file = work.path().join("secret.txt");
    std::fs::write(&secret_file, &z.client.client_secret).expect("write");
    ok(&cli(
        &z,
        admin,
        &[
            "connection",
            "add",
            "billing-eu",
            "--refresh-token-file",
            path_str(&rt_file),
            "--client-id",
            &z.client.client_id,
            "--client-secret-file",
            path_str(&secret_file),
            "--accounts-url",
            &fake,
        ],
    ));
    assert!(z.fake.revoke(&rt));
    let err = fails(
        &cli(&z, admin, &["token", "billing-eu", "--min-valid", "3000"]),
        5,
    );
    assert!(err.contains("needs_reauth"), "{err}");
    assert!(
        !err.contains("connection delete")
            && err.contains("`zoho-vault connection add billing-eu self_client.json`"),
        "{err}"
    );
    assert_cli_words(&err);
    // `connection show` says the same fix in the same words.
    let shown = ok(&cli(&z, admin, &["connection", "show", "billing-eu"]));
    assert!(
        shown.contains("`zoho-vault connection add billing-eu self_client.json`"),
        "{shown}"
    );
    assert_cli_words(&shown);

    let file = write_self_client(&z, work.path(), 180);
    let add = |name: &str, url: &str| {
        cli(
            &z,
            admin,
            &[
                "connection",
                "add",
                name,
                path_str(&file),
                "--accounts-url",
                url,
            ],
        )
    };
    // The command that hint names replaces the dead credentials in place.
    ok(&add("billing-eu", &fake));
    // Now it is live, so the same name is taken: delete it first.
    let err = fails(&add("billing-eu", &fake), 5);
    assert!(err.contains("connection_exists"), "{err}");
    assert!(
        err.contains("`zoho-vault connection delete billing-eu`"),
        "{err}"
    );
    assert_cli_words(&err);

    // The wrong data center: the flag, not the JSON field.
    let other_dc = zoho_vault::fake_zoho::FakeZoho::start(Default::default()).expect("fake");
    let err = fails(&add("acme", &other_dc.base_url()), 5);
    assert!(err.contains("invalid_client"), "{err}");
    assert!(
        err.contains("--data-center")
            && err.contains("zoho-vault connection add acme self_client.json --data-center"),
        "{err}"
    );
    assert!(!err.contains("`data_center`"), "{err}");
    assert_cli_words(&err);

    // A bad token: the variable to set, not a header.
    let unknown = format!("zva_{}", "A".repeat(43));
    let err = fails(&cli(&z, Some(&unknown), &["connection", "list"]), 3);
    assert!(err.contains("invalid_token"), "{err}");
    assert!(err.contains("export ZOHO_VAULT_TOKEN="), "{err}");
    assert_cli_words(&err);
}
