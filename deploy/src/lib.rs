//! phd-deploy (work in progress).
