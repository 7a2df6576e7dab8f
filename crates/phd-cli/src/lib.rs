//! phd-cli (work in progress).
