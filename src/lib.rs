//! blockops: Cybereason EDR indicators → YAML blocklist in git → FortiOS CLI, reviewed and pushed safely.
//!
//! One module per pipeline stage; `cli` wires them to commands.
pub mod atomic;
pub mod blocklist;
pub mod cli;
pub mod config;
pub mod cybereason;
pub mod diag;
pub mod doctor;
pub mod error;
pub mod fortios;
pub mod gitops;
pub mod plan;
pub mod progress;
pub mod report;
pub mod review;
pub mod secret;
pub mod sim;
pub mod text;
pub mod workspace;
pub mod yaml;
