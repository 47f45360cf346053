//! A fake Zoho accounts server and Invoice API for tests, demos and
//! benchmarks: a real HTTP server on its own port that behaves like Zoho as
//! Zoho documents it (see `docs/fake-zoho.md` for what is modelled, its
//! sources, and what is a guess), plus a `/_fake/` control API.
//!
//! ```no_run
//! use zoho_vault::fake_zoho::{FakeZoho, FakeZohoConfig};
//! let fake = FakeZoho::start(FakeZohoConfig::default())?;
//! let client = fake.register_client();
//! let file = fake.self_client_json(&client, &["ZohoInvoice.fullaccess.all"], 180)?;
//! // POST {fake.token_url()} with file.code ... ; the server stops on drop.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accounts;
pub mod config;
mod consent;
mod control;
mod data;
mod invoice;
pub mod model;
mod params;
mod server;
pub mod state;

pub use accounts::{throttle_body, THROTTLE_DESCRIPTION};
pub use config::{ConfigError, ConfigPatch, FakeZohoConfig};
pub use model::{
    Client, ClientSpec, CodeSpec, Counters, FaultKind, FaultSpec, SelfClientJson, DEFAULT_USER,
};
pub use server::FakeZoho;
pub use state::ControlError;
