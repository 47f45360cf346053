//! Cluster mode on PostgreSQL, end to end: real `zoho-vault` processes on
//! one test database (see `support/pg.rs`), the fake Zoho, real HTTP.
//! Every test skips (after one loud line) when no PostgreSQL is available
//! and `ZOHO_VAULT_REQUIRE_POSTGRES` is not `1`.

#[allow(dead_code)]
#[path = "../api/console_client.rs"]
mod console_client;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../support/pg.rs"]
mod pg;

mod background;
mod cluster;
mod console;
mod dump;
mod faults;
mod lifecycle;
mod load_faults;
mod migrate;
mod replicas;
mod webhooks;
