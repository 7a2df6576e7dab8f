//! phd-chain (work in progress).
