//! Everything a command needs from a repository at one point in time (work tree or commit):
//! the configuration, the blocklists, the allowlist and the templates — and the effective
//! set of indicators once guardrails have been applied.
use time::Date;

use crate::blocklist::allowlist::Allowlist;
pub use crate::blocklist::effective::{Blocked, DroppedEntry, Effective};
use crate::blocklist::guard::{Dropped, Guard};
use crate::blocklist::indicator::Indicator;
use crate::blocklist::{BlocklistFile, Entry};
use anyhow::Context as _;

use crate::config::{Config, Target};
use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::fortios::model::Desired;
use crate::fortios::render;
use crate::fortios::templates::Templates;
use crate::gitops::{Source, read_required};

/// Read and validate the configuration at `path` in `src` (the one loader every command
/// uses): missing, unreadable, oversized, hostile or invalid is an error listing every problem.
pub fn load_config(src: &dyn Source, path: &str) -> Result<Config, Diagnostics> {
    let text = match src.read(path) {
        Ok(Some(b)) => crate::yaml::decode(b, path)?,
        Ok(None) => {
            return Err(Diagnostic::error(
                path,
                0,
                0,
                format!("no configuration file in {}", src.label()),
            )
            .into());
        }
        Err(e) => return Err(Diagnostic::error(path, 0, 0, format!("{e:#}")).into()),
    };
    Config::parse(&text, path, crate::fortios::naming::render_rules)
}

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

impl Workspace {
    /// The desired state of `target` from the effective blocklist, with its render settings.
    pub fn desired(&self, eff: &Effective<'_>, target: &Target) -> anyhow::Result<Desired> {
        let rc = self.config.render_for(target);
        render::desired_with(&rc, eff, &target.name, target.vdom.clone())
    }

    /// The full desired-state script of `target`, through this snapshot's templates.
    pub fn script(&self, desired: &Desired, target: &Target) -> anyhow::Result<String> {
        let rc = self.config.render_for(target);
        render::full_script(&self.templates, desired, &rc)
            .with_context(|| format!("rendering target {}", target.name))
    }

    /// Load strictly: any error in any file fails, with all problems listed.
    pub fn load(src: &dyn Source, config_path: &str) -> Result<Workspace, Diagnostics> {
        let (ws, diags) = Self::load_lenient(src, config_path);
        match ws {
            Some(ws) if !diags.has_errors() => Ok(ws),
            _ => Err(diags),
        }
    }

    /// Load as much as possible, returning every problem found. Every configured file must
    /// exist and be readable: a missing allowlist or blocklist is an error (fail closed),
    /// never an empty default.
    pub fn load_lenient(src: &dyn Source, config_path: &str) -> (Option<Workspace>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let config = match load_config(src, config_path) {
            Ok(c) => c,
            Err(d) => {
                diags.extend(d);
                return (None, diags);
            }
        };
        let mut text = |path: &str| match read_required(src, path) {
            Ok(t) => Some(t),
            Err(d) => {
                diags.push(d);
                None
            }
        };
        let mut loaded = Vec::new();
        for path in config.files.blocklists() {
            loaded.push((path, text(path)));
        }
        let allow_path = config.files.allowlist.clone();
        let allow_text = text(&allow_path);
        let mut files = Vec::new();
        for (path, t) in loaded {
            let (f, d) = match t {
                Some(t) => BlocklistFile::parse_lenient(&t, path),
                None => (BlocklistFile::empty(path), Diagnostics::default()),
            };
            diags.extend(d);
            files.push(f);
        }
        let empty_allowlist = || Allowlist {
            path: allow_path.clone(),
            rules: Vec::new(),
        };
        let allowlist = match allow_text {
            Some(t) => match Allowlist::parse(&t, &allow_path) {
                Ok(a) => a,
                Err(d) => {
                    diags.extend(d);
                    empty_allowlist()
                }
            },
            None => empty_allowlist(),
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
        let mut passed: Vec<(&Indicator, Vec<(&str, &Entry)>)> = Vec::with_capacity(by_value.len());
        for (value, entries) in by_value {
            match guard.check(value) {
                Ok(()) => passed.push((value, entries)),
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
        // No indicator may stop the others: an object name taken twice on any target drops
        // the later indicator (rule `name-collision`), everywhere, deterministically.
        let values: Vec<&Indicator> = passed.iter().map(|(v, _)| *v).collect();
        let mut collided = crate::fortios::naming::collisions(&values, &self.naming_schemes())
            .into_iter()
            .peekable();
        for (i, (value, entries)) in passed.into_iter().enumerate() {
            match collided.next_if(|(j, _)| *j == i) {
                None => out.blocked.push(Blocked { value, entries }),
                Some((_, why)) => {
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

    /// The distinct object-naming schemes of the global render settings and every target.
    fn naming_schemes(&self) -> Vec<crate::fortios::naming::Scheme> {
        use crate::fortios::naming::Scheme;
        let mut out: Vec<Scheme> = Vec::new();
        let mut add = |label: String, rc: &crate::config::RenderConfig| match out
            .iter_mut()
            .find(|s| s.prefix == rc.prefix && s.max_len == rc.max_name_length)
        {
            Some(s) => {
                s.label.push_str(", ");
                s.label.push_str(&label);
            }
            None => out.push(Scheme {
                label,
                prefix: rc.prefix.clone(),
                max_len: rc.max_name_length,
            }),
        };
        for t in &self.config.targets {
            add(format!("target {}", t.name), &self.config.render_for(t));
        }
        add("render settings".into(), &self.config.render);
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
