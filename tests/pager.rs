//! The `--More--` pager is answered inside the session (issue #9 item 1): blockops never
//! switches the console's output mode (a global setting), so every `show` it reads is paged.
//! Long output read through pages of every small size must give exactly what an unpaged read
//! gives — no line lost, none duplicated.
mod support;

use blockops::sim::fortigate::{DeviceState, Profile};
use support::fgt::*;

/// The backup `apply` wrote (the `show` text of every managed object before the push).
fn backup(h: &Harness) -> String {
    let files: Vec<_> = std::fs::read_dir(h.path().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".backup.conf"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::read_to_string(&files[0]).unwrap()
}

/// A device holding 60 of blockops' addresses (with comments) and a few of someone else's.
fn reference() -> DeviceState {
    let h = Harness::new();
    h.sim(0).run(&[
        "config firewall address",
        "edit office-lan",
        "set subnet 10.1.0.0 255.255.0.0",
        "set comment \"--More-- is not a pager here\"",
        "next",
        "end",
    ]);
    h.commit_list(&ips(0..60), "sixty");
    let a = h.plan_and_apply("fw1");
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    h.state(0)
}

#[test]
fn long_show_output_through_small_pages_loses_and_duplicates_nothing() {
    let start = reference();
    let mut seen: Vec<(Option<usize>, String)> = Vec::new();
    // `None`: a page longer than any output, so nothing is paged.
    for page in [None, Some(2), Some(3), Some(5), Some(24)] {
        let mut o = sim_options(Profile::default());
        o.page_lines = page.or(Some(100_000));
        let h = Harness::with(vec![("fw1", o)]);
        h.sim(0).set_state(start.clone());
        // One more indicator, so `apply` has something to push and writes the backup.
        h.commit_list(&ips(0..61), "sixty-one");
        let a = h.plan_and_apply("fw1");
        assert_eq!(a.status.code(), Some(0), "page {page:?}: {}", text(&a));
        let p = h.run(&["plan", "--target", "fw1", "--detailed-exitcode"]);
        assert_eq!(p.status.code(), Some(0), "page {page:?}: {}", text(&p));
        assert_eq!(h.state(0).console.output, "more", "page {page:?}");
        assert_eq!(h.sim(0).global_changes(), Vec::<String>::new());
        seen.push((page, backup(&h)));
    }
    let (_, unpaged) = &seen[0];
    // 60 addresses and the group.
    assert_eq!(unpaged.matches("edit \"bo-").count(), 60 + 1, "{unpaged}");
    assert!(!unpaged.contains("--More--"));
    for (page, b) in &seen[1..] {
        assert_eq!(b, unpaged, "page of {page:?} lines read something else");
    }
}
