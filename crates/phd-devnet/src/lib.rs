//! phd-devnet (work in progress).
