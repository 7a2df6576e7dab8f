//! phd-storage (work in progress).
