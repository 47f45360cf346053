//! A throwaway cluster: one test database, the fake Zoho, and replicas
//! (`zoho-vault serve` processes) that share them.

use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::{admin_token_from, answer, Server, VaultDir, PASSPHRASE, SCOPES};
use crate::pg::{self, TestDb};
use zoho_vault::fake_zoho::{Client, FakeZoho};

/// One replica: its process and its own directory (logs), kept as long
/// as the process runs.
pub struct Replica {
    pub server: Server,
    _dir: VaultDir,
}

/// A database, the fake Zoho and the replicas serving from them.
pub struct Cluster {
    pub db: TestDb,
    pub fake: FakeZoho,
    pub client: Client,
    pub admin: String,
    pub replicas: Vec<Replica>,
    extra: Vec<(String, String)>,
    /// The database URL the replicas use (the test database's, or a
    /// proxy's in front of it).
    replica_url: String,
}

/// The settings every process of a cluster on `url` gets.
pub fn backend_env(url: &str) -> Vec<(String, String)> {
    vec![
        ("ZOHO_VAULT_STORE__BACKEND".into(), "postgres".into()),
        ("ZOHO_VAULT_STORE__POSTGRES__URL".into(), url.into()),
        ("ZOHO_VAULT_STORE__POSTGRES__POOL_SIZE".into(), "8".into()),
        (
            "ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL".into(),
            "true".into(),
        ),
        ("ZOHO_VAULT_ZOHO__TIMEOUT_SECS".into(), "5".into()),
    ]
}

/// A `zoho-vault init` command against the database at `url`, with the
/// directory it runs in (keep it until the command is done).
pub fn init_command(url: &str) -> (VaultDir, Command) {
    let dir = VaultDir::new();
    let mut cmd = dir.command();
    cmd.arg("init").env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE);
    for (k, v) in backend_env(url) {
        cmd.env(k, v);
    }
    (dir, cmd)
}

/// Runs `zoho-vault init` against the database at `url`.
pub fn run_init(url: &str) -> Output {
    let (_dir, mut cmd) = init_command(url);
    cmd.output().expect("run init")
}

impl Cluster {
    /// An initialised database and `n` replicas serving it, unsealed from
    /// their passphrase; `None` when PostgreSQL is unavailable.
    pub async fn start(n: usize, extra: &[(&str, &str)]) -> Option<Cluster> {
        Self::start_via(n, extra, |url| url.to_string()).await
    }

    /// [`Cluster::start`] with the replicas reaching the database at
    /// `via(test database URL)`.
    pub async fn start_via(
        n: usize,
        extra: &[(&str, &str)],
        via: impl FnOnce(&str) -> String,
    ) -> Option<Cluster> {
        let db = pg::database().await?;
        let replica_url = via(&db.url);
        let out = run_init(&db.url);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let admin = admin_token_from(&out);
        let fake = FakeZoho::start(Default::default()).expect("fake zoho");
        let client = fake.register_client();
        let mut cluster = Cluster {
            db,
            fake,
            client,
            admin,
            replicas: Vec::new(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            replica_url,
        };
        for _ in 0..n {
            cluster.add_replica(&[]);
        }
        Some(cluster)
    }

    /// Starts one more replica (`serve`, unsealed by its passphrase) with
    /// `args` after `serve`; answers its index.
    pub fn add_replica(&mut self, args: &[&str]) -> usize {
        self.add_replica_with(args, &[])
    }

    /// [`Cluster::add_replica`] with `env` set for this replica only
    /// (after the cluster's own settings, so it wins).
    pub fn add_replica_with(&mut self, args: &[&str], env: &[(&str, &str)]) -> usize {
        let i = self.replicas.len();
        let node = format!("replica-{i}");
        let dir = VaultDir::new();
        let mut own = backend_env(&self.replica_url);
        own.push(("ZOHO_VAULT_CLUSTER__NODE_NAME".into(), node));
        own.extend(self.extra.iter().cloned());
        own.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env = own;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = Server::start_with_args(&dir, Some(PASSPHRASE), &env, args);
        self.replicas.push(Replica { server, _dir: dir });
        i
    }

    /// Replica `i`'s server.
    pub fn at(&self, i: usize) -> &Server {
        &self.replicas[i].server
    }

    /// A fresh self_client.json upload body for the registered client.
    pub fn upload_body(&self) -> Value {
        let file = self
            .fake
            .self_client_json(&self.client, &SCOPES, 180)
            .expect("code");
        let mut body = serde_json::to_value(file).expect("json");
        body["accounts_url"] = Value::String(self.fake.base_url());
        body
    }

    /// Uploads connection `name` through replica `i` (asserted created).
    pub async fn connect(&self, i: usize, name: &str) {
        let server = self.at(i);
        let req = server
            .http
            .put(server.url(&format!("/v1/connections/{name}")))
            .bearer_auth(&self.admin)
            .json(&self.upload_body());
        let (status, body) = answer(req).await;
        assert_eq!(status, 201, "{body}");
    }

    /// Creates a service token for `connections` through replica `i`;
    /// answers (id, token).
    pub async fn service_token(&self, i: usize, connections: &[&str]) -> (String, String) {
        let body = serde_json::json!({"name": "backend", "connections": connections});
        let (status, created) = self
            .at(i)
            .post("/v1/service-tokens", Some(&self.admin), body)
            .await;
        assert_eq!(status, 201, "{created}");
        let field = |f: &str| created[f].as_str().expect(f).to_string();
        (field("id"), field("token"))
    }

    /// `POST /v1/connections/{name}/token` on replica `i`.
    pub async fn issue(&self, i: usize, name: &str, token: &str, body: Value) -> (u16, Value) {
        self.at(i)
            .post(&format!("/v1/connections/{name}/token"), Some(token), body)
            .await
    }
}
