//! Simulators of the Cybereason API and a FortiGate, for tests, the demo and users' CI.

pub mod cybereason;
pub mod fortigate;
pub mod proxy;

/// A server running on its own thread until [`Background::stop`] or drop: tells it to stop,
/// then waits for the thread. Shared by the Cybereason simulator and the delay proxy.
pub(crate) struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub(crate) fn new(
        stop: tokio::sync::oneshot::Sender<()>,
        thread: std::thread::JoinHandle<()>,
    ) -> Background {
        Background {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Signal the server and join its thread (idempotent).
    pub(crate) fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}
