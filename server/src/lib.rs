//! `vouchd`, the verification service, as a library: the binary (`main.rs`) is one line, so
//! tests run exactly the code the binary runs.
//!
//! Modules: [`cli`] (flags, start-up, shutdown), [`service`] (the gRPC service and the pool),
//! [`deadline`] (server and client deadlines),
//! [`cache`] (verdict cache), [`audit`] (hash-chained audit log), [`metrics`] (Prometheus),
//! [`facts`] (what a verdict says about a program; shared with `vouch audit --reverify`),
//! [`image`] (the one place that produces JIT images), [`smt`] (option `z3`).

pub mod audit;
pub mod cache;
pub mod cli;
pub mod corked;
pub mod deadline;
pub mod facts;
pub mod image;
pub mod kernel_btf;
pub mod metrics;
pub mod service;
pub mod smt;
