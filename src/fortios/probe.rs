//! What a session can learn about its device without changing anything: identity and VDOM
//! mode (`get system status`), the session's scope (a global administrator, or a VDOM-scoped
//! one who lands in its VDOM), FortiManager management, table limits and whether
//! configuration transactions are available. `plan`/`apply` use these before they read or
//! write, and `doctor` reports them.
//!
//! Every command here is a read. A refusal (a least-privilege profile may not run it) is
//! information, never a failure of the session: it is recorded as [`Refusal`] and the caller
//! decides. Global settings are only read where the administrator has them: a VDOM-scoped
//! administrator has no `config global` (`command parse error before 'global'`, netmiko
//! issue #3353), so blockops never sends it one.
use serde::{Deserialize, Serialize};

use super::device::find_error;
use super::ssh::Session;

/// A command the device refused (permission, or not available to this administrator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub command: String,
    /// The device's error line(s), e.g. `Permission denied. Insufficient privileges`.
    pub error: String,
    /// The FortiOS return code (`-14`, `-37`, `-61` …), when printed.
    pub code: Option<i32>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` was refused: {}", self.command, self.error)
    }
}

/// Run a read; `Err(Refusal)` when the reply matches an error pattern.
pub async fn ask(
    s: &mut Session,
    line: &str,
    patterns: &[String],
) -> anyhow::Result<Result<String, Refusal>> {
    let out = s.cmd(line).await?;
    if find_error(&out, patterns).is_some() {
        let code = out.lines().find_map(|l| {
            l.trim()
                .strip_prefix("Command fail. Return code ")
                .and_then(|c| c.trim().parse().ok())
        });
        let error = out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Command fail"))
            .collect::<Vec<_>>()
            .join(" / ");
        return Ok(Err(Refusal {
            command: line.to_string(),
            error: if error.is_empty() {
                out.trim().to_string()
            } else {
                error
            },
            code,
        }));
    }
    Ok(Ok(out))
}

/// The lines of `get system status` blockops uses (layout as in ntc-templates'
/// `fortinet_get_system_status` test data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// `Version:` (e.g. `FortiGate-VM64 v7.4.8,build2795,250523 (GA.M)`).
    pub version: Option<String>,
    pub hostname: Option<String>,
    pub serial: Option<String>,
    /// `Current virtual domain:`.
    pub current_vdom: Option<String>,
    /// `Virtual domain configuration:` (`disable`, `multiple`, `enable`, `split-task`).
    pub vdom_configuration: Option<String>,
}

impl Status {
    /// Parse `get system status` output (`Key: value` lines).
    pub fn parse(text: &str) -> Status {
        let mut st = Status::default();
        for l in text.lines() {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = Some(v.trim().to_string()).filter(|v| !v.is_empty());
            match k.trim() {
                "Version" => st.version = v,
                "Hostname" => st.hostname = v,
                "Serial-Number" => st.serial = v,
                "Current virtual domain" => st.current_vdom = v,
                "Virtual domain configuration" => st.vdom_configuration = v,
                _ => {}
            }
        }
        st
    }

    /// True when VDOMs are on: `multiple`, `enable` or `split-task` — netmiko's fortinet
    /// driver (`netmiko/fortinet/fortinet_ssh.py`) tests the same three words.
    pub fn multi_vdom(&self) -> Option<bool> {
        let v = self.vdom_configuration.as_deref()?;
        Some(["multiple", "enable", "split-task"].contains(&v))
    }
}

/// Where the firewall tables are, seen from the session's top-level prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Detected {
    /// The tables are at the top level and the device has no VDOMs (or `get system status`
    /// was refused, so VDOMs could not be seen).
    Device,
    /// A global administrator on a multi-VDOM unit: tables inside `config vdom` / `edit X`.
    Global { vdoms: Vec<String> },
    /// A VDOM-scoped administrator: the session starts inside its VDOM; `config vdom` and
    /// `config global` do not exist for it.
    Vdom { current: Option<String> },
}

/// The scope a plan's script is written for (recorded in the plan file; `apply` refuses a
/// plan made for another scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Scope {
    /// No VDOMs: the script configures the tables at the top level.
    SingleVdom,
    /// A global administrator: the script enters the VDOM with `config vdom` / `edit <vdom>`.
    Global { vdom: String },
    /// A VDOM-scoped administrator already inside `vdom`: no VDOM wrapper.
    VdomAdmin { vdom: String },
}

impl Scope {
    /// The VDOM the script must enter itself (`config vdom` / `edit <vdom>`).
    pub fn wrapper_vdom(&self) -> Option<&str> {
        match self {
            Scope::Global { vdom } => Some(vdom),
            _ => None,
        }
    }

    /// The scope a plan assumes without a device (offline plans): what the configuration says.
    pub fn assumed(target_vdom: Option<&str>) -> Scope {
        match target_vdom {
            Some(v) => Scope::Global {
                vdom: v.to_string(),
            },
            None => Scope::SingleVdom,
        }
    }

    /// One phrase for messages.
    pub fn describe(&self) -> String {
        match self {
            Scope::SingleVdom => "a unit without VDOMs".into(),
            Scope::Global { vdom } => {
                format!("a global administrator entering VDOM `{vdom}` with `config vdom`")
            }
            Scope::VdomAdmin { vdom } => {
                format!("a VDOM-scoped administrator already inside VDOM `{vdom}`")
            }
        }
    }
}

/// The prompt ends in `$`: a restricted profile (Fortinet KB 406752: `#` is full rights).
pub fn restricted(s: &Session) -> bool {
    s.prompt().trim_end().ends_with('$')
}

/// Find out where the firewall tables are. Only reads; the probes leave the session at its
/// top level. A super_admin (`#`) is tried with `config vdom` first, a restricted profile
/// (`$`) with `config firewall address` first, so a VDOM-scoped administrator is never sent
/// `config vdom`.
pub async fn detect_scope(
    s: &mut Session,
    status: Option<&Status>,
    patterns: &[String],
) -> anyhow::Result<Detected> {
    let multi = status.and_then(Status::multi_vdom);
    if multi == Some(false) {
        return Ok(Detected::Device);
    }
    let current = status.and_then(|st| st.current_vdom.clone());
    if !restricted(s) {
        if let Some(vdoms) = vdom_list(s, patterns).await? {
            return Ok(Detected::Global { vdoms });
        }
        if tables_at_top(s, patterns).await? {
            return Ok(if multi == Some(true) {
                Detected::Vdom { current }
            } else {
                Detected::Device
            });
        }
    } else {
        if tables_at_top(s, patterns).await? {
            return Ok(if multi == Some(true) {
                Detected::Vdom { current }
            } else {
                Detected::Device
            });
        }
        if let Some(vdoms) = vdom_list(s, patterns).await? {
            return Ok(Detected::Global { vdoms });
        }
    }
    anyhow::bail!(
        "the session reaches the firewall tables neither at its top level nor through `config vdom`: \
         the administrator's profile needs read access to firewall addresses"
    )
}

/// Whether `config firewall address` works at the session's top level (entering a table
/// changes nothing; the probe leaves it again).
async fn tables_at_top(s: &mut Session, patterns: &[String]) -> anyhow::Result<bool> {
    if ask(s, "config firewall address", patterns).await?.is_err() {
        return Ok(false);
    }
    ask(s, "end", patterns)
        .await?
        .map_err(|e| anyhow::anyhow!("leaving `config firewall address` after probing: {e}"))?;
    Ok(true)
}

/// `config vdom` / `get` / `end`: the VDOM names, or `None` when `config vdom` is refused.
async fn vdom_list(s: &mut Session, patterns: &[String]) -> anyhow::Result<Option<Vec<String>>> {
    if ask(s, "config vdom", patterns).await?.is_err() {
        return Ok(None);
    }
    let list = ask(s, "get", patterns).await?;
    ask(s, "end", patterns)
        .await?
        .map_err(|e| anyhow::anyhow!("leaving `config vdom`: {e}"))?;
    let list = list.map_err(|e| anyhow::anyhow!("listing the VDOMs: {e}"))?;
    Ok(Some(super::device::vdom_names(&list)))
}

impl Detected {
    /// The scope for a target configured with `vdom`; an error that says what to configure
    /// when the two disagree.
    pub fn resolve(&self, vdom: Option<&str>, target: &str) -> anyhow::Result<Scope> {
        match (self, vdom) {
            (Detected::Device, None) => Ok(Scope::SingleVdom),
            (Detected::Device, Some(v)) => anyhow::bail!(
                "target `{target}`: `vdom: {v}` is set but the device does not use VDOMs \
                 (the session configures the firewall tables at its top level)"
            ),
            (Detected::Global { .. }, None) => anyhow::bail!(
                "target `{target}`: the device has multiple VDOMs; set `vdom:` for this target"
            ),
            (Detected::Global { vdoms }, Some(v)) => {
                // `edit <name>` under `config vdom` would create it: refuse a name the device
                // does not have.
                if !vdoms.iter().any(|n| n == v) {
                    anyhow::bail!(
                        "VDOM `{v}` does not exist on the device (it has: {})",
                        vdoms.join(", ")
                    );
                }
                Ok(Scope::Global {
                    vdom: v.to_string(),
                })
            }
            (Detected::Vdom { current }, want) => match (current.as_deref(), want) {
                (Some(c), Some(w)) if c == w => Ok(Scope::VdomAdmin {
                    vdom: c.to_string(),
                }),
                (Some(c), Some(w)) => anyhow::bail!(
                    "target `{target}`: the administrator is scoped to VDOM `{c}`, but the target says `vdom: {w}`"
                ),
                (Some(c), None) => anyhow::bail!(
                    "target `{target}`: the administrator is scoped to VDOM `{c}` of a multi-VDOM unit; set `vdom: {c}` for this target"
                ),
                (None, _) => anyhow::bail!(
                    "target `{target}`: the session is inside a VDOM, but `get system status` does not say which \
                     (`Current virtual domain:`), so blockops cannot check it is `vdom: {}`",
                    want.unwrap_or("(unset)")
                ),
            },
        }
    }
}

/// FortiManager management as `get system central-management` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Central {
    /// `type` is not `fortimanager` (`fortiguard`, `none` …).
    Unmanaged { kind: String },
    /// `type fortimanager`; `backup` when `mode backup`.
    Managed { fmg: Option<String>, backup: bool },
    /// Could not be read (refused, not visible to a VDOM-scoped administrator, or an
    /// unexpected reply).
    Unknown { why: String },
}

/// Parse `get system central-management` (`field<pad>: value` lines).
pub fn parse_central(text: &str) -> Central {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
        })
    };
    match field("type") {
        None => Central::Unknown {
            why: "`get system central-management` shows no `type`".into(),
        },
        Some(t) if t == "fortimanager" => Central::Managed {
            fmg: field("fmg").filter(|f| !f.is_empty()),
            backup: field("mode").as_deref() == Some("backup"),
        },
        Some(t) => Central::Unmanaged { kind: t },
    }
}

/// One limit of a table, as the device states it (0 = not limited at that level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableSize {
    pub per_entry: usize,
    pub per_vdom: usize,
    pub global: usize,
}

/// The limits the device states, as far as this administrator can read them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// `print tablesize` rows by table name (`firewall.address`, `firewall.addrgrp:member` …).
    pub tablesize: std::collections::BTreeMap<String, TableSize>,
    /// `config system resource-limits` (device-wide quotas): `firewall-address`,
    /// `firewall-addrgrp`; 0 = none.
    pub resource_limits: std::collections::BTreeMap<String, usize>,
    /// `config system vdom-property` of the target's VDOM: maximum per quota; 0 = none.
    pub vdom_property: std::collections::BTreeMap<String, usize>,
    /// Reads that were refused or unavailable (information).
    pub unread: Vec<String>,
}

/// Parse `print tablesize` (`<table>: <per-entry> <per-VDOM> <global>` per line; the layout
/// is the FortiProxy "Maximum Values Table" one — the FortiGate layout is [U]).
pub fn parse_tablesize(text: &str) -> std::collections::BTreeMap<String, TableSize> {
    let mut out = std::collections::BTreeMap::new();
    for l in text.lines() {
        let Some((name, nums)) = l.trim().rsplit_once(": ") else {
            continue;
        };
        let n: Vec<usize> = nums
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if n.len() == 3 && !name.contains(' ') {
            out.insert(
                name.to_string(),
                TableSize {
                    per_entry: n[0],
                    per_vdom: n[1],
                    global: n[2],
                },
            );
        }
    }
    out
}

/// `field<pad>: <max> [<guaranteed>]` lines → first number per field.
fn parse_quotas(text: &str) -> std::collections::BTreeMap<String, usize> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            let n = v.split_whitespace().next()?.parse().ok()?;
            k.starts_with("firewall-").then(|| (k.to_string(), n))
        })
        .collect()
}

/// Global settings that matter to blockops: central management and the limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Globals {
    pub central: Central,
    pub limits: Limits,
}

/// Read central management and the limits. Global settings are read at the top level of a
/// unit without VDOMs, inside `config global` for a global administrator, and not at all for
/// a VDOM-scoped one (it has no global commands).
pub async fn globals(
    s: &mut Session,
    scope: &Scope,
    patterns: &[String],
) -> anyhow::Result<Globals> {
    let mut limits = Limits::default();
    match ask(s, "print tablesize", patterns).await? {
        Ok(t) => limits.tablesize = parse_tablesize(&t),
        Err(r) => limits.unread.push(r.to_string()),
    }
    let central = match scope {
        Scope::VdomAdmin { .. } => {
            limits.unread.push(
                "system resource-limits and vdom-property: global settings, not visible to a VDOM-scoped administrator"
                    .into(),
            );
            Central::Unknown {
                why: "a VDOM-scoped administrator cannot read global settings".into(),
            }
        }
        Scope::SingleVdom | Scope::Global { .. } => {
            let global = matches!(scope, Scope::Global { .. });
            if global && let Err(r) = ask(s, "config global", patterns).await? {
                limits.unread.push(r.to_string());
                return Ok(Globals {
                    central: Central::Unknown { why: r.to_string() },
                    limits,
                });
            }
            let central = match ask(s, "get system central-management", patterns).await? {
                Ok(t) => parse_central(&t),
                Err(r) => Central::Unknown { why: r.to_string() },
            };
            match ask(s, "get system resource-limits", patterns).await? {
                Ok(t) => limits.resource_limits = parse_quotas(&t),
                Err(r) => limits.unread.push(r.to_string()),
            }
            if let Scope::Global { vdom } = scope {
                match ask(s, &format!("get system vdom-property {vdom}"), patterns).await? {
                    Ok(t) => limits.vdom_property = parse_quotas(&t),
                    Err(r) => limits.unread.push(r.to_string()),
                }
                ask(s, "end", patterns)
                    .await?
                    .map_err(|e| anyhow::anyhow!("leaving `config global`: {e}"))?;
            }
            central
        }
    };
    Ok(Globals { central, limits })
}

/// Whether `execute config-transaction` is available to this administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Transactions {
    /// `execute config-transaction status` answered.
    Available { status: String },
    /// Refused: the profile may not run `execute` (7.4.2+ `cli-exec`), or the firmware has no
    /// workspace mode (before 6.2).
    Unavailable { why: String },
}

/// Ask `execute config-transaction status` (a read: it starts nothing).
pub async fn transactions(s: &mut Session, patterns: &[String]) -> anyhow::Result<Transactions> {
    Ok(
        match ask(s, "execute config-transaction status", patterns).await? {
            Ok(t) => Transactions::Available {
                status: t.trim().to_string(),
            },
            Err(r) => Transactions::Unavailable {
                why: match r.code {
                    Some(-14) | Some(-37) => format!(
                        "{r} — the administrator's profile may not run `execute` commands \
                         (FortiOS 7.4.2+: `set cli-exec enable` in the access profile)"
                    ),
                    _ => format!(
                        "{r} — the firmware or this administrator has no workspace mode (FortiOS 6.2+)"
                    ),
                },
            },
        },
    )
}

/// Everything the session learned before reading the managed objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// `None` when `get system status` was refused.
    pub status: Option<Status>,
    /// The prompt ends in `$` (restricted profile).
    pub restricted: bool,
    pub detected: Detected,
    pub scope: Scope,
    pub globals: Globals,
    /// Set when the target uses transactions (asked only then).
    pub transactions: Option<Transactions>,
    /// Refused reads, as information.
    pub notes: Vec<String>,
}

/// Probe a fresh session for a target configured with `vdom` (and transactions).
pub async fn probe(
    s: &mut Session,
    vdom: Option<&str>,
    target: &str,
    want_transactions: bool,
    patterns: &[String],
) -> anyhow::Result<Facts> {
    let mut notes = Vec::new();
    let status = match ask(s, "get system status", patterns).await? {
        Ok(t) => Some(Status::parse(&t)),
        Err(r) => {
            notes.push(r.to_string());
            None
        }
    };
    let detected = detect_scope(s, status.as_ref(), patterns).await?;
    let scope = detected.resolve(vdom, target)?;
    let globals = globals(s, &scope, patterns).await?;
    notes.extend(globals.limits.unread.iter().cloned());
    let transactions = if want_transactions {
        Some(transactions(s, patterns).await?)
    } else {
        None
    };
    Ok(Facts {
        status,
        restricted: restricted(s),
        detected,
        scope,
        globals,
        transactions,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let st = Status::parse(
            "Version: FortiGate-60F v7.4.8,build2795,250523 (GA.M)\nSerial-Number: FGT60F\nHostname: edge\nCurrent virtual domain: dmz\nVirtual domain configuration: split-task\n",
        );
        assert_eq!(st.hostname.as_deref(), Some("edge"));
        assert_eq!(st.current_vdom.as_deref(), Some("dmz"));
        assert_eq!(st.multi_vdom(), Some(true));
        assert_eq!(
            Status::parse("Virtual domain configuration: disable").multi_vdom(),
            Some(false)
        );
        assert_eq!(Status::parse("").multi_vdom(), None);
    }

    #[test]
    fn central_management_readings() {
        let managed = "mode                : backup\ntype                : fortimanager\nfmg                 : \"192.0.2.10\"\n";
        assert_eq!(
            parse_central(managed),
            Central::Managed {
                fmg: Some("192.0.2.10".into()),
                backup: true
            }
        );
        assert_eq!(
            parse_central("mode                : normal\ntype                : fortiguard\n"),
            Central::Unmanaged {
                kind: "fortiguard".into()
            }
        );
        assert!(matches!(parse_central("nothing"), Central::Unknown { .. }));
    }

    #[test]
    fn tablesize_and_quotas() {
        let t = parse_tablesize(
            "firewall.address: 0 5000 10000\nfirewall.addrgrp:member: 600 0 0\nnoise line\n",
        );
        assert_eq!(t["firewall.address"].per_vdom, 5000);
        assert_eq!(t["firewall.addrgrp:member"].per_entry, 600);
        assert_eq!(t.len(), 2);
        let q = parse_quotas(
            "name                : root\nfirewall-address    : 50 10\nfirewall-addrgrp    : 0 0\n",
        );
        assert_eq!(q["firewall-address"], 50);
        assert_eq!(q["firewall-addrgrp"], 0);
    }

    #[test]
    fn scope_resolution_says_what_to_configure() {
        let g = Detected::Global {
            vdoms: vec!["root".into(), "edge".into()],
        };
        assert_eq!(
            g.resolve(Some("edge"), "fw").unwrap(),
            Scope::Global {
                vdom: "edge".into()
            }
        );
        assert!(
            g.resolve(Some("nosuch"), "fw")
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        assert!(
            g.resolve(None, "fw")
                .unwrap_err()
                .to_string()
                .contains("multiple VDOMs")
        );
        let v = Detected::Vdom {
            current: Some("edge".into()),
        };
        assert_eq!(
            v.resolve(Some("edge"), "fw").unwrap(),
            Scope::VdomAdmin {
                vdom: "edge".into()
            }
        );
        assert!(
            v.resolve(Some("root"), "fw")
                .unwrap_err()
                .to_string()
                .contains("scoped to VDOM `edge`")
        );
        assert!(
            v.resolve(None, "fw")
                .unwrap_err()
                .to_string()
                .contains("set `vdom: edge`")
        );
        assert!(Detected::Device.resolve(Some("root"), "fw").is_err());
        assert_eq!(Scope::Global { vdom: "x".into() }.wrapper_vdom(), Some("x"));
        assert_eq!(Scope::VdomAdmin { vdom: "x".into() }.wrapper_vdom(), None);
    }
}
