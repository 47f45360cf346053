//! HTTP-level tests: every test starts the real `zoho-vault` binary on a
//! free port in a temporary directory and talks to it over real HTTP.

mod access;
mod audit;
mod backup;
mod cli;
mod clock_jumps;
mod connections;
mod disk_full;
mod errors;
mod example;
mod fencing;
mod helpers;
mod import;
mod leaks;
mod lifecycle;
mod malformed;
mod metrics;
mod oauth;
mod oauth_flow;
mod odd_answers;
mod openapi;
mod operator;
mod ratelimit;
mod refresh_ahead;
mod request_ids;
mod single_flight;
mod support;
mod tls;
mod token_issue;
