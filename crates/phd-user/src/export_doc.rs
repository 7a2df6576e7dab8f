//! The GDPR export document: phd-sdk's (the web page builds the same document).

pub use phd_sdk::export_doc::*;
