//! `campaign serve` end to end: the real binary, a real SQLite file, a real
//! receiver on 127.0.0.1, signed inbound webhooks, the API, waits across a
//! restart, goals pulled forward, revisions pinned and migrated.

mod support;

use std::path::Path;
use std::time::Duration;

use support::Server;

use support::served::{
    api, count, now, post_signed, sign, status_json, wait_for, Served, SECRET, TOKEN,
};

#[test]
fn a_signed_webhook_enrols_a_contact_and_its_request_arrives_byte_exact() {
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let campaign = format!(
        r#"campaign "Signup" {{
    trigger webhook_received "/hooks/signup" verify standard secret("SIGNUP_SECRET")
    webhook "Notify CRM" {{
        url "{}"
        post "email=[Email]&name=[First Name]"
    }}
}}
"#,
        receiver.url("/ok")
    );
    support::write(dir.path(), "signup.campaign", &campaign);
    let served = Served::start(dir.path(), &["signup.campaign"], &[]);
    let body = r#"{"Contact ID": "c1", "Email": "ada+x@example.com", "First Name": "Ada & Co"}"#;
    let ts = now();
    assert_eq!(
        post_signed(&served.base, "/hooks/signup", "msg_1", ts, body, None),
        202
    );
    wait_for("the webhook step", || receiver.count("/ok") == 1);
    let seen = &receiver.seen()[0];
    assert_eq!(
        String::from_utf8_lossy(&seen.body),
        "email=ada%2Bx%40example.com&name=Ada+%26+Co"
    );
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    // Refused, and nothing changes: bad signature, stale and future
    // timestamps, a replayed id, a missing signature.
    let other = r#"{"Contact ID": "c2"}"#;
    let bad = sign("msg_2", ts, r#"{"Contact ID": "c3"}"#);
    assert_eq!(
        post_signed(
            &served.base,
            "/hooks/signup",
            "msg_2",
            ts,
            other,
            Some(&bad)
        ),
        401
    );
    assert_eq!(
        post_signed(
            &served.base,
            "/hooks/signup",
            "msg_3",
            ts - 301,
            other,
            None
        ),
        401
    );
    assert_eq!(
        post_signed(
            &served.base,
            "/hooks/signup",
            "msg_4",
            ts + 301,
            other,
            None
        ),
        401
    );
    assert_eq!(
        post_signed(&served.base, "/hooks/signup", "msg_5", ts, other, Some("")),
        401
    );
    assert_eq!(
        post_signed(&served.base, "/hooks/signup", "msg_1", ts, body, None),
        200
    );
    // Oversized body: 413.
    let huge = format!(r#"{{"Contact ID": "c4", "x": "{}"}}"#, "a".repeat(1 << 20));
    assert_eq!(
        post_signed(&served.base, "/hooks/signup", "msg_6", ts, &huge, None),
        413
    );
    // Unknown path: 404; the API without the token: 401.
    assert_eq!(api(&served.base, "POST", "/nope", Some("{}"), None).0, 404);
    assert_eq!(
        api(&served.base, "GET", "/v1/contacts/c1", None, None).0,
        401
    );
    assert_eq!(
        api(&served.base, "GET", "/v1/contacts/c1", None, Some("wrong")).0,
        401
    );
    let (status, contact) = api(&served.base, "GET", "/v1/contacts/c1", None, Some(TOKEN));
    assert_eq!(status, 200);
    assert_eq!(contact["campaigns"][0]["state"], "done");
    for id in ["c2", "c3", "c4"] {
        assert_eq!(
            api(
                &served.base,
                "GET",
                &format!("/v1/contacts/{id}"),
                None,
                Some(TOKEN)
            )
            .0,
            404
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.count("/ok"), 1, "the replay sent nothing");
    let (code, stderr) = served.stop();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
}

#[test]
fn a_wait_survives_a_restart_and_a_tag_pulls_a_contact_to_its_goal() {
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let campaign = format!(
        r#"campaign "Nurture" {{
    trigger tag_added "Lead"
    wait 2 seconds
    webhook "After wait" {{
        url "{}"
        post "id=[Contact ID]"
    }}
    wait 3 days
    webhook "Never" {{
        url "{}"
    }}
    goal "Bought" when has tag "Customer"
    webhook "Thanks" {{
        url "{}"
        post "id=[Contact ID]"
    }}
}}
"#,
        receiver.url("/things/after"),
        receiver.url("/things/never"),
        receiver.url("/things/thanks")
    );
    support::write(dir.path(), "nurture.campaign", &campaign);
    let served = Served::start(dir.path(), &["nurture.campaign"], &[]);
    let (status, _) = api(
        &served.base,
        "POST",
        "/v1/contacts/p1/tags",
        Some(r#"{"tags": ["Lead"]}"#),
        Some(TOKEN),
    );
    assert_eq!(status, 201, "a new contact");
    wait_for("the contact to wait", || {
        count(&status_json(dir.path()), "waiting") == 1
    });
    let (code, stderr) = served.stop();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(receiver.count("/things/after"), 0);

    let served = Served::start(dir.path(), &["nurture.campaign"], &[]);
    wait_for("the first wait to end after the restart", || {
        receiver.count("/things/after") == 1
    });
    wait_for("the 3-day wait", || {
        status_json(dir.path())
            .iter()
            .any(|r| r["state"] == "waiting" && r["step"] == "3")
    });
    // The tag lands: the contact leaves the 3-day wait for the goal at once.
    let (status, _) = api(
        &served.base,
        "POST",
        "/v1/contacts/p1/tags",
        Some(r#"{"tags": ["Customer"]}"#),
        Some(TOKEN),
    );
    assert_eq!(status, 200);
    wait_for("the goal's webhook", || {
        receiver.count("/things/thanks") == 1
    });
    assert_eq!(receiver.count("/things/never"), 0);
    assert_eq!(count(&status_json(dir.path()), "done"), 1);
    let (code, stderr) = served.stop();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn contacts_stay_on_their_revision_and_migrate_moves_those_it_can() {
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let v1 = format!(
        r#"campaign "Drip" {{
    trigger contact_added
    wait 2 seconds
    webhook "Step" {{
        url "{}"
    }}
}}
"#,
        receiver.url("/things/v1")
    );
    support::write(dir.path(), "drip.campaign", &v1);
    let served = Served::start(dir.path(), &["drip.campaign"], &[]);
    for id in ["a", "b"] {
        let (status, _) = api(
            &served.base,
            "PUT",
            &format!("/v1/contacts/{id}"),
            Some("{}"),
            Some(TOKEN),
        );
        assert_eq!(status, 201);
    }
    wait_for("two waiting", || {
        count(&status_json(dir.path()), "waiting") == 2
    });
    let (code, _) = served.stop();
    assert_eq!(code, 0);

    // Revision 2 sends elsewhere; `a` and `b` are pinned to revision 1.
    let v2 = v1
        .replace("/things/v1", "/things/v2")
        .replace("wait 2 seconds", "wait 1 hour");
    support::write(dir.path(), "drip.campaign", &v2);
    let served = Served::start(dir.path(), &["drip.campaign"], &[]);
    let (status, _) = api(
        &served.base,
        "PUT",
        "/v1/contacts/c",
        Some("{}"),
        Some(TOKEN),
    );
    assert_eq!(status, 201);
    wait_for("a and b to finish on revision 1", || {
        receiver.count("/things/v1") == 2
    });
    assert_eq!(receiver.count("/things/v2"), 0);
    let (code, _) = served.stop();
    assert_eq!(code, 0);

    let out = support::campaign(
        dir.path(),
        &[
            "revisions",
            "--db",
            "campaign.db",
            "Drip",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let revs: Vec<serde_json::Value> = serde_json::from_str(&support::stdout(&out)).unwrap();
    assert_eq!(revs.len(), 2);

    // `c` waits in revision 2; a dry run of moving revision 2 to 1 moves none.
    let out = support::campaign(
        dir.path(),
        &[
            "migrate",
            "--db",
            "campaign.db",
            "Drip",
            "--from",
            "2",
            "--to",
            "1",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(
        support::stdout(&out).contains("c: would move to revision 1"),
        "{}",
        support::stdout(&out)
    );
    let before = status_json(dir.path());
    assert!(before
        .iter()
        .any(|r| r["revision"] == 2 && r["state"] == "waiting"));
    let out = support::campaign(
        dir.path(),
        &[
            "migrate",
            "--db",
            "campaign.db",
            "Drip",
            "--from",
            "2",
            "--to",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let after = status_json(dir.path());
    assert!(
        after
            .iter()
            .any(|r| r["revision"] == 1 && r["state"] == "waiting" && r["count"] == 1),
        "{after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|r| r["revision"] == 2 && r["state"] == "waiting"),
        "{after:?}"
    );
}

#[test]
fn serve_refuses_a_campaign_with_errors_and_starts_without_a_token_only_with_no_api() {
    let dir = tempfile::tempdir().unwrap();
    support::write(
        dir.path(),
        "bad.campaign",
        "campaign \"Bad\" {\n    wait 2 parsecs\n}\n",
    );
    let out = support::campaign(dir.path(), &["serve", "bad.campaign", "--no-api"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        support::stderr(&out).contains("campaign::"),
        "{}",
        support::stderr(&out)
    );
    support::write(
        dir.path(),
        "ok.campaign",
        "campaign \"Ok\" {\n    note \"hi\"\n}\n",
    );
    let out = support::command(dir.path(), &["serve", "ok.campaign"])
        .env_remove("CAMPAIGN_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        support::stderr(&out).contains("CAMPAIGN_API_TOKEN"),
        "{}",
        support::stderr(&out)
    );
}

#[test]
fn the_database_commands_refuse_a_file_serve_never_made_and_make_none() {
    let dir = tempfile::tempdir().unwrap();
    support::write(dir.path(), "contacts.csv", "Contact ID\n1\n");
    for args in [
        &["status"][..],
        &["revisions", "Welcome", "--db", "typo.db"],
        &["enroll", "Welcome", "--contacts", "contacts.csv"],
        &[
            "migrate",
            "Welcome",
            "--from",
            "1",
            "--to",
            "2",
            "--dry-run",
        ],
    ] {
        let out = support::campaign(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            support::stderr(&out).contains("no database at "),
            "{args:?}: {}",
            support::stderr(&out)
        );
    }
    assert!(!dir.path().join("campaign.db").exists());
    assert!(!dir.path().join("typo.db").exists());
}

/// Every route the server's router declares (`.route("PATH", METHOD(...)...)`
/// in src/serve/http.rs) is in docs/api.yaml with the same method, and the
/// document lists no route the router lacks.
#[test]
fn every_route_is_in_the_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let code = std::fs::read_to_string(root.join("src/serve/http.rs")).unwrap();
    let doc = std::fs::read_to_string(root.join("docs/api.yaml")).unwrap();
    let mut routes = Vec::new();
    for piece in code.split(".route(").skip(1) {
        let path = piece.split('"').nth(1).unwrap();
        let rest = &piece[..piece
            .find(";\n")
            .unwrap_or(piece.len())
            .min(piece.find("\n        .").unwrap_or(piece.len()))];
        for method in ["get", "put", "post", "patch", "delete"] {
            if rest.contains(&format!("{method}(")) || rest.contains(&format!(".{method}(")) {
                routes.push((method, path.to_string()));
            }
        }
    }
    assert!(routes.len() >= 8, "{routes:?}");
    // OpenAPI spells `:id` as `{id}`.
    let documented = |path: &str, method: &str| {
        let path: String = path
            .split('/')
            .map(|s| match s.strip_prefix(':') {
                Some(p) => format!("{{{p}}}"),
                None => s.to_string(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let Some(at) = doc.find(&format!("\n  {path}:\n")) else {
            return false;
        };
        let section = &doc[at + 1..];
        let end = section[1..].find("\n  /").map_or(section.len(), |e| e + 1);
        section[..end].contains(&format!("\n    {method}:"))
    };
    for (method, path) in &routes {
        assert!(
            documented(path, method),
            "{method} {path} is not in docs/api.yaml"
        );
    }
    let doc_paths = doc
        .lines()
        .filter(|l| l.starts_with("  /") && l.ends_with(':'))
        .count();
    let code_paths: std::collections::BTreeSet<&String> = routes.iter().map(|(_, p)| p).collect();
    // `/{hook}` stands for the trigger paths, served by the fallback.
    assert_eq!(
        doc_paths,
        code_paths.len() + 1,
        "docs/api.yaml lists a path the router does not serve"
    );
}

#[test]
fn sighup_loads_a_changed_file_as_a_new_revision_and_status_counts_failures_per_step() {
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let v1 = format!(
        "campaign \"Hup\" {{\n    trigger contact_added\n    note \"hi\"\n    webhook \"Refused\" {{\n        url \"{}\"\n    }}\n}}\n",
        receiver.url("/status/400")
    );
    support::write(dir.path(), "hup.campaign", &v1);
    let served = Served::start(dir.path(), &["hup.campaign"], &[]);
    assert_eq!(
        api(
            &served.base,
            "PUT",
            "/v1/contacts/x",
            Some("{}"),
            Some(TOKEN)
        )
        .0,
        201
    );
    wait_for("x to fail", || {
        count(&status_json(dir.path()), "failed") == 1
    });
    let rows = status_json(dir.path());
    let failed = rows.iter().find(|r| r["state"] == "failed").unwrap();
    assert_eq!(failed["step"], "2", "{rows:?}");
    let out = support::campaign(dir.path(), &["status", "--db", "campaign.db"]);
    assert!(
        support::stdout(&out).contains("failed at step 2"),
        "{}",
        support::stdout(&out)
    );
    let (_, contact) = api(&served.base, "GET", "/v1/contacts/x", None, Some(TOKEN));
    assert_eq!(
        contact["campaigns"][0]["error_code"],
        "campaign::deliver::status"
    );

    // The file changes; SIGHUP makes it revision 2, which new contacts enter.
    let v2 = v1.replace("/status/400", "/ok");
    support::write(dir.path(), "hup.campaign", &v2);
    served.signal(libc::SIGHUP);
    wait_for("the reload", || {
        served.logged().contains("campaigns reloaded")
    });
    assert_eq!(
        api(
            &served.base,
            "PUT",
            "/v1/contacts/y",
            Some("{}"),
            Some(TOKEN)
        )
        .0,
        201
    );
    wait_for("y to finish", || receiver.count("/ok") == 1);
    let (_, contact) = api(&served.base, "GET", "/v1/contacts/y", None, Some(TOKEN));
    assert_eq!(contact["campaigns"][0]["revision"], 2);
    assert_eq!(contact["campaigns"][0]["state"], "done");
    // A file with errors is not loaded; the campaigns served stay.
    support::write(
        dir.path(),
        "hup.campaign",
        "campaign \"Hup\" {\n    wait 2 parsecs\n}\n",
    );
    served.signal(libc::SIGHUP);
    wait_for("the refused reload", || {
        served.logged().contains("reload failed")
    });
    assert_eq!(
        api(
            &served.base,
            "PUT",
            "/v1/contacts/z",
            Some("{}"),
            Some(TOKEN)
        )
        .0,
        201
    );
    wait_for("z on revision 2", || receiver.count("/ok") == 2);
    let (code, _) = served.stop();
    assert_eq!(code, 0);
}

#[test]
fn a_github_signed_webhook_enrols_once_per_delivery() {
    use hmac::{Hmac, Mac};
    let receiver = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let campaign = format!(
        "campaign \"Gh\" {{\n    trigger webhook_received \"/hooks/gh\" verify github secret(\"SIGNUP_SECRET\")\n    webhook \"Forward\" {{\n        url \"{}\"\n        post \"id=[Contact ID]&repo=[repository]\"\n    }}\n}}\n",
        receiver.url("/ok")
    );
    support::write(dir.path(), "gh.campaign", &campaign);
    let served = Served::start(dir.path(), &["gh.campaign"], &[]);
    let post = |delivery: &str, body: &str, signature: &str| {
        support::served::runtime().block_on(async {
            reqwest::Client::new()
                .post(format!("{}/hooks/gh", served.base))
                .header("content-type", "application/json")
                .header("x-github-delivery", delivery)
                .header("x-hub-signature-256", signature)
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let sign = |body: &str| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let body = r#"{"Contact ID": "gh1", "repository": "campaign"}"#;
    assert_eq!(post("d-1", body, &sign(body)), 202);
    wait_for("the forward", || receiver.count("/ok") == 1);
    assert_eq!(
        String::from_utf8_lossy(&receiver.seen()[0].body),
        "id=gh1&repo=campaign"
    );
    // The same delivery again: accepted, nothing done.
    assert_eq!(post("d-1", body, &sign(body)), 200);
    // A signature over other bytes, or none: refused.
    let other = r#"{"Contact ID": "gh2"}"#;
    assert_eq!(post("d-2", other, &sign(body)), 401);
    assert_eq!(post("d-3", other, ""), 401);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.count("/ok"), 1);
    assert_eq!(
        api(&served.base, "GET", "/v1/contacts/gh2", None, Some(TOKEN)).0,
        404
    );
    let (code, _) = served.stop();
    assert_eq!(code, 0);
}
