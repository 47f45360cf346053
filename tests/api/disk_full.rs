//! A full data directory, for real: the vault's data directory is a small
//! tmpfs filled up with a file. While it is full, token issue and admin
//! writes answer either success with their audit event or 503 with a
//! disk-full hint, never 500 and never success without an event; health
//! and metrics say why. Once the file is removed the vault resumes by
//! itself, without a restart, and a sealed vault unseals.
//!
//! Mounting needs root (CI runs as root). Otherwise each test prints one
//! loud line and passes, unless `ZOHO_VAULT_REQUIRE_ROOT_TESTS=1`, which
//! turns the skip into a failure.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{error_code, Server, TestApp, VaultDir, ZohoApp, PASSPHRASE};

/// `1`: a test that needs root fails instead of skipping.
const REQUIRE_VAR: &str = "ZOHO_VAULT_REQUIRE_ROOT_TESTS";
/// Room for the store and the first audit segment, small enough to fill
/// quickly.
const TMPFS_SIZE: &str = "24m";
/// How long the vault may take to notice that space is back.
const RECOVERY: Duration = Duration::from_secs(30);

/// A tmpfs mounted on a directory; unmounted (and the directory removed)
/// when dropped, after whatever used it was dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts, or says loudly why not and returns `None` (a failure with
    /// [`REQUIRE_VAR`]).
    fn mount(path: &Path, test: &str) -> Option<Tmpfs> {
        let skip = |why: String| {
            let line = format!("SKIPPED {test}: {why}; the full-disk test did not run");
            assert!(
                std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
                "{line} ({REQUIRE_VAR}=1)"
            );
            eprintln!("!!!!!!!! {line} !!!!!!!!");
        };
        let uid = Command::new("id").arg("-u").output().ok();
        let root = uid.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            skip("mounting a tmpfs needs root".into());
            return None;
        }
        std::fs::create_dir_all(path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        if !out.status.success() {
            skip(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return None;
        }
        Some(Tmpfs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
        let _ = std::fs::remove_dir(&self.path);
        // The temporary directory around it could not remove the mount
        // point while it was mounted.
        if let Some(parent) = self.path.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

/// A vault with the fake Zoho on a tmpfs data directory. Dropped in field
/// order: the server first, then the mount.
struct FullDiskVault {
    z: ZohoApp,
    mount: Tmpfs,
}

impl FullDiskVault {
    fn start(test: &str) -> Option<FullDiskVault> {
        let dir = VaultDir::new();
        let mount = Tmpfs::mount(&dir.data(), test)?;
        let admin = dir.init(PASSPHRASE);
        let fake = zoho_vault::fake_zoho::FakeZoho::start(Default::default()).expect("fake zoho");
        let client = fake.register_client();
        let env = [
            ("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true"),
            ("ZOHO_VAULT_ZOHO__TIMEOUT_SECS", "2"),
        ];
        let server = Server::start(&dir, Some(PASSPHRASE), &env);
        let app = TestApp { dir, server, admin };
        Some(FullDiskVault {
            z: ZohoApp { app, fake, client },
            mount,
        })
    }

    /// Writes a file until the filesystem refuses more; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.mount.path.join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        for chunk in [1 << 20, 4096, 1] {
            let bytes = vec![0u8; chunk];
            loop {
                match file.write_all(&bytes) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(28) => break,
                    Err(e) => panic!("filling the tmpfs: {e}"),
                }
            }
        }
        path
    }

    /// Token issue with a request id, so its event can be found.
    async fn issue(&self, token: &str, request_id: &str) -> (u16, Value) {
        let server = &self.z.app.server;
        let req = server
            .http
            .post(server.url("/v1/connections/acme/token"))
            .bearer_auth(token)
            .header("x-request-id", request_id)
            .json(&json!({}));
        crate::helpers::answer(req).await
    }

    /// `POST /v1/service-tokens` for a token named `name`.
    async fn create_token(&self, name: &str) -> (u16, Value) {
        let body = json!({"name": name, "connections": ["*"]});
        self.z.app.admin_post("/v1/service-tokens", body).await
    }

    /// The names of the service tokens the vault lists.
    async fn token_names(&self) -> BTreeSet<String> {
        let (status, list) = self.z.app.admin_get("/v1/service-tokens").await;
        assert_eq!(status, 200, "{list}");
        list["service_tokens"]
            .as_array()
            .expect("service_tokens")
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect()
    }

    /// Kills the vault (no shutdown, no final flush) and starts it again
    /// on the same tmpfs, unsealed.
    fn crashed_and_restarted(self) -> FullDiskVault {
        let FullDiskVault { z, mount } = self;
        FullDiskVault {
            z: z.crashed_and_restarted(),
            mount,
        }
    }

    async fn storage_errors(&self) -> u64 {
        let server = &self.z.app.server;
        let text = server
            .http
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body");
        let line = text
            .lines()
            .find(|l| l.starts_with("zoho_vault_storage_errors_total{kind=\"disk_full\"}"))
            .unwrap_or_else(|| panic!("no disk_full counter in\n{text}"));
        line.rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a count")
    }
}

/// A refusal for lack of space: 503, one of the two codes, the hint.
fn assert_disk_full(status: u16, body: &Value) {
    assert_eq!(status, 503, "{body}");
    let code = error_code(body);
    assert!(
        matches!(code, "audit_unavailable" | "storage_unavailable"),
        "{body}"
    );
    let hint = body["error"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("disk full"), "{body}");
    assert!(body.get("access_token").is_none() && body.get("token").is_none());
}

#[tokio::test]
async fn a_full_disk_refuses_with_503_and_the_vault_resumes_by_itself_once_space_is_freed() {
    let Some(v) = FullDiskVault::start("disk_full::resumes_by_itself") else {
        return;
    };
    v.z.connect("acme").await;
    let svc = v.z.service_token(&["acme"]).await;
    let mut sent = 0;
    let mut handed = BTreeSet::new();
    let (status, body) = v.issue(&svc, "before-0").await;
    assert_eq!(status, 200, "{body}");
    handed.insert("before-0".to_string());

    let filler = v.fill();
    // The segment's last page may still take a few events; then every
    // event is refused.
    let mut refused = 0;
    while refused == 0 && sent < 500 {
        sent += 1;
        let id = format!("full-{sent}");
        match v.issue(&svc, &id).await {
            (200, _) => {
                handed.insert(id);
            }
            (status, body) => {
                assert_disk_full(status, &body);
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused, 1,
        "{sent} token issues on a full disk were all answered"
    );
    let (status, body) = v.issue(&svc, "full-again").await;
    assert_disk_full(status, &body);

    // Admin writes: refused with the hint, and they leave nothing behind.
    let (status, body) = v.z.put_connection("globex", &v.z.upload_body()).await;
    assert_disk_full(status, &body);
    let (status, body) =
        v.z.app
            .admin_post(
                "/v1/service-tokens",
                json!({"name": "late", "connections": ["*"]}),
            )
            .await;
    assert_disk_full(status, &body);
    let health = v.z.app.server.health().await;
    assert_eq!(health["storage"], "disk_full", "{health}");
    assert!(v.storage_errors().await >= 3);

    std::fs::remove_file(&filler).expect("free the space");
    let deadline = Instant::now() + RECOVERY;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let id = format!("after-{attempt}");
        let (status, body) = v.issue(&svc, &id).await;
        if status == 200 {
            handed.insert(id);
            break;
        }
        assert_disk_full(status, &body);
        assert!(
            Instant::now() < deadline,
            "no recovery within {RECOVERY:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = v.z.app.server.health().await;
    assert!(health.get("storage").is_none(), "{health}");
    assert_eq!(v.z.app.admin_get("/v1/connections/globex").await.0, 404);
    v.z.connect("globex").await;
    let (status, body) =
        v.z.app
            .admin_post(
                "/v1/service-tokens",
                json!({"name": "late", "connections": ["*"]}),
            )
            .await;
    assert_eq!(status, 201, "{body}");

    // Every token answered 200 has its event; nothing refused was created.
    let recorded: BTreeSet<String> =
        v.z.app
            .all_events("action=token_issued")
            .await
            .iter()
            .filter_map(|e| e["request_id"].as_str().map(str::to_string))
            .collect();
    let missing: Vec<_> = handed.difference(&recorded).collect();
    assert!(
        missing.is_empty(),
        "tokens handed out without an event: {missing:?}"
    );
    let created = v.z.app.events("action=connection_created").await;
    assert_eq!(created.len(), 2, "{created:#?}");
    let minted = v.z.app.events("action=service_token_created").await;
    assert_eq!(minted.len(), 2, "{minted:#?}");
    let verified = v.z.app.verify().await;
    assert_eq!(verified["ok"], true, "{verified}");
}

#[tokio::test]
async fn a_sealed_vault_on_a_full_disk_refuses_to_unseal_with_503_and_unseals_once_space_is_freed()
{
    let Some(v) = FullDiskVault::start("disk_full::unseal") else {
        return;
    };
    let server = &v.z.app.server;
    let unseal = || server.post("/v1/sys/unseal", None, json!({ "passphrase": PASSPHRASE }));
    let filler = v.fill();
    // Each seal and unseal that still finds room in the audit log's last
    // page uses some of it; the log is full after a bounded number.
    let mut refused = None;
    for _ in 0..200 {
        let (status, body) = v.z.app.admin_post("/v1/sys/seal", json!({})).await;
        assert!(matches!(status, 200 | 204), "{status} {body}");
        let (status, body) = unseal().await;
        if status != 200 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("every unseal on a full disk succeeded");
    assert_disk_full(status, &body);
    assert_eq!(server.health().await["sealed"], true);

    std::fs::remove_file(&filler).expect("free the space");
    let deadline = Instant::now() + RECOVERY;
    loop {
        let (status, body) = unseal().await;
        if status == 200 {
            break;
        }
        assert_disk_full(status, &body);
        assert!(
            Instant::now() < deadline,
            "no unseal within {RECOVERY:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = server.health().await;
    assert_eq!(health["sealed"], false, "{health}");
    assert!(health.get("storage").is_none(), "{health}");
    let verified = v.z.app.verify().await;
    assert_eq!(verified["ok"], true, "{verified}");
}

#[tokio::test]
async fn when_the_store_itself_fails_on_a_full_disk_it_reopens_in_place_once_space_is_freed_and_loses_no_acknowledged_write(
) {
    let Some(v) = FullDiskVault::start("disk_full::store_reopens_in_place") else {
        return;
    };
    v.z.connect("acme").await;
    let svc = v.z.service_token(&["acme"]).await;
    let mut acknowledged = BTreeSet::from(["backend".to_string()]);

    // Admin writes until the store's own write fails (not only the audit
    // log's): each create writes the store, and a create whose event
    // cannot be written is undone, which writes it again.
    let filler = v.fill();
    let mut n = 0;
    loop {
        n += 1;
        // Sled may still hold an already written free segment (512 KiB)
        // that takes a few thousand small writes before it needs a block.
        assert!(n <= 5000, "the store never ran out of space in {n} writes");
        let name = format!("full-{n}");
        let (status, body) = v.create_token(&name).await;
        if status == 201 {
            acknowledged.insert(name);
            continue;
        }
        assert_disk_full(status, &body);
        if error_code(&body) == "storage_unavailable" {
            break;
        }
    }
    // The store stays stopped while the disk is full.
    let (status, body) = v.create_token("still-full").await;
    assert_disk_full(status, &body);
    assert_eq!(v.z.app.server.health().await["storage"], "disk_full");

    // Space is back: the same process takes writes again.
    std::fs::remove_file(&filler).expect("free the space");
    let deadline = Instant::now() + RECOVERY;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let name = format!("after-{attempt}");
        let (status, body) = v.create_token(&name).await;
        if status == 201 {
            acknowledged.insert(name);
            break;
        }
        assert_disk_full(status, &body);
        assert!(
            Instant::now() < deadline,
            "the store did not reopen within {RECOVERY:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    v.z.connect("globex").await;
    let (status, body) = v.issue(&svc, "after-reopen").await;
    assert_eq!(status, 200, "{body}");
    let health = v.z.app.server.health().await;
    assert!(health.get("storage").is_none(), "{health}");

    // Everything acknowledged was durable: it survives a crash.
    let v = v.crashed_and_restarted();
    let listed = v.token_names().await;
    let missing: Vec<_> = acknowledged.difference(&listed).collect();
    assert!(missing.is_empty(), "acknowledged, then lost: {missing:?}");
    assert_eq!(v.z.app.admin_get("/v1/connections/globex").await.0, 200);
    let (status, body) = v.issue(&svc, "after-restart").await;
    assert_eq!(status, 200, "{body}");
    let created: BTreeSet<String> =
        v.z.app
            .all_events("action=service_token_created")
            .await
            .iter()
            .filter(|e| e["outcome"] == "success")
            .filter_map(|e| e["details"]["token_name"].as_str().map(str::to_string))
            .collect();
    // Nothing refused is recorded as created. (A refused create whose
    // undo also failed may leave its record behind; its token was never
    // shown to anyone.)
    assert_eq!(created, acknowledged);
    let verified = v.z.app.verify().await;
    assert_eq!(verified["ok"], true, "{verified}");
}
