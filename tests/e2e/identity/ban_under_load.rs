//! A ban while the banned user's clients hammer the API: how many requests sent after the
//! ban returned are still served (each subgraph holds checked sessions in memory until the
//! `access` stream's notice names them: `auth::sessions`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use service_kit::demo::DEMO_ADMIN_EMAIL;
use user_subgraph::DEMO_ADMIN_PASSWORD;

use super::{BAN, login_ok, register};
use crate::support::System;

/// Clients sending the banned user's requests, each waiting for its answer.
const CLIENTS: usize = 16;
/// Requests sent this long after the ban returned must all be refused: the notice has come
/// by then, while a process that ignored it would serve its copy for 10 s.
const HARD_BOUND: Duration = Duration::from_millis(1000);

/// One request: when it was sent and answered, and whether it was served.
struct Sent {
    at: Instant,
    answered: Instant,
    served: bool,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ban_under_load_refuses_the_requests_sent_after_it() {
    let system = System::start().await;
    let admin = login_ok(&system, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD).await;
    let user = register(&system, "hammer@example.com").await;
    let client = reqwest::Client::new();
    // The cart subgraph is not the one that bans (the user subgraph forgets its own copy at
    // once): this one learns of the ban only from the notice.
    let query = json!({ "query": "{ cart { totalQuantity } }" });
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url, token, query, stop) = (
                client.clone(),
                system.router_url.clone(),
                user.access.clone(),
                query.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut sent = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    let answer: Value = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&query)
                        .send()
                        .await
                        .expect("the router answers")
                        .json()
                        .await
                        .expect("a JSON answer");
                    let served = answer["errors"].is_null();
                    if !served {
                        let code = &answer["errors"][0]["extensions"]["code"];
                        assert_eq!(code, "UNAUTHENTICATED", "{answer}");
                    }
                    sent.push(Sent {
                        at,
                        answered: Instant::now(),
                        served,
                    });
                }
                sent
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;

    let ban_sent = Instant::now();
    let ban = system
        .graphql_as(
            &admin.access,
            BAN,
            json!({ "id": user.user_id, "reason": "scraping" }),
        )
        .await;
    let banned = Instant::now();
    assert_eq!(ban["data"]["banUser"]["status"], "BANNED", "{ban}");
    tokio::time::sleep(HARD_BOUND + Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for client in clients {
        all.extend(client.await.expect("a client"));
    }

    let before = all.iter().filter(|s| s.at < banned).count();
    let served_before = all.iter().filter(|s| s.at < banned && s.served).count();
    let after: Vec<&Sent> = all.iter().filter(|s| s.at >= banned).collect();
    let served_after: Vec<&Sent> = after.iter().copied().filter(|s| s.served).collect();
    let last_served = served_after
        .iter()
        .map(|s| s.at.duration_since(banned))
        .max()
        .unwrap_or_default();
    // When refusals began: the first refused answer, from the moment the ban was sent.
    let first_refusal = all
        .iter()
        .filter(|s| !s.served)
        .map(|s| s.answered)
        .min()
        .map(|at| at.saturating_duration_since(ban_sent));
    println!(
        "ban under load ({CLIENTS} clients): {before} requests sent before the ban returned \
         ({served_before} served), {} after it, {} of those served (the last sent {:.1} ms \
         after the ban returned); the ban took {:.1} ms, the first refusal came {} after \
         it was sent",
        after.len(),
        served_after.len(),
        last_served.as_secs_f64() * 1000.0,
        banned.duration_since(ban_sent).as_secs_f64() * 1000.0,
        first_refusal.map_or("never".to_owned(), |d| format!(
            "{:.1} ms",
            d.as_secs_f64() * 1000.0
        ))
    );
    assert!(
        served_before > CLIENTS,
        "the clients were served before the ban"
    );
    let late: Vec<&&Sent> = after
        .iter()
        .filter(|s| s.at.duration_since(banned) >= HARD_BOUND)
        .collect();
    assert!(!late.is_empty(), "requests were sent well after the ban");
    assert!(
        late.iter().all(|s| !s.served),
        "a request sent {HARD_BOUND:?} after the ban returned was served"
    );
    system.stop().await;
}
