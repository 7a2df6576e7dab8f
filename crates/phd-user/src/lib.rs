//! phd-user (work in progress).
