//! FortiOS: object naming, rendering, device-state parsing, SSH session.
