//! Verifying inbound webhooks: the receiving half of what [`deliver::sign`]
//! does when sending, for `trigger webhook_received ... verify ...`.
//!
//! Pure: the caller reads the headers, the exact raw body and the clock,
//! and decides what a failure answers. Signatures are compared in constant
//! time (`hmac`'s `verify_slice`), and no error carries the secret or the
//! signature that was expected, so every error can be logged.
//!
//! [`deliver::sign`]: crate::deliver::sign

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The decoded `whsec_` key [`standard`] takes, and why a secret is not one:
/// the same decoding `sign secret(...)` uses, so a secret works both ways.
pub use crate::deliver::sign::{SignError, SigningKey};

/// Standard Webhooks: the message id header.
pub const WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks: the Unix time in seconds the sender signed at.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks: space-separated `v1,<base64>` signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// GitHub: `sha256=<hex HMAC-SHA256 of the body>`.
pub const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
/// GitHub: the delivery id, unique per delivery (and kept on redelivery).
pub const GITHUB_DELIVERY: &str = "x-github-delivery";

/// How far a Standard Webhooks timestamp may be from now, either way, in
/// seconds: a captured request cannot be replayed later than this.
pub const TOLERANCE_S: i64 = 300;

/// How long a delivery id is remembered, in seconds: a request whose id was
/// seen this recently is a replay (the server accepts it and does nothing).
pub const REPLAY_WINDOW_S: i64 = 24 * 60 * 60;

/// Why a request is not verified. The messages name headers and limits,
/// never a secret or an expected signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header verification needs is absent or empty.
    #[error("the {0} header is missing or empty")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a whole, non-negative number of seconds.
    #[error("the webhook-timestamp header is not a whole number of seconds")]
    MalformedTimestamp,
    /// `webhook-timestamp` is further in the past than [`TOLERANCE_S`].
    #[error("the webhook-timestamp is {age_s} s old, more than the {TOLERANCE_S} s allowed")]
    Stale {
        /// How old it is.
        age_s: u64,
    },
    /// `webhook-timestamp` is further in the future than [`TOLERANCE_S`].
    #[error(
        "the webhook-timestamp is {ahead_s} s in the future, more than the {TOLERANCE_S} s allowed"
    )]
    Future {
        /// How far ahead it is.
        ahead_s: u64,
    },
    /// `webhook-signature` lists no `v1,<base64>` entry.
    #[error("the webhook-signature header holds no v1 signature")]
    NoSignature,
    /// `X-Hub-Signature-256` is not `sha256=` and 64 hex digits.
    #[error("the X-Hub-Signature-256 header is not `sha256=` followed by 64 hex digits")]
    MalformedSignature,
    /// Well-formed signatures, none of which the secret made over this
    /// request.
    #[error(
        "no signature matches the request (another secret, or an altered body, id or timestamp)"
    )]
    Mismatch,
    /// A GitHub secret of no bytes, which anyone could sign with.
    #[error("the verification secret is empty")]
    EmptySecret,
}

/// Verifies a Standard Webhooks request: `timestamp` must be within
/// [`TOLERANCE_S`] of `now_unix_s` either way, and one of the `v1` entries of
/// `signatures` (the `webhook-signature` header; other versions are skipped,
/// several entries allow key rotation) must be the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under `key`, with `id` and `timestamp` exactly as
/// their headers hold them.
pub fn standard(
    key: &SigningKey,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now_unix_s: i64,
) -> Result<(), VerifyError> {
    if id.is_empty() {
        return Err(VerifyError::MissingHeader(WEBHOOK_ID));
    }
    if timestamp.is_empty() {
        return Err(VerifyError::MissingHeader(WEBHOOK_TIMESTAMP));
    }
    if signatures.trim().is_empty() {
        return Err(VerifyError::MissingHeader(WEBHOOK_SIGNATURE));
    }
    fresh(timestamp, now_unix_s)?;
    let mut mac = key.hmac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut any = false;
    for entry in signatures.split_ascii_whitespace() {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            continue;
        };
        let Ok(tag) = STANDARD.decode(encoded) else {
            continue;
        };
        if tag.is_empty() {
            continue;
        }
        any = true;
        if mac.clone().verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err(if any {
        VerifyError::Mismatch
    } else {
        VerifyError::NoSignature
    })
}

/// Whether a `webhook-timestamp` is a number of seconds within
/// [`TOLERANCE_S`] of now.
fn fresh(timestamp: &str, now_unix_s: i64) -> Result<(), VerifyError> {
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::MalformedTimestamp);
    }
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| VerifyError::MalformedTimestamp)?;
    let age = i128::from(now_unix_s) - i128::from(sent);
    let seconds = |d: i128| u64::try_from(d.unsigned_abs()).unwrap_or(u64::MAX);
    if age > i128::from(TOLERANCE_S) {
        Err(VerifyError::Stale {
            age_s: seconds(age),
        })
    } else if age < -i128::from(TOLERANCE_S) {
        Err(VerifyError::Future {
            ahead_s: seconds(age),
        })
    } else {
        Ok(())
    }
}

/// Verifies a GitHub request: `signature_header` (`X-Hub-Signature-256`)
/// must be `sha256=` and the hex HMAC-SHA256 of `body` under `secret`, the
/// secret's raw bytes as entered in GitHub.
pub fn github(secret: &[u8], signature_header: &str, body: &[u8]) -> Result<(), VerifyError> {
    if secret.is_empty() {
        return Err(VerifyError::EmptySecret);
    }
    let header = signature_header.trim();
    if header.is_empty() {
        return Err(VerifyError::MissingHeader(GITHUB_SIGNATURE));
    }
    let tag = header
        .strip_prefix("sha256=")
        .filter(|hex| hex.len() == 64)
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(VerifyError::MalformedSignature)?;
    // HMAC takes keys of any length, so this error cannot happen.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| VerifyError::EmptySecret)?;
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The Standard Webhooks reference libraries' known answer.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: &str = "1614265330";
    const NOW: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // GitHub's documented example.
    const GITHUB_SECRET: &[u8] = b"It's a Secret to Everybody";
    const GITHUB_BODY: &[u8] = b"Hello, World!";
    const GITHUB_HEADER: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn key() -> SigningKey {
        SigningKey::new(SECRET).expect("valid secret")
    }

    #[test]
    fn standard_known_answer() {
        assert_eq!(
            standard(&key(), ID, TIMESTAMP, SIGNATURE, BODY, NOW),
            Ok(())
        );
    }

    #[test]
    fn standard_takes_any_matching_v1_entry_and_skips_other_versions() {
        let rotated = format!("v1,Zm9v v2,{} v1a,xyz junk {SIGNATURE}", &SIGNATURE[3..]);
        assert_eq!(standard(&key(), ID, TIMESTAMP, &rotated, BODY, NOW), Ok(()));
        let other_version = SIGNATURE.replacen("v1,", "v2,", 1);
        assert_eq!(
            standard(&key(), ID, TIMESTAMP, &other_version, BODY, NOW),
            Err(VerifyError::NoSignature)
        );
        for junk in ["v1", "v1,!!!", ",", "v1,", "nope"] {
            assert_eq!(
                standard(&key(), ID, TIMESTAMP, junk, BODY, NOW),
                Err(VerifyError::NoSignature),
                "{junk:?}"
            );
        }
        // Well-formed but wrong, and truncated: a mismatch, not a pass.
        for wrong in ["v1,Zm9v", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJE"] {
            assert_eq!(
                standard(&key(), ID, TIMESTAMP, wrong, BODY, NOW),
                Err(VerifyError::Mismatch),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn standard_window_is_five_minutes_either_way() {
        let check = |now| standard(&key(), ID, TIMESTAMP, SIGNATURE, BODY, now);
        assert_eq!(check(NOW + 300), Ok(()));
        assert_eq!(check(NOW - 300), Ok(()));
        assert_eq!(check(NOW + 301), Err(VerifyError::Stale { age_s: 301 }));
        assert_eq!(check(NOW - 301), Err(VerifyError::Future { ahead_s: 301 }));
        assert_eq!(
            check(i64::MIN),
            Err(VerifyError::Future {
                ahead_s: (NOW as u64) + (i64::MIN.unsigned_abs())
            })
        );
        assert!(matches!(check(i64::MAX), Err(VerifyError::Stale { .. })));
    }

    #[test]
    fn standard_refuses_malformed_timestamps_and_missing_headers() {
        for ts in [
            "-1614265330",
            "+1614265330",
            " 1614265330",
            "1614265330.0",
            "1e9",
            "99999999999999999999",
        ] {
            assert_eq!(
                standard(&key(), ID, ts, SIGNATURE, BODY, NOW),
                Err(VerifyError::MalformedTimestamp),
                "{ts:?}"
            );
        }
        let missing = |id, ts, sig| standard(&key(), id, ts, sig, BODY, NOW);
        assert_eq!(
            missing("", TIMESTAMP, SIGNATURE),
            Err(VerifyError::MissingHeader(WEBHOOK_ID))
        );
        assert_eq!(
            missing(ID, "", SIGNATURE),
            Err(VerifyError::MissingHeader(WEBHOOK_TIMESTAMP))
        );
        assert_eq!(
            missing(ID, TIMESTAMP, " "),
            Err(VerifyError::MissingHeader(WEBHOOK_SIGNATURE))
        );
    }

    /// The timestamp is signed as its header holds it: a leading zero makes
    /// another message, which the sender's signature does not cover.
    #[test]
    fn standard_signs_the_timestamp_as_written() {
        let padded = format!("0{TIMESTAMP}");
        assert_eq!(
            standard(&key(), ID, &padded, SIGNATURE, BODY, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn github_known_answer() {
        assert_eq!(github(GITHUB_SECRET, GITHUB_HEADER, GITHUB_BODY), Ok(()));
        let upper = format!("sha256={}", GITHUB_HEADER[7..].to_ascii_uppercase());
        assert_eq!(github(GITHUB_SECRET, &upper, GITHUB_BODY), Ok(()));
    }

    #[test]
    fn github_refuses_malformed_wrong_and_empty() {
        for bad in [
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=757107ea",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1700",
        ] {
            assert_eq!(
                github(GITHUB_SECRET, bad, GITHUB_BODY),
                Err(VerifyError::MalformedSignature),
                "{bad:?}"
            );
        }
        assert_eq!(
            github(GITHUB_SECRET, GITHUB_HEADER, b"Hello, World?"),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            github(b"another", GITHUB_HEADER, GITHUB_BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            github(b"", GITHUB_HEADER, GITHUB_BODY),
            Err(VerifyError::EmptySecret)
        );
        assert_eq!(
            github(GITHUB_SECRET, "", GITHUB_BODY),
            Err(VerifyError::MissingHeader(GITHUB_SIGNATURE))
        );
    }

    /// No error message can carry a secret or a signature: they hold
    /// only fixed text and numbers.
    #[test]
    fn messages_hold_no_secret_or_signature() {
        let results = [
            standard(&key(), ID, TIMESTAMP, "v1,Zm9v", BODY, NOW),
            standard(&key(), ID, TIMESTAMP, SIGNATURE, b"x", NOW),
            github(GITHUB_SECRET, GITHUB_HEADER, b"x"),
        ];
        let expected_github = GITHUB_HEADER.trim_start_matches("sha256=");
        for err in results.into_iter().filter_map(Result::err) {
            let message = err.to_string();
            for secret in [
                &SECRET[6..],
                "It's a Secret",
                &SIGNATURE[3..],
                expected_github,
            ] {
                assert!(!message.contains(secret), "{message}");
            }
        }
    }

    fn github_header(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    proptest! {
        /// A request signed with the key verifies; changing any one byte
        /// of its body, id or timestamp makes it fail.
        #[test]
        fn standard_signed_requests_verify_and_any_change_fails(
            key_bytes in proptest::collection::vec(any::<u8>(), 1..64),
            id in "[A-Za-z0-9_-]{1,40}",
            sent in 0i64..4_000_000_000,
            skew in -TOLERANCE_S..=TOLERANCE_S,
            body in proptest::collection::vec(any::<u8>(), 0..256),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let key = SigningKey::new(&STANDARD.encode(&key_bytes)).unwrap();
            let ts = sent.to_string();
            let now = sent + skew;
            let signature = key.sign(&id, sent, &body);
            prop_assert_eq!(standard(&key, &id, &ts, &signature, &body, now), Ok(()));

            if !body.is_empty() {
                let mut changed = body.clone();
                changed[at.index(body.len())] ^= flip;
                prop_assert_eq!(
                    standard(&key, &id, &ts, &signature, &changed, now),
                    Err(VerifyError::Mismatch)
                );
            }
            let mut changed = id.clone().into_bytes();
            let i = at.index(changed.len());
            changed[i] = if changed[i] == b'x' { b'y' } else { b'x' };
            let changed = String::from_utf8(changed).unwrap();
            prop_assert_eq!(
                standard(&key, &changed, &ts, &signature, &body, now),
                Err(VerifyError::Mismatch)
            );
            let mut changed = ts.clone().into_bytes();
            let i = at.index(changed.len());
            changed[i] = if changed[i] == b'9' { b'8' } else { changed[i] + 1 };
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(standard(&key, &id, &changed, &signature, &body, now).is_err());
        }

        /// During rotation the header lists old and new signatures: one
        /// good entry among wrong ones passes, none fails.
        #[test]
        fn standard_rotation_needs_one_good_entry(
            wrong in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 32), 0..4),
            place in any::<prop::sample::Index>(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let key = key();
            let good = key.sign(ID, NOW, &body);
            let mut entries: Vec<String> =
                wrong.iter().map(|tag| format!("v1,{}", STANDARD.encode(tag))).collect();
            let header_without = entries.join(" ");
            entries.insert(place.index(entries.len() + 1), good);
            prop_assert_eq!(standard(&key, ID, TIMESTAMP, &entries.join(" "), &body, NOW), Ok(()));
            if !wrong.is_empty() {
                prop_assert_eq!(
                    standard(&key, ID, TIMESTAMP, &header_without, &body, NOW),
                    Err(VerifyError::Mismatch)
                );
            }
        }

        /// A GitHub signature of the body verifies; any one changed byte of
        /// the body fails.
        #[test]
        fn github_signed_bodies_verify_and_any_change_fails(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 1..256),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let header = github_header(&secret, &body);
            prop_assert_eq!(github(&secret, &header, &body), Ok(()));
            let mut changed = body.clone();
            changed[at.index(body.len())] ^= flip;
            prop_assert_eq!(github(&secret, &header, &changed), Err(VerifyError::Mismatch));
        }
    }
}

/// Whether `a` equals `b`, in time that depends on their lengths only, not
/// on where they first differ: for bearer tokens.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod constant_time_tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_every_byte_is() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"toke"));
        assert!(constant_time_eq(b"", b""));
    }
}
