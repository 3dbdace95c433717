//! The desired state of a target: what its rendered full script says (issue #10).
//!
//! The templates render the script; the script is checked against the allow-list
//! (`plan::validate`) and parsed with the parser that also reads the device
//! (`fortios::parse`) into the same model (`fortios::model::State`). While the repository keeps
//! the built-in templates, the state is built directly from the template context — a test pins
//! both paths to the same result. A device that holds, under one of the desired names, an
//! object blockops cannot prove is its own gets that indicator skipped ([`for_device`]): it is
//! reported, never overwritten, and never blocks the rest.
use std::borrow::Cow;
use std::collections::BTreeSet;

use anyhow::{Context, anyhow, bail};
use git2::{Oid, Repository};

use crate::config::{RenderConfig, Target};
use crate::fortios::fields::{self, FieldRules, Table};
use crate::fortios::model::{Desired, Owner, State, carries_marker};
use crate::fortios::parse;
use crate::fortios::probe::Scope;
use crate::fortios::render;
use crate::gitops::{self, RevSource};
use crate::workspace::{Effective, Workspace};

use super::validate;

/// The repository snapshot at `oid`.
pub fn load_at(repo: &Repository, oid: Oid, config_path: &str) -> anyhow::Result<Workspace> {
    let src = RevSource::new(repo, oid)?;
    Workspace::load(&src, config_path)
        .map_err(|d| anyhow!("{d}"))
        .with_context(|| format!("loading the repository at {}", gitops::short(oid)))
}

/// What shapes a target's scripts: render settings, ownership and the field allow-list.
#[derive(Debug, Clone)]
pub struct Shape {
    pub target: String,
    pub vdom: Option<String>,
    pub render: RenderConfig,
    pub owner: Owner,
    pub fields: FieldRules,
}

impl Shape {
    /// The shape of `target` as configured in `ws` (an error when it is not configured there).
    pub fn of(ws: &Workspace, target: &str, config_path: &str) -> anyhow::Result<Shape> {
        let t = ws.config.target(target).ok_or_else(|| {
            anyhow!(
                "target `{target}` is not defined in {config_path} at {}",
                ws.label
            )
        })?;
        Ok(Shape::new(target, t.vdom.clone(), ws.config.render_for(t)))
    }

    /// The shape of a configured target, or of the `default` preview without targets.
    pub fn new(target: &str, vdom: Option<String>, render: RenderConfig) -> Shape {
        Shape {
            target: target.to_string(),
            vdom,
            owner: Owner::new(&render),
            fields: FieldRules::new(&render.template_fields),
            render,
        }
    }

    /// The validator's rules for this target's full scripts (wrapped in its VDOM, if any).
    pub fn rules(&self, transaction: bool) -> validate::Rules<'_> {
        validate::Rules {
            vdom: self.vdom.as_deref(),
            transaction,
            owner: &self.owner,
            fields: &self.fields,
        }
    }

    /// The validator's rules for a delta written for a session of `scope`.
    pub fn delta_rules<'a>(&'a self, scope: &'a Scope, transaction: bool) -> validate::Rules<'a> {
        validate::Rules {
            vdom: scope.wrapper_vdom(),
            transaction,
            owner: &self.owner,
            fields: &self.fields,
        }
    }
}

/// A problem in what the templates render, traced to a template line where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// Template file (`templates/fortios/…`).
    pub file: String,
    /// 1-based line in that file (0: not traceable).
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The desired state of the target described by `shape`.
pub fn state(ws: &Workspace, eff: &Effective<'_>, shape: &Shape) -> anyhow::Result<State> {
    state_except(ws, eff, shape, &BTreeSet::new())
}

/// [`state`] without the indicators whose object names are in `skip`.
pub fn state_except(
    ws: &Workspace,
    eff: &Effective<'_>,
    shape: &Shape,
    skip: &BTreeSet<String>,
) -> anyhow::Result<State> {
    let ctx = render::desired_except(&shape.render, eff, &shape.target, shape.vdom.clone(), skip)?;
    if !ws.templates.is_customised() {
        return Ok(State::from_desired(&ctx));
    }
    let script = render::full_script(&ws.templates, &ctx, &shape.render)?;
    from_script(&script, ws, shape).map_err(|problems| {
        let n = problems.len();
        let list: Vec<String> = problems.iter().take(20).map(|p| p.to_string()).collect();
        anyhow!(
            "the templates render {n} line(s) blockops never sends (run `blockops check`):\n  {}",
            list.join("\n  ")
        )
    })
}

/// Parse a rendered full script into the desired state, or list every problem: lines outside
/// the allow-list (traced to template lines), and objects that could not be applied or could
/// not be recognised later (a group without members, a member that is not defined, an address
/// without a value, a comment without the blockops marker, a missing managed group).
pub fn from_script(
    script: &str,
    ws: &Workspace,
    shape: &Shape,
) -> Result<State, Vec<TemplateProblem>> {
    let mut problems: Vec<TemplateProblem> = validate::check(script, &shape.rules(false))
        .into_iter()
        .map(|p| {
            let (file, line) = ws.templates.locate(&p.text);
            let message = if p.line == 0 {
                format!("target `{}`: {}", shape.target, p.why)
            } else {
                format!(
                    "target `{}`: rendered line {}: {}: `{}`",
                    shape.target, p.line, p.why, p.text
                )
            };
            TemplateProblem {
                file,
                line,
                message,
            }
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let st = State::from_script(&parse::parse(script, false), &shape.fields);
    for m in state_problems(&st, shape) {
        let (file, line) = (format!("{}/full.j2", render::TEMPLATE_DIR), 0);
        problems.push(TemplateProblem {
            file,
            line,
            message: format!("target `{}`: {m}", shape.target),
        });
    }
    if problems.is_empty() {
        Ok(st)
    } else {
        Err(problems)
    }
}

/// What a desired state must satisfy beyond the line grammar.
fn state_problems(st: &State, shape: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    let max_name = shape.render.max_name_length;
    for t in Table::ALL {
        for (name, o) in st.table(t) {
            if name.len() > max_name {
                out.push(format!(
                    "{t} {name:?}: the name is longer than max_name_length ({max_name})"
                ));
            }
            let top = t.is_group() && name == shape.owner.top_group(t);
            if !top && !carries_marker(o.comment()) {
                out.push(format!(
                    "{t} {name:?}: the comment must start with `blockops` (that is how blockops \
                     recognises its own objects on the device); it is {:?}",
                    o.comment()
                ));
            }
            let ty = fields::object_type(t, &o.fields);
            let needs = match (t, ty) {
                (Table::Address, "ipmask") => Some("subnet"),
                (Table::Address, "fqdn") => Some("fqdn"),
                (Table::Address6, _) => Some("ip6"),
                (Table::Addrgrp | Table::Addrgrp6, _) => Some("member"),
                _ => None,
            };
            if let Some(f) = needs
                && !o.fields.contains_key(f)
            {
                out.push(format!(
                    "{t} {name:?} has no `{f}` (an address without a value matches everything; a \
                     group needs a member)"
                ));
            }
            if t.is_group() {
                for m in o.members() {
                    if !t
                        .member_tables()
                        .iter()
                        .any(|mt| st.table(*mt).contains_key(m))
                    {
                        out.push(format!(
                            "{t} {name:?}: member {m:?} is not defined in the script ({} or {})",
                            t.member_tables()[0],
                            t.member_tables()[1]
                        ));
                    }
                }
            }
        }
    }
    for t in [Table::Addrgrp, Table::Addrgrp6] {
        let top = shape.owner.top_group(t);
        if !st.table(t).contains_key(top) {
            out.push(format!(
                "the managed group {top:?} ({t}) is missing: deny policies reference it"
            ));
        }
    }
    out
}

/// A desired object the device holds for someone else: not created, its indicator not blocked
/// on this target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    pub table: Table,
    pub name: String,
}

/// The desired state for a device in `current` state: indicators whose object names the device
/// holds for someone else (`current.others`) are skipped. Usually nothing is, and `desired` is
/// returned as it is.
pub fn for_device<'d>(
    ws: &Workspace,
    eff: &Effective<'_>,
    shape: &Shape,
    desired: &'d State,
    current: &State,
) -> anyhow::Result<(Cow<'d, State>, Vec<Skipped>)> {
    if current.others.is_empty() {
        return Ok((Cow::Borrowed(desired), Vec::new()));
    }
    let taken: BTreeSet<&str> = current.others.iter().map(|o| o.name.as_str()).collect();
    let clashes = |st: &State| -> Vec<Skipped> {
        Table::ALL
            .into_iter()
            .flat_map(|t| {
                st.table(t)
                    .keys()
                    .filter(|n| taken.contains(n.as_str()))
                    .map(move |n| Skipped {
                        table: t,
                        name: n.clone(),
                    })
            })
            .collect()
    };
    let skipped = clashes(desired);
    if skipped.is_empty() {
        return Ok((Cow::Borrowed(desired), skipped));
    }
    let placeholders = [
        crate::fortios::naming::placeholder_name(&shape.render.prefix, false),
        crate::fortios::naming::placeholder_name(&shape.render.prefix, true),
    ];
    if let Some(s) = skipped
        .iter()
        .find(|s| s.table.is_group() || placeholders.contains(&s.name))
    {
        bail!(
            "{} {:?} is needed by blockops, but the device holds an object of that name that \
             blockops cannot prove is its own; rename or remove it on the device (or change \
             render.prefix / addrgrp)",
            s.table,
            s.name
        );
    }
    let skip: BTreeSet<String> = skipped.iter().map(|s| s.name.clone()).collect();
    let st = state_except(ws, eff, shape, &skip)?;
    if let Some(s) = clashes(&st).first() {
        bail!(
            "{} {:?} is needed by blockops, but the device holds an object of that name that \
             blockops cannot prove is its own",
            s.table,
            s.name
        );
    }
    Ok((Cow::Owned(st), skipped))
}

/// Check what the templates render for one target's desired state `ctx` (for `check`): every
/// problem, traced to template lines; a template that does not render is the error. The
/// built-in templates are correct by construction (tests pin them).
pub fn template_problems(
    ws: &Workspace,
    ctx: &Desired,
    shape: &Shape,
) -> Result<Vec<TemplateProblem>, anyhow::Error> {
    if !ws.templates.is_customised() {
        return Ok(Vec::new());
    }
    let script = render::full_script(&ws.templates, ctx, &shape.render)?;
    Ok(from_script(&script, ws, shape).err().unwrap_or_default())
}

/// `max_line_length` and the target's wrappers: how its delta scripts are shaped. The VDOM
/// wrapper depends on the session's scope: a VDOM-scoped administrator is already inside it.
pub fn delta_options(shape: &Shape, t: &Target, scope: &Scope) -> super::delta::DeltaOptions {
    super::delta::DeltaOptions {
        max_line_length: shape.render.max_line_length,
        vdom: scope.wrapper_vdom().map(str::to_string),
        transaction: t.transaction,
        fields: shape.fields.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocklist::indicator::Indicator;
    use crate::blocklist::{BlocklistFile, Entry};
    use crate::config::Config;
    use crate::fortios::templates::Templates;

    fn ws_with(values: &[&str], cfg: Config) -> Workspace {
        let mut f = BlocklistFile::empty("blocklists/cybereason.yaml");
        for v in values {
            f.entries.push(Entry::new(Indicator::parse(v).unwrap()));
        }
        f.sort();
        let mut ws = Workspace::empty(&cfg);
        ws.files[0] = f;
        ws
    }

    fn shape(ws: &Workspace, vdom: Option<&str>) -> Shape {
        Shape::new("fw", vdom.map(String::from), ws.config.render.clone())
    }

    fn ips(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("203.0.{}.{}", 113 + i / 250, i % 250 + 1))
            .collect()
    }

    /// The native fast path and the template path give the same desired state, and creating it
    /// from nothing gives exactly the rendered full script.
    #[test]
    fn native_state_equals_the_parsed_template_and_the_delta_writes_the_full_script() {
        let mut values = ips(700);
        values.extend(
            [
                "evil.example",
                "2001:db8::1",
                "2001:db8:1::/48",
                "198.51.100.0/24",
            ]
            .map(String::from),
        );
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        for (vals, max, vdom, color) in [
            (refs.clone(), 600, None, 0),
            (refs.clone(), 100, Some("root"), 7),
            (Vec::new(), 600, None, 0),
            (vec!["2001:db8::5"], 600, Some("ot"), 0),
        ] {
            let mut cfg = Config::default();
            cfg.render.max_group_members = max;
            cfg.render.color = color;
            let mut ws = ws_with(&vals, cfg);
            if let Some(e) = ws.files[0].entries.first_mut() {
                e.comment = Some("q\"uote\\ back? \u{202E} é".into());
            }
            let eff = ws.effective(crate::blocklist::today());
            let sh = shape(&ws, vdom);
            let native = state(&ws, &eff, &sh).unwrap();
            let ctx = render::desired_with(&sh.render, &eff, "fw", sh.vdom.clone()).unwrap();
            let script = Templates::builtin()
                .render("full.j2", &ctx, &sh.render, minijinja::Value::UNDEFINED)
                .unwrap();
            let parsed = from_script(&script, &ws, &sh).unwrap();
            assert_eq!(native, parsed);
            let opts = super::super::delta::DeltaOptions {
                max_line_length: sh.render.max_line_length,
                vdom: sh.vdom.clone(),
                transaction: false,
                fields: sh.fields.clone(),
            };
            let created = super::super::delta::compute(&State::default(), &native, &opts);
            if !ctx.addresses6.is_empty() && !ctx.addresses.is_empty() {
                assert_eq!(created.script, script);
            }
        }
    }

    #[test]
    fn template_problems_name_the_template_line() {
        let cfg = Config::default();
        let mut ws = ws_with(&["203.0.113.7"], cfg);
        let objects = include_str!("../../templates/fortios/objects.j2").replacen(
            "        set comment {{ a.comment | fq }}\n{%- if a.color %}",
            "        set comment {{ a.comment | fq }}\n        set allow-routing enable\n{%- if a.color %}",
            1,
        );
        ws.templates = Templates::builtin().with_source("objects.j2", &objects);
        let eff = ws.effective(crate::blocklist::today());
        let sh = shape(&ws, None);
        let ctx = render::desired_with(&sh.render, &eff, &sh.target, None).unwrap();
        let p = template_problems(&ws, &ctx, &sh).unwrap();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].file, "templates/fortios/objects.j2");
        let want = objects
            .lines()
            .position(|l| l.contains("allow-routing"))
            .unwrap()
            + 1;
        assert_eq!(p[0].line, want, "{}", p[0]);
        assert!(p[0].message.contains("set allow-routing"), "{}", p[0]);
    }
}
