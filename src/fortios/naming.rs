//! Object names: `<prefix><value>` (networks keep their `/len`), only `[A-Za-z0-9._:/-]`,
//! at most `max_len` characters (longer ones are cut and get a short stable hash).
use sha2::{Digest, Sha256};

use crate::blocklist::indicator::Indicator;

/// The object name of an indicator on a target with `prefix`.
pub fn object_name(prefix: &str, ind: &Indicator, max_len: usize) -> String {
    let full = format!("{prefix}{ind}");
    debug_assert!(full.chars().all(allowed), "{full}");
    if full.len() <= max_len {
        return full;
    }
    // Cut and add "-" + 8 hex digits of sha256(full name): stable and unique in practice;
    // the renderer still checks uniqueness.
    let hash = hex::encode(&Sha256::digest(full.as_bytes())[..4]);
    let keep = max_len.saturating_sub(hash.len() + 1);
    format!("{}-{hash}", &full[..keep])
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
    }
}
