//! What every session of one simulated FortiGate shares: its identity and limits, how it
//! behaves where public sources disagree (switches), the committed configuration, the
//! registry of open `execute config-transaction`s with their object locks, and a log of
//! global-setting changes (so tests can prove a client never touched one).
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::state::DeviceState;

/// Capacity limits of the simulated device (its `print tablesize` figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted entry name (FortiOS 7.x: 79; 6.0: 63).
    pub name_length: usize,
    /// Most members one group may hold (`firewall.addrgrp:member`).
    pub max_members: usize,
    /// Most entries one table may hold per VDOM.
    pub max_entries: usize,
    /// Most entries one table may hold over all VDOMs together (0 = no such limit).
    pub max_entries_global: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            name_length: 79,
            max_members: 600,
            max_entries: 100_000,
            max_entries_global: 200_000,
        }
    }
}

/// Identity and behaviour of the simulated device (fixed for its lifetime).
#[derive(Debug, Clone)]
pub struct Profile {
    pub hostname: String,
    /// Multi-VDOM mode (`Virtual domain configuration: multiple`).
    pub vdom_mode: bool,
    pub limits: Limits,
    /// The `Version:` value of `get system status`.
    pub version: String,
    pub serial: String,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            hostname: "FGT".into(),
            vdom_mode: false,
            limits: Limits::default(),
            version: "FortiGate-VM64 v7.4.8,build2795,250523 (GA.M)".into(),
            serial: "FGVMEVSIM0000001".into(),
        }
    }
}

/// What a per-line error inside an open transaction does. Public sources do not say ([U] in
/// docs/fortigate-sim.md), so both plausible behaviours can be played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxnOnError {
    /// The error is reported and the transaction stays open (the default).
    #[default]
    Continue,
    /// The error is reported and the whole transaction is discarded; later lines apply
    /// directly, outside any transaction.
    Abort,
}

/// How `execute config-transaction` behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOptions {
    /// The length of one "minute" of the idle timeout (`start [1-60]`, default 5 minutes, per
    /// the FortiOS 7.6 CLI reference). Tests shorten it instead of waiting five real minutes.
    pub minute: Duration,
    pub on_error: TxnOnError,
    /// After a disconnect the staged changes are gone, but the session's object locks stay
    /// until the idle timeout runs out ("all changes are discarded when the session expires on
    /// Idle Timeout" — yurisk.info, 2022-04-04 "Fortigate new Workspace Mode").
    pub locks_survive_disconnect: bool,
}

impl Default for TxnOptions {
    fn default() -> Self {
        TxnOptions {
            minute: Duration::from_secs(60),
            on_error: TxnOnError::Continue,
            locks_survive_disconnect: true,
        }
    }
}

/// Device behaviour that is not identity: switches for facts the public record leaves open.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Every VDOM (including ones created later with `config vdom` / `edit X`) starts with
    /// FortiOS' factory objects (`all`, `none`, …; see `defaults.rs`).
    pub default_objects: bool,
    pub transactions: TxnOptions,
}

/// An object a transaction has locked: (VDOM or `""` for global tables, table path, name).
pub type ObjKey = (String, String, String);

/// One open transaction as other sessions see it.
#[derive(Debug, Clone)]
pub struct TxnMeta {
    /// When it expires unless its session does something first.
    pub deadline: Instant,
    /// Its idle timeout.
    pub idle: Duration,
    /// Set when the deadline passed (the owning session reports it on its next chance).
    pub expired: bool,
    /// Its session is gone: only its locks remain, until the deadline.
    pub orphan: bool,
}

/// Open transactions and the objects they lock.
#[derive(Debug, Default)]
pub struct TxnRegistry {
    next_id: u64,
    pub live: BTreeMap<u64, TxnMeta>,
    pub locks: HashMap<ObjKey, u64>,
}

impl TxnRegistry {
    /// Register a new transaction; returns its id (1, 2, … as the KB's `id=1` messages show).
    pub fn open(&mut self, idle: Duration, now: Instant) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.live.insert(
            id,
            TxnMeta {
                deadline: now + idle,
                idle,
                expired: false,
                orphan: false,
            },
        );
        id
    }

    /// Drop a transaction and its locks.
    pub fn close(&mut self, id: u64) {
        self.live.remove(&id);
        self.locks.retain(|_, owner| *owner != id);
    }

    /// Mark every transaction whose deadline passed as expired and free its locks.
    pub fn reap(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .live
            .iter()
            .filter(|(_, m)| !m.expired && m.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(m) = self.live.get_mut(&id) {
                m.expired = true;
            }
            self.locks.retain(|_, owner| *owner != id);
        }
        self.live.retain(|_, m| !(m.expired && m.orphan));
    }

    /// The live transaction other than `me` holding a lock on `key`.
    pub fn locked_by_other(&mut self, key: &ObjKey, me: Option<u64>, now: Instant) -> bool {
        self.reap(now);
        self.locks.get(key).is_some_and(|owner| Some(*owner) != me)
    }
}

/// What the interpreter shares between sessions: the device profile and its configuration.
#[derive(Debug)]
pub struct Device {
    pub profile: Profile,
    pub behaviour: Behaviour,
    pub state: Mutex<DeviceState>,
    /// Bumped after every committed change (the state-file writer watches it).
    pub changed: tokio::sync::watch::Sender<u64>,
    pub txns: Mutex<TxnRegistry>,
    /// Every committed change to a global setting (console, central management, resource
    /// limits, VDOM properties), oldest first: `<user>: <path>: <field> <old> -> <new>`.
    pub global_log: Mutex<Vec<String>>,
}

impl Device {
    /// A device with the given profile and configuration (default behaviour).
    pub fn new(profile: Profile, state: DeviceState) -> Arc<Device> {
        Self::with(profile, Behaviour::default(), state)
    }

    /// A device with explicit behaviour switches.
    pub fn with(profile: Profile, behaviour: Behaviour, state: DeviceState) -> Arc<Device> {
        let (changed, _) = tokio::sync::watch::channel(0);
        Arc::new(Device {
            profile,
            behaviour,
            state: Mutex::new(state),
            changed,
            txns: Mutex::new(TxnRegistry::default()),
            global_log: Mutex::new(Vec::new()),
        })
    }

    /// Lock the committed configuration (a poisoned lock is still usable: state is plain data).
    pub fn lock(&self) -> MutexGuard<'_, DeviceState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lock the transaction registry.
    pub fn txns(&self) -> MutexGuard<'_, TxnRegistry> {
        self.txns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signal that the committed configuration changed.
    pub fn touch(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Record a committed global-setting change.
    pub fn log_global(&self, line: String) {
        self.global_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    /// The global-setting changes so far.
    pub fn global_changes(&self) -> Vec<String> {
        self.global_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_transactions_release_their_locks() {
        let mut r = TxnRegistry::default();
        let t0 = Instant::now();
        let a = r.open(Duration::from_secs(10), t0);
        assert_eq!(a, 1);
        let key: ObjKey = ("root".into(), "firewall address".into(), "x".into());
        r.locks.insert(key.clone(), a);
        assert!(r.locked_by_other(&key, None, t0));
        assert!(!r.locked_by_other(&key, Some(a), t0));
        assert!(!r.locked_by_other(&key, None, t0 + Duration::from_secs(11)));
        assert!(r.live[&a].expired);
        r.close(a);
        assert!(r.live.is_empty());
    }
}
