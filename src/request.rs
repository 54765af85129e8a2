//! The request a webhook step makes, built one way for both drivers: the
//! dry run shows it ([`crate::run`]) and a real run sends it
//! ([`crate::deliver`]). Both take the VM's merged URL, header values and
//! body, and [`build`] adds what the engine adds: the automatic
//! `Content-Type`, the `Idempotency-Key`, and for a signed webhook the
//! Standard Webhooks headers. It sits below both drivers, which are
//! stages of the same level.
//!
//! It also holds what the key derives from: run ids and the campaign
//! digest.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;

use sha2::{Digest, Sha256};

use crate::compile::instructions::WebhookInfo;
use crate::vm::Request;

/// The SHA-256 of a campaign's source, in lowercase hex: it identifies the
/// compiled campaign in a journal, and the dry run's run id derives from it.
pub fn campaign_digest(source: &str) -> String {
    hex::encode(Sha256::digest(source.as_bytes()))
}

/// A random 128-bit run id in lowercase hex, from the OS's random source, or
/// (where there is none) from a generator seeded by time, process id and the
/// standard library's per-process hash keys. A real run's idempotency keys
/// derive from it, so two runs never share a key.
pub fn new_run_id() -> String {
    let mut bytes = [0u8; 16];
    let from_os = File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
    if from_os.is_err() {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        fastrand::Rng::with_seed(hasher.finish()).fill(&mut bytes);
    }
    hex::encode(bytes)
}

/// The run id of a dry run: the first 32 hex digits of the campaign's
/// digest ([`campaign_digest`]). It is fixed by the source, so a dry run
/// shows the same keys every time; a real run has a random one of its own
/// ([`new_run_id`]), so its keys differ from the dry run's.
pub fn dry_run_id(digest: &str) -> String {
    digest.chars().take(32).collect()
}

/// Stable per run, contact and step: the same on every retry and after a
/// resume, different for every other request.
/// `"msg_" + hex(SHA-256(run id \0 contact id \0 step index))[..32]`,
/// the step index as 4 little-endian bytes.
pub fn idempotency_key(run_id: &str, contact: &str, webhook: u32) -> String {
    KeyDeriver::new(run_id)
        .key(contact, webhook)
        .as_str()
        .to_owned()
}

/// Derives one run's idempotency keys ([`idempotency_key`]). The run id and
/// its separator are hashed once, not once per request: a dry run derives
/// two million keys for a million contacts.
#[derive(Clone)]
pub struct KeyDeriver {
    /// SHA-256 after `run id \0`.
    prefix: Sha256,
}

impl KeyDeriver {
    /// The deriver of the keys of run `run_id`.
    pub fn new(run_id: &str) -> KeyDeriver {
        let mut prefix = Sha256::new();
        prefix.update(run_id.as_bytes());
        prefix.update([0]);
        KeyDeriver { prefix }
    }

    /// The key of step `webhook` for `contact`.
    pub fn key(&self, contact: &str, webhook: u32) -> IdempotencyKey {
        let mut h = self.prefix.clone();
        h.update(contact.as_bytes());
        h.update([0]);
        h.update(webhook.to_le_bytes());
        let digest = h.finalize();
        let mut key = *b"msg_00000000000000000000000000000000";
        // 16 bytes make exactly 32 digits, so this cannot fail.
        let _ = hex::encode_to_slice(&digest[..16], &mut key[4..]);
        IdempotencyKey(key)
    }
}

/// An idempotency key held in place: no allocation per request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyKey([u8; 36]);

impl IdempotencyKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        // `msg_` and hex digits: ASCII, so always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// The Standard Webhooks signature of one attempt: its timestamp (unix
/// seconds) and `webhook-signature` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    timestamp: String,
    value: Cow<'static, str>,
}

impl Signature {
    /// A signature made at `timestamp` (unix seconds).
    pub fn new(timestamp: i64, value: impl Into<Cow<'static, str>>) -> Signature {
        Signature {
            timestamp: timestamp.to_string(),
            value: value.into(),
        }
    }

    /// How a dry run shows the signature it cannot make (it has no
    /// secrets, and the real timestamp is the moment of sending).
    pub fn masked(timestamp: i64) -> Signature {
        Signature::new(timestamp, "v1,***")
    }
}

/// One request as it goes on the wire (or would): what [`build`] returns.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The merged URL.
    pub url: &'a str,
    /// The body, if the webhook has one.
    pub body: Option<&'a str>,
    info: &'a WebhookInfo,
    values: &'a [String],
    key: &'a str,
    signature: Option<&'a Signature>,
}

/// The request webhook `info` makes with the VM's merged `request`, its
/// idempotency `key` and, for a signed webhook, the attempt's `signature`.
pub fn build<'a>(
    info: &'a WebhookInfo,
    request: &'a Request,
    key: &'a str,
    signature: Option<&'a Signature>,
) -> HttpRequest<'a> {
    HttpRequest {
        method: info.method.as_str(),
        url: &request.url,
        body: info.has_body.then_some(request.body.as_str()),
        info,
        values: &request.header_values,
        key,
        signature,
    }
}

/// The headers whose value is the request's idempotency key: what differs
/// between two runs of one request, and nothing else does.
pub const KEY_HEADERS: [&str; 2] = ["Idempotency-Key", "webhook-id"];

impl<'a> HttpRequest<'a> {
    /// Calls `f` with every header, in the order sent and shown: the
    /// script's headers in script order, the automatic `Content-Type`
    /// (unless a header sets one), `Idempotency-Key`, then for a signed
    /// webhook `webhook-id` (the key again), `webhook-timestamp` and
    /// `webhook-signature`. Stops at `f`'s first error. The one definition
    /// of that order, as straight-line code: the dry run shows millions of
    /// headers, and an iterator of chained adapters cost more per header
    /// than writing it.
    pub fn try_for_each_header<E>(
        &self,
        mut f: impl FnMut(&'a str, &'a str) -> Result<(), E>,
    ) -> Result<(), E> {
        let info = self.info;
        for (name, value) in info.headers.iter().zip(self.values) {
            f(name, value)?;
        }
        if let Some(content_type) = info.content_type.as_deref() {
            f("Content-Type", content_type)?;
        }
        f(KEY_HEADERS[0], self.key)?;
        if let Some(signature) = self.signature {
            f(KEY_HEADERS[1], self.key)?;
            f("webhook-timestamp", &signature.timestamp)?;
            f("webhook-signature", &signature.value)?;
        }
        Ok(())
    }

    /// Every header, in [`HttpRequest::try_for_each_header`]'s order.
    pub fn headers(&self) -> Vec<(&'a str, &'a str)> {
        let mut headers = Vec::with_capacity(self.header_count());
        let _ = self.try_for_each_header(|name, value| {
            headers.push((name, value));
            Ok::<(), std::convert::Infallible>(())
        });
        headers
    }

    /// How many headers [`HttpRequest::headers`] yields.
    pub fn header_count(&self) -> usize {
        self.info.headers.len().min(self.values.len())
            + usize::from(self.info.content_type.is_some())
            + 1
            + if self.signature.is_some() { 3 } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_documented_and_stable() {
        let key = idempotency_key("0123456789abcdef0123456789abcdef", "c1", 2);
        let mut h = Sha256::new();
        h.update(b"0123456789abcdef0123456789abcdef\0c1\0\x02\0\0\0");
        let expected = format!("msg_{}", &hex::encode(h.finalize())[..32]);
        assert_eq!(key, expected);
        assert_ne!(
            key,
            idempotency_key("0123456789abcdef0123456789abcdef", "c1", 1)
        );
        assert_ne!(
            key,
            idempotency_key("0123456789abcdef0123456789abcdef", "c2", 2)
        );
    }

    #[test]
    fn run_ids_are_32_lowercase_hex_digits() {
        let digest = campaign_digest("campaign \"A\" { }");
        assert_eq!(digest.len(), 64);
        assert_eq!(dry_run_id(&digest), digest[..32]);
        for id in [new_run_id(), dry_run_id(&digest)] {
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
        }
        assert_ne!(new_run_id(), new_run_id());
        assert_eq!(digest, campaign_digest("campaign \"A\" { }"));
    }

    #[test]
    fn headers_in_order() {
        let source = "campaign \"A\" {\n webhook \"W\" {\n  url \"https://x.example.com\"\n  header \"X-A\" = \"1\"\n  post \"a=1\"\n  sign secret(\"S\")\n }\n}\n";
        let program = crate::compile(source, None).unwrap().program;
        let info = &program.webhooks[0];
        let request = Request {
            webhook: 0,
            url: "https://x.example.com/".into(),
            header_values: vec!["1".into()],
            body: "a=1".into(),
        };
        let signature = Signature::masked(1_800_000_000);
        let built = build(info, &request, "msg_k", Some(&signature));
        let headers = built.headers();
        assert_eq!(
            headers,
            [
                ("X-A", "1"),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Idempotency-Key", "msg_k"),
                ("webhook-id", "msg_k"),
                ("webhook-timestamp", "1800000000"),
                ("webhook-signature", "v1,***"),
            ]
        );
        assert_eq!(built.header_count(), headers.len());
        assert_eq!(built.body, Some("a=1"));
        let unsigned = build(info, &request, "msg_k", None);
        assert_eq!(unsigned.headers().len(), 3);
        assert_eq!(unsigned.header_count(), 3);
    }
}
