//! `blockops.yaml`: the repository's configuration. Unknown keys are errors, secrets are
//! referenced by name (environment variable or file), never stored here.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostic, Diagnostics};
use crate::secret::SecretSource;
use crate::text::is_word;

mod checks;
mod cybereason;
mod device;
mod values;
use checks::de_secret_opt;
pub use cybereason::{CybereasonConfig, EppMalops};
pub use device::CentralManagement;
pub use values::{Dur, Threshold};

/// Default location of the configuration, relative to the repository root.
pub const DEFAULT_PATH: &str = "blockops.yaml";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Connection to the Cybereason server (needed by `pull` only).
    #[serde(default)]
    pub cybereason: Option<CybereasonConfig>,
    /// Which kinds of indicators `pull` collects.
    #[serde(default)]
    pub sources: Sources,
    /// How long an indicator seen in connections/domains stays after it was last seen.
    #[serde(default = "default_window")]
    pub window: Dur,
    /// Never-block rules and change-size limits.
    #[serde(default)]
    pub guardrails: Guardrails,
    /// Rendering defaults shared by all targets.
    #[serde(default)]
    pub render: RenderConfig,
    /// Blocklist files, relative to the repository root.
    #[serde(default)]
    pub files: Files,
    /// Author of commits made by `pull --commit` (falls back to `GIT_AUTHOR_*`).
    #[serde(default)]
    pub git: GitConfig,
    /// FortiGate firewalls.
    #[serde(default)]
    pub targets: Vec<Target>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cybereason: None,
            sources: Sources::default(),
            window: default_window(),
            guardrails: Guardrails::default(),
            render: RenderConfig::default(),
            files: Files::default(),
            git: GitConfig::default(),
            targets: Vec::new(),
        }
    }
}

fn default_window() -> Dur {
    Dur(Duration::from_secs(30 * 86_400))
}

/// Which indicator sources `pull` uses.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// Blocklisted IPs and domains from the reputation list.
    #[serde(default = "yes")]
    pub reputation: bool,
    /// Malicious connections in the window (remote IP and domain).
    #[serde(default = "yes")]
    pub connections: bool,
    /// Suspicious / malicious domains.
    #[serde(default = "yes")]
    pub domains: bool,
    /// Record MalOp GUIDs linked to indicators.
    #[serde(default = "yes")]
    pub malops: bool,
}

fn yes() -> bool {
    true
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            reputation: true,
            connections: true,
            domains: true,
            malops: true,
        }
    }
}

/// Guardrails (SPEC §4.3, §4.4).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    /// Allow RFC 1918 / ULA / CGNAT ranges to be blocked.
    #[serde(default)]
    pub allow_private: bool,
    /// Shortest IPv4 prefix that may be blocked.
    #[serde(default = "default_min_v4")]
    pub min_prefix_v4: u8,
    /// Shortest IPv6 prefix that may be blocked.
    #[serde(default = "default_min_v6")]
    pub min_prefix_v6: u8,
    /// Largest removal `pull`/`plan` accept without `--allow-large-change`.
    #[serde(default = "default_max_removals")]
    pub max_removals: Threshold,
    /// `check` warns about entries expiring within this many days.
    #[serde(default = "default_expiry_warning")]
    pub expiry_warning_days: u32,
    /// NAT64 prefixes whose embedded IPv4 addresses are judged by the IPv4 guardrails
    /// (RFC 6052; see `blocklist::embedded`).
    #[serde(default = "default_nat64")]
    pub nat64_prefixes: Vec<String>,
    /// The weakest guardrails this repository accepts (see [`Floor`]).
    #[serde(default)]
    pub floor: Floor,
}

/// The default `guardrails.nat64_prefixes`: the well-known (RFC 6052) and the local-use
/// (RFC 8215) NAT64 prefix.
pub const DEFAULT_NAT64: &[&str] = &["64:ff9b::/96", "64:ff9b:1::/48"];

fn default_nat64() -> Vec<String> {
    DEFAULT_NAT64.iter().map(|s| s.to_string()).collect()
}

/// A policy floor: `check` refuses a configuration below it unless `--allow-weaker-policy`
/// (docs/review.md). Every key is optional; an absent key sets no floor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Floor {
    /// `false`: `guardrails.allow_private` may not be turned on.
    #[serde(default)]
    pub allow_private: Option<bool>,
    /// `guardrails.min_prefix_v4` may not be lower.
    #[serde(default)]
    pub min_prefix_v4: Option<u8>,
    /// `guardrails.min_prefix_v6` may not be lower.
    #[serde(default)]
    pub min_prefix_v6: Option<u8>,
    /// `guardrails.max_removals` may not be higher (same unit: count or percentage).
    #[serde(default)]
    pub max_removals: Option<Threshold>,
    /// Values the allowlist must keep protecting (an entry equal to or containing each).
    #[serde(default)]
    pub allowlist: Vec<String>,
}

fn default_min_v4() -> u8 {
    24
}
fn default_min_v6() -> u8 {
    48
}
fn default_max_removals() -> Threshold {
    Threshold::Percent(25)
}
fn default_expiry_warning() -> u32 {
    14
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            allow_private: false,
            min_prefix_v4: default_min_v4(),
            min_prefix_v6: default_min_v6(),
            max_removals: default_max_removals(),
            expiry_warning_days: default_expiry_warning(),
            nat64_prefixes: default_nat64(),
            floor: Floor::default(),
        }
    }
}

/// Rendering settings; every key can be overridden per target.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    /// Prefix of every object name blockops manages (`<prefix><value>`).
    pub prefix: String,
    /// IPv4 + FQDN address group.
    pub addrgrp: String,
    /// IPv6 address group.
    pub addrgrp6: String,
    /// Members per group before child groups `<group>-NNN` are used [U: model-dependent].
    pub max_group_members: usize,
    /// Longest object name the device accepts (79 on FortiOS 6.2+, 63 on 6.0).
    pub max_name_length: usize,
    /// Longest `append member` line.
    pub max_line_length: usize,
    /// Colour of managed address objects (0–32, 0 = default).
    pub color: u8,
    /// Fields templates may set beyond the built-in allow-list, per table
    /// (`address`, `address6`, `addrgrp`, `addrgrp6`; see `fortios::fields`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub template_fields: BTreeMap<String, Vec<String>>,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            prefix: "bo-".into(),
            addrgrp: "blockops-v4".into(),
            addrgrp6: "blockops-v6".into(),
            max_group_members: 600,
            max_name_length: 79,
            max_line_length: 400,
            color: 0,
            template_fields: BTreeMap::new(),
        }
    }
}

/// Per-target (or partial global) overrides of [`RenderConfig`].
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RenderOverrides {
    pub prefix: Option<String>,
    pub addrgrp: Option<String>,
    pub addrgrp6: Option<String>,
    pub max_group_members: Option<usize>,
    pub max_name_length: Option<usize>,
    pub max_line_length: Option<usize>,
    pub color: Option<u8>,
    /// Replaces the global `template_fields` for this target.
    pub template_fields: Option<BTreeMap<String, Vec<String>>>,
}

impl RenderOverrides {
    /// `base` with every key set here replaced.
    pub fn apply(&self, base: &RenderConfig) -> RenderConfig {
        RenderConfig {
            prefix: self.prefix.clone().unwrap_or_else(|| base.prefix.clone()),
            addrgrp: self.addrgrp.clone().unwrap_or_else(|| base.addrgrp.clone()),
            addrgrp6: self
                .addrgrp6
                .clone()
                .unwrap_or_else(|| base.addrgrp6.clone()),
            max_group_members: self.max_group_members.unwrap_or(base.max_group_members),
            max_name_length: self.max_name_length.unwrap_or(base.max_name_length),
            max_line_length: self.max_line_length.unwrap_or(base.max_line_length),
            color: self.color.unwrap_or(base.color),
            template_fields: self
                .template_fields
                .clone()
                .unwrap_or_else(|| base.template_fields.clone()),
        }
    }
}

/// Blocklist file locations.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Files {
    /// Written by `pull` only.
    #[serde(default = "default_pulled")]
    pub pulled: String,
    /// Hand-maintained entries.
    #[serde(default = "default_manual")]
    pub manual: String,
    /// Never block these.
    #[serde(default = "default_allowlist")]
    pub allowlist: String,
}

fn default_pulled() -> String {
    "blocklists/cybereason.yaml".into()
}
fn default_manual() -> String {
    "blocklists/manual.yaml".into()
}
fn default_allowlist() -> String {
    "blocklists/allowlist.yaml".into()
}

impl Default for Files {
    fn default() -> Self {
        Files {
            pulled: default_pulled(),
            manual: default_manual(),
            allowlist: default_allowlist(),
        }
    }
}

impl Files {
    /// The blocklist files in a fixed order (pulled first, then manual).
    pub fn blocklists(&self) -> [&str; 2] {
        [self.pulled.as_str(), self.manual.as_str()]
    }
}

/// Commit author for `pull --commit`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    pub author_name: Option<String>,
    pub author_email: Option<String>,
}

/// One FortiGate.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Short name used on the command line and in file names (`[A-Za-z0-9_.-]`).
    pub name: String,
    /// Management address (host name or IP).
    pub host: String,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    #[serde(default = "default_ssh_user")]
    pub username: String,
    /// Password source (environment variable or file).
    #[serde(default, deserialize_with = "de_secret_opt")]
    pub password: Option<SecretSource>,
    /// Private key file for public-key authentication.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    /// known_hosts file to verify the host key against.
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// Pinned host key fingerprint, `SHA256:…`.
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
    /// VDOM to configure on multi-VDOM devices.
    #[serde(default)]
    pub vdom: Option<String>,
    /// Plans must come from a commit reachable from this branch.
    #[serde(default = "default_branch")]
    pub approved_branch: String,
    /// Wrap the change in `execute config-transaction start`/`commit`.
    #[serde(default)]
    pub transaction: bool,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Dur,
    #[serde(default = "default_command_timeout")]
    pub command_timeout: Dur,
    /// Largest number of entries in a firewall address table on this device [U: model-dependent].
    #[serde(default)]
    pub max_addresses: Option<usize>,
    /// Render settings for this target (each key overrides the global `render:`).
    #[serde(default)]
    pub render: RenderOverrides,
    /// Text in a device reply that marks a pushed line as failed (see [`default_error_patterns`]) [U: extend if
    /// your firmware words errors differently].
    #[serde(default = "default_error_patterns")]
    pub error_patterns: Vec<String>,
    /// On a FortiManager-managed unit: `refuse` (default), `allow-backup-mode`, `allow`.
    #[serde(default)]
    pub central_management: CentralManagement,
    /// Lines in flight inside a transaction (outside one, every line waits for its reply).
    #[serde(default = "device::default_window_lines")]
    pub window_lines: usize,
    /// Bytes in flight inside a transaction.
    #[serde(default = "device::default_window_bytes")]
    pub window_bytes: usize,
}

/// Text that marks a device reply as a failure: FortiOS ends a failed line with `Command fail.
/// Return code <n>` (seen in public transcripts, e.g. fortinet-ansible-dev/ansible-galaxy-fortios-collection
/// issue #381), preceded by `command parse error`, `entry not found in datasource` or
/// `Maximum number of entries has been reached`.
pub fn default_error_patterns() -> Vec<String> {
    [
        "Command fail",
        "parse error",
        "not found in datasource",
        "Maximum number of entries",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn default_ssh_port() -> u16 {
    22
}
fn default_ssh_user() -> String {
    "admin".into()
}
fn default_branch() -> String {
    "main".into()
}
fn default_connect_timeout() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_command_timeout() -> Dur {
    Dur(Duration::from_secs(30))
}

/// Checks of render settings that belong to another layer (see [`Config::parse`]).
pub type RenderRules = fn(&RenderConfig) -> Vec<String>;

impl Config {
    /// Parse and validate; `path` names the file in messages. The text goes through the
    /// hardened YAML reader (nesting bound, positions); an empty file means all defaults.
    ///
    /// `rules` adds what the FortiOS layer says about each set of render settings: the loader
    /// (`workspace::load_config`) passes [`crate::fortios::naming::render_rules`], so that this module
    /// does not depend on the writer while every problem is still listed in one pass.
    pub fn parse(text: &str, path: &str, rules: RenderRules) -> Result<Config, Diagnostics> {
        let cfg: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            crate::yaml::from_str(text, path).map_err(Diagnostics::from)?
        };
        let problems = cfg.validate(path, text, rules);
        if problems.has_errors() {
            Err(problems)
        } else {
            Ok(cfg)
        }
    }

    /// The effective render settings of a target.
    pub fn render_for(&self, target: &Target) -> RenderConfig {
        target.render.apply(&self.render)
    }

    /// Look a target up by name.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    fn validate(&self, path: &str, text: &str, rules: RenderRules) -> Diagnostics {
        let mut d = Diagnostics::default();
        let mut err = |key: &str, msg: String| {
            let (line, col) = locate_key(text, key);
            d.push(Diagnostic::error(path, line, col, msg));
        };
        let g = &self.guardrails;
        if g.min_prefix_v4 > 32 {
            err(
                "min_prefix_v4",
                format!("guardrails.min_prefix_v4 {} is above 32", g.min_prefix_v4),
            );
        }
        if g.min_prefix_v6 > 128 {
            err(
                "min_prefix_v6",
                format!("guardrails.min_prefix_v6 {} is above 128", g.min_prefix_v6),
            );
        }
        checks::problems(self, &mut err);
        let mut seen = std::collections::BTreeSet::new();
        let mut renders = vec![("render".to_string(), self.render.clone())];
        for t in &self.targets {
            if !is_word(&t.name, "._-") {
                err(
                    "name",
                    format!("target name `{}` may only use A-Z a-z 0-9 . _ -", t.name),
                );
            }
            if !seen.insert(t.name.clone()) {
                err("name", format!("target `{}` is defined twice", t.name));
            }
            if let Some(v) = &t.vdom
                && (!is_word(v, "_-") || v.is_empty() || v.len() > 31)
            {
                err(
                    "vdom",
                    format!(
                        "target `{}`: VDOM name `{v}` may only use A-Z a-z 0-9 _ -",
                        t.name
                    ),
                );
            }
            if t.host.contains('@') {
                err(
                    "host",
                    format!(
                        "target `{}`: host must not contain credentials (`user@` / `user:password@`); the value is not shown",
                        t.name
                    ),
                );
            } else if t.host.is_empty()
                || t.host.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                err(
                    "host",
                    format!(
                        "target `{}`: host `{}` is not a host name or address",
                        t.name, t.host
                    ),
                );
            }
            if let Some(fp) = &t.host_key_fingerprint
                && !fp.starts_with("SHA256:")
            {
                err(
                    "host_key_fingerprint",
                    format!(
                        "target `{}`: host_key_fingerprint must look like SHA256:…",
                        t.name
                    ),
                );
            }
            if t.password.is_none() && t.private_key.is_none() {
                err(
                    "name",
                    format!(
                        "target `{}`: set `password` (env/file) or `private_key`",
                        t.name
                    ),
                );
            }
            for (key, msg) in device::problems(t) {
                err(key, msg);
            }
            renders.push((format!("target `{}`", t.name), self.render_for(t)));
        }
        for (who, r) in &renders {
            for p in r.problems().into_iter().chain(rules(r)) {
                err("prefix", format!("{who}: {p}"));
            }
        }
        d
    }
}

impl RenderConfig {
    /// Problems with names and limits, as sentences (those that need FortiOS knowledge —
    /// name budget, template fields — come from the [`RenderRules`] the loader passes).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(3..=24).contains(&self.prefix.len()) || !is_word(&self.prefix, "._:-") {
            // Short prefixes claim other people's objects (`h` matches `handmade-server`).
            out.push(format!(
                "prefix `{}` must be 3–24 characters of A-Z a-z 0-9 . _ : -",
                self.prefix
            ));
        }
        for g in [&self.addrgrp, &self.addrgrp6] {
            if g.is_empty() || !is_word(g, "._-") {
                out.push(format!("group name `{g}` may only use A-Z a-z 0-9 . _ -"));
            } else if g.len() + 4 > self.max_name_length {
                out.push(format!(
                    "group name `{g}` leaves no room for child groups `{g}-NNN` within {} characters",
                    self.max_name_length
                ));
            } else if g.starts_with(&self.prefix) || self.prefix.starts_with(&format!("{g}-")) {
                out.push(format!(
                    "group name `{g}` (and its child groups `{g}-NNN`) must not start with the object prefix `{}`",
                    self.prefix
                ));
            }
        }
        if self.addrgrp == self.addrgrp6 {
            out.push("addrgrp and addrgrp6 must differ (one name space on the device)".into());
        }
        if !(1..=10_000).contains(&self.max_group_members) {
            out.push(format!(
                "max_group_members {} must be 1–10000",
                self.max_group_members
            ));
        }
        if !(32..=255).contains(&self.max_name_length) {
            out.push(format!(
                "max_name_length {} must be 32–255",
                self.max_name_length
            ));
        }
        if !(120..=4000).contains(&self.max_line_length) {
            out.push(format!(
                "max_line_length {} must be 120–4000",
                self.max_line_length
            ));
        }
        if self.color > 32 {
            out.push(format!("color {} must be 0–32", self.color));
        }
        out
    }
}

/// Best-effort line/column of the first `key:` in the text (1-based; 0 when not found).
pub fn locate_key(text: &str, key: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with(':')
        {
            let col = line.len() - trimmed.len() + 1;
            return (i + 1, col);
        }
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, path: &str) -> Result<Config, Diagnostics> {
        Config::parse(text, path, crate::fortios::naming::render_rules)
    }

    #[test]
    fn empty_config_gets_defaults() {
        let c = parse("", "blockops.yaml").unwrap();
        assert_eq!(c.render.prefix, "bo-");
        assert_eq!(c.window.to_string(), "30d");
        assert_eq!(c.guardrails.max_removals, Threshold::Percent(25));
    }

    #[test]
    fn unknown_key_is_an_error_with_position() {
        let e = parse("window: 30d\nrender:\n  prefx: x\n", "blockops.yaml").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("blockops.yaml:3:"), "{s}");
        assert!(s.contains("prefx"), "{s}");
    }

    #[test]
    fn target_overrides_render_settings() {
        let c = parse(
            "render:\n  prefix: bl-\ntargets:\n- name: fw1\n  host: 127.0.0.1\n  password: {env: X}\n  render:\n    addrgrp: edge-v4\n",
            "b.yaml",
        )
        .unwrap();
        let r = c.render_for(&c.targets[0]);
        assert_eq!(
            (r.prefix.as_str(), r.addrgrp.as_str(), r.addrgrp6.as_str()),
            ("bl-", "edge-v4", "blockops-v6")
        );
    }

    #[test]
    fn durations_and_thresholds() {
        assert_eq!("90s".parse::<Dur>().unwrap().0, Duration::from_secs(90));
        assert_eq!("2w".parse::<Dur>().unwrap().to_string(), "2w");
        assert!("3y".parse::<Dur>().is_err());
        assert_eq!(Threshold::Percent(25).limit(1000), 250);
        let c = parse("guardrails:\n  max_removals: 40\n", "b").unwrap();
        assert_eq!(c.guardrails.max_removals, Threshold::Count(40));
    }

    #[test]
    fn hostile_prefix_is_rejected() {
        let e = parse("render:\n  prefix: \"bo\\\" ; purge\"\n", "b.yaml").unwrap_err();
        assert!(e.to_string().contains("prefix"), "{e}");
    }
}
