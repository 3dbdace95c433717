use super::*;
use crate::review::policy::tests::{ALLOW, CONFIG, files, load};

const FLOOR: &str = "  floor:\n    allow_private: false\n    min_prefix_v4: 24\n    max_removals: 25%\n    allowlist: [192.0.2.0/29, corp.example]\n";

fn with_floor(guardrails: &str) -> String {
    CONFIG.replace(
        "guardrails:\n  max_removals: 25%\n",
        &format!("guardrails:\n{guardrails}{FLOOR}"),
    )
}

fn run(config: &str, allow: &str, base: Option<(&str, &str)>, allow_weaker: bool) -> FloorCheck {
    let head = files(config, allow);
    let (ws, _) = load(&head);
    let text = ConfigText {
        path: "blockops.yaml",
        text: Some(config),
    };
    match base {
        Some((c, a)) => {
            let (b, _) = load(&files(c, a));
            check(&ws, &text, Some((&b, "origin/main")), allow_weaker)
        }
        None => check(&ws, &text, None, allow_weaker),
    }
}

fn messages(f: &FloorCheck) -> Vec<String> {
    f.diagnostics.0.iter().map(|d| d.to_string()).collect()
}

#[test]
fn a_config_at_the_floor_passes() {
    let f = run(&with_floor("  max_removals: 25%\n"), ALLOW, None, false);
    assert!(f.diagnostics.0.is_empty(), "{:?}", messages(&f));
    assert_eq!(f.refusals, 0);
}

#[test]
fn each_guardrail_below_the_floor_is_refused_with_its_line() {
    let cfg = with_floor("  max_removals: 50%\n  allow_private: true\n  min_prefix_v4: 16\n");
    let f = run(&cfg, "entries:\n- value: 192.0.2.0/28\n", None, false);
    let m = messages(&f);
    assert_eq!(f.refusals, 4, "{m:#?}");
    assert!(m.iter().any(|s| s.starts_with("blockops.yaml:6:3: error: policy floor: guardrails.max_removals: 50% is above the floor")), "{m:#?}");
    assert!(
        m.iter().any(|s| s
            .starts_with("blockops.yaml:7:3: error: policy floor: guardrails.allow_private: true")),
        "{m:#?}"
    );
    assert!(m.iter().any(|s| s.starts_with("blockops.yaml:8:3: error: policy floor: guardrails.min_prefix_v4: 16 is below the floor")), "{m:#?}");
    // 192.0.2.0/28 still covers the required /29; corp.example is gone.
    assert!(
        m.iter()
            .any(|s| s.contains("blocklists/allowlist.yaml no longer protects corp.example")),
        "{m:#?}"
    );
    assert!(!m.iter().any(|s| s.contains("192.0.2.0/29")), "{m:#?}");
    assert!(m.iter().all(|s| s.contains("--allow-weaker-policy")));
}

#[test]
fn the_override_turns_refusals_into_warnings() {
    let cfg = with_floor("  max_removals: 25%\n  allow_private: true\n");
    let f = run(&cfg, ALLOW, None, true);
    assert_eq!(f.refusals, 0);
    assert_eq!(f.diagnostics.0.len(), 1);
    let d = &f.diagnostics.0[0];
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message.ends_with("(allowed by --allow-weaker-policy)"),
        "{}",
        d.message
    );
}

#[test]
fn a_count_cannot_satisfy_a_percentage_floor() {
    let f = run(&with_floor("  max_removals: 10\n"), ALLOW, None, false);
    assert_eq!(f.refusals, 1);
    assert!(
        messages(&f)[0].contains("cannot be compared"),
        "{:?}",
        messages(&f)
    );
}

#[test]
fn lowering_the_floor_with_the_guardrail_is_caught_against_the_base_floor() {
    let base = with_floor("  max_removals: 25%\n");
    // The pull request lowers the floor and the guardrail together: its own floor passes.
    let head = CONFIG.replace(
        "guardrails:\n  max_removals: 25%\n",
        "guardrails:\n  max_removals: 25%\n  allow_private: true\n  floor:\n    min_prefix_v4: 24\n    allowlist: [corp.example]\n",
    );
    assert_eq!(run(&head, ALLOW, None, false).refusals, 0);
    let f = run(&head, ALLOW, Some((&base, ALLOW)), false);
    let m = messages(&f);
    assert!(m.iter().any(|s| s.contains("guardrails.allow_private: true is below the floor (guardrails.floor at origin/main.allow_private: false)")), "{m:#?}");
    assert!(
        m.iter().any(|s| s.contains(
            "guardrails.floor.allow_private lowered from false at origin/main to (unset)"
        )),
        "{m:#?}"
    );
    assert!(
        m.iter().any(|s| s
            .contains("guardrails.floor.max_removals lowered from 25% at origin/main to (unset)")),
        "{m:#?}"
    );
    assert!(
        m.iter()
            .any(|s| s.contains("guardrails.floor.allowlist lost 192.0.2.0/29")),
        "{m:#?}"
    );
    assert_eq!(f.refusals, 4, "{m:#?}");
}

#[test]
fn invalid_floor_values_are_errors_but_not_refusals() {
    let cfg = CONFIG.replace(
        "guardrails:\n",
        "guardrails:\n  floor:\n    min_prefix_v4: 40\n    allowlist: [\"not an indicator\"]\n",
    );
    let f = run(&cfg, ALLOW, None, false);
    assert_eq!(f.refusals, 0);
    let m = messages(&f);
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(
        m[0].starts_with("blockops.yaml:7:5: error: guardrails.floor.min_prefix_v4 40 is above 32"),
        "{m:#?}"
    );
}
