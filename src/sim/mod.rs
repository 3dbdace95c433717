//! Simulators of the Cybereason API and a FortiGate, for tests, the demo and users' CI.

pub mod cybereason;
pub mod fortigate;
pub mod proxy;
