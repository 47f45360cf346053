//! HTTP-level tests: every test starts the real `zoho-vault` binary on a
//! free port in a temporary directory and talks to it over real HTTP.

mod connections;
mod errors;
mod example;
mod helpers;
mod lifecycle;
mod oauth;
mod oauth_flow;
mod token_issue;
