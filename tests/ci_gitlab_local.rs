//! The GitLab pipeline of `examples/ci/gitlab/.gitlab-ci.yml` run job by job with
//! gitlab-ci-local (shell executor, each job in its own copy of the checkout) in a scratch
//! repository whose "remote" is a local bare repository, against the real simulators started
//! here as `blockops sim …` processes: scheduled pulls, the merge-request review, plan and the
//! manual apply after a merge, and an older pipeline's apply refused as superseded.
//!
//! What stands in for GitLab: gitlab-ci-local evaluates `workflow:`/`rules:`, `extends:`,
//! `!reference`, `needs:`, artifacts and cache and runs the scripts as a runner would; a small
//! HTTP server here plays the REST API the pipeline calls (merge requests, notes) and records
//! every call; git's `url.<base>.insteadOf` maps the server's clone URL onto the bare
//! repository. Approvals, protected branches, environments and variables, masking, resource
//! groups across runners and "prevent outdated deployment jobs" exist only on a real GitLab
//! (examples/ci/README.md says so).
//!
//! blockops is built once by cargo; the pipeline fetches that binary through its real
//! install path (`BLOCKOPS_RELEASE_URL=file://…` with its sha256), never builds it.
#[path = "ci_gitlab_local/api.rs"]
mod api;
mod ci_tools;
#[path = "ci_gitlab_local/world.rs"]
mod world;

use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use world::*;

#[test]
fn gitlab_pipeline_runs_end_to_end_with_gitlab_ci_local() {
    let Some(tools) = ci_tools::require(
        "gitlab_pipeline_runs_end_to_end_with_gitlab_ci_local",
        &[
            "gitlab-ci-local",
            "git",
            "rsync",
            "jq",
            "curl",
            "ssh-keygen",
            "sha256sum",
        ],
    ) else {
        return;
    };
    let started = Instant::now();
    let mut w = setup(tools[0].clone());

    // 1. The first scheduled pull proposes the detections as a merge request.
    let s1 = w.schedule();
    let p1 = w
        .remote_branch("blockops/pull")
        .expect("pull branch pushed");
    let mrs = w.api.mrs();
    assert_eq!(mrs.len(), 1, "{}", s1.log);
    assert_eq!(
        (mrs[0].source.as_str(), mrs[0].target.as_str()),
        ("blockops/pull", "main")
    );
    assert!(
        mrs[0].description.contains("203.0.113.9"),
        "{}",
        mrs[0].description
    );
    assert!(
        calls_by(&w.api, "POST", "/merge_requests")
            .iter()
            .all(|c| c.token.as_deref() == Some(BOT_TOKEN))
    );

    // 2. The same detections an hour later: nothing pushed, no second merge request.
    let s2 = w.schedule();
    assert_eq!(
        w.remote_branch("blockops/pull").as_deref(),
        Some(p1.as_str()),
        "{}",
        s2.log
    );
    assert_eq!(w.api.mrs().len(), 1);
    assert!(
        s2.log.contains("already proposes exactly this"),
        "{}",
        s2.log
    );

    // 3. Meanwhile main moves on; the review shows only what the merge request changes.
    w.commit_to_main("manual: block 198.51.100.77", |d| {
        add_manual(d, "198.51.100.77")
    });
    let r1 = w.review(1);
    let notes = w.api.notes(1);
    assert_eq!(notes.len(), 1, "{}", r1.log);
    let note = &notes[0].1;
    assert!(
        note.starts_with(MARKER) && note.contains("203.0.113.9"),
        "{note}"
    );
    assert!(
        !note.contains("198.51.100.77"),
        "main's newer commit shows up in the review (diff against the tip, not the merge base):\n{note}"
    );
    assert!(
        calls_by(&w.api, "POST", "/notes")
            .iter()
            .all(|c| c.token.as_deref() == Some(REVIEW_TOKEN))
    );
    // Positive control: against main's tip that commit would show as a removal.
    let tip_diff = Command::new(blockops())
        .args([
            "diff",
            "--base",
            "origin/main",
            "--head",
            "HEAD",
            "--format",
            "markdown",
        ])
        .current_dir(&r1.dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&tip_diff.stdout).contains("198.51.100.77"));
    // A second review run updates the same note instead of adding one.
    let r2 = w.review(1);
    assert_eq!(w.api.notes(1).len(), 1, "{}", r2.log);
    assert_eq!(calls_by(&w.api, "PUT", "/notes/").len(), 1, "{}", r2.log);

    // 4. The detections vanish before anyone merged: the request is closed, the branch removed.
    w.cybereason_serves(F0);
    let s3 = w.schedule();
    assert_eq!(w.api.mrs()[0].state, "closed", "{}", s3.log);
    assert_eq!(w.remote_branch("blockops/pull"), None, "{}", s3.log);
    assert!(
        w.api
            .notes(1)
            .iter()
            .any(|(_, b)| b.contains("nothing is left to change"))
    );

    // 5. They come back: a new request, which the team merges.
    w.cybereason_serves(F1);
    let s4 = w.schedule();
    let mrs = w.api.mrs();
    assert_eq!(
        (mrs.len(), mrs[1].state.as_str()),
        (2, "opened"),
        "{}",
        s4.log
    );
    let merge = w.checkout("merge", "main", false);
    w.git(
        &merge,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            "Merge !2",
            "origin/blockops/pull",
        ],
    );
    let remote = w.remote.to_str().unwrap().to_string();
    w.git(
        &merge,
        &["push", "-q", &remote, "main", ":refs/heads/blockops/pull"],
    );
    w.api.mark_merged(2);
    let merged = w.git(&merge, &["rev-parse", "HEAD"]);

    // 6. The push to main: plan (apply waits for a person), then the manual apply.
    let m = w.push_pipeline(&merged);
    assert_eq!(
        m.artifact("plan", "plans/changes").trim(),
        "true",
        "{}",
        m.log
    );
    assert!(
        m.artifact("plan", "plans/plan.txt")
            .contains("bo-203.0.113.9")
    );
    assert_eq!(
        w.devices_match(&merged),
        2,
        "nothing may change before the apply"
    );
    let a = w.apply(&m);
    assert_eq!(a.jobs(), (vec!["apply"], vec![]), "{}", a.log);
    let report: Value = serde_json::from_str(&a.artifact("apply", "logs/apply.json")).unwrap();
    let results: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["applied", "applied"], "{report:#}");
    // plan and apply ran the one binary the pipeline fetched.
    let pinned = format!("blockops release-{}", w.bin_sha256);
    assert!(
        m.log.contains(&pinned) && a.log.contains(&pinned),
        "{}",
        a.log
    );
    assert_eq!(
        w.devices_match(&merged),
        0,
        "the firewalls must match main after apply"
    );

    // 7. The next schedule finds main current: nothing pushed, no request.
    let s5 = w.schedule();
    assert_eq!(w.remote_branch("blockops/pull"), None, "{}", s5.log);
    assert_eq!(w.api.mrs().len(), 2);

    // 8. Commit A adds an address, commit B reverts it. B's plan is empty; A's apply, still
    //    waiting, must not roll main back: it is refused as superseded.
    let commit_a = w.commit_to_main("manual: block 203.0.113.240", |d| {
        add_manual(d, "203.0.113.240")
    });
    let pa = w.push_pipeline(&commit_a);
    assert_eq!(
        pa.artifact("plan", "plans/changes").trim(),
        "true",
        "{}",
        pa.log
    );
    let dev = w.checkout("revert", "main", false);
    w.git(&dev, &["revert", "--no-edit", "HEAD"]);
    w.git(&dev, &["push", "-q", &remote, "main"]);
    let commit_b = w.git(&dev, &["rev-parse", "HEAD"]);
    let pb = w.push_pipeline(&commit_b);
    assert_eq!(
        pb.artifact("plan", "plans/changes").trim(),
        "false",
        "{}",
        pb.log
    );
    let stale = w.apply(&pa);
    assert_eq!(stale.jobs(), (vec![], vec!["apply"]), "{}", stale.log);
    assert!(
        stale.log.to_lowercase().contains("superseded"),
        "the older pipeline's apply must be refused as superseded:\n{}",
        stale.log
    );
    assert_eq!(
        w.devices_match(&commit_b),
        0,
        "the firewalls must still match main"
    );
    assert_eq!(
        w.devices_match(&commit_a),
        2,
        "A's address must not have been pushed"
    );
    let newest = w.apply(&pb);
    assert_eq!(newest.jobs(), (vec!["apply"], vec![]), "{}", newest.log);
    assert!(newest.log.contains("Nothing to apply"), "{}", newest.log);

    // No secret in any job log.
    for dir in std::fs::read_dir(w.path().join("pipelines")).unwrap() {
        let log = dir.unwrap().path().join("gitlab-ci-local.log");
        if let Ok(text) = std::fs::read_to_string(&log) {
            for secret in [BOT_TOKEN, REVIEW_TOKEN, EDGE_PASSWORD] {
                assert!(!text.contains(secret), "{} shows a secret", log.display());
            }
        }
    }
    println!(
        "{} gitlab-ci-local runs in {:.1}s",
        w.pipelines,
        started.elapsed().as_secs_f64()
    );
}
