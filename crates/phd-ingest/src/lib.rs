//! phd-ingest (work in progress).
