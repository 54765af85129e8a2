//! The live map: `GET /` draws each campaign revision as `campaign graph`
//! does, with where its contacts are now (waiting at each wait, failed at
//! each step, done), what each webhook sent, and the newest failures;
//! `map.js` refreshes the counts every few seconds from
//! `/v1/map/counts`. Everything the page needs is served by the binary.
//!
//! It is behind the API's token, or a read-only `CAMPAIGN_MAP_TOKEN` that
//! opens nothing else: as a bearer token, or as the `campaign_map` cookie
//! that signing in with the token sets (an HMAC of the token, so the cookie
//! is not the token). No field value is on the page or in its counts; a
//! failure shows its code, not its message (which may quote a field),
//! until someone asks for that contact by id.

pub mod drawing;
pub mod page;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::diagnostics::codes;
use crate::diagnostics::SourceFile;
use crate::store::{MapCounts, Revision, Store, StoreError};
use crate::verify::constant_time_eq;
use drawing::{Drawing, Placed};

use super::http::App;

/// The session cookie's name.
pub const COOKIE: &str = "campaign_map";
/// How many of a revision's newest failures the map lists.
pub const FAILURES: usize = 20;
/// How long one read of a revision's counts is shown to every page that
/// asks at least: however many pages are open, the database answers at
/// most once per revision in this time.
pub const FRESH: Duration = Duration::from_secs(1);
/// A read is also kept for this many times as long as it took, so that
/// on a database of millions of positions (where a read takes about a
/// second) an open page keeps the database busy a fifth of the time at
/// most, not all of it.
pub const FRESH_PER_READ: u32 = 4;
/// How often the page refreshes its counts (map.js reads it from the page).
pub const REFRESH: Duration = Duration::from_secs(3);

const SCRIPT: &str = include_str!("map.js");
const STYLE: &str = include_str!("map.css");

/// Nothing but the binary's own script, style and requests; no frames.
/// (`'unsafe-inline'` styles: the SVG carries its own `<style>`.)
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The map's tokens, and what it keeps between requests.
pub struct Map {
    /// The tokens that open it: the API's and the map's own.
    tokens: Vec<String>,
    /// The session cookie's value for each token.
    sessions: Vec<String>,
    /// Each revision's drawing, made once.
    drawings: ByRevision<Arc<Drawing>>,
    /// Each revision's newest counts, and until when they are shown.
    counts: ByRevision<(Instant, Arc<MapCounts>)>,
}

/// Something kept per campaign and revision.
type ByRevision<T> = Mutex<HashMap<(String, i64), T>>;

/// Whether a request may see the map.
enum Access {
    /// It showed a token or a session.
    Allowed,
    /// It did not.
    Denied,
    /// No token is set: the map is off.
    Off,
}

impl Map {
    /// A map opened by any of `tokens` (none: the map is off).
    pub fn new(tokens: impl IntoIterator<Item = String>) -> Map {
        let tokens: Vec<String> = tokens.into_iter().filter(|t| !t.is_empty()).collect();
        let sessions = tokens.iter().map(|t| session(t)).collect();
        Map {
            tokens,
            sessions,
            drawings: Mutex::default(),
            counts: Mutex::default(),
        }
    }

    fn access(&self, headers: &HeaderMap) -> Access {
        if self.tokens.is_empty() {
            return Access::Off;
        }
        let bearer = super::http::bearer(headers);
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='));
        let matches = |given: Option<&str>, known: &[String]| {
            given.is_some_and(|g| {
                known
                    .iter()
                    .any(|k| constant_time_eq(g.as_bytes(), k.as_bytes()))
            })
        };
        if matches(bearer, &self.tokens) || matches(cookie, &self.sessions) {
            Access::Allowed
        } else {
            Access::Denied
        }
    }

    /// The drawing of `revision`, made from its stored source the first
    /// time; `None` when this build no longer parses it.
    fn drawing(&self, revision: &Revision) -> Option<Arc<Drawing>> {
        let key = (revision.campaign.clone(), revision.revision);
        if let Some(d) = lock(&self.drawings).get(&key) {
            return Some(d.clone());
        }
        let tree = crate::syntax::parser::parse(&revision.source).ok()?;
        let source = SourceFile::new(
            format!("{} (revision {})", revision.campaign, revision.revision),
            revision.source.as_str(),
        );
        let drawing = Arc::new(Drawing::new(&tree, &source));
        lock(&self.drawings).insert(key, drawing.clone());
        Some(drawing)
    }

    /// The counts of a revision, read again when [`FRESH`] (or four times
    /// the last read's duration, if longer) has passed.
    async fn counts<S: Store>(
        &self,
        store: &S,
        campaign: &str,
        revision: i64,
    ) -> Result<Arc<MapCounts>, StoreError> {
        let key = (campaign.to_string(), revision);
        if let Some((until, counts)) = lock(&self.counts).get(&key) {
            if Instant::now() < *until {
                return Ok(counts.clone());
            }
        }
        let started = Instant::now();
        let counts = Arc::new(store.map_counts(campaign, revision, FAILURES).await?);
        let until = Instant::now() + FRESH.max(started.elapsed() * FRESH_PER_READ);
        lock(&self.counts).insert(key, (until, counts.clone()));
        Ok(counts)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The session cookie's value for `token`.
fn session(token: &str) -> String {
    // Any key length is valid for HMAC.
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"campaign serve: live map session");
    hex::encode(mac.finalize().into_bytes())
}

/// Headers every map response carries.
fn guarded(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn html(status: StatusCode, body: String) -> Response {
    guarded(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

fn json_error(status: StatusCode, message: &str) -> Response {
    guarded(super::http::error(status, message))
}

const OFF: &str =
    "the live map is off: start serve with CAMPAIGN_API_TOKEN or CAMPAIGN_MAP_TOKEN set";

/// The JSON routes' check: the answer to a request that may not see the
/// map, or `None` when it may.
fn denied_json<S: Store>(app: &App<S>, headers: &HeaderMap) -> Option<Response> {
    match app.map.access(headers) {
        Access::Allowed => None,
        Access::Denied => Some(json_error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token (a bearer token, or the cookie of signing in at /)",
        )),
        Access::Off => Some(json_error(StatusCode::NOT_FOUND, OFF)),
    }
}

/// Which campaign and revision a page or a count read is about.
#[derive(Debug, Default, Deserialize)]
pub struct Which {
    /// The campaign (default: the first served, by name).
    pub campaign: Option<String>,
    /// The revision (default: the campaign's newest).
    pub revision: Option<i64>,
}

/// A campaign as the map lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// Its name.
    pub name: String,
    /// The revision new contacts enter, if it is served now.
    pub newest: Option<i64>,
    /// Every stored revision, oldest first.
    pub revisions: Vec<i64>,
}

/// Every campaign among `revisions` (the database's), the served ones
/// first (by name), then the rest: a contact may still wait in a campaign
/// no longer served.
fn listed<S: Store>(app: &App<S>, revisions: &[Revision]) -> Vec<Listed> {
    let served: HashMap<String, i64> = app.engine.catalog_read().current.clone();
    let mut out: Vec<Listed> = Vec::new();
    for r in revisions {
        match out.iter_mut().find(|l| l.name == r.campaign) {
            Some(l) => l.revisions.push(r.revision),
            None => out.push(Listed {
                newest: served.get(&r.campaign).copied(),
                name: r.campaign.clone(),
                revisions: vec![r.revision],
            }),
        }
    }
    out.sort_by(|a, b| (a.newest.is_none(), &a.name).cmp(&(b.newest.is_none(), &b.name)));
    out
}

/// One failure as the map shows it: no message, no field value.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The contact's id (ask for the contact to see the message).
    pub contact: String,
    /// The step's place in the tree.
    pub step: Option<String>,
    /// The node it failed at.
    pub node: Option<String>,
    /// That node's first label line (the webhook's name, `wait 3 days`).
    pub label: Option<String>,
    /// That node's line.
    pub line: Option<usize>,
    /// The error's code.
    pub code: Option<String>,
    /// What the code means.
    pub summary: Option<&'static str>,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// A revision's live counts, as `/v1/map/counts` returns them.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    /// The campaign.
    pub campaign: String,
    /// The revision.
    pub revision: i64,
    /// Whether new contacts enter this revision.
    pub newest: bool,
    /// Whether the graph is too large to draw (the page lists the counts).
    pub too_large: bool,
    /// Per state, and per node.
    #[serde(flatten)]
    pub placed: Placed,
    /// The newest failures, newest first.
    pub failures: Vec<Failure>,
}

/// What a page or a count read found.
pub(crate) struct Found {
    pub campaigns: Vec<Listed>,
    pub drawing: Option<Arc<Drawing>>,
    pub live: Option<Live>,
}

/// The campaigns, and the chosen revision's drawing and counts, from one
/// read of the revisions.
async fn find<S: Store>(app: &App<S>, which: &Which) -> Result<Found, StoreError> {
    let store = &*app.engine.store;
    let revisions = store.revisions(None).await?;
    let campaigns = listed(app, &revisions);
    let chosen = match &which.campaign {
        Some(name) => campaigns.iter().find(|l| &l.name == name),
        None => campaigns.first(),
    };
    let newest = chosen.and_then(|chosen| chosen.newest);
    let stored = chosen.and_then(|chosen| {
        let n = which
            .revision
            .or(chosen.newest)
            .or(chosen.revisions.last().copied())?;
        revisions
            .into_iter()
            .find(|r| r.campaign == chosen.name && r.revision == n)
    });
    let Some((stored, drawing)) = stored.and_then(|stored| {
        let drawing = app.map.drawing(&stored)?;
        Some((stored, drawing))
    }) else {
        return Ok(Found {
            campaigns,
            drawing: None,
            live: None,
        });
    };
    let counts = app
        .map
        .counts(store, &stored.campaign, stored.revision)
        .await?;
    let placed = drawing.place(&counts);
    let failures = counts
        .failures
        .iter()
        .map(|f| {
            let node = f.step.as_deref().and_then(|s| drawing.node_of_place(s));
            Failure {
                contact: f.contact.clone(),
                step: f.step.clone(),
                node: node.map(|n| n.id.clone()),
                label: node
                    .and_then(|n| n.label.lines().next())
                    .map(str::to_string),
                line: node.map(|n| n.span.line),
                code: f.code.clone(),
                summary: f.code.as_deref().and_then(codes::lookup).map(|k| k.summary),
                at_ms: f.at_ms,
            }
        })
        .collect();
    let live = Live {
        newest: newest == Some(stored.revision),
        campaign: stored.campaign,
        revision: stored.revision,
        too_large: drawing.too_large,
        placed,
        failures,
    };
    Ok(Found {
        campaigns,
        drawing: Some(drawing),
        live: Some(live),
    })
}

/// `GET /`: the page, or the sign-in form.
pub async fn page<S: Store>(
    State(app): State<Arc<App<S>>>,
    Query(which): Query<Which>,
    headers: HeaderMap,
) -> Response {
    match app.map.access(&headers) {
        Access::Allowed => {}
        Access::Denied => return html(StatusCode::UNAUTHORIZED, page::sign_in(None)),
        Access::Off => return html(StatusCode::NOT_FOUND, page::off(OFF)),
    }
    match find(&app, &which).await {
        Ok(found) => html(StatusCode::OK, page::map(&found, &which)),
        Err(e) => {
            tracing::warn!(error = %e, "the live map could not read the database");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                page::off("the database is unavailable; try again shortly"),
            )
        }
    }
}

/// `GET /v1/map`: the campaigns and their revisions.
pub async fn campaigns<S: Store>(State(app): State<Arc<App<S>>>, headers: HeaderMap) -> Response {
    if let Some(r) = denied_json(&app, &headers) {
        return r;
    }
    match app.engine.store.revisions(None).await {
        Ok(revisions) => {
            let list = listed(&app, &revisions);
            guarded(Json(serde_json::json!({ "campaigns": list })).into_response())
        }
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// `GET /v1/map/counts?campaign=NAME&revision=N`: one revision's counts.
pub async fn counts<S: Store>(
    State(app): State<Arc<App<S>>>,
    Query(which): Query<Which>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = denied_json(&app, &headers) {
        return r;
    }
    match find(&app, &which).await {
        Ok(Found {
            live: Some(live), ..
        }) => guarded(Json(live).into_response()),
        Ok(_) => json_error(StatusCode::NOT_FOUND, "no such campaign or revision"),
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// `GET /v1/map/contacts/{id}`: one contact, asked for by id: the only
/// place the map shows field values and failure messages.
pub async fn contact<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = denied_json(&app, &headers) {
        return r;
    }
    guarded(super::http::contact_response(&app, &id).await)
}

/// `POST /map/sign-in` (a form with `token`): sets the session cookie.
pub async fn sign_in<S: Store>(State(app): State<Arc<App<S>>>, body: Bytes) -> Response {
    if app.map.tokens.is_empty() {
        return html(StatusCode::NOT_FOUND, page::off(OFF));
    }
    let token = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let Some(i) = app
        .map
        .tokens
        .iter()
        .position(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
    else {
        return html(
            StatusCode::UNAUTHORIZED,
            page::sign_in(Some("That token does not open the map.")),
        );
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        app.map.sessions[i]
    );
    guarded(
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (header::SET_COOKIE, cookie),
            ],
        )
            .into_response(),
    )
}

/// `POST /map/sign-out`: forgets the session cookie.
pub async fn sign_out() -> Response {
    guarded(
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (
                    header::SET_COOKIE,
                    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
                ),
            ],
        )
            .into_response(),
    )
}

/// `GET /map/map.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /map/map.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    guarded(
        (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
    )
}
