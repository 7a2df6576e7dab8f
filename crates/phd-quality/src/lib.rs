//! phd-quality (work in progress).
