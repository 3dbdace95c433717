//! FortiOS: object naming, rendering, device-state parsing, SSH session.
pub mod device;
pub mod model;
pub mod naming;
pub mod quote;
pub mod render;
pub mod ssh;
