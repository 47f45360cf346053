//! The fake Zoho accounts server (placeholder; see issue 3).
