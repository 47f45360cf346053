//! zoho-vault: an encrypted vault for Zoho OAuth self-client credentials.

pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod console_sessions;
pub mod coord;
pub mod crypto;
/// The fake Zoho accounts server and Invoice API: a test double for tests,
/// demos and benchmarks, built only with the `fake-zoho` feature.
#[cfg(feature = "fake-zoho")]
pub mod fake_zoho;
pub mod metrics;
pub mod model;
pub mod proxy;
pub mod ratelimit;
pub mod refresh_ahead;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod vault;
pub mod webhooks;
pub mod zoho;
