//! Progress for a person watching a terminal: spinners and line-count bars on stderr, never
//! on stdout and never in CI logs (not a terminal, or `--quiet`): there a step is at most an
//! info log line (`-v`).
use std::io::IsTerminal;
use std::time::Duration;

/// A set of progress lines on stderr, or nothing when nobody watches.
#[derive(Clone, Default)]
pub struct Bars(Option<indicatif::MultiProgress>);

impl Bars {
    /// Bars when stderr is a terminal and output is not suppressed.
    pub fn new(quiet: bool) -> Bars {
        Bars((!quiet && std::io::stderr().is_terminal()).then(|| {
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
        }))
    }

    /// No output at all (tests, library callers).
    pub fn hidden() -> Bars {
        Bars(None)
    }

    /// A progress line for one device.
    pub fn device(&self, target: &str) -> DeviceProgress {
        DeviceProgress(self.0.as_ref().map(|m| {
            let b = m.add(indicatif::ProgressBar::new_spinner());
            b.set_prefix(target.to_string());
            b
        }))
    }

    /// A spinner for the steps of a command (`what: step`); without a terminal the steps are
    /// info log lines.
    pub fn steps(&self, what: &str) -> Steps {
        Steps {
            what: what.to_string(),
            bar: self.0.as_ref().map(|m| {
                let b = m.add(indicatif::ProgressBar::new_spinner());
                b.enable_steady_tick(Duration::from_millis(120));
                b
            }),
        }
    }
}

/// Progress of one device: a spinner while connecting and reading, a line-count bar while
/// pushing.
pub struct DeviceProgress(Option<indicatif::ProgressBar>);

impl DeviceProgress {
    pub fn phase(&self, msg: &str) {
        if let Some(b) = &self.0 {
            if let Ok(st) = indicatif::ProgressStyle::with_template("{prefix} {spinner} {msg}") {
                b.set_style(st);
            }
            b.set_message(msg.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
        }
    }

    pub fn lines(&self, total: usize) {
        if let Some(b) = &self.0 {
            b.disable_steady_tick();
            if let Ok(st) = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} lines ({eta} left)",
            ) {
                b.set_style(st.progress_chars("=> "));
            }
            b.set_length(total as u64);
            b.set_position(0);
        }
    }

    pub fn set(&self, done: usize) {
        if let Some(b) = &self.0 {
            b.set_position(done as u64);
        }
    }
}

impl Drop for DeviceProgress {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Named steps of a command.
pub struct Steps {
    what: String,
    bar: Option<indicatif::ProgressBar>,
}

impl Steps {
    pub fn step(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(format!("{}: {msg}", self.what)),
            None => tracing::info!("{}: {msg}", self.what),
        }
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
