//! One webhook's delivery: its attempts with retries, backoff, rate limits
//! and the 410 rule, what each attempt records, and what a reply yields
//! (captures, an unreadable body).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::http::{self, Outgoing, Reply};
use super::journal::{Attempt, Entry};
use super::retry::{self, Verdict};
use super::secrets::Redactor;
use super::{codes, locked, settle, unix_ms, AttemptLog, Ctx, MAX_RETRY_DELAY};
use crate::compile::instructions::{Program, WebhookInfo};
use crate::request::{self, Signature};
use crate::vm::Request;

/// Why a webhook was not delivered.
pub(super) enum SendError {
    /// It failed: the code and the reason, without the webhook's name.
    Failed { code: &'static str, reason: String },
    /// The run is stopping.
    Interrupted,
}

/// The endpoint a 410 kills: the URL without its query.
pub(super) fn endpoint(url: &str) -> &str {
    &url[..url.find(['?', '#']).unwrap_or(url.len())]
}

/// Sends one webhook with its retries.
pub(super) async fn send(
    ctx: &Ctx<'_>,
    info: &WebhookInfo,
    request: &Request,
    key: &str,
    contact: &str,
    log: &mut Vec<AttemptLog>,
) -> Result<Reply, SendError> {
    let webhook = request.webhook;
    let endpoint = endpoint(&request.url);
    let signing_key = ctx
        .signing_keys
        .get(webhook as usize)
        .and_then(Option::as_ref);
    let attempts = info.retry + 1;
    let mut last = String::new();
    for attempt in 1..=attempts {
        if locked(&ctx.dead).contains(endpoint) {
            return Err(SendError::Failed {
                code: codes::GONE,
                reason: format!("{endpoint} answered 410 Gone earlier in this run; not sent"),
            });
        }
        if let Some(l) = &ctx.limiter {
            l.acquire().await;
        }
        if let Some(Some(l)) = ctx.step_limiters.get(webhook as usize) {
            l.acquire().await;
        }
        let signature = signing_key.map(|k| {
            let ts = unix_ms().div_euclid(1000);
            Signature::new(ts, k.sign(key, ts, request.body.as_bytes()))
        });
        let started_ms = unix_ms();
        let parsed = match (&info.url_shape, ctx.fixed_urls.get(webhook as usize)) {
            (None, Some(fixed)) => fixed
                .get_or_init(|| http::ParsedUrl::parse(&request.url))
                .as_ref(),
            _ => None,
        };
        let reply = ctx
            .http
            .send(&Outgoing {
                request: &request::build(info, request, key, signature.as_ref()),
                timeout: Duration::from_millis(info.timeout_ms),
                shape: info.url_shape.as_ref(),
                capture_headers: &ctx.capture_headers[webhook as usize],
                parsed,
            })
            .await;
        let verdict = match (reply.status, &reply.failure) {
            (Some(status), _) => retry::classify(status),
            (None, Some(f)) if f.kind.is_transient() => Verdict::Retry,
            (None, _) => Verdict::Fail,
        };
        let error = match (&reply.failure, reply.status, &verdict) {
            (Some(f), _, _) => Some(ctx.redactor.redact(&f.message).into_owned()),
            (None, Some(s), v) if !matches!(v, Verdict::Success) => {
                Some(status_error(&ctx.redactor, s, &reply.body, reply.truncated))
            }
            _ => None,
        };
        let micros = reply.elapsed.as_micros() as u64;
        record_attempt(ctx, info, webhook, attempt, &reply, &verdict);
        let recorded = ctx.journal.as_ref().map(|j| {
            j.record(Entry::Attempt(Attempt {
                contact: contact.to_string(),
                webhook,
                step: info.name.clone(),
                attempt,
                key: key.to_string(),
                status: reply.status,
                error: error.clone(),
                started_ms,
                duration_us: micros,
            }))
        });
        if ctx.log_attempts {
            log.push(AttemptLog {
                step: info.name.clone(),
                attempt,
                status: reply.status,
                ms: micros as f64 / 1000.0,
                error: error.clone(),
            });
        }
        match verdict {
            Verdict::Success => return Ok(reply),
            Verdict::Gone => {
                locked(&ctx.dead).insert(endpoint.to_string());
                return Err(SendError::Failed {
                    code: codes::GONE,
                    reason: format!("410 Gone: {endpoint} is marked dead for the rest of this run"),
                });
            }
            Verdict::Fail => {
                return Err(SendError::Failed {
                    code: if reply.status.is_some() {
                        codes::STATUS
                    } else {
                        codes::SEND
                    },
                    reason: error.unwrap_or_default(),
                })
            }
            Verdict::Retry => {
                last = error.unwrap_or_default();
                if attempt == attempts {
                    break;
                }
                // What happened is on disk before the pause, as before any.
                if !settle(ctx, recorded).await {
                    return Err(SendError::Interrupted);
                }
                let delay = reply
                    .retry_after
                    .unwrap_or_else(|| {
                        retry::backoff(attempt, Duration::from_millis(info.backoff_ms))
                    })
                    .min(MAX_RETRY_DELAY);
                let deadline = tokio::time::Instant::now() + delay;
                while tokio::time::Instant::now() < deadline {
                    if ctx.stopping.load(Ordering::Relaxed) {
                        return Err(SendError::Interrupted);
                    }
                    tokio::time::sleep_until(
                        deadline.min(tokio::time::Instant::now() + Duration::from_millis(100)),
                    )
                    .await;
                }
            }
        }
    }
    let tries = if attempts == 1 {
        "1 attempt".to_string()
    } else {
        format!("{attempts} attempts")
    };
    Err(SendError::Failed {
        code: codes::GAVE_UP,
        reason: format!("gave up after {tries}: {last}"),
    })
}

/// How much of a response body an error message quotes, in characters.
const SNIPPET_CHARS: usize = 200;

/// The error recorded for a response that is not a 2xx: status, reason and
/// the start of the body. Secrets are redacted from the whole body before it
/// is cut to [`SNIPPET_CHARS`], never after: cutting first would leave the
/// head of a secret that straddles the cut, which no longer matches. A body
/// that was itself cut (`truncated`: the 64 KiB cap, or a read that failed
/// part-way) may end in the head of a secret, so its tail is masked too.
pub(super) fn status_error(
    redactor: &Redactor,
    status: u16,
    body: &[u8],
    truncated: bool,
) -> String {
    let reason = http::reason_phrase(status);
    let body = if truncated { complete_utf8(body) } else { body };
    let text = String::from_utf8_lossy(body);
    let text = if truncated {
        redactor.redact_cut(&text)
    } else {
        redactor.redact(&text)
    };
    let snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    let snippet = snippet.trim();
    let message = if snippet.is_empty() {
        format!("HTTP {status} {reason}")
    } else {
        format!("HTTP {status} {reason}: {snippet}")
    };
    // Joining can make a new match across the prefix and the snippet.
    redactor.redact(&message).into_owned()
}

/// `bytes` without a UTF-8 sequence cut short at its end, so that the head
/// of a cut non-ASCII secret is text (which can be matched), not U+FFFD.
pub(super) fn complete_utf8(bytes: &[u8]) -> &[u8] {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    }
}

/// Counts an attempt in the run's statistics. Every attempt's duration
/// counts, failed ones included, as in `campaign report` ([`stats`]).
pub(super) fn record_attempt(
    ctx: &Ctx<'_>,
    info: &WebhookInfo,
    webhook: u32,
    attempt: u32,
    reply: &Reply,
    verdict: &Verdict,
) {
    if !ctx.keep_stats {
        return;
    }
    let mut stats = locked(&ctx.stats);
    let micros = reply.elapsed.as_micros().min(u128::from(u32::MAX)) as u32;
    stats.summary.attempts += 1;
    if attempt > 1 {
        stats.summary.retries += 1;
    }
    stats.micros.push(micros);
    let ok = matches!(verdict, Verdict::Success);
    if ok {
        stats.summary.requests_ok += 1;
    }
    let step = &mut stats.steps[webhook as usize];
    step.attempts += 1;
    if !ok {
        step.failures += 1;
    }
    step.micros.push(micros);
    let gives_up = match verdict {
        Verdict::Success => false,
        Verdict::Retry => attempt > info.retry,
        Verdict::Fail | Verdict::Gone => true,
    };
    if gives_up {
        stats.summary.requests_failed += 1;
    }
}

/// Why a 2xx's body cannot serve the webhook's `capture ... = json`, if it
/// did not arrive whole: cut by the timeout or the connection, or longer
/// than [`http::BODY_CAP`]. The request itself counts as delivered (the
/// receiver accepted it, so sending it again would duplicate it), but the
/// step fails, since later steps would run without the captured values.
/// Header captures, which came with the status, still apply.
pub(super) fn body_unreadable(info: &WebhookInfo, reply: &Reply) -> Option<String> {
    if !reply.truncated || !info.captures.iter().any(|c| c.from_json) {
        return None;
    }
    let status = reply.status.unwrap_or(0);
    let why = match &reply.failure {
        Some(failure) => format!(
            "its response body did not arrive whole ({})",
            failure.message
        ),
        None => format!(
            "its response body is longer than {} KiB",
            http::BODY_CAP / 1024
        ),
    };
    Some(format!(
        "HTTP {status} accepted the request, but {why}, so `capture ... = json` could not read it; not sent again, since the receiver has it"
    ))
}

/// Values captured from a response: `(field name, value)`.
pub(super) fn capture(
    info: &WebhookInfo,
    program: &Program,
    reply: &Reply,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if info.captures.is_empty() {
        return out;
    }
    // A body that did not arrive whole is never parsed: a cut one could
    // still be valid JSON (`12` of `123`) with the wrong values.
    let json: Option<serde_json::Value> = if reply.truncated {
        None
    } else {
        serde_json::from_slice(&reply.body).ok()
    };
    for c in &info.captures {
        let value = if c.from_json {
            json.as_ref()
                .and_then(|j| j.pointer(&c.path))
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                })
        } else {
            reply.header(&c.path).map(str::to_string)
        };
        if let Some(value) = value {
            out.push((program.fields[c.field as usize].clone(), value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::secrets;
    use proptest::prelude::*;

    /// Characters of the text around a secret in the tests: none of them
    /// occurs in any form of a secret drawn from [`SECRET`] (raw,
    /// form/percent-encoded, JSON-escaped, base64), so every other
    /// character in a recorded error came from the secret.
    const FILLER: &str = " #$^|<>{};,";
    /// Secrets: letters, digits, URL-special and non-ASCII characters.
    const SECRET: &str = "[A-Za-z0-9/+=&?@_.é🔑-]{4,40}";
    const PREFIX: &str = "HTTP 500 Internal Server Error";

    fn filler(len: usize, seed: u64) -> String {
        let chars: Vec<char> = FILLER.chars().collect();
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..len).map(|_| chars[rng.usize(..chars.len())]).collect()
    }

    /// What of `text` could have come from the secret: everything after
    /// the status line that is neither filler nor the mask.
    fn leftover(text: &str) -> String {
        text.strip_prefix(PREFIX)
            .unwrap_or_else(|| panic!("{text:?} does not start with the status"))
            .chars()
            .filter(|&c| !FILLER.contains(c) && c != '*' && c != ':')
            .collect()
    }

    proptest! {
        /// A secret (in any form the redactor knows) anywhere around the
        /// 200-character cut of an error body leaves nothing of itself in
        /// the recorded error: not a substring of 4 characters, not one.
        /// One is the right bound, because redaction happens before the
        /// cut, so no part of a whole secret can survive it.
        #[test]
        fn no_part_of_a_secret_survives_the_snippet_cut(
            secret in SECRET,
            which in 0usize..32,
            before in (SNIPPET_CHARS - 60)..(SNIPPET_CHARS + 10),
            after in 0usize..80,
            seed in any::<u64>(),
        ) {
            let forms = secrets::forms(&secret);
            let form = &forms[which % forms.len()];
            let body = format!("{}{form}{}", filler(before, seed), filler(after, !seed));
            let redactor = Redactor::new(std::slice::from_ref(&secret));
            let text = status_error(&redactor, 500, body.as_bytes(), false);
            prop_assert_eq!(leftover(&text), "", "{:?} in {:?}", form, text);
        }

        /// The same when the body itself was cut (the 64 KiB cap, a read
        /// that failed) at any byte, through a secret or not: the head of a
        /// secret at the end of the cut body does not survive either.
        #[test]
        fn no_part_of_a_secret_survives_a_cut_body(
            secret in SECRET,
            which in 0usize..32,
            before in 0usize..(SNIPPET_CHARS + 10),
            cut in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let forms = secrets::forms(&secret);
            let form = &forms[which % forms.len()];
            let body = format!("{}{form}{}", filler(before, seed), filler(20, !seed));
            let cut = cut.index(body.len() + 1);
            let redactor = Redactor::new(std::slice::from_ref(&secret));
            let text = status_error(&redactor, 500, &body.as_bytes()[..cut], true);
            prop_assert_eq!(leftover(&text), "", "{:?} cut at {} in {:?}", form, cut, text);
        }
    }

    #[test]
    fn the_snippet_keeps_text_that_is_no_secret() {
        let redactor = Redactor::new(&["sk_live_123456".to_string()]);
        let body = format!("{}sk_live_123456 tail", "x".repeat(190));
        let text = status_error(&redactor, 500, body.as_bytes(), false);
        assert_eq!(text, format!("{PREFIX}: {}*** tail", "x".repeat(190)));
        // The head of the secret at the end of a cut body is masked.
        let cut = &body.as_bytes()[..196];
        let text = status_error(&redactor, 500, cut, true);
        assert_eq!(text, format!("{PREFIX}: {}***", "x".repeat(190)));
        // A cut non-ASCII character is dropped, not shown as U+FFFD.
        assert_eq!(complete_utf8("aé".as_bytes()[..2].as_ref()), b"a");
        assert_eq!(complete_utf8(b"a\xffb"), b"a\xffb");
    }
}
