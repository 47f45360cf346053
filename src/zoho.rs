//! The client for Zoho's accounts server (placeholder; see issue 3).
