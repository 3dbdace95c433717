//! Plan files: what was approved is what is applied.
