//! Cybereason EDR REST client: login, the sources `pull` reads, and the pull use case.
//!
//! - [`client`] / [`login`]: the HTTP session (retries, expiry, `Retry-After`, redaction);
//! - [`body`], [`shape`], [`reputation`], [`lean`]: reading answers strictly (and fast) — truncated or corrupt
//!   bodies and values in unknown shapes are errors that say where;
//! - [`query`], [`malops`], [`collect`]: what is asked and what is read from the answers;
//! - [`health`]: read-only probes for `blockops doctor` (reachability, the health endpoint);
//! - [`pull`]: collect, then lock, merge, write and commit the pulled file.
pub mod api;
pub mod body;
pub mod client;
pub mod collect;
pub mod error;
pub mod health;
pub mod lean;
pub mod login;
pub mod malops;
pub mod pull;
pub mod query;
pub mod reputation;
pub mod shape;

pub use crate::blocklist::merge::Finding;
pub use client::{Client, ClientError, ClientSettings};
pub use collect::{CollectOptions, Collected, collect};
