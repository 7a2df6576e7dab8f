//! phd-validator (work in progress).
