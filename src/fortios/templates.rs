//! The minijinja templates that shape what blockops writes (`templates/fortios/*.j2`): the
//! defaults are built into the binary, files of the same name in the repository override them.
//!
//! Templates get two helpers, both from the one FortiOS writer: the `fq` filter
//! (`fortios::quote`) and `member_lines(members)` (`fortios::writer::pack_members`). What a
//! template may produce is limited by the allow-list in `fortios::fields`; `check` and `plan`
//! enforce it on the rendered script.
use std::collections::{BTreeMap, BTreeSet};

use anyhow::anyhow;
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::config::RenderConfig;
use crate::diag::{Diagnostic, Diagnostics};
use crate::gitops::{Source, read_text};

use super::model::Desired;
use super::{quote, writer};

/// Directory of the repository's templates.
pub const TEMPLATE_DIR: &str = "templates/fortios";

const BUILTIN: &[(&str, &str)] = &[
    (
        "objects.j2",
        include_str!("../../templates/fortios/objects.j2"),
    ),
    ("full.j2", include_str!("../../templates/fortios/full.j2")),
];

/// Template sources by file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    sources: BTreeMap<String, String>,
    /// Names that came from the repository (the rest are built in).
    pub overridden: BTreeSet<String>,
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Templates {
        Templates {
            sources: BUILTIN
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect(),
            overridden: BTreeSet::new(),
        }
    }

    /// Built-ins, overridden / extended by `templates/fortios/*.j2` in `src`.
    pub fn load(src: &dyn Source) -> Result<Templates, Diagnostics> {
        let mut t = Templates::builtin();
        let mut diags = Diagnostics::default();
        let names = src.list(TEMPLATE_DIR).map_err(|e| {
            Diagnostics::from(Diagnostic::error(TEMPLATE_DIR, 0, 0, format!("{e:#}")))
        })?;
        for name in names.into_iter().filter(|n| n.ends_with(".j2")) {
            let path = format!("{TEMPLATE_DIR}/{name}");
            match read_text(src, &path) {
                Ok(Some(text)) => {
                    t.sources.insert(name.clone(), text);
                    t.overridden.insert(name);
                }
                Ok(None) => {}
                Err(e) => diags.push(Diagnostic::error(&path, 0, 0, format!("{e:#}"))),
            }
        }
        if let Err(e) = t.environment(&RenderConfig::default()) {
            diags.push(template_diag(&e));
        }
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(t)
        }
    }

    /// These templates with `name` replaced (as a repository file would).
    pub fn with_source(mut self, name: &str, text: &str) -> Templates {
        self.sources.insert(name.to_string(), text.to_string());
        self.overridden.insert(name.to_string());
        self
    }

    /// True when the repository overrides a template that shapes the full script, so the
    /// native renderer cannot stand in for it.
    pub fn is_customised(&self) -> bool {
        self.overridden.contains("full.j2") || self.overridden.contains("objects.j2")
    }

    /// A configured minijinja environment holding every template.
    pub fn environment(&self, rc: &RenderConfig) -> Result<Environment<'static>, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()?;
        env.set_syntax(syntax);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("fq", |s: String| quote::fq(&s));
        let max_line = rc.max_line_length;
        env.add_function("member_lines", move |members: Vec<String>| {
            writer::pack_members(&members, max_line)
        });
        for (name, src) in &self.sources {
            env.add_template_owned(name.clone(), src.clone())?;
        }
        Ok(env)
    }

    /// Render template `name` with the desired state as context.
    pub fn render(
        &self,
        name: &str,
        desired: &Desired,
        rc: &RenderConfig,
        extra: Value,
    ) -> anyhow::Result<String> {
        let env = self
            .environment(rc)
            .map_err(|e| anyhow!(template_diag(&e).to_string()))?;
        let tmpl = env
            .get_template(name)
            .map_err(|e| anyhow!(template_diag(&e).to_string()))?;
        let ctx = minijinja::context! { ..Value::from(minijinja::value::Serde(desired)), ..extra };
        let out = tmpl
            .render(ctx)
            .map_err(|e| anyhow!(template_diag(&e).to_string()))?;
        Ok(out)
    }

    /// Where a rendered line most likely comes from: the first template line (repository
    /// templates first) that holds the line's leading keywords literally, e.g. `set color` for
    /// `set color 13`. `(TEMPLATE_DIR/full.j2, 0)` when none does.
    pub fn locate(&self, rendered: &str) -> (String, usize) {
        let keys: Vec<&str> = rendered
            .split_whitespace()
            .take_while(|w| !w.starts_with('"'))
            .take(2)
            .collect();
        let needle = keys.join(" ");
        if !needle.is_empty() {
            let order = self
                .sources
                .keys()
                .filter(|n| self.overridden.contains(*n))
                .chain(
                    self.sources
                        .keys()
                        .filter(|n| !self.overridden.contains(*n)),
                );
            for name in order {
                let text = &self.sources[name];
                for (i, line) in text.lines().enumerate() {
                    if contains_words(line, &needle) {
                        return (format!("{TEMPLATE_DIR}/{name}"), i + 1);
                    }
                }
            }
        }
        (format!("{TEMPLATE_DIR}/full.j2"), 0)
    }
}

/// `needle` in `line` at word boundaries.
fn contains_words(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + needle.len()..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '-'));
        edge(before) && edge(after)
    })
}

/// A template error as a positioned diagnostic.
pub fn template_diag(e: &minijinja::Error) -> Diagnostic {
    let file = e
        .name()
        .map(|n| format!("{TEMPLATE_DIR}/{n}"))
        .unwrap_or_else(|| TEMPLATE_DIR.into());
    let mut msg = e
        .detail()
        .map(|d| format!("{}: {d}", e.kind()))
        .unwrap_or_else(|| e.kind().to_string());
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        msg.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    Diagnostic::error(&file, e.line().unwrap_or(0), 0, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_lines_are_traced_to_template_lines() {
        let mut t = Templates::builtin();
        t.sources.insert(
            "objects.j2".into(),
            "{% macro address(a) %}    edit {{ a.name | fq }}\n        set color 13\n        set allow-routing enable\n{%- endmacro %}\n".into(),
        );
        t.overridden.insert("objects.j2".into());
        assert_eq!(
            t.locate("        set allow-routing enable"),
            ("templates/fortios/objects.j2".to_string(), 3)
        );
        assert_eq!(
            t.locate("set color 13"),
            ("templates/fortios/objects.j2".to_string(), 2)
        );
        assert_eq!(
            t.locate("config system admin"),
            ("templates/fortios/full.j2".to_string(), 0)
        );
    }
}
