//! The library's modules form layers: a module may use modules of lower layers only, so there
//! is no circle between modules (issue #10) and the simulators stay independent witnesses
//! that never use a client type. The layers are listed in docs/architecture.md; this test
//! reads `src/` and fails naming the file and line of a use that breaks them.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lowest first. A module may use any module of a lower layer, none of its own or a higher one.
const LAYERS: &[&[&str]] = &[
    &["text", "error", "progress", "secret"],
    &["diag", "atomic"],
    &["yaml"],
    &["config"],
    &["gitops"],
    &["blocklist"],
    &["fortios"],
    &["workspace"],
    &["plan", "cybereason"],
    &["report"],
    &["review", "doctor", "sim"],
    &["cli"],
];

/// The simulators may use these shared utilities and nothing else of the crate.
const SIM_MAY_USE: &[&str] = &["text", "error", "secret", "diag", "atomic", "yaml"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable src dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::X` uses in the non-test code of every module: (module, used module) → first place.
fn uses() -> BTreeMap<(String, String), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (i, _) in line.match_indices("crate::") {
                let used: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !used.is_empty() && used != top {
                    out.entry((top.clone(), used))
                        .or_insert_with(|| format!("src/{rel}:{}", n + 1));
                }
            }
        }
    }
    out
}

fn layer(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

#[test]
fn every_module_uses_only_lower_layers() {
    let mut broken = Vec::new();
    for ((from, to), at) in uses() {
        if from == "sim" {
            if !SIM_MAY_USE.contains(&to.as_str()) {
                broken.push(format!(
                    "{at}: the simulator uses crate::{to} (a witness never shares client code)"
                ));
            }
            continue;
        }
        match (layer(&from), layer(&to)) {
            (Some(a), Some(b)) if b < a => {}
            (Some(_), Some(_)) => broken.push(format!(
                "{at}: `{from}` uses `{to}`, which is not in a lower layer"
            )),
            (None, _) => broken.push(format!(
                "{at}: module `{from}` has no layer in tests/layers.rs"
            )),
            (_, None) => broken.push(format!(
                "{at}: module `{to}` has no layer in tests/layers.rs"
            )),
        }
    }
    assert!(
        broken.is_empty(),
        "module layering broken:\n{}",
        broken.join("\n")
    );
}

/// The check itself finds a use: the CLI uses the library (else the test reads nothing).
#[test]
fn the_reader_sees_the_uses() {
    let u = uses();
    assert!(
        u.contains_key(&("cli".to_string(), "workspace".to_string())),
        "{u:?}"
    );
    assert!(
        u.contains_key(&("plan".to_string(), "fortios".to_string())),
        "{u:?}"
    );
}
