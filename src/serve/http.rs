//! The server's HTTP side (axum): inbound webhooks on the paths the
//! campaigns' `trigger webhook_received` lines name, the contacts API under
//! `/v1/` (bearer token), the live map (`GET /`, [`super::map`]),
//! `/healthz` and `/metrics`.
//!
//! Every accepted event is committed to the database before its response:
//! a 2xx means the event survives any crash after it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::compile::instructions::Verify;
use crate::store::{Change, Inbound, Store};
use crate::verify;

use super::engine::Engine;
use super::map;

/// Largest inbound webhook or API body.
pub const MAX_BODY: usize = 1 << 20;
/// Largest batch import body.
pub const MAX_IMPORT: usize = 64 << 20;

/// What every handler shares.
pub struct App<S: Store> {
    /// The engine.
    pub engine: Arc<Engine<S>>,
    /// The API's bearer token; `None` with `--no-api`.
    pub token: Option<String>,
    /// The live map.
    pub map: super::map::Map,
}

type Shared<S> = Arc<App<S>>;

/// The routes.
pub fn router<S: Store>(app: Shared<S>) -> Router {
    let api = Router::new()
        .route("/v1/contacts/:id", get(get_contact::<S>).put(upsert::<S>))
        .route("/v1/contacts/:id/tags", post(add_tags::<S>))
        .route("/v1/contacts/:id/tags/:tag", delete(remove_tag::<S>))
        .route("/v1/contacts/:id/fields", patch(set_fields::<S>))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route(
            "/v1/import",
            post(import::<S>).layer(DefaultBodyLimit::max(MAX_IMPORT)),
        );
    // `POST /` stays an inbound webhook path like any other.
    let map = Router::new()
        .route("/", get(map::page::<S>).fallback(inbound::<S>))
        .route("/map/map.js", get(map::script))
        .route("/map/map.css", get(map::style))
        .route("/map/sign-in", post(map::sign_in::<S>))
        .route("/map/sign-out", post(map::sign_out))
        .route("/v1/map", get(map::campaigns::<S>))
        .route("/v1/map/counts", get(map::counts::<S>))
        .route("/v1/map/contacts/:id", get(map::contact::<S>));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::<S>))
        .merge(api)
        .merge(map)
        .fallback(inbound::<S>)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// A response that ends a request early (boxed: a `Response` is large).
type Refused = Box<Response>;

fn refuse(status: StatusCode, message: &str) -> Refused {
    Box::new(error(status, message))
}

/// A JSON error answer: `{"error": message}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The token an `Authorization: Bearer` header shows.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The token check, in constant time over the token's length.
fn authorized<S: Store>(app: &App<S>, headers: &HeaderMap) -> Result<(), Refused> {
    let Some(token) = &app.token else {
        return Err(refuse(StatusCode::NOT_FOUND, "the API is off (--no-api)"));
    };
    let given = bearer(headers).unwrap_or("");
    if verify::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        ))
    }
}

async fn metrics<S: Store>(State(app): State<Shared<S>>) -> Response {
    let engine = &app.engine;
    let status = engine.store.status().await;
    let backlog = engine.store.backlog(engine.clock.now_ms()).await;
    match (status, backlog) {
        (Ok(status), Ok(backlog)) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            engine.metrics.render(&status, backlog),
        )
            .into_response(),
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// Fields from a JSON object: text as is, numbers and booleans as written,
/// `null` skipped, arrays and objects as JSON text; `Tags` (a list or a
/// comma-separated text) becomes tags.
fn fields_of(object: Map<String, Value>) -> (BTreeMap<String, String>, Vec<String>) {
    let mut fields = BTreeMap::new();
    let mut tags = Vec::new();
    for (name, value) in object {
        if name == "Tags" {
            match value {
                Value::Array(items) => tags.extend(items.into_iter().filter_map(|v| match v {
                    Value::String(s) => Some(s.trim().to_string()),
                    _ => None,
                })),
                Value::String(s) => tags.extend(s.split(',').map(|t| t.trim().to_string())),
                _ => {}
            }
            continue;
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => other.to_string(),
        };
        fields.insert(name, text);
    }
    tags.retain(|t| !t.is_empty());
    (fields, tags)
}

fn new_contact_id() -> String {
    format!("c_{:016x}", fastrand::u64(..))
}

/// An inbound webhook on a campaign's trigger path; anything else is 404.
async fn inbound<S: Store>(
    State(app): State<Shared<S>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let engine = &app.engine;
    let Some((loaded, how)) = engine.catalog_read().hook(uri.path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response();
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let secret = |i: u32| loaded.secrets.get(i as usize).map_or("", String::as_str);
    let now_s = engine.clock.now_ms().div_euclid(1000);
    let (verified, dedupe) = match how {
        Verify::Standard { secret: i } => {
            // Every Standard secret was decoded at load, or serve did not start.
            let Some(key) = loaded.hook_keys.get(&i) else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let checked = verify::standard(
                key,
                text("webhook-id"),
                text("webhook-timestamp"),
                text("webhook-signature"),
                &body,
                now_s,
            );
            (checked, Some(format!("standard:{}", text("webhook-id"))))
        }
        Verify::Github { secret: i } => (
            verify::github(secret(i).as_bytes(), text("x-hub-signature-256"), &body),
            Some(text("x-github-delivery"))
                .filter(|d| !d.is_empty())
                .map(|d| format!("github:{d}")),
        ),
        Verify::None => (Ok(()), None),
    };
    if let Err(e) = verified {
        tracing::warn!(path = uri.path(), reason = %e, "refused an inbound webhook");
        return error(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    let object = match parse_body(&headers, &body) {
        Ok(object) => object,
        Err(response) => return *response,
    };
    let (mut fields, tags) = fields_of(object);
    let id = fields
        .remove("Contact ID")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(new_contact_id);
    let event = Inbound {
        dedupe: dedupe.map(|d| format!("{}:{d}", uri.path())),
        source: format!("webhook {}", uri.path()),
        change: Change {
            contact: id.clone(),
            fields,
            add_tags: tags,
            remove_tags: Vec::new(),
        },
        enroll: vec![(loaded.campaign.clone(), loaded.revision)],
    };
    apply(&app, event, "webhook", StatusCode::ACCEPTED).await
}

/// The body as a JSON object, from JSON or a form.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Refused> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if kind == "application/json" || kind.ends_with("+json") {
        json_object(body)
    } else if kind == "application/x-www-form-urlencoded" {
        Ok(form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect())
    } else {
        Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/json or application/x-www-form-urlencoded",
        ))
    }
}

/// Commits an event and answers: `ok` for a new event, 200 for a replay.
async fn apply<S: Store>(app: &App<S>, event: Inbound, source: &str, ok: StatusCode) -> Response {
    let engine = &app.engine;
    let contact = event.change.contact.clone();
    let triggers = engine.catalog_read().triggers();
    match engine.store.apply(event, &triggers).await {
        Ok(applied) if applied.duplicate => {
            engine.metrics.event(source, "duplicate");
            (
                StatusCode::OK,
                Json(json!({ "contact": contact, "duplicate": true })),
            )
                .into_response()
        }
        Ok(applied) => {
            engine.metrics.event(source, "applied");
            for campaign in &applied.entered {
                engine.metrics.entered(campaign, 1);
            }
            engine.wake.notify_one();
            let status = if ok == StatusCode::OK && applied.created {
                StatusCode::CREATED
            } else {
                ok
            };
            (
                status,
                Json(json!({ "contact": contact, "created": applied.created, "entered": applied.entered })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not commit an event");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event could not be stored; retry",
            )
        }
    }
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Refused> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        )),
        Err(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "the body is not valid JSON",
        )),
    }
}

fn api_event(id: String, change: Change) -> Inbound {
    Inbound {
        dedupe: None,
        source: "api".into(),
        change: Change {
            contact: id,
            ..change
        },
        enroll: Vec::new(),
    }
}

async fn upsert<S: Store>(
    State(app): State<Shared<S>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return *r;
    }
    let object = match json_object(&body) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let (fields, add_tags) = fields_of(object);
    let change = Change {
        fields,
        add_tags,
        ..Change::default()
    };
    apply(&app, api_event(id, change), "api", StatusCode::OK).await
}

async fn set_fields<S: Store>(
    State(app): State<Shared<S>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    upsert(State(app), Path(id), headers, body).await
}

async fn add_tags<S: Store>(
    State(app): State<Shared<S>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return *r;
    }
    let tags = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut o)) => match o.remove("tags") {
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(|s| s.trim().to_string()))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>(),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "expected {\"tags\": [\"Tag\", ...]}",
                )
            }
        },
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "expected {\"tags\": [\"Tag\", ...]}",
            )
        }
    };
    let change = Change {
        add_tags: tags,
        ..Change::default()
    };
    apply(&app, api_event(id, change), "api", StatusCode::OK).await
}

async fn remove_tag<S: Store>(
    State(app): State<Shared<S>>,
    Path((id, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return *r;
    }
    let change = Change {
        remove_tags: vec![tag],
        ..Change::default()
    };
    apply(&app, api_event(id, change), "api", StatusCode::OK).await
}

async fn get_contact<S: Store>(
    State(app): State<Shared<S>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return *r;
    }
    contact_response(&app, &id).await
}

/// A contact with its positions, as `GET /v1/contacts/{id}` answers.
pub(super) async fn contact_response<S: Store>(app: &App<S>, id: &str) -> Response {
    match app.engine.store.contact(id).await {
        Ok(Some((data, positions))) => Json(json!({
            "id": data.id,
            "fields": data.fields,
            "tags": data.tags,
            "campaigns": positions.iter().map(|p| json!({
                "campaign": p.campaign,
                "revision": p.revision,
                "state": p.state,
                "pc": p.pc,
                "step": p.step,
                "wake_at_ms": p.wake_at,
                "resume_at_ms": p.resume_at,
                "attempts": p.attempts,
                "error_code": p.error_code,
                "error": p.error,
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such contact"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// NDJSON, one contact object per line (`Contact ID` required); every
/// line is its own event, committed before the response.
async fn import<S: Store>(
    State(app): State<Shared<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorized(&app, &headers) {
        return *r;
    }
    let engine = &app.engine;
    let triggers = engine.catalog_read().triggers();
    let (mut imported, mut created, mut errors) = (0u64, 0u64, Vec::new());
    for (n, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let object = match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(o)) => o,
            _ => {
                errors.push(json!({ "line": n + 1, "error": "not a JSON object" }));
                continue;
            }
        };
        let (mut fields, add_tags) = fields_of(object);
        let Some(id) = fields.remove("Contact ID").filter(|s| !s.trim().is_empty()) else {
            errors.push(json!({ "line": n + 1, "error": "no \"Contact ID\"" }));
            continue;
        };
        let change = Change {
            fields,
            add_tags,
            ..Change::default()
        };
        match engine
            .store
            .apply(api_event(id.trim().to_string(), change), &triggers)
            .await
        {
            Ok(applied) => {
                imported += 1;
                created += u64::from(applied.created);
                for campaign in &applied.entered {
                    engine.metrics.entered(campaign, 1);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not commit an imported contact");
                return error(StatusCode::SERVICE_UNAVAILABLE, "the import could not be stored; retry it (contacts already imported are updated again, not duplicated)");
            }
        }
    }
    engine.metrics.event("import", "applied");
    engine.wake.notify_one();
    Json(json!({ "imported": imported, "created": created, "errors": errors })).into_response()
}
