//! The web page (phd-web) on the full local stack: its JSON API handlers with good and bad
//! input, then the page in real headless Chromium over WebDriver (fantoccini + Debian's
//! chromium-driver): browse with filters, a refused purchase showing the decoded reason, a
//! purchase with live progress whose file is byte-identical to the owner's pseudonymised data,
//! the owner's sale and withdrawal, the keeper page, consent withdrawal with n/n erasures. Every
//! page is checked by axe-core (no serious or critical violation) and screenshotted under
//! `target/screenshots/`. One stack, one browser session.

use std::time::Duration;

use alloy::primitives::U256;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fantoccini::{Client, Locator};
use phd_chain::{Purpose, phd};
use phd_e2e::stack::{Stack, write_accel_csv};
use phd_web::{AppState, WebConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::browser::{browser, repo_root, start_driver};

/// Injects axe-core and fails on any serious or critical violation.
async fn axe(c: &Client, page: &str) -> eyre::Result<()> {
    let src = std::fs::read_to_string(repo_root().join("node_modules/axe-core/axe.min.js"))
        .map_err(|e| eyre::eyre!("node_modules/axe-core/axe.min.js: {e} (run `npm ci`)"))?;
    c.execute(&src, vec![]).await?;
    let v = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))));",
            vec![],
        )
        .await?;
    let bad: Vec<String> = serde_json::from_value(v)?;
    eyre::ensure!(bad.is_empty(), "axe-core on the {page} page: {bad:#?}");
    Ok(())
}

async fn shot(c: &Client, name: &str) -> eyre::Result<()> {
    let dir = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{name}.png")), c.screenshot().await?)?;
    Ok(())
}

/// Checks a page: axe-core, then a screenshot.
async fn review(c: &Client, name: &str) -> eyre::Result<()> {
    axe(c, name).await?;
    shot(c, name).await
}

async fn text(c: &Client, css: &str) -> eyre::Result<String> {
    Ok(c.find(Locator::Css(css)).await?.text().await?)
}

async fn wait_text(
    c: &Client,
    css: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&str) -> bool,
) -> eyre::Result<String> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && ok(&t)
        {
            return Ok(t);
        }
        if start.elapsed() > timeout {
            let body = c
                .find(Locator::Css("main"))
                .await?
                .text()
                .await
                .unwrap_or_default();
            eyre::bail!("{what}: timed out after {timeout:?}; page shows:\n{body}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn set_field(c: &Client, css: &str, value: &str) -> eyre::Result<()> {
    let e = c.find(Locator::Css(css)).await?;
    e.clear().await?;
    e.send_keys(value).await?;
    Ok(())
}

/// One API call on the router (no socket): status and JSON body.
async fn call(app: &axum::Router, req: Request<Body>) -> eyre::Result<(StatusCode, Value)> {
    let resp = app.clone().oneshot(req).await?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// A session cookie and its CSRF token, as a browser gets them from a form page.
async fn session(app: &axum::Router, form_page: &str) -> eyre::Result<(String, String)> {
    let resp = app.clone().oneshot(get(form_page)).await?;
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let cookie = cookie.split(';').next().unwrap_or_default().to_string();
    let html = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await?
            .to_vec(),
    )?;
    let token = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_string();
    eyre::ensure!(
        !cookie.is_empty() && token.len() == 64,
        "no session from {form_page}"
    );
    Ok((cookie, token))
}

/// Every JSON handler: the good case and bad input (unknown ids, malformed values and bodies,
/// missing or foreign CSRF tokens, cross-origin) → a clear 4xx, never a 500.
async fn api_handlers(app: &axum::Router, id: u64) -> eyre::Result<()> {
    let ok = [
        "/api/listings".to_string(),
        "/api/listings?certified=1&sort=price&max_price=100".to_string(),
        format!("/api/datasets/{id}"),
        "/api/purchases".to_string(),
        "/api/owner".to_string(),
        format!("/api/owner/datasets/{id}"),
        format!("/api/keepers/{}", alloy::primitives::Address::ZERO),
        format!("/api/datasets/{id}/prices"),
        "/api/owner/export".to_string(),
        "/api/listings?certified_device=1&min_stake=1&sort=stake".to_string(),
    ];
    for uri in &ok {
        let (s, body) = call(app, get(uri)).await?;
        eyre::ensure!(s == StatusCode::OK, "{uri}: {s} {body}");
    }
    let (_, l) = call(app, get("/api/listings")).await?;
    eyre::ensure!(
        l["total"] == 1 && l["listings"][0]["dataset_id"] == id,
        "listings {l}"
    );
    let (_, ex) = call(app, get("/api/owner/export")).await?;
    eyre::ensure!(
        ex["format"] == "phd-export/v1" && ex["datasets"][0]["dataset_id"] == id,
        "export {ex}"
    );
    let bad = [
        (
            "/api/datasets/999/prices".to_string(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/datasets/x/prices".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/listings?min_stake=-1".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        ("/api/datasets/999".to_string(), StatusCode::NOT_FOUND),
        ("/api/datasets/abc".to_string(), StatusCode::BAD_REQUEST),
        ("/api/datasets/0".to_string(), StatusCode::BAD_REQUEST),
        (
            "/api/datasets/99999999999999999999999".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/listings?min_quality=2".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/listings?max_price=lots".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/listings?purpose=spying".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/listings?sort=random".to_string(),
            StatusCode::BAD_REQUEST,
        ),
        ("/api/listings?page=0".to_string(), StatusCode::BAD_REQUEST),
        ("/api/owner/datasets/999".to_string(), StatusCode::NOT_FOUND),
        ("/api/owner/datasets/x".to_string(), StatusCode::BAD_REQUEST),
        ("/api/keepers/0x12".to_string(), StatusCode::BAD_REQUEST),
        ("/api/jobs/nope".to_string(), StatusCode::NOT_FOUND),
        (
            format!("/api/jobs/{}", "a".repeat(32)),
            StatusCode::NOT_FOUND,
        ),
        ("/api/nothing-here".to_string(), StatusCode::NOT_FOUND),
    ];
    for (uri, want) in &bad {
        let (s, body) = call(app, get(uri)).await?;
        eyre::ensure!(s == *want, "{uri}: want {want}, got {s} {body}");
        if uri.starts_with("/api/") && uri != "/api/nothing-here" {
            eyre::ensure!(
                body["error"].is_string() && body["message"].is_string(),
                "{uri}: not a JSON error: {body}"
            );
        }
    }

    let (cookie, token) = session(app, &format!("/datasets/{id}/buy")).await?;
    let post = |body: &str, cookie: Option<&str>, token: Option<&str>, origin: Option<&str>| {
        let mut r = Request::post("/api/buy")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "127.0.0.1");
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            r = r.header(header::ORIGIN, o);
        }
        r.body(Body::from(body.to_string())).unwrap()
    };
    let good = format!(r#"{{"dataset_id": {id}, "purpose": "research", "max_price": "1"}}"#);
    let cases = [
        (
            post(&good, None, Some(&token), None),
            StatusCode::FORBIDDEN,
            "no session",
        ),
        (
            post(&good, Some(&cookie), None, None),
            StatusCode::FORBIDDEN,
            "no token",
        ),
        (
            post(&good, Some(&cookie), Some(&"0".repeat(64)), None),
            StatusCode::FORBIDDEN,
            "foreign token",
        ),
        (
            post(
                &good,
                Some(&cookie),
                Some(&token),
                Some("http://evil.example"),
            ),
            StatusCode::FORBIDDEN,
            "cross-origin",
        ),
        (
            post("{not json", Some(&cookie), Some(&token), None),
            StatusCode::BAD_REQUEST,
            "malformed body",
        ),
        (
            post(
                r#"{"dataset_id": "one"}"#,
                Some(&cookie),
                Some(&token),
                None,
            ),
            StatusCode::BAD_REQUEST,
            "wrong types",
        ),
        (
            post(
                &format!(r#"{{"dataset_id": {id}, "purpose": "spying"}}"#),
                Some(&cookie),
                Some(&token),
                None,
            ),
            StatusCode::BAD_REQUEST,
            "unknown purpose",
        ),
        (
            post(
                &format!(r#"{{"dataset_id": {id}, "purpose": "research", "max_price": "-3"}}"#),
                Some(&cookie),
                Some(&token),
                None,
            ),
            StatusCode::BAD_REQUEST,
            "bad amount",
        ),
        (
            post(
                r#"{"dataset_id": 999, "purpose": "research"}"#,
                Some(&cookie),
                Some(&token),
                None,
            ),
            StatusCode::NOT_FOUND,
            "unknown dataset",
        ),
    ];
    for (req, want, what) in cases {
        let (s, body) = call(app, req).await?;
        eyre::ensure!(
            s == want,
            "POST /api/buy, {what}: want {want}, got {s} {body}"
        );
    }
    owner_api(app, id, &cookie, &token).await?;
    // The API's purchase path with a valid token: refused by the contract (max 1 PHD), and the
    // job reports the decoded reason.
    let (s, body) = call(
        app,
        post(&good, Some(&cookie), Some(&token), Some("http://127.0.0.1")),
    )
    .await?;
    eyre::ensure!(s == StatusCode::ACCEPTED, "POST /api/buy: {s} {body}");
    let job = body["job"].as_str().unwrap_or_default().to_string();
    let job_state = phd_e2e::stack::wait_for(
        "the API purchase to be refused",
        Duration::from_secs(30),
        || async {
            let r = Request::get(format!("/api/jobs/{job}"))
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap();
            let (_, st) = call(app, r).await?;
            Ok(st["finished"].as_bool().unwrap_or(false).then_some(st))
        },
    )
    .await?;
    eyre::ensure!(
        job_state["error_kind"] == "MarketplacePriceAboveMax",
        "{job_state}"
    );
    // Another session cannot see the job.
    let (s, _) = call(app, get(&format!("/api/jobs/{job}"))).await?;
    eyre::ensure!(
        s == StatusCode::NOT_FOUND,
        "job visible to another session: {s}"
    );
    Ok(())
}

/// The owner's JSON actions (price change, grant): CSRF, malformed bodies, bad fields, unknown
/// datasets, someone else's public key → 4xx; a price change goes through and shows in the
/// history (set to the same price, so the page test below still sees 25 PHD).
async fn owner_api(app: &axum::Router, id: u64, cookie: &str, token: &str) -> eyre::Result<()> {
    let post = |uri: String, body: &str, token: Option<&str>| {
        let mut r = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, cookie);
        if let Some(t) = token {
            r = r.header("x-csrf-token", t);
        }
        r.body(Body::from(body.to_string())).unwrap()
    };
    let price = format!("/api/owner/datasets/{id}/price");
    let grant = format!("/api/owner/datasets/{id}/grant");
    let stranger = alloy::signers::local::PrivateKeySigner::random();
    let stranger_key = hex::encode(phd_chain::pubkey64(&stranger));
    let other = alloy::primitives::Address::repeat_byte(7);
    let cases = [
        (
            post(price.clone(), r#"{"price": "25"}"#, None),
            StatusCode::FORBIDDEN,
            "price, no token",
        ),
        (
            post(price.clone(), "{", Some(token)),
            StatusCode::BAD_REQUEST,
            "price, malformed",
        ),
        (
            post(price.clone(), r#"{"price": "abc"}"#, Some(token)),
            StatusCode::BAD_REQUEST,
            "price, not a number",
        ),
        (
            post(price.clone(), r#"{"price": "1", "extra": 1}"#, Some(token)),
            StatusCode::BAD_REQUEST,
            "price, unknown field",
        ),
        (
            post(
                "/api/owner/datasets/999/price".into(),
                r#"{"price": "1"}"#,
                Some(token),
            ),
            StatusCode::NOT_FOUND,
            "price, unknown dataset",
        ),
        (
            post(
                "/api/owner/datasets/x/price".into(),
                r#"{"price": "1"}"#,
                Some(token),
            ),
            StatusCode::BAD_REQUEST,
            "price, bad id",
        ),
        (
            post(
                grant.clone(),
                r#"{"to": "0x12", "pubkey": "00", "purpose": "validation"}"#,
                Some(token),
            ),
            StatusCode::BAD_REQUEST,
            "grant, bad address",
        ),
        (
            post(
                grant.clone(),
                &format!(
                    r#"{{"to": "{}", "pubkey": "0x1234", "purpose": "validation"}}"#,
                    stranger.address()
                ),
                Some(token),
            ),
            StatusCode::BAD_REQUEST,
            "grant, short key",
        ),
        (
            post(
                grant.clone(),
                &format!(
                    r#"{{"to": "{other}", "pubkey": "{stranger_key}", "purpose": "validation"}}"#
                ),
                Some(token),
            ),
            StatusCode::BAD_REQUEST,
            "grant, someone else's key",
        ),
        (
            post(
                grant.clone(),
                &format!(
                    r#"{{"to": "{}", "pubkey": "{stranger_key}", "purpose": "spying"}}"#,
                    stranger.address()
                ),
                Some(token),
            ),
            StatusCode::BAD_REQUEST,
            "grant, unknown purpose",
        ),
        (
            post(grant.clone(), r#"{"to": 1}"#, Some(token)),
            StatusCode::BAD_REQUEST,
            "grant, wrong types",
        ),
        (
            post(
                "/api/owner/datasets/999/grant".into(),
                &format!(
                    r#"{{"to": "{}", "pubkey": "{stranger_key}", "purpose": "research"}}"#,
                    stranger.address()
                ),
                Some(token),
            ),
            StatusCode::NOT_FOUND,
            "grant, unknown dataset",
        ),
        (
            post(
                grant.clone(),
                &format!(
                    r#"{{"to": "{}", "pubkey": "{stranger_key}", "purpose": "research"}}"#,
                    stranger.address()
                ),
                None,
            ),
            StatusCode::FORBIDDEN,
            "grant, no token",
        ),
    ];
    for (req, want, what) in cases {
        let (s, body) = call(app, req).await?;
        eyre::ensure!(s == want, "{what}: want {want}, got {s} {body}");
        eyre::ensure!(
            body["error"].is_string(),
            "{what}: not a JSON error: {body}"
        );
    }
    let (s, body) = call(app, post(price, r#"{"price": "25"}"#, Some(token))).await?;
    eyre::ensure!(
        s == StatusCode::OK && body["operation"] == "setPrice",
        "price change: {s} {body}"
    );
    let (_, h) = call(app, get(&format!("/api/datasets/{id}/prices"))).await?;
    eyre::ensure!(h.as_array().map(Vec::len) == Some(2), "price history: {h}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_page_in_headless_chromium() -> eyre::Result<()> {
    let driver = start_driver().await?;
    let stack = Stack::start().await?;
    let work = stack.work();
    let input = work.join("walk.csv");
    write_accel_csv(&input, 2_000, None)?;
    let pseudo = work.join("walk.pseudonymised.csv");
    let price = phd(25);
    let id = stack
        .publish(
            &input,
            price,
            &[Purpose::Research, Purpose::Validation],
            &pseudo,
        )
        .await?
        .dataset_id;

    let state = AppState::new(WebConfig {
        buyer: Some(stack.customer_ctx().await?),
        owner: Some(stack.user_ctx().await?.client()),
        download_dir: work.join("downloads"),
        share_timeout: Duration::from_secs(120),
        listing_ttl: Duration::ZERO,
    })?;
    api_handlers(&phd_web::router(state.clone()), id).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(phd_web::run(listener, state, async move {
        let _ = stopped.await;
    }));
    let c = browser(&driver, &work.join("chromium-profile")).await?;
    let r = browse_buy_sell_erase(&c, &base, &stack, id, &pseudo).await;
    let _ = c.close().await;
    let _ = stop.send(());
    let _ = server.await;
    stack.stop().await;
    r
}

async fn browse_buy_sell_erase(
    c: &Client,
    base: &str,
    stack: &Stack,
    id: u64,
    pseudo: &std::path::Path,
) -> eyre::Result<()> {
    let d = &stack.devnet;
    // Catalog, with filters.
    c.goto(&format!("{base}/")).await?;
    eyre::ensure!(
        text(c, "#count").await?.starts_with("1 dataset"),
        "catalog count"
    );
    review(c, "catalog").await?;
    set_field(c, "input[name=max_price]", "10").await?;
    c.find(Locator::Css("#apply")).await?.click().await?;
    wait_text(
        c,
        "#count",
        "filter by max price",
        Duration::from_secs(10),
        |t| t.starts_with("0 datasets"),
    )
    .await?;
    c.goto(&format!("{base}/?max_price=30&purpose=research&sort=price"))
        .await?;
    wait_text(
        c,
        "#count",
        "filter by purpose",
        Duration::from_secs(10),
        |t| t.starts_with("1 dataset"),
    )
    .await?;
    c.goto(&format!("{base}/?certified=1")).await?;
    wait_text(
        c,
        "#count",
        "certified only",
        Duration::from_secs(10),
        |t| t.starts_with("0 datasets"),
    )
    .await?;

    // Certified device (the test recording carries no device signature) and keeper stake.
    for (q, want) in [
        ("certified_device=1", "0 datasets"),
        ("min_stake=1", "1 dataset"),
        ("min_stake=100000000", "0 datasets"),
    ] {
        c.goto(&format!("{base}/?{q}")).await?;
        let n = text(c, "#count").await?;
        eyre::ensure!(n.starts_with(want), "filter {q}: {n}");
    }

    // Dataset page, with the price history (listed at 25, set to 25 again by the API test).
    c.goto(&format!("{base}/datasets/{id}")).await?;
    eyre::ensure!(text(c, "#price").await? == "25 PHD", "price shown");
    let history = text(c, "#price-history").await?;
    eyre::ensure!(
        history.matches("25").count() == 2 && history.contains("price changed"),
        "price history: {history}"
    );
    review(c, "dataset").await?;

    // A refused purchase: the page shows the contract's decoded reason.
    c.goto(&format!("{base}/datasets/{id}/buy")).await?;
    review(c, "buy-confirm").await?;
    set_field(c, "#max_price", "10").await?;
    c.find(Locator::Css("#confirm")).await?.click().await?;
    let err = wait_text(
        c,
        "#error",
        "refused purchase",
        Duration::from_secs(30),
        |t| t.contains("above your maximum"),
    )
    .await?;
    eyre::ensure!(
        err.contains("MarketplacePriceAboveMax") && err.contains("25"),
        "decoded reason: {err}"
    );
    review(c, "purchase-refused").await?;

    // Refused for low balance: the buyer holds 1 PHD for a 25 PHD listing; the page shows the
    // decoded reason, then the balance is put back.
    let buyer = d.customer_client().await?;
    let bank = d.deployer_client().await?;
    let held = buyer.balance_of(buyer.address()).await?;
    let parked = held - phd(1);
    buyer.transfer_coin(bank.address(), parked).await?;
    c.goto(&format!("{base}/datasets/{id}/buy")).await?;
    c.find(Locator::Css("#confirm")).await?.click().await?;
    let err = wait_text(
        c,
        "#error",
        "refused for low balance",
        Duration::from_secs(30),
        |t| t.contains("holds"),
    )
    .await?;
    eyre::ensure!(
        err.contains("MarketplaceInsufficientBalance")
            && err.contains("holds 1 PHD but the price is 25 PHD"),
        "decoded reason: {err}"
    );
    review(c, "purchase-refused-balance").await?;
    bank.transfer_coin(buyer.address(), parked).await?;

    // The owner lowers the price to 20 PHD; the dataset page shows it and its history.
    c.goto(&format!("{base}/owner/datasets/{id}")).await?;
    review(c, "owner-dataset").await?;
    set_field(c, "#new-price", "20").await?;
    c.find(Locator::Css("#set-price")).await?.click().await?;
    wait_text(c, "#flash", "price change", Duration::from_secs(30), |t| {
        t.contains("Price changed to 20 PHD")
    })
    .await?;
    c.goto(&format!("{base}/datasets/{id}")).await?;
    eyre::ensure!(text(c, "#price").await? == "20 PHD", "new price shown");
    eyre::ensure!(
        text(c, "#price-history").await?.contains("20"),
        "new price in the history"
    );

    // The purchase: live progress, then a file byte-identical to the pseudonymised data.
    c.goto(&format!("{base}/datasets/{id}/buy")).await?;
    c.find(Locator::Css("#confirm")).await?.click().await?;
    wait_text(c, "#steps", "progress", Duration::from_secs(60), |t| {
        t.contains("verified")
    })
    .await?;
    shot(c, "purchase-progress").await?;
    let link = c
        .wait()
        .at_most(Duration::from_secs(150))
        .for_element(Locator::Css("#download"))
        .await?;
    let steps = text(c, "#steps").await?;
    for want in [
        "Paying into escrow",
        "waiting for",
        "verified",
        "Key reconstructed",
        "chunks against the on-chain root",
        "Decrypted",
        "Receipt confirmed",
    ] {
        eyre::ensure!(steps.contains(want), "progress lacks {want:?}:\n{steps}");
    }
    review(c, "purchase-done").await?;
    let href = link.attr("href").await?.unwrap_or_default();
    let b64 = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => {
               let s = ''; const u = new Uint8Array(b);
               for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
               done(btoa(s)); });",
            vec![json!(href)],
        )
        .await?;
    let got = base64_decode(b64.as_str().unwrap_or_default());
    eyre::ensure!(
        got == std::fs::read(pseudo)?,
        "downloaded file ({} bytes) differs from the pseudonymised data",
        got.len()
    );

    // The owner grants the validator free access for validation.
    let validator = d.client(&d.accounts.validator).await?;
    c.goto(&format!("{base}/owner/datasets/{id}")).await?;
    set_field(c, "#grant-to", &validator.address().to_string()).await?;
    set_field(c, "#grant-pubkey", &hex::encode(validator.pubkey64())).await?;
    c.find(Locator::Css("#grant-purpose option[value=validation]"))
        .await?
        .click()
        .await?;
    c.find(Locator::Css("#grant")).await?.click().await?;
    wait_text(c, "#flash", "grant", Duration::from_secs(30), |t| {
        t.contains("Access granted as purchase")
    })
    .await?;

    // Owner: the sale and the grant, then withdrawing the earnings.
    c.goto(&format!("{base}/owner")).await?;
    let sales = text(c, "#sales").await?;
    eyre::ensure!(
        sales.contains("research") && sales.contains("settled"),
        "sale not shown: {sales}"
    );
    eyre::ensure!(
        sales.contains("(grant)") && sales.contains("validation"),
        "grant not shown: {sales}"
    );
    // The GDPR export download: the same document as `phd-user export` (without the local
    // copies only the owner's machine knows, and its own generation time).
    let href = c
        .find(Locator::Css("#export"))
        .await?
        .attr("href")
        .await?
        .unwrap_or_default();
    let strip = |mut v: Value| {
        v["generated_at"] = Value::Null;
        for ds in v["datasets"].as_array_mut().into_iter().flatten() {
            ds["local"] = Value::Null;
        }
        v
    };
    // The keepers are still delivering the grant's shares: compare once both reads agree on it.
    let user = stack.user_ctx().await?;
    let mut last = (Value::Null, Value::Null);
    for _ in 0..25 {
        // As text, parsed here: JavaScript numbers would turn `0.0` into `0`.
        let web_text = c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(r => r.text()).then(done);",
                vec![json!(href)],
            )
            .await?;
        let web_doc: Value = serde_json::from_str(web_text.as_str().unwrap_or_default())?;
        let cli_doc = serde_json::to_value(phd_user::gdpr::export(&user, false).await?)?;
        last = (strip(web_doc), strip(cli_doc));
        if last.0 == last.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eyre::ensure!(
        last.0 == last.1,
        "the page's export differs from phd-user export:\n{}\n{}",
        last.0,
        last.1
    );
    review(c, "owner").await?;
    let user = d.user_client().await?;
    let credits = user.credits_of(user.address()).await?;
    eyre::ensure!(credits > U256::ZERO, "no earnings to withdraw");
    c.find(Locator::Css("#withdraw")).await?.click().await?;
    let flash = wait_text(c, "#flash", "withdrawal", Duration::from_secs(30), |t| {
        t.starts_with("Withdrew")
    })
    .await?;
    eyre::ensure!(flash.contains(&phd_chain::format_phd(credits)), "{flash}");
    eyre::ensure!(
        user.credits_of(user.address()).await?.is_zero(),
        "credits not withdrawn"
    );
    eyre::ensure!(
        text(c, "#credits").await? == "0 PHD",
        "credits shown after withdrawal"
    );

    // Series: a live series is listed (not yet certified) and its page says how to follow it.
    let sid = stack.create_series(phd(2)).await?;
    c.goto(&format!("{base}/series")).await?;
    review(c, "series").await?;
    eyre::ensure!(
        text(c, "#series-count").await?.starts_with("1 series"),
        "series count"
    );
    c.find(Locator::Css(&format!(
        r#"#series-list a[href="/series/{sid}"]"#
    )))
    .await?
    .click()
    .await?;
    eyre::ensure!(
        text(c, "#certification")
            .await?
            .starts_with("not certified"),
        "series certification"
    );
    eyre::ensure!(text(c, "#segments").await? == "0", "series segments");
    review(c, "series-detail").await?;

    // Keeper operator.
    let keeper = d.keeper_addresses()[0];
    c.goto(&format!("{base}/keepers")).await?;
    review(c, "keepers").await?;
    c.goto(&format!("{base}/keepers/{keeper}")).await?;
    eyre::ensure!(
        text(c, "#delivery-count").await?.parse::<u32>()? >= 1,
        "keeper deliveries"
    );
    eyre::ensure!(text(c, "#shares-held").await? == "1", "shares held");
    review(c, "keeper").await?;

    // Consent withdrawal: erasure confirmations fill in to n/n.
    c.goto(&format!("{base}/owner/datasets/{id}/consent"))
        .await?;
    review(c, "consent-confirm").await?;
    c.find(Locator::Css("#confirm-withdraw"))
        .await?
        .click()
        .await?;
    let n = d.keepers.len();
    wait_text(c, "#erasures", "erasures", Duration::from_secs(60), |t| {
        t == format!("{n}/{n}")
    })
    .await?;
    wait_text(
        c,
        "#object",
        "object deleted",
        Duration::from_secs(10),
        |t| t == "deleted",
    )
    .await?;
    review(c, "consent-erased").await?;
    c.goto(&format!("{base}/keepers/{keeper}")).await?;
    eyre::ensure!(
        text(c, "#shares-held").await? == "0",
        "keeper still holds a share after the erasure"
    );

    // An unknown page and dataset: plain 404 pages, still accessible.
    c.goto(&format!("{base}/datasets/999")).await?;
    eyre::ensure!(
        text(c, "#error").await?.contains("dataset 999 not found"),
        "404 page"
    );
    review(c, "not-found").await?;
    Ok(())
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut buf, mut bits) = (0u32, 0u32);
    for ch in s.bytes().filter(|b| *b != b'=') {
        let Some(v) = A.iter().position(|a| *a == ch) else {
            continue;
        };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}
