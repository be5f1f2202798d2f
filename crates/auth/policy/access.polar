# Douyin Mall access policy, evaluated by oso in every subgraph.
#
# A Principal is the signed-in caller: its user id and the permission entries of all its
# roles, read from the session store on every request (so role changes apply at once).
# Entries are exact permissions, `*` wildcards or `re:` regular expressions; the matching
# itself is `Principal.grants` (crates/auth/src/permissions.rs).

# A caller holds a permission when one of its entries grants it.
holds_permission(actor: Principal, permission: String) if
    entry in actor.permissions and
    actor.grants(entry, permission);

# Operations and guarded fields that need a permission.
allow(actor: Principal, "perform", permission: String) if
    holds_permission(actor, permission);

# Records that belong to a user (their email, addresses, cart, orders): the owner may read
# them, and so may whoever holds the record's permission (e.g. `users:read`).
allow(actor: Principal, "read", record: OwnedRecord) if
    record.owner_id = actor.user_id;

allow(actor: Principal, "read", record: OwnedRecord) if
    holds_permission(actor, record.permission);
