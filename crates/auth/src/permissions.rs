//! Permission entries of roles: exact strings (`catalog:product:write`), `*` wildcards
//! (`orders:*`, `*`) and regular expressions (`re:^order.*$`). A regular expression must
//! match the whole permission.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::Regex;

/// Longest accepted entry.
pub const MAX_ENTRY_LEN: usize = 200;

/// Checks an entry before it is stored; the error says what is wrong with it.
pub fn validate_entry(entry: &str) -> Result<(), String> {
    if entry.is_empty() || entry.len() > MAX_ENTRY_LEN {
        return Err(format!("must be 1 to {MAX_ENTRY_LEN} characters"));
    }
    if entry.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".to_owned());
    }
    if let Some(pattern) = entry.strip_prefix("re:") {
        compile(pattern).map_err(|e| format!("invalid regular expression: {e}"))?;
    }
    Ok(())
}

/// Whether `entry` grants `permission`.
pub fn grants(entry: &str, permission: &str) -> bool {
    if let Some(pattern) = entry.strip_prefix("re:") {
        return cached_regex(pattern).is_some_and(|re| re.is_match(permission));
    }
    if entry.contains('*') {
        return glob_matches(entry.as_bytes(), permission.as_bytes());
    }
    entry == permission
}

/// `*` matches any run of characters (including `:`).
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
}

/// Compiled expressions, shared by every request: roles change rarely, requests often.
fn cached_regex(pattern: &str) -> Option<Arc<Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<Regex>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = cache.get(pattern) {
        return found.clone();
    }
    if cache.len() > 10_000 {
        cache.clear();
    }
    let compiled = compile(pattern).ok().map(Arc::new);
    cache.insert(pattern.to_owned(), compiled.clone());
    compiled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_grant_what_they_say() {
        let cases = [
            ("catalog:product:write", "catalog:product:write", true),
            ("catalog:product:write", "catalog:product:read", false),
            ("catalog:*", "catalog:product:write", true),
            ("catalog:*", "catalogue:x", false),
            ("order:*:read", "order:item:read", true),
            ("order:*:read", "order:item:write", false),
            ("*", "anything:at:all", true),
            ("re:^order.*$", "orders:read", true),
            ("re:^order.*$", "payments:read", false),
            // Regular expressions match the whole permission, never a part of it.
            ("re:catalog", "xcatalogx", false),
            ("re:catalog:(product|stock):.*", "catalog:stock:read", true),
            ("re:(", "(", false),
        ];
        for (entry, permission, expected) in cases {
            assert_eq!(
                grants(entry, permission),
                expected,
                "{entry} vs {permission}"
            );
        }
    }

    #[test]
    fn bad_entries_are_explained() {
        assert!(
            validate_entry("re:([a-z]")
                .unwrap_err()
                .contains("regular expression")
        );
        assert!(validate_entry("").is_err());
        assert!(validate_entry("users read").is_err());
        assert!(validate_entry(&"x".repeat(201)).is_err());
        assert!(validate_entry("re:^catalog:.*$").is_ok());
        assert!(validate_entry("orders:*").is_ok());
    }
}
