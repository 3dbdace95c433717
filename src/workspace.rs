//! Everything a command needs from a repository at one point in time (work tree or commit):
//! the configuration, the blocklists, the allowlist and the templates — and the effective
//! set of indicators once guardrails have been applied.
use time::Date;

use crate::blocklist::allowlist::Allowlist;
use crate::blocklist::guard::{Dropped, Guard};
use crate::blocklist::indicator::Indicator;
use crate::blocklist::{BlocklistFile, Entry, Source as Origin};
use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::fortios::templates::Templates;
use crate::gitops::{Source, read_text};

/// A loaded repository snapshot.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// `WORKTREE`, a short commit id, or `(empty)`.
    pub label: String,
    pub config: Config,
    /// The blocklist files, pulled first then manual.
    pub files: Vec<BlocklistFile>,
    pub allowlist: Allowlist,
    pub templates: Templates,
}

/// One indicator that will be blocked, with every entry that lists it.
#[derive(Debug, Clone)]
pub struct Blocked<'w> {
    pub value: &'w Indicator,
    /// (file path, entry) for each file that lists the value.
    pub entries: Vec<(&'w str, &'w Entry)>,
}

/// One indicator that is listed but not blocked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DroppedEntry {
    pub value: String,
    pub file: String,
    pub line: usize,
    #[serde(flatten)]
    pub why: Dropped,
}

/// The effective blocklist.
#[derive(Debug, Clone, Default)]
pub struct Effective<'w> {
    /// Sorted by indicator order.
    pub blocked: Vec<Blocked<'w>>,
    pub dropped: Vec<DroppedEntry>,
}

impl<'w> Blocked<'w> {
    /// Union of the sources of every listing entry.
    pub fn sources(&self) -> Vec<Origin> {
        let mut v: Vec<Origin> = self
            .entries
            .iter()
            .flat_map(|(_, e)| e.sources.iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }
    /// Union of MalOp GUIDs.
    pub fn malops(&self) -> Vec<&'w str> {
        let mut v: Vec<&str> = self
            .entries
            .iter()
            .flat_map(|(_, e)| e.malops.iter().map(String::as_str))
            .collect();
        v.sort();
        v.dedup();
        v
    }
    /// First non-empty entry comment (manual comments win over pulled ones).
    pub fn comment(&self) -> Option<&'w str> {
        self.entries
            .iter()
            .rev()
            .find_map(|(_, e)| e.comment.as_deref().filter(|c| !c.is_empty()))
    }
}

/// The configuration file of a repository snapshot: the one loader every command uses
/// (through `cli::Ctx::config` for the work tree, through [`Workspace::load`] at a revision).
pub fn load_config(src: &dyn Source, config_path: &str) -> Result<Config, Diagnostics> {
    match read_text(src, config_path) {
        Ok(Some(t)) => Config::parse(&t, config_path),
        Ok(None) => Err(Diagnostics::from(Diagnostic::error(
            config_path,
            0,
            0,
            format!("no configuration file in {}", src.label()),
        ))),
        Err(e) => Err(Diagnostics::from(Diagnostic::error(
            config_path,
            0,
            0,
            format!("{e:#}"),
        ))),
    }
}

impl Workspace {
    /// Load strictly: any error in any file fails, with all problems listed.
    pub fn load(src: &dyn Source, config_path: &str) -> Result<Workspace, Diagnostics> {
        let (ws, diags) = Self::load_lenient(src, config_path);
        match ws {
            Some(ws) if !diags.has_errors() => Ok(ws),
            _ => Err(diags),
        }
    }

    /// Load as much as possible, returning every problem found.
    pub fn load_lenient(src: &dyn Source, config_path: &str) -> (Option<Workspace>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let text = |path: &str, diags: &mut Diagnostics| match read_text(src, path) {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic::error(path, 0, 0, format!("{e:#}")));
                None
            }
        };
        let config = match load_config(src, config_path) {
            Ok(c) => c,
            Err(d) => {
                diags.extend(d);
                return (None, diags);
            }
        };
        let mut files = Vec::new();
        for path in config.files.blocklists() {
            let (f, d) = match text(path, &mut diags) {
                Some(t) => BlocklistFile::parse_lenient(&t, path),
                None => (BlocklistFile::empty(path), Diagnostics::default()),
            };
            diags.extend(d);
            files.push(f);
        }
        let allow_path = config.files.allowlist.clone();
        let allowlist = match text(&allow_path, &mut diags) {
            Some(t) => match Allowlist::parse(&t, &allow_path) {
                Ok(a) => a,
                Err(d) => {
                    diags.extend(d);
                    Allowlist {
                        path: allow_path.clone(),
                        rules: Vec::new(),
                    }
                }
            },
            None => Allowlist {
                path: allow_path.clone(),
                rules: Vec::new(),
            },
        };
        let templates = match Templates::load(src) {
            Ok(t) => t,
            Err(d) => {
                diags.extend(d);
                Templates::builtin()
            }
        };
        let ws = Workspace {
            label: src.label(),
            config,
            files,
            allowlist,
            templates,
        };
        (Some(ws), diags)
    }

    /// An empty repository (base of the first commit).
    pub fn empty(config: &Config) -> Workspace {
        Workspace {
            label: "(empty)".into(),
            config: config.clone(),
            files: config
                .files
                .blocklists()
                .iter()
                .map(|p| BlocklistFile::empty(p))
                .collect(),
            allowlist: Allowlist {
                path: config.files.allowlist.clone(),
                rules: Vec::new(),
            },
            templates: Templates::builtin(),
        }
    }

    /// The guard built from the config and allowlist.
    pub fn guard(&self) -> Guard {
        Guard::new(&self.config.guardrails, &self.allowlist)
    }

    /// Merge all files, apply guardrails and expiry as of `today`.
    pub fn effective(&self, today: Date) -> Effective<'_> {
        let guard = self.guard();
        let mut all: Vec<(&Indicator, &str, &Entry)> = Vec::new();
        let mut out = Effective::default();
        for f in &self.files {
            for e in &f.entries {
                if e.is_expired(today) {
                    out.dropped.push(DroppedEntry {
                        value: e.value.to_string(),
                        file: f.path.clone(),
                        line: e.line,
                        why: Dropped {
                            rule: "expired",
                            detail: format!(
                                "expired on {}",
                                crate::blocklist::format_date(e.expires.unwrap_or(today))
                            ),
                        },
                    });
                    continue;
                }
                all.push((&e.value, f.path.as_str(), e));
            }
        }
        // Each file is sorted already: a stable sort of the concatenation is a cheap merge.
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut by_value: Vec<(&Indicator, Vec<(&str, &Entry)>)> = Vec::with_capacity(all.len());
        for (v, file, e) in all {
            match by_value.last_mut() {
                Some((last, entries)) if *last == v => entries.push((file, e)),
                _ => by_value.push((v, vec![(file, e)])),
            }
        }
        for (value, entries) in by_value {
            match guard.check(value) {
                Ok(()) => out.blocked.push(Blocked { value, entries }),
                Err(why) => {
                    for (file, e) in entries {
                        out.dropped.push(DroppedEntry {
                            value: value.to_string(),
                            file: file.into(),
                            line: e.line,
                            why: why.clone(),
                        });
                    }
                }
            }
        }
        out.dropped
            .sort_by(|a, b| (&a.file, a.line, &a.value).cmp(&(&b.file, b.line, &b.value)));
        out
    }

    /// Values listed in more than one file (reported, not an error).
    pub fn cross_file_duplicates(&self) -> Diagnostics {
        let mut d = Diagnostics::default();
        if self.files.len() < 2 {
            return d;
        }
        let (first, rest) = self.files.split_at(1);
        for f in rest {
            for e in &f.entries {
                if let Some(other) = first[0].get(&e.value) {
                    d.push(Diagnostic {
                        severity: Severity::Info,
                        file: f.path.clone(),
                        line: e.line,
                        col: 0,
                        message: format!(
                            "`{}` is also listed in {}:{}",
                            e.value, first[0].path, other.line
                        ),
                    });
                }
            }
        }
        d
    }
}
