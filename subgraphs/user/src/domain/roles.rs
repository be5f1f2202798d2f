//! Role rules: names, permission entries, and the set of roles given to a user.

use service_kit::ApiError;

/// Most permission entries in one role.
pub const MAX_PERMISSIONS: usize = 100;

/// The trimmed role name, if it is 1 to 64 lower-case letters, digits, `_` or `-`, starting
/// with a letter.
pub fn role_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim().to_owned();
    let valid_name = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid_name {
        return Err(ApiError::bad_input(
            "name",
            "must be 1 to 64 lower-case letters, digits, _ or -, starting with a letter",
        ));
    }
    Ok(name)
}

/// The permission entries of a role, checked, without repeats, in the order given.
pub fn permission_entries(permissions: &[String]) -> Result<Vec<String>, ApiError> {
    if permissions.len() > MAX_PERMISSIONS {
        return Err(ApiError::bad_input(
            "permissions",
            format!("at most {MAX_PERMISSIONS} entries"),
        ));
    }
    let mut entries: Vec<String> = Vec::with_capacity(permissions.len());
    for (index, entry) in permissions.iter().enumerate() {
        auth::permissions::validate_entry(entry)
            .map_err(|why| ApiError::bad_input(format!("permissions[{index}]"), why))?;
        if !entries.contains(entry) {
            entries.push(entry.clone());
        }
    }
    Ok(entries)
}

/// The roles asked for, sorted, without repeats.
pub fn role_set(mut roles: Vec<String>) -> Vec<String> {
    roles.sort();
    roles.dedup();
    roles
}

/// Refuses `wanted` roles that are not among the `known` ones.
pub fn check_known(wanted: &[String], known: &[String]) -> Result<(), ApiError> {
    match wanted.iter().find(|r| !known.contains(r)) {
        Some(unknown) => Err(ApiError::bad_input(
            "roles",
            format!("unknown role {unknown:?}"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_trimmed_and_checked() {
        assert_eq!(role_name(" support-2 ").unwrap(), "support-2");
        for bad in ["", "2nd", "Admin", "a b", &"a".repeat(65)] {
            assert!(role_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn role_sets_are_sorted_and_known() {
        let wanted = role_set(vec!["b".into(), "a".into(), "b".into()]);
        assert_eq!(wanted, ["a", "b"]);
        assert!(check_known(&wanted, &["b".into(), "a".into()]).is_ok());
        assert!(check_known(&wanted, &["a".into()]).is_err());
    }
}
