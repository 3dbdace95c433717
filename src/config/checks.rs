//! Configuration checks of values that reach outside the file: secrets written into it,
//! credentials inside URLs, keys pasted where a path belongs (each problem names the key and
//! what to write instead, never the value — serde's own messages would quote it:
//! `invalid type: string "…"`), configured paths that must stay inside the repository, and
//! the NAT64 prefixes the guardrails decode.
use serde::{Deserialize, Deserializer};

use super::Config;
use crate::secret::SecretSource;
use crate::text::is_word;

/// A secret written into the configuration is refused without showing it: the message names
/// the key, never the value (serde's own message would quote it: `invalid type: string "…"`).
pub(super) fn de_secret<'de, D: Deserializer<'de>>(d: D) -> Result<SecretSource, D::Error> {
    use serde::de::Error;
    match serde_yaml::Value::deserialize(d)? {
        v @ serde_yaml::Value::Mapping(_) => SecretSource::deserialize(v).map_err(|e| {
            // Unknown keys and wrong shapes only; never a value.
            let msg = e.to_string();
            if msg.starts_with("unknown field") {
                D::Error::custom(format!(
                    "{}; a secret is named `{{env: VARIABLE}}` or `{{file: path}}`",
                    msg.split(", expected").next().unwrap_or(&msg)
                ))
            } else {
                D::Error::custom(
                    "a secret is named `{env: VARIABLE}` or `{file: path}` with text values (value not shown)",
                )
            }
        }),
        _ => Err(D::Error::custom(
            "a secret must not be written into blockops.yaml: name where it comes from, `{env: VARIABLE}` or `{file: path}` (value not shown)",
        )),
    }
}

pub(super) fn de_secret_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretSource>, D::Error> {
    de_secret(d).map(Some)
}

/// Why a Cybereason URL is refused, without repeating it (it may hold a password).
pub(super) fn url_problem(url: &str) -> Option<&'static str> {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or(after_scheme);
    if authority.contains('@') {
        return Some(
            "must not contain credentials (`user:password@`): the user is cybereason.username and the password comes from cybereason.password (value not shown)",
        );
    }
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            if u.query().is_some() || u.fragment().is_some() {
                Some(
                    "must be the server's base URL, without `?query` or `#fragment` (value not shown)",
                )
            } else {
                None
            }
        }
        _ => Some("is not an http:// or https:// URL with a host (value not shown)"),
    }
}

/// Problems with a secret's source (names only; the secret itself is never here).
pub(super) fn secret_problems(s: &SecretSource, what: &str, err: &mut dyn FnMut(&str, String)) {
    if !s.is_set() {
        err("password", format!("{what}: set `env` or `file`"));
    }
    if let Some(v) = &s.env
        && (v.is_empty()
            || v.len() > 128
            || v.starts_with(|c: char| c.is_ascii_digit())
            || !is_word(v, "_"))
    {
        err(
            "env",
            format!(
                "{what}: `env` must be an environment variable name (A-Z a-z 0-9 _; value not shown)"
            ),
        );
    }
    if let Some(f) = &s.file
        && looks_like_key_material(&f.to_string_lossy())
    {
        err(
            "file",
            format!(
                "{what}: `file` must be the path of a file holding the secret, not the secret itself (value not shown)"
            ),
        );
    }
}

/// Text that is a secret pasted where a path belongs.
pub(super) fn looks_like_key_material(s: &str) -> bool {
    s.contains('\n') || s.contains("PRIVATE KEY") || s.contains("-----BEGIN") || s.len() > 4096
}

/// Problems with the guardrail prefixes, the configured paths and every secret or URL — the
/// checks of `Config::validate` that handle values which must not be repeated.
pub(super) fn problems(cfg: &Config, err: &mut dyn FnMut(&str, String)) {
    for p in &cfg.guardrails.nat64_prefixes {
        let ok = p
            .parse::<ipnet::Ipv6Net>()
            .is_ok_and(|n| n.network() == n.addr() && (32..=96).contains(&n.prefix_len()));
        if !ok {
            err(
                "nat64_prefixes",
                format!(
                    "guardrails.nat64_prefixes: `{p}` is not an IPv6 prefix of length /32 to /96 without host bits"
                ),
            );
        }
    }
    let files = [
        ("pulled", &cfg.files.pulled),
        ("manual", &cfg.files.manual),
        ("allowlist", &cfg.files.allowlist),
    ];
    for (i, (key, p)) in files.iter().enumerate() {
        if let Err(why) = crate::text::check_rel_path(p) {
            err(key, format!("files.{key}: {why}"));
        } else if let Some((other, _)) = files[..i].iter().find(|(_, q)| q == p) {
            err(
                key,
                format!("files.{key} names the same file as files.{other}"),
            );
        }
    }
    if let Some(c) = &cfg.cybereason {
        if let Some(why) = url_problem(&c.url) {
            err("url", format!("cybereason.url {why}"));
        }
        secret_problems(&c.password, "cybereason.password", err);
    }
    for t in &cfg.targets {
        if let Some(p) = &t.password {
            secret_problems(p, &format!("target `{}`: password", t.name), err);
        }
        if let Some(k) = &t.private_key
            && looks_like_key_material(&k.to_string_lossy())
        {
            err(
                "private_key",
                format!(
                    "target `{}`: private_key must be the path of a key file, not the key itself (value not shown)",
                    t.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn errors(text: &str) -> String {
        Config::parse(text, "blockops.yaml", crate::fortios::naming::render_rules)
            .err()
            .map(|d| d.to_string())
            .unwrap_or_default()
    }

    const TARGET: &str = "targets:\n- name: fw\n  host: 127.0.0.1\n";

    #[test]
    fn a_literal_secret_is_refused_without_echoing_it() {
        // The bug: serde said `invalid type: string "hunter2-literal"`.
        for text in [
            format!("{TARGET}  password: hunter2-literal\n"),
            format!("{TARGET}  password: \"hunter2-literal\"\n"),
            format!("{TARGET}  password: [hunter2-literal]\n"),
            "cybereason:\n  url: https://c.example\n  username: u\n  password: hunter2-literal\n"
                .into(),
            format!("{TARGET}  password: {{env: \"hunter2-literal!\"}}\n"),
            format!(
                "{TARGET}  private_key: \"-----BEGIN OPENSSH PRIVATE KEY-----\\nhunter2-literal\"\n"
            ),
            format!("{TARGET}  password: {{file: \"-----BEGIN hunter2-literal\"}}\n"),
        ] {
            let e = errors(&text);
            assert!(!e.is_empty(), "accepted: {text}");
            assert!(!e.contains("hunter2"), "echoed the secret: {e}");
            assert!(e.contains("blockops.yaml:"), "{e}");
        }
        // Names of secrets are fine.
        assert!(errors(&format!("{TARGET}  password: {{env: FW_PASSWORD}}\n")).is_empty());
    }

    #[test]
    fn credentials_in_the_cybereason_url_are_refused_without_echoing_them() {
        for url in [
            "http://user:hunter2@c.example",
            "https://api%40x:hunter2@c.example:8443/",
            "https://hunter2@c.example",
            "ftp://c.example/hunter2",
            "https://c.example/?token=hunter2",
            "hunter2",
        ] {
            let e = errors(&format!(
                "cybereason:\n  url: \"{url}\"\n  username: u\n  password: {{env: P}}\n"
            ));
            assert!(e.contains("blockops.yaml:2:"), "{url}: {e}");
            assert!(e.contains("cybereason.url"), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{url}: echoed: {e}");
        }
        assert!(
            errors(
                "cybereason:\n  url: https://c.example:8443\n  username: u\n  password: {env: P}\n"
            )
            .is_empty()
        );
    }

    #[test]
    fn prefixes_shorter_than_three_characters_are_refused() {
        assert!(errors("render:\n  prefix: bo\n").contains("prefix `bo` must be 3–24"));
        let e = errors(&format!(
            "{TARGET}  password: {{env: X}}\n  render:\n    prefix: h\n"
        ));
        assert!(e.contains("target `fw`: prefix `h`"), "{e}");
        assert!(errors("render:\n  prefix: bo-\n").is_empty());
    }

    #[test]
    fn configured_paths_stay_inside_the_repository() {
        for (p, why) in [
            ("/etc/passwd", "relative"),
            ("../outside.yaml", "`..`"),
            ("blocklists/../../x.yaml", "`..`"),
            (".git/config", ".git"),
            ("blocklists//a.yaml", "empty component"),
        ] {
            let e = errors(&format!("files:\n  allowlist: \"{p}\"\n"));
            assert!(
                e.contains("blockops.yaml:2:3: error: files.allowlist"),
                "{p}: {e}"
            );
            assert!(e.contains(why), "{p}: {e}");
        }
        let e = errors("files:\n  manual: blocklists/cybereason.yaml\n");
        assert!(e.contains("same file as files.pulled"), "{e}");
    }

    #[test]
    fn a_long_value_in_a_yaml_error_is_cut_to_a_short_excerpt() {
        let long = "root:x:0:0:root:/root:/bin/bash daemon:x:1:1:daemon:/usr/sbin";
        let e = errors(&format!(
            "window: [\"{long}\"]\nguardrails:\n  min_prefix_v4: \"{long}\"\n"
        ));
        assert!(!e.is_empty());
        assert!(!e.contains("/usr/sbin"), "{e}");
        let e = errors(&format!("guardrails:\n  min_prefix_v4: \"{long}\"\n"));
        assert!(e.contains("blockops.yaml:2:"), "{e}");
        assert!(!e.contains("daemon:x:1"), "{e}");
        assert!(e.contains("…\""), "{e}");
    }

    #[test]
    fn nat64_prefixes_are_validated() {
        assert!(
            errors("guardrails:\n  nat64_prefixes: [\"64:ff9b::1/96\"]\n")
                .contains("nat64_prefixes")
        );
        assert!(
            errors("guardrails:\n  nat64_prefixes: [\"2001:db8::/120\"]\n").contains("/32 to /96")
        );
        assert!(errors("guardrails:\n  nat64_prefixes: [\"2001:db8:64::/96\"]\n").is_empty());
    }
}
