//! phd-seal (work in progress).
