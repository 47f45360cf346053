//! zoho-vault: an encrypted vault for Zoho OAuth self-client credentials.

pub mod fake_zoho;
pub mod zoho;
