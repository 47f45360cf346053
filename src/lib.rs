//! zoho-vault: an encrypted vault for Zoho OAuth self-client credentials.

pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod broker;
pub mod cli;
pub mod config;
pub mod connections;
pub mod coord;
pub mod crypto;
pub mod fake_zoho;
pub mod metrics;
pub mod ratelimit;
pub mod refresh_ahead;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod vault;
pub mod zoho;
