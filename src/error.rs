//! The one place where outcomes and errors become exit codes.
//!
//! `0` success / no changes, `1` error, `2` changes present (only when asked for),
//! `3` refused by a safety check.
use std::process::ExitCode;

/// What a successful command reports back to `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success, or no changes.
    Ok,
    /// Changes are present and the user asked for `--exit-code`/`--detailed-exitcode`.
    Changes,
}

/// A safety check refused to go on (exit 3): guardrail, stale or unapproved plan, unknown host key.
#[derive(Debug, thiserror::Error)]
#[error("refused: {0}")]
pub struct Refused(pub String);

impl Refused {
    pub fn new(msg: impl Into<String>) -> Self {
        Refused(msg.into())
    }
}

/// Exit code for a command result; prints the error chain to stderr.
pub fn exit(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Changes) => ExitCode::from(2),
        Err(err) => {
            eprintln!("error: {}", render_chain(&err));
            if is_refusal(&err) {
                ExitCode::from(3)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// True when any error in the chain is a [`Refused`].
pub fn is_refusal(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<Refused>().is_some())
}

/// "outer: inner: root" on one line, the way operators read errors in CI logs.
pub fn render_chain(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.chain() {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}
