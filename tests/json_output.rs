//! `plan --format json` and `apply --format json`: one stable JSON document on stdout (nothing
//! else there), per target result, counts, lines, plan file, lines applied, drift, backup and
//! transcript paths — against two FortiGate simulators over real SSH on 127.0.0.1.
mod support;

use blockops::sim::fortigate::Profile;
use serde_json::Value;
use support::fgt::*;

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", text(o)))
}

fn by_target<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["targets"]
        .as_array()
        .expect("targets[]")
        .iter()
        .find(|t| t["target"] == name)
        .unwrap_or_else(|| panic!("no target {name} in {doc:#}"))
}

#[test]
fn plan_and_apply_json_for_two_targets() {
    let h = Harness::with(vec![
        ("fw1", sim_options(Profile::default())),
        ("fw2", sim_options(Profile::default())),
    ]);
    let commit = h.commit_list(&ips(0..5), "five");

    let p = h.run(&["plan", "--all", "--format", "json", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let doc = json(&p);
    assert_eq!(doc["schema_version"], 1, "{doc:#}");
    assert_eq!(doc["command"], "plan");
    assert_eq!(doc["commit"], commit.as_str());
    assert_eq!(doc["offline_base"], Value::Null);
    assert_eq!(doc["changes"], true);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["targets"].as_array().map(Vec::len), Some(2));
    for name in ["fw1", "fw2"] {
        let t = by_target(&doc, name);
        assert_eq!(t["result"], "changes", "{t:#}");
        // 5 addresses, both groups and the IPv6 placeholder address.
        assert_eq!(t["counts"]["adds"], 8, "{t:#}");
        assert_eq!(t["counts"]["removes"], 0);
        let file = t["plan_file"].as_str().expect("plan_file");
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(h.path().join(file)).unwrap()).unwrap();
        assert_eq!(on_disk["target"], name);
        let script_lines = on_disk["script"]
            .as_str()
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(t["lines"], script_lines, "{t:#}");
        assert!(script_lines > 8);
    }
    assert!(!String::from_utf8_lossy(&p.stdout).contains(PASSWORD));

    let a = h.run(&["apply", "plans/", "--yes", "--format", "json"]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let doc = json(&a);
    assert_eq!(doc["schema_version"], 1, "{doc:#}");
    assert_eq!(doc["command"], "apply");
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["ok"], true);
    for name in ["fw1", "fw2"] {
        let t = by_target(&doc, name);
        assert_eq!(t["result"], "applied", "{t:#}");
        assert_eq!(t["lines_applied"], t["lines"], "{t:#}");
        assert_eq!(t["drift"], 0);
        assert_eq!(t["counts"]["adds"], 8);
        for key in ["backup", "transcript", "plan_file"] {
            let path = t[key].as_str().unwrap_or_else(|| panic!("{key} in {t:#}"));
            assert!(h.path().join(path).is_file(), "{key} {path} missing");
        }
    }
    assert!(!String::from_utf8_lossy(&a.stdout).contains(PASSWORD));
    assert_eq!(names(&h.state(1), "address").len(), 5);

    // Nothing left to do: both plans empty, apply reports `no changes`.
    let p = h.run(&["plan", "--all", "--format", "json", "--detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let doc = json(&p);
    assert_eq!(doc["changes"], false);
    assert_eq!(by_target(&doc, "fw2")["result"], "no changes");
    assert_eq!(by_target(&doc, "fw2")["lines"], 0);
    let a = h.run(&["apply", "plans/", "--yes", "--format", "json"]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let doc = json(&a);
    assert_eq!(by_target(&doc, "fw1")["result"], "no changes", "{doc:#}");
    assert_eq!(by_target(&doc, "fw1")["lines_applied"], 0);
}

#[test]
fn refused_apply_is_still_a_json_document_with_exit_3() {
    let h = Harness::new();
    h.commit_list(&ips(0..3), "three");
    let p = h.run(&["plan", "--target", "fw1", "--format", "json"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert_eq!(json(&p)["targets"][0]["result"], "changes");

    // The device changes after planning: the plan is stale.
    h.commit_list(&ips(0..4), "four");
    let p2 = h.run(&["plan", "--target", "fw1", "--out", "other.json"]);
    assert_eq!(p2.status.code(), Some(0), "{}", text(&p2));
    let a = h.run(&["apply", "other.json", "--yes"]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));

    // The old plan is also superseded (its commit is no longer the tip); allowed explicitly,
    // so that the stale check is what refuses it.
    let a = h.run(&[
        "apply",
        h.plan_file("fw1").to_str().unwrap(),
        "--yes",
        "--allow-superseded",
        "--format",
        "json",
    ]);
    assert_eq!(a.status.code(), Some(3), "{}", text(&a));
    let doc = json(&a);
    assert_eq!(doc["ok"], false);
    let t = by_target(&doc, "fw1");
    assert_eq!(t["result"], "refused", "{t:#}");
    assert_eq!(t["lines_applied"], 0);
    assert_eq!(t["drift"], Value::Null);
    assert!(
        t["detail"].as_str().unwrap().contains("stale plan"),
        "{t:#}"
    );
    // The stale check comes before the backup; the transcript of the session exists.
    assert_eq!(t["backup"], Value::Null);
    assert!(h.path().join(t["transcript"].as_str().unwrap()).is_file());
    assert!(String::from_utf8_lossy(&a.stderr).contains("stale plan"));
}

#[test]
fn offline_plan_json_names_the_base() {
    let h = Harness::new();
    let base = h.commit_list(&ips(0..3), "base");
    h.commit_list(&ips(0..4), "head");
    let p = h.run(&[
        "plan",
        "--target",
        "fw1",
        "--offline-base",
        "HEAD~1",
        "--format",
        "json",
        "--out",
        "preview/",
    ]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let doc = json(&p);
    assert_eq!(doc["offline_base"], base.as_str());
    let t = by_target(&doc, "fw1");
    assert_eq!(t["counts"]["adds"], 1, "{t:#}");
    assert_eq!(t["plan_file"], "preview/fw1.plan.json");
}
