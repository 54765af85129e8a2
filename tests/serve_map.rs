//! The live map of `campaign serve` (`GET /`): the real binary with a real
//! SQLite file and a real receiver on 127.0.0.1; the counts it shows are
//! checked against what the contacts did, its tokens and cookie against
//! what they may open, and its page in a real headless Chromium.

mod support;

use serde_json::Value;
use support::browser::Browser;
use support::served::{api, wait_for, Served, SECRET, TOKEN};
use support::Server;

const MAP_TOKEN: &str = "map-only-token-98765";

/// A campaign with a fork, two webhooks (one refused with a 400), a wait
/// and an end, served with both tokens; nine contacts go through it.
fn scenario(receiver: &Server) -> (tempfile::TempDir, Served) {
    let dir = tempfile::tempdir().unwrap();
    let campaign = format!(
        r#"campaign "Welcome" {{
    trigger contact_added
    if [Plan] == "pro" {{
        webhook "Notify sales" {{
            url "{ok}"
            header "Api-Key" = secret("SIGNUP_SECRET")
            post "email=[Email]"
        }}
        wait 30 days
    }} else if [Plan] == "legacy" {{
        webhook "Legacy CRM" {{
            url "{refused}"
            post "email=[Email]"
        }}
    }} else {{
        tag add "Free"
    }}
}}
"#,
        ok = receiver.url("/ok"),
        refused = receiver.url("/status/400"),
    );
    support::write(dir.path(), "welcome.campaign", &campaign);
    let served = Served::start_env(
        dir.path(),
        &["welcome.campaign"],
        &[],
        &[("CAMPAIGN_MAP_TOKEN", MAP_TOKEN)],
    );
    for (id, plan) in [
        ("p1", "pro"),
        ("p2", "pro"),
        ("p3", "pro"),
        ("l1", "legacy"),
        ("l2", "legacy"),
        ("f1", "free"),
        ("f2", "free"),
        ("f3", "free"),
        ("f4", "free"),
    ] {
        add(&served, id, plan);
    }
    settle(&served, 9);
    (dir, served)
}

fn add(served: &Served, id: &str, plan: &str) {
    let body = format!(r#"{{"Plan": "{plan}", "Email": "{id}@private-mail.example"}}"#);
    let (status, _) = api(
        &served.base,
        "PUT",
        &format!("/v1/contacts/{id}"),
        Some(&body),
        Some(TOKEN),
    );
    assert_eq!(status, 201);
}

/// Waits until every one of `entered` contacts is where it stays.
fn settle(served: &Served, entered: u64) {
    wait_for("the contacts to settle", || {
        let (_, live) = counts(served, TOKEN);
        live["totals"]["entered"] == entered && live["totals"]["active"] == 0
    });
}

fn counts(served: &Served, token: &str) -> (u16, Value) {
    api(
        &served.base,
        "GET",
        "/v1/map/counts?campaign=Welcome",
        None,
        Some(token),
    )
}

/// A GET or POST with the given headers: status, headers, body.
fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    support::served::runtime().block_on(async {
        let mut req = client.request(method.parse().unwrap(), format!("{base}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.body(body.to_string()).send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.text().await.unwrap())
    })
}

fn node<'a>(live: &'a Value, id: &str) -> &'a Value {
    live["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in {live}"))
}

#[test]
fn the_map_counts_where_each_contact_is_and_shows_no_field_or_secret() {
    let receiver = Server::start();
    let (_dir, served) = scenario(&receiver);
    let (status, live) = counts(&served, TOKEN);
    assert_eq!(status, 200);
    assert_eq!(
        live["totals"],
        serde_json::json!({"entered": 9, "active": 0, "waiting": 3, "done": 4, "failed": 2})
    );
    // The fork `s0`: its if branch (block 0) sends and waits, its else-if
    // branch (block 1) is refused, its else (block 2) tags.
    let sales = node(&live, "s0_0_0");
    assert_eq!(
        (&sales["sent"], &sales["delivered"]),
        (&3.into(), &3.into())
    );
    assert_eq!(sales["text"], "3 sent · 3 delivered");
    assert_eq!(node(&live, "s0_0_1")["text"], "3 waiting");
    let legacy = node(&live, "s0_1_0");
    assert_eq!(legacy["text"], "2 sent · 0 delivered · 2 failed");
    assert_eq!(legacy["failed_attempts"], 2);
    assert_eq!(node(&live, "s0_2_0")["text"], "");
    assert_eq!(node(&live, "end")["text"], "4 done");
    // Every contact is counted once: the nodes' waiting, failed and done
    // add up to the totals.
    let sum = |key: &str| -> u64 {
        live["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n[key].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        (sum("waiting"), sum("failed"), sum("done")),
        (3, 2, 4),
        "{live}"
    );
    // The newest failures: where and which code, not the message.
    let failures = live["failures"].as_array().unwrap();
    let mut failed: Vec<&str> = failures
        .iter()
        .map(|f| f["contact"].as_str().unwrap())
        .collect();
    failed.sort_unstable();
    assert_eq!(failed, ["l1", "l2"]);
    for f in failures {
        assert_eq!(f["node"], "s0_1_0");
        assert_eq!(f["label"], "Legacy CRM");
        assert_eq!(f["line"], 11);
        assert_eq!(f["code"], "campaign::deliver::status");
        assert!(f["summary"].as_str().unwrap().contains("not a 2xx"));
        assert!(f.get("error").is_none());
    }

    // Neither the page nor its counts hold a field value or the secret.
    let (status, headers, page) = request(
        &served.base,
        "GET",
        "/",
        &[("authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!(status, 200);
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    for text in [page.as_str(), &live.to_string()] {
        assert!(!text.contains("private-mail"), "a field value leaked");
        assert!(!text.contains(SECRET), "the secret leaked");
    }
    // The server drew the counts into the SVG; the script is its own.
    assert!(page.contains(r#"data-node="s0_0_1""#) && page.contains(">3 waiting</text>"));
    assert!(page.contains(r#"<script src="/map/map.js"></script>"#));
    assert!(page.contains("campaign::deliver::status"));
    // Asking for a contact by id is what shows its fields and the message.
    let (status, contact) = api(
        &served.base,
        "GET",
        "/v1/map/contacts/l1",
        None,
        Some(MAP_TOKEN),
    );
    assert_eq!(status, 200);
    assert_eq!(contact["fields"]["Email"], "l1@private-mail.example");
    assert!(contact["campaigns"][0]["error"]
        .as_str()
        .unwrap()
        .contains("400"));
}

#[test]
fn a_contact_due_for_a_webhook_retry_counts_on_that_webhook() {
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let campaign = format!(
        r#"campaign "Retry" {{
    trigger contact_added
    webhook "Flaky" {{
        url "{busy}"
        post "id=[Contact ID]"
    }}
}}
"#,
        busy = receiver.url("/status/503"),
    );
    support::write(dir.path(), "retry.campaign", &campaign);
    let served = Served::start_env(
        dir.path(),
        &["retry.campaign"],
        &["--retry-schedule", "1h"],
        &[("CAMPAIGN_MAP_TOKEN", MAP_TOKEN)],
    );
    add(&served, "r1", "pro");
    let path = "/v1/map/counts?campaign=Retry";
    wait_for("the retry to be scheduled", || {
        let (_, live) = api(&served.base, "GET", path, None, Some(MAP_TOKEN));
        node(&live, "s0")["retrying"] == 1
    });
    let (_, live) = api(&served.base, "GET", path, None, Some(MAP_TOKEN));
    assert_eq!(live["totals"]["active"], 1);
    let flaky = node(&live, "s0");
    assert!(
        flaky["text"].as_str().unwrap().ends_with(" · 1 retrying"),
        "{flaky}"
    );
    assert_eq!(flaky["delivered"], 0);
}

#[test]
fn the_map_opens_with_either_token_or_its_cookie_and_the_map_token_opens_nothing_else() {
    let receiver = Server::start();
    let (_dir, served) = scenario(&receiver);
    let base = served.base.as_str();
    // Without a token: the sign-in form, and nothing about the campaigns.
    let (status, _, page) = request(base, "GET", "/", &[], "");
    assert_eq!(status, 401);
    assert!(page.contains(r#"action="/map/sign-in""#));
    assert!(!page.contains("Welcome"));
    assert_eq!(counts(&served, "wrong").0, 401);
    assert_eq!(api(base, "GET", "/v1/map", None, None).0, 401);
    // Either token opens the map.
    for token in [TOKEN, MAP_TOKEN] {
        let (status, list) = api(base, "GET", "/v1/map", None, Some(token));
        assert_eq!(status, 200);
        assert_eq!(
            list["campaigns"],
            serde_json::json!([{"name": "Welcome", "newest": 1, "revisions": [1]}])
        );
    }
    // The map token opens nothing of the API.
    assert_eq!(
        api(base, "GET", "/v1/contacts/p1", None, Some(MAP_TOKEN)).0,
        401
    );
    // Signing in: a wrong token is refused; the right one sets a cookie
    // that is not the token and opens the page.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let (status, _, _) = request(base, "POST", "/map/sign-in", &form, "token=nope");
    assert_eq!(status, 401);
    let (status, headers, _) = request(
        base,
        "POST",
        "/map/sign-in",
        &form,
        &format!("token={MAP_TOKEN}"),
    );
    assert_eq!(status, 303);
    let cookie = headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains(MAP_TOKEN));
    let pair = cookie.split(';').next().unwrap();
    let (status, _, page) = request(base, "GET", "/", &[("cookie", pair)], "");
    assert_eq!(status, 200);
    assert!(page.contains("Welcome"));
    let (status, _, _) = request(base, "GET", "/", &[("cookie", "campaign_map=00ff")], "");
    assert_eq!(status, 401);
    let (_, headers, _) = request(base, "POST", "/map/sign-out", &[], "");
    assert!(headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // Its script and style are served by the binary.
    let (status, headers, script) = request(base, "GET", "/map/map.js", &[], "");
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.contains("/v1/map/counts"));
    // `POST /` is still an inbound webhook path (none is served there).
    assert_eq!(request(base, "POST", "/", &[], "{}").0, 404);
}

#[test]
fn a_headless_browser_signs_in_and_sees_the_counts_refresh() {
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    let receiver = Server::start();
    let (_dir, served) = scenario(&receiver);
    browser.call("Page.enable", serde_json::json!({}));
    browser.navigate(&format!("{}/", served.base));
    browser.wait_for(
        "the sign-in form",
        "document.querySelector('input[name=token]')",
    );
    browser.eval(&format!(
        "document.querySelector('input[name=token]').value = '{MAP_TOKEN}'; \
         document.querySelector('form').submit(); true"
    ));
    browser.wait_for(
        "the map after signing in",
        "document.querySelector('svg.campaign-graph') && Number(document.body.dataset.refreshes) >= 1",
    );
    let shown = |browser: &mut Browser| -> Value {
        browser.eval(
            "Object.fromEntries(Array.from(document.querySelectorAll('svg text.count[data-node]'))\
             .map(t => [t.dataset.node, t.textContent]))",
        )
    };
    let texts = shown(&mut browser);
    assert_eq!(texts["s0_0_0"], "3 sent · 3 delivered");
    assert_eq!(texts["s0_0_1"], "3 waiting");
    assert_eq!(texts["s0_1_0"], "2 sent · 0 delivered · 2 failed");
    assert_eq!(texts["end"], "4 done");
    // One box per node of `campaign graph --format json`, and every edge's
    // ends drawn.
    let boxes = browser.eval("document.querySelectorAll('svg g.node').length");
    let ids =
        browser.eval("Array.from(document.querySelectorAll('svg g.node')).map(g => g.dataset.id)");
    assert_eq!(boxes, ids.as_array().unwrap().len());
    let dangling = browser.eval(
        "Array.from(document.querySelectorAll('svg g.edge')).filter(e => \
         !document.querySelector('svg g.node[data-id=\"' + e.dataset.from + '\"]') || \
         !document.querySelector('svg g.node[data-id=\"' + e.dataset.to + '\"]')).length",
    );
    assert_eq!(dangling, 0);
    let failures = browser.eval("document.querySelectorAll('#failures tbody tr').length");
    assert_eq!(failures, 2);
    assert_eq!(
        browser.eval("document.querySelector('#failures tbody tr td:nth-child(3)').textContent"),
        "Legacy CRM"
    );
    assert_eq!(
        browser.eval("document.querySelector('[data-total=\"waiting\"]').textContent"),
        "3"
    );
    // A new contact arrives: the page shows it without a reload.
    add(&served, "p4", "pro");
    settle(&served, 10);
    browser.wait_for(
        "the refreshed counts",
        "document.querySelector('text.count[data-node=\"s0_0_1\"]').textContent === '4 waiting'",
    );
    assert_eq!(
        browser.eval("document.querySelector('[data-total=\"entered\"]').textContent"),
        "10"
    );
    let html = browser.eval("document.documentElement.outerHTML");
    assert!(!html.as_str().unwrap().contains("private-mail"));
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);
    // `CAMPAIGN_UPDATE_SCREENSHOTS=1 cargo test --test serve_map` redraws
    // the picture docs/serve.md shows.
    if std::env::var_os("CAMPAIGN_UPDATE_SCREENSHOTS").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/serve-map.png");
        std::fs::write(path, &png).unwrap();
    }
}
