//! `make demo`: a guided walk through zoho-vault against the fake Zoho.
//!
//! Starts the fake Zoho accounts server and Invoice API in this process and
//! a `zoho-vault` server in a temporary directory, then runs the same
//! `zoho-vault ...` commands a person would (printing each one before its
//! output): upload a self_client.json, create a service token, fetch an
//! access token, and create an invoice with it (the requests shown as curl
//! commands). At the end it stops the one server it started and removes the
//! directory. Nothing outside that directory is touched, and no tool beyond
//! the Rust toolchain is needed.
//!
//! ```sh
//! make demo      # = cargo build --release --bin zoho-vault && cargo run --release --features fake-zoho --example demo
//! ```
//!
//! The `zoho-vault` binary is looked up next to this example's executable
//! (`target/<profile>/zoho-vault`), or taken from `ZOHO_VAULT_BIN`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use zoho_vault::fake_zoho::{FakeZoho, FakeZohoConfig};

const PASSPHRASE: &str = "demo passphrase, not for production";
const ORG_ID: &str = "10234695";
const SCOPES: [&str; 1] = ["ZohoInvoice.fullaccess.all"];

/// The vault server this demo started; killed on drop, whatever happens.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the demo runs and how it calls the binary.
struct Demo {
    bin: PathBuf,
    dir: PathBuf,
    /// Environment for client commands (`ZOHO_VAULT_ADDR`, `ZOHO_VAULT_TOKEN`).
    env: Vec<(String, String)>,
}

impl Demo {
    /// A command for the binary with none of the caller's `ZOHO_VAULT_*`
    /// variables (a real `ZOHO_VAULT_TOKEN` must not leak into the demo).
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        for (key, _) in std::env::vars() {
            if key.starts_with("ZOHO_VAULT_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(&self.dir)
            .env("ZOHO_VAULT_DATA_DIR", self.dir.join("data"))
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Prints `$ shown`, runs `zoho-vault args` with `extra` env, prints its
    /// output indented, and fails when it fails.
    fn run(&self, shown: &str, args: &[&str], extra: &[(&str, &str)]) -> anyhow::Result<String> {
        println!("$ {shown}");
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().context("cannot run zoho-vault")?;
        echo(&out);
        if !out.status.success() {
            bail!("`{shown}` failed ({})", out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }
}

fn echo(out: &Output) {
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        println!("    {line}");
    }
}

/// A JSON string without its quotes (other values as JSON).
fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

fn step(n: u32, title: &str) {
    println!("\n== {n}. {title}\n");
}

fn find_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("ZOHO_VAULT_BIN") {
        // The commands run in the demo directory: make the path absolute.
        return std::fs::canonicalize(&path)
            .with_context(|| format!("ZOHO_VAULT_BIN={}", PathBuf::from(&path).display()));
    }
    // target/<profile>/examples/demo -> target/<profile>/zoho-vault
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?;
    let bin = profile_dir.join(format!("zoho-vault{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        bail!(
            "{} not found: build it first (`cargo build --release --bin zoho-vault`, which `make demo` does), or set ZOHO_VAULT_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// Starts `zoho-vault serve` and answers its address once it listens.
fn start_server(demo: &Demo, fake_url: &str) -> anyhow::Result<(Server, String)> {
    println!("$ ZOHO_VAULT_LISTEN=127.0.0.1:0 ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL=true \\");
    println!("  ZOHO_VAULT_PASSPHRASE='{PASSPHRASE}' zoho-vault serve &");
    let log = std::fs::File::create(demo.dir.join("server.log"))?;
    let mut child = demo
        .command()
        .arg("serve")
        .env("ZOHO_VAULT_LISTEN", "127.0.0.1:0")
        .env("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)
        // The fake Zoho is not on Zoho's data-center list: allow its URL.
        .env("ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL", "true")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("cannot start zoho-vault serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("zoho-vault listening on ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).with_context(|| {
        format!(
            "the vault did not start; its log:\n{}",
            std::fs::read_to_string(demo.dir.join("server.log")).unwrap_or_default()
        )
    })?;
    println!("    zoho-vault listening on {addr}   (fake Zoho at {fake_url})");
    Ok((server, addr))
}

/// Sends a JSON request and answers the JSON body, failing on an error status.
async fn call(req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
    let resp = req
        .send()
        .await
        .with_context(|| format!("{what}: no answer"))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .with_context(|| format!("{what}: not JSON"))?;
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {body}");
    }
    Ok(body)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match walk_through().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn walk_through() -> anyhow::Result<()> {
    let bin = find_binary()?;
    let tmp = tempfile::Builder::new()
        .prefix("zoho-vault-demo-")
        .tempdir()?;
    let mut demo = Demo {
        bin,
        dir: tmp.path().to_path_buf(),
        env: Vec::new(),
    };
    println!(
        "zoho-vault demo in {} (removed at the end)",
        demo.dir.display()
    );

    step(1, "Start a fake Zoho (accounts server and Invoice API)");
    let fake = FakeZoho::start(FakeZohoConfig::default())?;
    let fake_url = fake.base_url();
    println!("$ fake-zoho --listen 127.0.0.1:0          # `make fake-zoho`; here it runs inside the demo");
    println!("    fake-zoho listening on {fake_url}");

    step(2, "Create the vault; the first admin token is printed once");
    let out = demo.run(
        &format!("ZOHO_VAULT_PASSPHRASE='{PASSPHRASE}' zoho-vault init"),
        &["init"],
        &[("ZOHO_VAULT_PASSPHRASE", PASSPHRASE)],
    )?;
    let admin = out
        .lines()
        .find_map(|l| l.strip_prefix("admin token: "))
        .context("init printed no admin token")?
        .trim()
        .to_string();

    step(3, "Run the vault (unsealed with the passphrase at start)");
    let (server, addr) = start_server(&demo, &fake_url)?;
    demo.env = vec![
        ("ZOHO_VAULT_ADDR".into(), addr.clone()),
        ("ZOHO_VAULT_TOKEN".into(), admin.clone()),
    ];
    println!("$ export ZOHO_VAULT_ADDR={addr} ZOHO_VAULT_TOKEN={admin}");
    demo.run("zoho-vault status", &["status"], &[])?;

    step(
        4,
        "Zoho's API console hands you self_client.json (here: the fake)",
    );
    let client = fake.register_client();
    let file = fake.self_client_json(&client, &SCOPES, 180)?;
    let path = demo.dir.join("self_client.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)?;
    println!("$ cat self_client.json");
    let mut shown = serde_json::to_value(&file)?;
    shown["client_secret"] = json!("(42 hex characters)");
    shown["code"] = json!("(one-time code, valid 3 minutes)");
    for line in serde_json::to_string_pretty(&shown)?.lines() {
        println!("    {line}");
    }

    step(
        5,
        "Upload it: the vault exchanges the code at once and keeps the secrets encrypted",
    );
    println!("# against real Zoho: --data-center eu (or com, in, com.au, jp, ca, sa, uk, com.cn)");
    demo.run(
        &format!("zoho-vault connection add acme self_client.json --accounts-url {fake_url}"),
        &[
            "connection",
            "add",
            "acme",
            "self_client.json",
            "--accounts-url",
            &fake_url,
        ],
        &[],
    )?;
    demo.run("zoho-vault connection list", &["connection", "list"], &[])?;

    step(6, "Give a backend a service token that reaches only `acme`");
    let out = demo.run(
        "ZVS=$(zoho-vault service-token create --name billing --connection acme)",
        &[
            "service-token",
            "create",
            "--name",
            "billing",
            "--connection",
            "acme",
        ],
        &[],
    )?;
    let service = out.trim().to_string();
    demo.run(
        "zoho-vault service-token list",
        &["service-token", "list"],
        &[],
    )?;

    step(
        7,
        "The backend asks for an access token (cached and shared, refreshed lazily)",
    );
    let out = demo.run(
        "ZOHO_VAULT_TOKEN=$ZVS zoho-vault token acme",
        &["token", "acme"],
        &[("ZOHO_VAULT_TOKEN", &service)],
    )?;
    let access = out.trim().to_string();
    println!("# the same over HTTP:");
    println!(
        "$ curl -s -X POST {addr}/v1/connections/acme/token -H \"Authorization: Bearer $ZVS\""
    );
    let http = reqwest::Client::new();
    let issued = call(
        http.post(format!("{addr}/v1/connections/acme/token"))
            .bearer_auth(&service),
        "token",
    )
    .await?;
    println!("    {issued}");
    let api = issued["api_domain"]
        .as_str()
        .context("no api_domain")?
        .to_string();
    if issued["access_token"].as_str() != Some(access.as_str()) {
        bail!("the CLI and the API handed out different tokens");
    }

    step(8, "Create an invoice in Zoho Invoice with it");
    let auth = format!("Zoho-oauthtoken {access}");
    println!("$ TOKEN=$(ZOHO_VAULT_TOKEN=$ZVS zoho-vault token acme)");
    println!("$ curl -s -X POST {api}/invoice/v3/contacts -H \"Authorization: Zoho-oauthtoken $TOKEN\" \\");
    println!("    -H 'X-com-zoho-invoice-organizationid: {ORG_ID}' -H 'content-type: application/json' \\");
    println!("    -d '{{\"contact_name\": \"Example Customer\"}}'");
    let contact = call(
        http.post(format!("{api}/invoice/v3/contacts"))
            .header("Authorization", &auth)
            .header("X-com-zoho-invoice-organizationid", ORG_ID)
            .json(&json!({"contact_name": "Example Customer"})),
        "create contact",
    )
    .await?;
    let customer = contact["contact"]["contact_id"].clone();
    println!(
        "    {} contact_id {}",
        plain(&contact["message"]),
        plain(&customer)
    );
    println!("$ curl -s -X POST {api}/invoice/v3/invoices -H \"Authorization: Zoho-oauthtoken $TOKEN\" \\");
    println!("    -H 'X-com-zoho-invoice-organizationid: {ORG_ID}' -H 'content-type: application/json' \\");
    println!("    -d '{{\"customer_id\": {customer}, \"line_items\": [{{\"name\": \"Consulting\", \"rate\": 120, \"quantity\": 3}}]}}'");
    let invoice = call(
        http.post(format!("{api}/invoice/v3/invoices"))
            .header("Authorization", &auth)
            .header("X-com-zoho-invoice-organizationid", ORG_ID)
            .json(&json!({
                "customer_id": customer,
                "line_items": [{"name": "Consulting", "rate": 120.0, "quantity": 3}],
            })),
        "create invoice",
    )
    .await?;
    let invoice_id = plain(&invoice["invoice"]["invoice_id"]);
    println!("    {} invoice_id {invoice_id}", plain(&invoice["message"]));
    println!("created invoice {invoice_id}");

    step(
        9,
        "Every admin action and every token handed out is in the audit trail",
    );
    demo.run(
        "zoho-vault audit list --connection acme",
        &["audit", "list", "--connection", "acme"],
        &[],
    )?;
    demo.run("zoho-vault audit verify", &["audit", "verify"], &[])?;

    step(10, "Clean up");
    println!(
        "stopping the vault and the fake Zoho; removing {}",
        demo.dir.display()
    );
    drop(server);
    drop(fake);
    tmp.close()?;
    println!(
        "\ndone. Next: docs/quickstart.md (the same steps by hand), docs/cli.md (every command)."
    );
    Ok(())
}
