//! HTTP-level tests: every test starts the real `zoho-vault` binary on a
//! free port in a temporary directory and talks to it over real HTTP.

mod access;
mod audit;
mod backup;
mod backup_tamper;
mod cli;
mod clients;
mod clock_jumps;
mod connections;
mod disk_full;
mod errors;
mod example;
mod fencing;
mod flood;
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
mod proxies;
mod ratelimit;
mod refresh_ahead;
mod refusals;
mod rekey;
mod request_ids;
mod single_flight;
mod support;
mod tls;
mod token_issue;
mod unseal;
