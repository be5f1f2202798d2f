//! The web playground in a real browser: `web-playground/tests/playground.test.mjs`
//! (Playwright driving Debian's chromium, every request outside localhost blocked) against a
//! system of its own. Every served contract operation but the subscriptions and the three
//! that would end or change the demo session runs as an example with its sample variables
//! and must answer data without errors; the catalog v2 ones (variants, brands, facets) on a product with several
//! variants the playground picks, then on one its CreateProductWithVariants example made.
//! The Assistant panel, as the demo customer: "find tea" streams a reply with product cards
//! and prices, "buy 1 iPhone 15 Pro" proposes an order that Confirm places (DONE).
//! Screenshots of each step go to `web-playground/test-output/`.

use std::process::Stdio;

use crate::support::System;

#[tokio::test(flavor = "multi_thread")]
async fn the_playground_signs_in_runs_the_contract_examples_and_shows_live_events_in_chromium() {
    // The bundle is built from its sources when they changed (as `cargo run` does).
    tokio::task::spawn_blocking(douyin_mall::build_playground)
        .await
        .expect("the build task")
        .expect("building the playground (needs Node.js and npm)");
    let system = System::start().await;
    let base = system.router_url.trim_end_matches("/graphql").to_owned();
    let output = tokio::process::Command::new("node")
        .arg("tests/playground.test.mjs")
        .current_dir(douyin_mall::playground_dir())
        .env("PLAYGROUND_URL", &base)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the browser test failed ({}); a failure.png is in web-playground/test-output/:\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all steps passed"), "{stdout}");
    system.stop().await;
}
