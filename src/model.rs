//! The domain model shared by token issue ([`crate::broker`]) and connection
//! administration ([`crate::connections`]): the connection record and its
//! health, the typed connection name, the mint budget, how a grant from
//! Zoho is applied to a record, and the domain errors with their fixes. It sits below both
//! and imports only the store, crypto and zoho layers.

pub mod budget;
pub mod connection;
pub mod error;
pub mod fix;
pub mod grant;
pub mod name;

pub use fix::Fix;
pub use name::ConnectionName;
