//! Doctor's terminal table: one line per check (subject, check, status, what was found), the
//! fix indented below a check that needs one, and a closing verdict.
use super::{Report, Status};

/// The report as text; `color` paints the status words.
pub fn render_text(r: &Report, color: bool) -> String {
    let w_subject = r
        .checks
        .iter()
        .map(|c| c.subject.chars().count())
        .max()
        .unwrap_or(0)
        .max("SUBJECT".len());
    let w_check = r
        .checks
        .iter()
        .map(|c| c.check.chars().count())
        .max()
        .unwrap_or(0)
        .max("CHECK".len());
    let mut out = format!(
        "{:<w_subject$}  {:<w_check$}  STATUS  RESULT\n",
        "SUBJECT", "CHECK"
    );
    for c in &r.checks {
        let label = c.status.label();
        let painted = if color {
            let code = match c.status {
                Status::Pass => "32",
                Status::Warn => "33",
                Status::Fail => "31",
                Status::Skip => "2",
            };
            format!("\x1b[{code}m{label}\x1b[0m")
        } else {
            label.to_string()
        };
        out.push_str(&format!(
            "{:<w_subject$}  {:<w_check$}  {painted}    {}\n",
            c.subject, c.check, c.summary
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!(
                "{:<w_subject$}  {:<w_check$}          fix: {fix}\n",
                "", ""
            ));
        }
    }
    let n = r.counts();
    out.push_str(&format!(
        "\n{} passed, {} warning(s), {} failed, {} skipped: {}\n",
        n.pass,
        n.warn,
        n.fail,
        n.skip,
        if r.passed() {
            if n.warn > 0 {
                "ready, with warnings"
            } else {
                "ready"
            }
        } else if n.fail == 0 {
            "not ready (--strict: warnings fail)"
        } else {
            "not ready"
        }
    ));
    r.redact(&out)
}
