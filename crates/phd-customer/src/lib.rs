//! phd-customer (work in progress).
