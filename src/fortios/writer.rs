//! Writing FortiOS CLI: the one place for the shape of a script — names quoted exactly or not
//! at all, `edit`/`next`/`abort` framing, member lists packed into bounded lines, the
//! `config firewall <table>` blocks and the VDOM and transaction wrappers.
//!
//! The native renderer (`fortios::render`), the template functions (`fortios::templates`), the
//! delta (`plan::delta`), the validator (`plan::validate`) and the pusher (`plan::push`) all use
//! these, so a rule such as "a member line, indentation included, is at most
//! `max_line_length` bytes" exists once. Values go through the quoting filter of
//! `fortios::quote`.
use super::fields::{Style, Table};
use super::quote;

/// One level of indentation.
pub const INDENT: &str = "    ";
/// Saves an entry and leaves it.
pub const NEXT: &str = "next";
/// Leaves an entry without saving it (sent after a failed line, never `next`).
pub const ABORT: &str = "abort";
/// Closes a `config` block (and saves an open entry).
pub const END: &str = "end";
/// Starts a configuration transaction (FortiOS 6.2+ "Workspace mode", FortiOS Administration
/// Guide; `execute config-transaction` in the FortiOS CLI reference).
pub const TX_START: &str = "execute config-transaction start";
pub const TX_COMMIT: &str = "execute config-transaction commit";
pub const TX_ABORT: &str = "execute config-transaction abort";

/// Width of the longest member-line head, `        unselect member `: member names are
/// packed so that the line with any verb (`set`, `append`, `unselect`) fits the limit.
pub const MEMBER_HEAD: usize = 2 * INDENT.len() + "unselect member ".len();

/// The name quoted for a CLI line, or `None` when it cannot be written without changing it
/// (a tab — which the interactive CLI takes as completion —, a line break, `?` — which asks for
/// help —, other control or invisible characters, or a name too long for the quoting filter).
/// Such a name can never be addressed by `edit` or `delete`, so blockops reports it and leaves
/// the object alone (issue #8 item 9).
pub fn quote_name(name: &str) -> Option<String> {
    let q = quote::fq(name);
    let body = q.strip_prefix('"')?.strip_suffix('"')?;
    (!name.is_empty() && quote::unescape(body) == name).then_some(q)
}

/// True when [`quote_name`] can write `name`.
pub fn addressable(name: &str) -> bool {
    quote_name(name).is_some()
}

/// `"name"` appended to `out` — for names already known to be addressable (generated or
/// checked).
fn push_q(out: &mut String, name: &str) {
    quote::push_fq(out, name)
}

/// Quoted names packed into groups for member lines of at most `max_line` bytes, counting the
/// indentation and the longest verb ([`MEMBER_HEAD`]); at least one name per line. The
/// template function `member_lines(members)` returns exactly this.
pub fn pack_members<S: AsRef<str>>(names: &[S], max_line: usize) -> Vec<String> {
    let budget = max_line.saturating_sub(MEMBER_HEAD);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = String::new();
    for n in names {
        quoted.clear();
        push_q(&mut quoted, n.as_ref());
        if !cur.is_empty() && cur.len() + 1 + quoted.len() > budget {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&quoted);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Values of a field as written after `set <field> `.
pub fn values_text(style: Style, values: &[String]) -> String {
    let word = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c))
    };
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match style {
            Style::Bare => out.push_str(v),
            Style::Word if word(v) => out.push_str(v),
            Style::Quoted | Style::Word => out.push_str(&quote::fq(v)),
        }
    }
    out
}

/// A script under construction; every line ends with `\n`.
#[derive(Debug, Default, Clone)]
pub struct Script {
    text: String,
    lines: usize,
}

impl Script {
    pub fn with_capacity(bytes: usize) -> Script {
        Script {
            text: String::with_capacity(bytes),
            lines: 0,
        }
    }

    /// A raw line at `depth` levels of indentation.
    pub fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.text.push_str(INDENT);
        }
        self.text.push_str(text);
        self.text.push('\n');
        self.lines += 1;
    }

    /// `config firewall <table>`.
    pub fn open_table(&mut self, t: Table) {
        self.text.push_str("config firewall ");
        self.text.push_str(t.name());
        self.text.push('\n');
        self.lines += 1;
    }

    /// The start of a line at `depth` levels of indentation: `<indent><words>`. Lines are
    /// written piece by piece (a 100 000-object script is not formatted value by value).
    fn start(&mut self, depth: usize, words: &str) {
        for _ in 0..depth {
            self.text.push_str(INDENT);
        }
        self.text.push_str(words);
    }

    /// Ends the line begun by [`Script::start`].
    fn finish(&mut self) {
        self.text.push('\n');
        self.lines += 1;
    }

    /// `end` of a table (or of the VDOM wrapper).
    pub fn end(&mut self) {
        self.line(0, END);
    }

    /// `    edit "<name>"` (the name must be addressable).
    pub fn edit(&mut self, name: &str) {
        self.start(1, "edit ");
        push_q(&mut self.text, name);
        self.finish();
    }

    /// `    delete "<name>"` (the name must be addressable).
    pub fn delete(&mut self, name: &str) {
        self.start(1, "delete ");
        push_q(&mut self.text, name);
        self.finish();
    }

    /// `    next`.
    pub fn next(&mut self) {
        self.line(1, NEXT);
    }

    /// `        set <field> <values>` with the values written in `style`.
    pub fn set(&mut self, field: &str, style: Style, values: &[String]) {
        self.set_raw(field, &values_text(style, values));
    }

    /// `        set <field> <text>` with the value text as given (already safe).
    pub fn set_raw(&mut self, field: &str, text: &str) {
        self.start(2, "set ");
        self.text.push_str(field);
        self.text.push(' ');
        self.text.push_str(text);
        self.finish();
    }

    /// `        set <field> "<value>"`, the value through the quoting filter ([`quote::fq`]).
    pub fn set_quoted(&mut self, field: &str, value: &str) {
        self.start(2, "set ");
        self.text.push_str(field);
        self.text.push(' ');
        quote::push_fq(&mut self.text, value);
        self.finish();
    }

    /// `        unset <field>`.
    pub fn unset(&mut self, field: &str) {
        self.start(2, "unset ");
        self.text.push_str(field);
        self.finish();
    }

    /// Member lines: the first with `first_verb` (`set` for a new list, `append`,
    /// `unselect`), the rest with `append` (or `unselect`), packed by [`pack_members`].
    pub fn members<S: AsRef<str>>(&mut self, first_verb: &str, names: &[S], max_line: usize) {
        let rest = if first_verb == "set" {
            "append"
        } else {
            first_verb
        };
        for (i, packed) in pack_members(names, max_line).iter().enumerate() {
            let verb = if i == 0 { first_verb } else { rest };
            self.start(2, verb);
            self.text.push_str(" member ");
            self.text.push_str(packed);
            self.finish();
        }
    }

    /// Append another script's lines.
    pub fn extend(&mut self, other: Script) {
        self.text.push_str(&other.text);
        self.lines += other.lines;
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

impl Script {
    /// The opening lines of the target's wrappers: `execute config-transaction start`, then
    /// `config vdom` / `edit <vdom>`. VDOM names are validated by the configuration
    /// (`[A-Za-z0-9_-]`), so they are written bare as FortiOS shows them.
    pub fn open_wrappers(&mut self, vdom: Option<&str>, transaction: bool) {
        if transaction {
            self.line(0, TX_START);
        }
        if let Some(v) = vdom {
            self.line(0, "config vdom");
            self.line(0, &format!("edit {v}"));
        }
    }

    /// The closing lines matching [`Script::open_wrappers`].
    pub fn close_wrappers(&mut self, vdom: Option<&str>, transaction: bool) {
        if vdom.is_some() {
            self.end();
        }
        if transaction {
            self.line(0, TX_COMMIT);
        }
    }
}

/// Wrap a body in the target's VDOM and transaction lines; an empty body stays empty (a delta
/// without changes is an empty script).
pub fn wrap(body: Script, vdom: Option<&str>, transaction: bool) -> String {
    if body.is_empty() {
        return String::new();
    }
    if vdom.is_none() && !transaction {
        return body.into_string();
    }
    let mut s = Script::with_capacity(body.text.len() + 96);
    s.open_wrappers(vdom, transaction);
    s.extend(body);
    s.close_wrappers(vdom, transaction);
    s.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_exactly_or_not_at_all() {
        assert_eq!(quote_name("bo-1.2.3.4").as_deref(), Some("\"bo-1.2.3.4\""));
        assert_eq!(quote_name("bo-a\"b").as_deref(), Some("\"bo-a\\\"b\""));
        assert_eq!(quote_name("bo-a\\b").as_deref(), Some("\"bo-a\\\\b\""));
        assert_eq!(quote_name("bo-é").as_deref(), Some("\"bo-é\""));
        for bad in [
            "bo-tab\tx",
            "bo-nl\nx",
            "bo-q?",
            "bo-\u{202E}x",
            "",
            "bo-\u{7}",
        ] {
            assert_eq!(quote_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn member_lines_fit_with_every_verb() {
        let names: Vec<String> = (0..300).map(|i| format!("bo-198.51.100.{i}")).collect();
        for max in [120, 400, 1000] {
            let mut s = Script::default();
            s.members("set", &names, max);
            s.members("unselect", &names, max);
            let text = s.into_string();
            for l in text.lines() {
                assert!(l.len() <= max, "{} > {max}: {l}", l.len());
            }
            assert_eq!(text.matches('"').count(), 4 * names.len());
        }
        // A name longer than the budget still gets its own line.
        assert_eq!(pack_members(&["x".repeat(200)], 120).len(), 1);
    }

    #[test]
    fn wrappers() {
        let mut b = Script::default();
        b.open_table(Table::Address);
        b.delete("bo-x");
        b.end();
        assert_eq!(
            wrap(b.clone(), Some("root"), true),
            "execute config-transaction start\nconfig vdom\nedit root\nconfig firewall address\n    delete \"bo-x\"\nend\nend\nexecute config-transaction commit\n"
        );
        assert_eq!(
            wrap(b, None, false),
            "config firewall address\n    delete \"bo-x\"\nend\n"
        );
        assert_eq!(wrap(Script::default(), Some("root"), true), "");
    }
}
