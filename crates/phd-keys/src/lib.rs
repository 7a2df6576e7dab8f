//! phd-keys (work in progress).
