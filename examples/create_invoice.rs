//! A backend's view of zoho-vault: get an access token for a connection,
//! then create a contact and an invoice in Zoho Invoice with it.
//!
//! ```sh
//! ZOHO_VAULT_ADDR=http://127.0.0.1:8700 ZOHO_VAULT_TOKEN=zvs_... \
//!   cargo run --example create_invoice -- acme 10234695
//! ```
//!
//! Arguments: the connection name and the Zoho organization id. Works the
//! same against Zoho and against the fake Zoho (`make fake-zoho`).

use anyhow::{bail, Context};
use serde_json::{json, Value};

async fn send(req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
    let resp = req
        .send()
        .await
        .with_context(|| format!("{what}: request failed"))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .with_context(|| format!("{what}: answer is not JSON"))?;
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {body}");
    }
    Ok(body)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let connection = args
        .next()
        .context("usage: create_invoice CONNECTION ORGANIZATION_ID")?;
    let org = args
        .next()
        .context("usage: create_invoice CONNECTION ORGANIZATION_ID")?;
    let addr = std::env::var("ZOHO_VAULT_ADDR").unwrap_or_else(|_| "http://127.0.0.1:8700".into());
    let token = std::env::var("ZOHO_VAULT_TOKEN")
        .context("set ZOHO_VAULT_TOKEN to a zvs_ service token")?;
    let http = reqwest::Client::new();

    // 1. Ask the vault for the connection's access token.
    let issued = send(
        http.post(format!("{addr}/v1/connections/{connection}/token"))
            .bearer_auth(&token)
            .json(&json!({})),
        "token",
    )
    .await?;
    let access = issued["access_token"].as_str().context("no access_token")?;
    let api = issued["api_domain"].as_str().context("no api_domain")?;
    let auth = format!(
        "{} {access}",
        issued["token_type"].as_str().unwrap_or("Zoho-oauthtoken")
    );
    println!("got an access token valid for {}s", issued["expires_in"]);

    // 2. Create a contact, then an invoice for it.
    let contact = send(
        http.post(format!("{api}/invoice/v3/contacts"))
            .header("Authorization", &auth)
            .header("X-com-zoho-invoice-organizationid", &org)
            .json(&json!({"contact_name": "Example Customer"})),
        "create contact",
    )
    .await?;
    let customer_id = contact["contact"]["contact_id"].clone();
    println!("created contact {customer_id}");
    let invoice = send(
        http.post(format!("{api}/invoice/v3/invoices"))
            .header("Authorization", &auth)
            .header("X-com-zoho-invoice-organizationid", &org)
            .json(&json!({
                "customer_id": customer_id,
                "line_items": [{"name": "Consulting", "rate": 120.0, "quantity": 3}],
            })),
        "create invoice",
    )
    .await?;
    println!("created invoice {}", invoice["invoice"]["invoice_id"]);
    Ok(())
}
