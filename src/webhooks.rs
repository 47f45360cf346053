//! Outgoing webhooks: signed notifications (Standard Webhooks 1.0) of the
//! events an operator must act on, delivered at least once from a durable
//! outbox.
//!
//! Two tiers live here. [`event`], [`signing`] and [`outbox`] sit beside
//! the domain model: they name events and build the store writes that
//! enqueue them, so the broker and the connection manager can put an event
//! into the same atomic write as the state change that causes it.
//! [`endpoint`], [`admin`] and [`worker`] are a domain module of their own
//! (endpoint administration and delivery), called by the facade.

pub mod admin;
mod delivery_error;
pub mod endpoint;
pub mod event;
pub mod outbox;
pub mod signing;
pub mod views;
pub mod worker;

pub use admin::{CreateEndpoint, EndpointView, Webhooks};
pub use event::{Event, EventType};

/// Webhook failures. Messages never carry a URL (it may hold credentials)
/// or a secret.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The request was refused; the reason says why.
    #[error("{0}")]
    Invalid(String),
    /// No endpoint has this id.
    #[error("no webhook endpoint with id {0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
