//! FortiOS: object naming, the field allow-list, the object model, reading configuration text,
//! writing CLI, rendering through templates, device-state reading, the SSH session.
pub mod capacity;
pub mod device;
pub mod fields;
pub mod model;
pub mod naming;
pub mod parse;
pub mod policy;
pub mod probe;
pub mod quote;
pub mod render;
pub mod ssh;
pub mod stream;
pub mod templates;
pub mod writer;
