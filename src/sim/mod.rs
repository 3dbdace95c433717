//! Simulators of the Cybereason API and a FortiGate, for tests, the demo and users' CI.

pub mod fortigate;
