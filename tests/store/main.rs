//! The storage backends against one behavioural contract: the same suite
//! runs on the embedded store (sled, in a temporary directory) and on
//! PostgreSQL (a database of its own per test; see `support/pg.rs`), plus
//! what only PostgreSQL has (schema migrations, transactions, dumps, the
//! cluster coordinator).

#[path = "../support/pg.rs"]
mod pg;

mod audit;
mod backend;
mod conformance;
mod coord;
mod dump;
mod postgres;
mod sessions;
