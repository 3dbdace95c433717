//! Object names: `<prefix><value>` (networks keep their `/len`), only `[A-Za-z0-9._:/-]`,
//! at most `max_len` characters.
//!
//! Longer names are cut and get `_` + 16 hex digits of sha256 of the full name. No indicator
//! value can contain `_` (IP addresses never do, and domain labels are letters, digits and
//! `-` only), so a hashed name can never equal the natural name of another indicator — one
//! crafted domain cannot take the name of another. Two long names that are cut to the same
//! text *and* share the hash (a 64-bit collision, possible only by brute force) are the one
//! residual case: [`collisions`] finds them so the later indicator is dropped with the rule
//! `name-collision` and a warning, and every other indicator still renders on every target.
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::blocklist::guard::Dropped;
use crate::blocklist::indicator::Indicator;

/// Separator before the hash of a cut name; never part of an indicator value.
pub const HASH_SEPARATOR: char = '_';
/// Hex digits of the hash of a cut name.
pub const HASH_DIGITS: usize = 16;
/// Characters a hashed name adds after the cut text (`_` + hash).
pub const HASH_SUFFIX_LEN: usize = 1 + HASH_DIGITS;
/// Value characters a hashed name keeps at least (checked against `max_name_length`).
pub const MIN_KEPT: usize = 8;

/// What the FortiOS layer requires of a set of render settings, as sentences: room for cut
/// names after the prefix, and template fields that are allowed. `config` lists these with its
/// own problems ([`crate::config::Config::parse`] takes this function from the loader).
pub fn render_rules(rc: &crate::config::RenderConfig) -> Vec<String> {
    let mut out = Vec::new();
    let hashed = rc.prefix.len() + HASH_SUFFIX_LEN + MIN_KEPT;
    if rc.max_name_length < hashed {
        out.push(format!(
            "max_name_length {} leaves no room for cut names after the prefix (needs at least {hashed})",
            rc.max_name_length
        ));
    }
    out.extend(super::fields::config_problems(&rc.template_fields));
    out
}

/// The object name of an indicator on a target with `prefix`.
pub fn object_name(prefix: &str, ind: &Indicator, max_len: usize) -> String {
    let mut full = String::with_capacity(prefix.len() + 40);
    full.push_str(prefix);
    ind.push_text(&mut full);
    debug_assert!(full.chars().all(allowed), "{full}");
    if full.len() <= max_len {
        return full;
    }
    let hash = hex::encode(&Sha256::digest(full.as_bytes())[..HASH_DIGITS / 2]);
    // Keep the prefix whole (ownership on the device starts with it); values are ASCII.
    let keep = max_len
        .saturating_sub(HASH_SUFFIX_LEN)
        .max(prefix.len())
        .min(full.len());
    format!("{}{HASH_SEPARATOR}{hash}", &full[..keep])
}

/// Characters allowed in generated names.
pub fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-')
}

/// Name of a placeholder member that keeps a group from becoming empty.
/// Not a valid indicator value (single label), so it can never collide with one.
pub fn placeholder_name(prefix: &str, v6: bool) -> String {
    format!(
        "{prefix}{}",
        if v6 { "placeholder6" } else { "placeholder" }
    )
}

/// One naming scheme in use: which targets use it, their prefix and name limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    /// For messages: `target fw1`, `targets fw1, fw2`, or `render settings`.
    pub label: String,
    pub prefix: String,
    pub max_len: usize,
}

/// Indicators (by index into `values`, which is in indicator order) whose object name is
/// already taken by an earlier indicator under one of `schemes`, with the reason. Only cut
/// (hashed) names can collide, so only long values are looked at.
pub fn collisions(values: &[&Indicator], schemes: &[Scheme]) -> Vec<(usize, Dropped)> {
    let mut out: Vec<(usize, Dropped)> = Vec::new();
    for s in schemes {
        let mut taken: HashMap<String, usize> = HashMap::new();
        for (i, v) in values.iter().enumerate() {
            let long = match v {
                Indicator::Fqdn(d) => s.prefix.len() + d.len() > s.max_len,
                // An IP's text is at most 43 characters (`xxxx:…:xxxx/128`).
                _ => {
                    s.prefix.len() + 43 > s.max_len
                        && s.prefix.len() + v.to_string().len() > s.max_len
                }
            };
            if !long || out.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let name = object_name(&s.prefix, v, s.max_len);
            match taken.get(&name) {
                Some(&first) => out.push((
                    i,
                    Dropped {
                        rule: "name-collision",
                        detail: format!(
                            "its object name `{name}` ({}) is already taken by `{}` — two long names cut to the same text and hash; shorten or remove one",
                            s.label, values[first]
                        ),
                    },
                )),
                None => {
                    taken.insert(name, i);
                }
            }
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_prefix_len_and_cut_long_ones_stably() {
        let ip = Indicator::parse("198.51.100.0/24").unwrap();
        assert_eq!(object_name("bo-", &ip, 79), "bo-198.51.100.0/24");
        let host = Indicator::parse("203.0.113.7").unwrap();
        assert_eq!(object_name("bo-", &host, 79), "bo-203.0.113.7");
        let long = Indicator::parse(&format!("{}.example", "a".repeat(60))).unwrap();
        let n = object_name("bo-", &long, 63);
        assert_eq!(n.len(), 63);
        assert_eq!(n, object_name("bo-", &long, 63));
        let other = Indicator::parse(&format!("{}.example", "a".repeat(61))).unwrap();
        assert_ne!(n, object_name("bo-", &other, 63));
        assert!(n.chars().all(allowed));
        assert!(n.starts_with("bo-aaaa"));
    }

    #[test]
    fn a_domain_equal_to_a_cut_name_cannot_take_it() {
        // The bug: the cut name of a long domain was itself a valid domain name (the old
        // separator was `-`), so a second, crafted domain produced the same object name and
        // every target failed to render.
        let long = Indicator::parse(&format!(
            "{}.{}.example.com",
            "x".repeat(60),
            "y".repeat(30)
        ))
        .unwrap();
        let cut = object_name("bo-", &long, 79);
        let crafted = cut.strip_prefix("bo-").unwrap();
        assert!(
            Indicator::parse(crafted).is_err(),
            "`{crafted}` must not be a valid indicator"
        );
        assert!(cut.contains(HASH_SEPARATOR));
    }

    #[test]
    fn residual_collisions_drop_the_later_indicator_only() {
        let x = "x".repeat(60);
        let a = Indicator::parse(&format!("{x}.{x}.a.example")).unwrap();
        let b = Indicator::parse(&format!("{x}.{x}.b.example")).unwrap();
        let c = Indicator::parse("c.example").unwrap();
        let schemes = [Scheme {
            label: "target fw1".into(),
            prefix: "bo-".into(),
            max_len: 79,
        }];
        // Distinct hashes: no collision.
        assert!(collisions(&[&a, &b, &c], &schemes).is_empty());
        // The same value twice stands in for a forged hash collision.
        let d = collisions(&[&a, &c, &a], &schemes);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, 2);
        assert_eq!(d[0].1.rule, "name-collision");
        assert!(d[0].1.detail.contains("target fw1"), "{}", d[0].1.detail);
    }
}
