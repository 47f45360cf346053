//! HTTP-level tests: every test starts the real `zoho-vault` binary on a
//! free port in a temporary directory and talks to it over real HTTP.

mod audit;
mod cli;
mod connections;
mod errors;
mod example;
mod helpers;
mod lifecycle;
mod metrics;
mod oauth;
mod oauth_flow;
mod refresh_ahead;
mod token_issue;
