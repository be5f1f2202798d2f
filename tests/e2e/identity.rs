//! Identity and access through the router: sessions with rotating refresh tokens,
//! revocation, bans, roles that apply on the next request, field guards, token forgery,
//! hostile input, login throttling and the public operation list.

use crate::support;

mod ban_under_load;

use futures::future::join_all;
use serde_json::{Value, json};
use service_kit::demo::{DEMO_ADMIN_EMAIL, DEMO_CUSTOMER_EMAIL};
use support::{Options, System};
use test_support::error_codes;
use user_subgraph::{DEMO_ADMIN_PASSWORD, DEMO_CUSTOMER_PASSWORD};

const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken expiresIn user { id email roles } } }";
const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresIn user { id email roles } } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken expiresIn } }";
const ME: &str = "{ me { id email displayName roles status } }";

/// Tokens and id of a signed-in user.
struct Session {
    access: String,
    refresh: String,
    user_id: String,
}

fn session(payload: &Value) -> Session {
    Session {
        access: payload["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_owned(),
        refresh: payload["refreshToken"]
            .as_str()
            .expect("refreshToken")
            .to_owned(),
        user_id: payload["user"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

async fn register(system: &System, email: &str) -> Session {
    let response = system
        .graphql(
            REGISTER,
            json!({ "input": { "email": email, "password": "correct horse", "displayName": "Tester" } }),
        )
        .await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    session(&response["data"]["register"])
}

async fn login(system: &System, email: &str, password: &str) -> Value {
    system
        .graphql(
            LOGIN,
            json!({ "input": { "email": email, "password": password } }),
        )
        .await
}

async fn login_ok(system: &System, email: &str, password: &str) -> Session {
    let response = login(system, email, password).await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    session(&response["data"]["login"])
}

async fn me_status(system: &System, token: &str) -> Result<Value, Vec<String>> {
    let response = system.graphql_as(token, ME, json!({})).await;
    if response["errors"].is_null() {
        Ok(response["data"]["me"].clone())
    } else {
        Err(error_codes(&response))
    }
}

fn unauthenticated() -> Result<Value, Vec<String>> {
    Err(vec!["UNAUTHENTICATED".to_owned()])
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_a_refresh_token_reused_after_the_grace_window_revokes_the_session() {
    let system = System::start_with(Options {
        refresh_reuse_grace: Some(std::time::Duration::from_secs(1)),
        ..Options::default()
    })
    .await;
    let first = register(&system, "Rotating@Example.com").await;
    let me = me_status(&system, &first.access).await.expect("me works");
    assert_eq!(me["email"], "rotating@example.com", "emails are normalised");
    assert_eq!(me["roles"], json!(["customer"]));

    let response = system.graphql(REFRESH, json!({ "t": first.refresh })).await;
    assert_eq!(response["errors"], Value::Null, "{response}");
    let second = session(&response["data"]["refreshToken"]);
    assert_ne!(second.refresh, first.refresh, "refresh rotates");
    assert!(me_status(&system, &second.access).await.is_ok());

    // Within the grace window (another tab refreshing at the same moment), the used token
    // answers with the same new pair and the session lives on.
    let again = system.graphql(REFRESH, json!({ "t": first.refresh })).await;
    assert_eq!(again["errors"], Value::Null, "{again}");
    let same = session(&again["data"]["refreshToken"]);
    assert_eq!(
        (same.access.as_str(), same.refresh.as_str()),
        (second.access.as_str(), second.refresh.as_str())
    );
    assert!(me_status(&system, &second.access).await.is_ok());

    // After it, the used token is treated as stolen: the whole session ends.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let reuse = system.graphql(REFRESH, json!({ "t": first.refresh })).await;
    assert_eq!(error_codes(&reuse), ["UNAUTHENTICATED"], "{reuse}");
    assert_eq!(me_status(&system, &second.access).await, unauthenticated());
    let after = system
        .graphql(REFRESH, json!({ "t": second.refresh }))
        .await;
    assert_eq!(
        error_codes(&after),
        ["UNAUTHENTICATED"],
        "the new pair died too: {after}"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tabs_refreshing_at_once_get_one_new_pair_and_keep_the_session() {
    let system = System::start().await;
    let user = register(&system, "racer@example.com").await;
    let responses =
        join_all((0..8).map(|_| system.graphql(REFRESH, json!({ "t": user.refresh })))).await;
    for response in &responses {
        assert_eq!(response["errors"], Value::Null, "{response}");
    }
    let pairs: std::collections::HashSet<(String, String)> = responses
        .iter()
        .map(|r| {
            let pair = session(&r["data"]["refreshToken"]);
            (pair.access, pair.refresh)
        })
        .collect();
    assert_eq!(pairs.len(), 1, "exactly one new pair: {pairs:?}");
    let (access, refresh) = pairs.into_iter().next().unwrap();
    assert!(
        me_status(&system, &access).await.is_ok(),
        "the session works"
    );
    let next = system.graphql(REFRESH, json!({ "t": refresh })).await;
    assert_eq!(next["errors"], Value::Null, "and refreshes on: {next}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_one_session_and_logout_all_ends_every_session() {
    let system = System::start().await;
    register(&system, "devices@example.com").await;
    let phone = login_ok(&system, "devices@example.com", "correct horse").await;
    let laptop = login_ok(&system, "devices@example.com", "correct horse").await;
    let tablet = login_ok(&system, "devices@example.com", "correct horse").await;

    let out = system
        .graphql_as(&phone.access, "mutation { logout }", json!({}))
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_eq!(me_status(&system, &phone.access).await, unauthenticated());
    let refresh = system.graphql(REFRESH, json!({ "t": phone.refresh })).await;
    assert_eq!(error_codes(&refresh), ["UNAUTHENTICATED"]);
    assert!(
        me_status(&system, &laptop.access).await.is_ok(),
        "other sessions live on"
    );

    let all = system
        .graphql_as(&laptop.access, "mutation { logoutAll }", json!({}))
        .await;
    assert_eq!(all["data"]["logoutAll"], true, "{all}");
    assert_eq!(me_status(&system, &laptop.access).await, unauthenticated());
    assert_eq!(me_status(&system, &tablet.access).await, unauthenticated());
    system.stop().await;
}

const BAN: &str = "mutation($id: ID!, $reason: String!, $until: DateTime) { banUser(userId: $id, reason: $reason, until: $until) { id status bannedUntil banReason } }";
const UNBAN: &str = "mutation($id: ID!) { unbanUser(userId: $id) { id status } }";

#[tokio::test(flavor = "multi_thread")]
async fn a_ban_stops_tokens_and_login_until_lifted_or_expired() {
    let system = System::start().await;
    let admin = login_ok(&system, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD).await;
    let user = register(&system, "rowdy@example.com").await;

    let ban = system
        .graphql_as(
            &admin.access,
            BAN,
            json!({ "id": user.user_id, "reason": "spam" }),
        )
        .await;
    assert_eq!(ban["data"]["banUser"]["status"], "BANNED", "{ban}");
    assert_eq!(me_status(&system, &user.access).await, unauthenticated());
    let refused = login(&system, "rowdy@example.com", "correct horse").await;
    assert_eq!(error_codes(&refused), ["UNAUTHENTICATED"]);
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("banned") && message.contains("spam"),
        "{message}"
    );

    let unban = system
        .graphql_as(&admin.access, UNBAN, json!({ "id": user.user_id }))
        .await;
    assert_eq!(unban["data"]["unbanUser"]["status"], "ACTIVE", "{unban}");
    let again = login_ok(&system, "rowdy@example.com", "correct horse").await;
    assert!(me_status(&system, &again.access).await.is_ok());

    // A ban with an end time lifts itself.
    let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let ban = system
        .graphql_as(
            &admin.access,
            BAN,
            json!({ "id": user.user_id, "reason": "cool down", "until": until }),
        )
        .await;
    assert_eq!(ban["errors"], Value::Null, "{ban}");
    let refused = login(&system, "rowdy@example.com", "correct horse").await;
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("until"),
        "{refused}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let after = login_ok(&system, "rowdy@example.com", "correct horse").await;
    assert_eq!(
        me_status(&system, &after.access).await.unwrap()["status"],
        "ACTIVE"
    );

    // Only holders of users:ban may ban.
    let denied = system
        .graphql_as(
            &after.access,
            BAN,
            json!({ "id": admin.user_id, "reason": "revenge" }),
        )
        .await;
    assert_eq!(error_codes(&denied), ["FORBIDDEN"], "{denied}");
    system.stop().await;
}

const CREATE_CATEGORY: &str =
    "mutation($name: String!) { createCategory(input: { name: $name }) { id name } }";
const UPSERT_ROLE: &str = "mutation($name: String!, $p: [String!]!) { upsertRole(name: $name, permissions: $p) { name permissions } }";
const SET_ROLES: &str = "mutation($id: ID!, $roles: [String!]!) { setUserRoles(userId: $id, roles: $roles) { id roles } }";

#[tokio::test(flavor = "multi_thread")]
async fn role_changes_apply_on_the_next_request_without_a_new_login() {
    let system = System::start().await;
    let admin = login_ok(&system, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD).await;
    let user = register(&system, "merchant@example.com").await;
    let create = |name: &'static str| {
        system.graphql_as(&user.access, CREATE_CATEGORY, json!({ "name": name }))
    };
    assert_eq!(error_codes(&create("Denied").await), ["FORBIDDEN"]);

    for (role, entry) in [
        ("catalog-manager", "catalog:*"),
        ("catalog-regex", "re:^catalog:(category|product):write$"),
    ] {
        let upsert = system
            .graphql_as(
                &admin.access,
                UPSERT_ROLE,
                json!({ "name": role, "p": [entry] }),
            )
            .await;
        assert_eq!(upsert["errors"], Value::Null, "{upsert}");
        let grant = system
            .graphql_as(
                &admin.access,
                SET_ROLES,
                json!({ "id": user.user_id, "roles": ["customer", role] }),
            )
            .await;
        assert_eq!(
            grant["data"]["setUserRoles"]["roles"],
            json!([role, "customer"]),
            "{grant}"
        );
        let allowed = create("Allowed").await;
        assert_eq!(allowed["errors"], Value::Null, "{role}: {allowed}");
        assert_eq!(allowed["data"]["createCategory"]["name"], "Allowed");

        let revoke = system
            .graphql_as(
                &admin.access,
                SET_ROLES,
                json!({ "id": user.user_id, "roles": ["customer"] }),
            )
            .await;
        assert_eq!(revoke["errors"], Value::Null, "{revoke}");
        assert_eq!(
            error_codes(&create("Denied again").await),
            ["FORBIDDEN"],
            "{role}"
        );
    }

    // Changing a role's entries applies to its holders at once too.
    system
        .graphql_as(
            &admin.access,
            SET_ROLES,
            json!({ "id": user.user_id, "roles": ["customer", "catalog-manager"] }),
        )
        .await;
    assert_eq!(create("Still allowed").await["errors"], Value::Null);
    system
        .graphql_as(
            &admin.access,
            UPSERT_ROLE,
            json!({ "name": "catalog-manager", "p": ["orders:read"] }),
        )
        .await;
    assert_eq!(error_codes(&create("Not any more").await), ["FORBIDDEN"]);

    // A bad regular expression is refused, naming the entry.
    let bad = system
        .graphql_as(
            &admin.access,
            UPSERT_ROLE,
            json!({ "name": "broken", "p": ["users:read", "re:([a-z"] }),
        )
        .await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"], "{bad}");
    assert_eq!(bad["errors"][0]["extensions"]["field"], "permissions[1]");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_are_forbidden_admin_data_and_other_users_private_fields() {
    let system = System::start().await;
    let customer = login_ok(&system, DEMO_CUSTOMER_EMAIL, DEMO_CUSTOMER_PASSWORD).await;
    let other = register(&system, "neighbour@example.com").await;

    let users = system
        .graphql_as(
            &customer.access,
            "{ users(first: 5) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&users), ["FORBIDDEN"], "{users}");

    let peek = system
        .graphql_as(
            &customer.access,
            "query($id: ID!) { user(id: $id) { id displayName email roles } }",
            json!({ "id": other.user_id }),
        )
        .await;
    assert_eq!(peek["data"]["user"]["displayName"], "Tester", "{peek}");
    assert_eq!(peek["data"]["user"]["email"], Value::Null);
    assert_eq!(peek["data"]["user"]["roles"], Value::Null);
    let paths: Vec<&Value> = peek["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["path"])
        .collect();
    assert!(paths.contains(&&json!(["user", "email"])), "{peek}");
    assert!(
        error_codes(&peek).iter().all(|c| c == "FORBIDDEN"),
        "{peek}"
    );

    // Someone else's cart is not theirs to see either.
    let cart = system
        .graphql_as(
            &other.access,
            "query($id: ID!) { user(id: $id) { displayName cart { totalQuantity } } }",
            json!({ "id": customer.user_id }),
        )
        .await;
    assert_eq!(cart["data"]["user"]["cart"], Value::Null, "{cart}");
    assert_eq!(error_codes(&cart), ["FORBIDDEN"], "{cart}");

    // The admin (users:read) sees both.
    let admin = login_ok(&system, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD).await;
    let seen = system
        .graphql_as(
            &admin.access,
            "query($id: ID!) { user(id: $id) { email } }",
            json!({ "id": other.user_id }),
        )
        .await;
    assert_eq!(
        seen["data"]["user"]["email"], "neighbour@example.com",
        "{seen}"
    );
    // Addresses are the owner's alone: no permission opens them, not even the admin's.
    let addresses = system
        .graphql_as(
            &admin.access,
            "query($id: ID!) { user(id: $id) { email addresses { id } } }",
            json!({ "id": customer.user_id }),
        )
        .await;
    assert_eq!(
        addresses["data"]["user"]["addresses"],
        Value::Null,
        "{addresses}"
    );
    assert_eq!(error_codes(&addresses), ["FORBIDDEN"], "{addresses}");
    let own = system
        .graphql_as(&customer.access, "{ me { addresses { id } } }", json!({}))
        .await;
    assert_eq!(own["errors"], Value::Null, "{own}");
    system.stop().await;
}

/// Signs `claims` with `key` (PKCS#8 PEM), EdDSA, with `kid`.
fn sign(claims: &Value, pem: &str, kid: &str) -> String {
    let key = jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_expired_and_malformed_tokens_are_rejected_everywhere() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    let system = System::start().await;
    let user = register(&system, "target@example.com").await;
    let dev_key = auth::keys::DEV_SIGNING_KEY_PEM;
    let kid = service_kit::config::DEFAULT_KEY_ID;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, nbf: i64, exp: i64| {
        // The live session's id, so only the flaw under test is wrong.
        let payload: Value =
            serde_json::from_slice(&B64.decode(user.access.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        json!({ "sub": payload["sub"], "sid": payload["sid"], "jti": uuid::Uuid::new_v4(),
                "iss": "douyin-mall", "aud": "douyin-mall", "iat": iat, "nbf": nbf, "exp": exp })
    };
    let other_key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAdDQSBg5uRbaaFEAbEgyzZUxYvh/wkaiUJk3SS4+6HK\n-----END PRIVATE KEY-----\n";
    let unsigned = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(claims(now, now, now + 600).to_string())
    );
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(now, now, now + 600),
        &jsonwebtoken::EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let cases = [
        ("random string", "not-a-token".to_owned()),
        ("alg none", unsigned),
        ("HS256", hs256),
        (
            "another key",
            sign(&claims(now, now, now + 600), other_key, kid),
        ),
        (
            "unknown kid",
            sign(&claims(now, now, now + 600), dev_key, "someone-else"),
        ),
        (
            "future nbf",
            sign(&claims(now, now + 3600, now + 7200), dev_key, kid),
        ),
        (
            "expired",
            sign(&claims(now - 7200, now - 7200, now - 3600), dev_key, kid),
        ),
        ("tampered payload", {
            let mut parts: Vec<String> = user.access.split('.').map(str::to_owned).collect();
            parts[1] = B64.encode(claims(now, now, now + 99_999).to_string());
            parts.join(".")
        }),
    ];
    // Sanity: a well-formed token of the live session signed with the right key works.
    let good = sign(&claims(now, now, now + 600), dev_key, kid);
    assert!(me_status(&system, &good).await.is_ok());
    // The router itself refuses a token it cannot verify (the subgraphs never see it).
    let garbage = system
        .graphql_as(
            "garbage",
            "{ products(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&garbage), ["UNAUTHENTICATED"], "{garbage}");
    assert!(
        garbage["errors"][0]["extensions"]["service"].is_null(),
        "{garbage}"
    );
    assert!(
        garbage["data"].is_null(),
        "a bad token fails the whole request: {garbage}"
    );
    let user_subgraph = system.subgraph_url("user");
    for (name, token) in cases {
        let through_router = system.graphql_as(&token, ME, json!({})).await;
        assert_eq!(
            error_codes(&through_router),
            ["UNAUTHENTICATED"],
            "{name}: {through_router}"
        );
        assert!(through_router["data"]["me"].is_null(), "{name}");
        let direct = system
            .post_as(&user_subgraph, Some(&token), ME, json!({}))
            .await;
        assert_eq!(
            error_codes(&direct),
            ["UNAUTHENTICATED"],
            "{name} at the subgraph: {direct}"
        );
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_well_signed_token_for_a_session_that_never_existed_is_refused() {
    let system = System::start().await;
    let user = register(&system, "real@example.com").await;
    let keys = auth::TokenKeys::from_pem(
        auth::keys::DEV_SIGNING_KEY_PEM,
        service_kit::config::DEFAULT_KEY_ID,
    )
    .unwrap();
    let user_id = uuid::Uuid::parse_str(&user.user_id).unwrap();
    let invented = auth::tokens::issue(
        &keys,
        user_id,
        uuid::Uuid::now_v7(),
        std::time::Duration::from_secs(600),
    );
    assert_eq!(me_status(&system, &invented).await, unauthenticated());
    let direct = system
        .post_as(&system.subgraph_url("user"), Some(&invented), ME, json!({}))
        .await;
    assert_eq!(error_codes(&direct), ["UNAUTHENTICATED"], "{direct}");
    // The real session, signed the same way, still works: only the session was wrong.
    assert!(me_status(&system, &user.access).await.is_ok());
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_parallel_wrong_passwords_reach_the_password_check_at_most_five_times() {
    let system = System::start().await;
    register(&system, "guessed@example.com").await;
    let responses = join_all((0..50).map(|i| {
        login(
            &system,
            "guessed@example.com",
            if i % 2 == 0 { "wrong one" } else { "wrong two" },
        )
    }))
    .await;
    let checked = responses
        .iter()
        .filter(|r| error_codes(r) == ["UNAUTHENTICATED"])
        .count();
    let limited = responses
        .iter()
        .filter(|r| error_codes(r) == ["RATE_LIMITED"])
        .count();
    assert_eq!(checked + limited, 50, "{responses:?}");
    assert!(
        checked <= user_subgraph::throttle::ACCOUNT_LIMIT as usize,
        "{checked} guesses were checked against the password"
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registrations_are_limited_per_client_address() {
    let system = System::start_with(Options {
        register_limit: Some(3),
        ..Options::default()
    })
    .await;
    for i in 0..3 {
        register(&system, &format!("new{i}@example.com")).await;
    }
    let fourth = system
        .graphql(
            REGISTER,
            json!({ "input": { "email": "new3@example.com", "password": "correct horse", "displayName": "Tester" } }),
        )
        .await;
    assert_eq!(error_codes(&fourth), ["RATE_LIMITED"], "{fourth}");
    assert!(
        fourth["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Signing in is another budget.
    login_ok(&system, "new0@example.com", "correct horse").await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_racing_a_ban_never_leaves_the_user_unbanned() {
    let system = System::start().await;
    let admin = login_ok(&system, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD).await;
    const BAN: &str = "mutation($id: ID!) { banUser(userId: $id, reason: \"race\") { status } }";
    let emails: Vec<String> = (0..8).map(|i| format!("racing{i}@example.com")).collect();
    let users: Vec<Session> = join_all(emails.iter().map(|email| register(&system, email))).await;
    let outcomes = join_all(users.iter().zip(&emails).map(|(user, email)| {
        let system = &system;
        let admin = &admin.access;
        async move {
            let (login, ban) = tokio::join!(
                login(system, email, "correct horse"),
                system.graphql_as(admin, BAN, json!({ "id": user.user_id }))
            );
            assert_eq!(ban["errors"], Value::Null, "{ban}");
            (user, login)
        }
    }))
    .await;
    for (user, login) in outcomes {
        // Whoever won the race, the ban holds for every token of the user.
        assert_eq!(me_status(&system, &user.access).await, unauthenticated());
        if login["errors"].is_null() {
            let token = login["data"]["login"]["accessToken"].as_str().unwrap();
            assert_eq!(me_status(&system, token).await, unauthenticated());
        }
    }
    // An access record read before the ban cannot overwrite the newer one.
    let victim =
        uuid::Uuid::parse_str(&register(&system, "stale@example.com").await.user_id).unwrap();
    let token = login_ok(&system, "stale@example.com", "correct horse")
        .await
        .access;
    let banned = system
        .graphql_as(&admin.access, BAN, json!({ "id": victim }))
        .await;
    assert_eq!(banned["errors"], Value::Null, "{banned}");
    let redis = system.redis().await;
    let stale = auth::records::UserAccess {
        version: 1,
        roles: vec!["customer".into()],
        ban: None,
    };
    let stored =
        auth::records::publish_user(&redis, victim, &stale, std::time::Duration::from_secs(60))
            .await
            .unwrap();
    assert!(!stored, "an older record is refused");
    assert_eq!(me_status(&system, &token).await, unauthenticated());
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_input_is_refused_and_changes_nothing() {
    let system = System::start().await;
    let admin = login_ok(&system, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD).await;
    let count = || async {
        system
            .graphql_as(&admin.access, "{ users { totalCount } }", json!({}))
            .await["data"]["users"]["totalCount"]
            .as_i64()
            .unwrap()
    };
    let before = count().await;
    let cases = [
        (
            "input.password",
            json!({ "email": "big@example.com", "password": "x".repeat(64 * 1024), "displayName": "Big" }),
        ),
        (
            "input.displayName",
            json!({ "email": "ctl@example.com", "password": "long enough", "displayName": "evil\u{0}\u{202e}" }),
        ),
        (
            "input.email",
            json!({ "email": "x'; DROP TABLE users; --@evil.com", "password": "long enough", "displayName": "Bobby" }),
        ),
        (
            "input.email",
            json!({ "email": "not an email", "password": "long enough", "displayName": "Bobby" }),
        ),
        (
            "input.password",
            json!({ "email": "short@example.com", "password": "short", "displayName": "Shorty" }),
        ),
        (
            "input.displayName",
            json!({ "email": "long@example.com", "password": "long enough", "displayName": "n".repeat(65) }),
        ),
    ];
    for (field, input) in cases {
        let response = system.graphql(REGISTER, json!({ "input": input })).await;
        assert!(
            response["data"].is_null() || response["data"]["register"].is_null(),
            "{field}"
        );
        assert_eq!(
            error_codes(&response),
            ["BAD_USER_INPUT"],
            "{field}: {response:.300}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response:.300}"
        );
    }
    // A 10 MB body is refused by the router's size limit before any subgraph sees it.
    let (status, body) = system.announce_body(10 * 1024 * 1024).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("errors"), "{body}");
    let duplicate = system
        .graphql(REGISTER, json!({ "input": { "email": "DEMO@douyin-mall.dev", "password": "long enough", "displayName": "Copy" } }))
        .await;
    assert_eq!(
        error_codes(&duplicate),
        ["CONFLICT"],
        "emails are unique whatever their case"
    );
    assert_eq!(count().await, before, "nothing was created");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_failed_logins_are_throttled_with_a_retry_hint() {
    let system = System::start().await;
    register(&system, "victim@example.com").await;
    for attempt in 1..=5 {
        let wrong = login(&system, "victim@example.com", "wrong password").await;
        assert_eq!(
            error_codes(&wrong),
            ["UNAUTHENTICATED"],
            "attempt {attempt}"
        );
    }
    // Even the right password is refused now.
    let limited = login(&system, "victim@example.com", "correct horse").await;
    assert_eq!(error_codes(&limited), ["RATE_LIMITED"], "{limited}");
    let retry = limited["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Another account is not affected.
    login_ok(&system, DEMO_CUSTOMER_EMAIL, DEMO_CUSTOMER_PASSWORD).await;
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_operation_list_decides_what_needs_a_token() {
    let system = System::start().await;
    let anonymous = system
        .graphql("{ products(first: 1) { totalCount } me { id } }", json!({}))
        .await;
    assert!(
        anonymous["data"]["products"]["totalCount"]
            .as_i64()
            .unwrap()
            > 0,
        "{anonymous}"
    );
    assert_eq!(anonymous["data"]["me"], Value::Null);
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"], "{anonymous}");
    let logout = system.graphql("mutation { logout }", json!({})).await;
    assert_eq!(error_codes(&logout), ["UNAUTHENTICATED"], "{logout}");
    system.stop().await;

    // Another list: browsing now needs a token, `me` still does.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("public.yaml");
    std::fs::write(
        &file,
        "query: [categories]\nmutation: [register, login, refreshToken]\n",
    )
    .unwrap();
    let system = System::start_with(Options {
        public_operations_file: Some(file),
        ..Options::default()
    })
    .await;
    let products = system
        .graphql("{ products(first: 1) { totalCount } }", json!({}))
        .await;
    assert_eq!(error_codes(&products), ["UNAUTHENTICATED"], "{products}");
    let categories = system.graphql("{ categories { name } }", json!({})).await;
    assert_eq!(categories["errors"], Value::Null, "{categories}");
    let user = login_ok(&system, DEMO_CUSTOMER_EMAIL, DEMO_CUSTOMER_PASSWORD).await;
    let signed_in = system
        .graphql_as(
            &user.access,
            "{ products(first: 1) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(signed_in["errors"], Value::Null, "{signed_in}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn addresses_keep_exactly_one_default() {
    let system = System::start().await;
    let user = register(&system, "mover@example.com").await;
    let add = "mutation($input: AddressInput!) { addAddress(input: $input) { id isDefault } }";
    let address = |line: &str, default: bool| {
        json!({ "input": { "recipient": "Li Lei", "phone": "+86 138 0000 0000", "province": "Zhejiang",
                "city": "Hangzhou", "district": "Xihu", "line1": line, "isDefault": default } })
    };
    let first = system
        .graphql_as(&user.access, add, address("1 Lake Rd", false))
        .await;
    assert_eq!(
        first["data"]["addAddress"]["isDefault"], true,
        "the first is the default: {first}"
    );
    let second = system
        .graphql_as(&user.access, add, address("2 Hill Rd", true))
        .await;
    assert_eq!(second["data"]["addAddress"]["isDefault"], true, "{second}");
    let me = system
        .graphql_as(
            &user.access,
            "{ me { addresses { line1 isDefault } } }",
            json!({}),
        )
        .await;
    let defaults: Vec<&Value> = me["data"]["me"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["isDefault"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "{me}");
    assert_eq!(defaults[0]["line1"], "2 Hill Rd");
    // Deleting the default promotes the other one.
    let id = second["data"]["addAddress"]["id"].clone();
    let deleted = system
        .graphql_as(
            &user.access,
            "mutation($id: ID!) { deleteAddress(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted["data"]["deleteAddress"], true, "{deleted}");
    let me = system
        .graphql_as(
            &user.access,
            "{ me { addresses { line1 isDefault } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["data"]["me"]["addresses"],
        json!([{ "line1": "1 Lake Rd", "isDefault": true }])
    );
    // Someone else cannot touch it.
    let stranger = register(&system, "stranger@example.com").await;
    let theirs = system
        .graphql_as(
            &stranger.access,
            "mutation($id: ID!) { deleteAddress(id: $id) }",
            json!({ "id": first["data"]["addAddress"]["id"] }),
        )
        .await;
    assert_eq!(error_codes(&theirs), ["NOT_FOUND"], "{theirs}");
    let bad = system.graphql_as(&user.access, add, json!({ "input": { "recipient": "", "phone": "x", "province": "a", "city": "b", "district": "c", "line1": "d" } })).await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"], "{bad}");
    system.stop().await;
}

/// Everything the subgraphs log, kept in memory.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_hashes_and_tokens_never_reach_the_logs() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();
    let router_log = tempfile::NamedTempFile::new().unwrap();
    let system = System::start_with(Options {
        router_log: Some(router_log.path().to_owned()),
        ..Options::default()
    })
    .await;
    let user = register(&system, "quiet@example.com").await;
    let wrong = login(&system, "quiet@example.com", "a wrong secret").await;
    assert_eq!(error_codes(&wrong), ["UNAUTHENTICATED"]);
    let again = login_ok(&system, "quiet@example.com", "correct horse").await;
    let refreshed = system.graphql(REFRESH, json!({ "t": again.refresh })).await;
    assert_eq!(refreshed["errors"], Value::Null);
    system.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("signed in"),
        "the capture works: {:.500}",
        text
    );
    let router_text = std::fs::read_to_string(router_log.path()).unwrap();
    assert!(
        router_text.contains("INFO"),
        "the router's capture works: {:.500}",
        router_text
    );
    for (name, logged) in [("subgraphs", &text), ("router", &router_text)] {
        for secret in [
            "correct horse",
            "a wrong secret",
            "$argon2id$",
            "quiet@example.com",
            &user.access,
            &user.refresh,
            &again.refresh,
            &again.access,
        ] {
            assert!(
                !logged.contains(secret),
                "{secret:.20}… was logged by the {name}"
            );
        }
    }
}
