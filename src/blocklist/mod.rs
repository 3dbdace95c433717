//! The blocklist files in git: typed indicators, the YAML model, guardrails.
pub mod indicator;
