//! phd-device (work in progress).
