//! Cybereason EDR REST client and API types.
pub mod api;
pub mod client;
pub mod collect;

pub use client::{Client, ClientError, ClientSettings};
pub use collect::{CollectOptions, Collected, Finding, Origin, collect};
