//! phd-keeper (work in progress).
