//! Standard Webhooks request signing.
//!
//! A signed request carries `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
//! keyed with the base64-decoded part of a `whsec_...` secret. Receivers built
//! on any Standard Webhooks library (Svix's included) can verify it.
//!
//! The key is decoded once into a [`SigningKey`] so a run can reject a bad
//! secret before anything is sent and then sign every request without a
//! fallible step; [`sign`] and [`verify`] are one-shot conveniences.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix Standard Webhooks puts on secrets; optional on input.
const SECRET_PREFIX: &str = "whsec_";

/// The signature version tag this module writes and accepts.
const VERSION: &str = "v1";

/// Standard base64 that accepts the secret with or without `=` padding, so a
/// secret copied without its trailing `=` still works.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a signing secret could not be used. The messages never contain the
/// secret (not even a fragment of it), because they end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The secret (after an optional `whsec_` prefix) is not standard base64.
    #[error("the signing secret is not valid base64 (expected `whsec_` followed by base64)")]
    NotBase64,
    /// The secret decodes to no bytes; an empty HMAC key signs nothing useful.
    #[error("the signing secret is empty (expected `whsec_` followed by base64)")]
    Empty,
}

/// A decoded Standard Webhooks key, kept so a run decodes (and validates) the
/// secret once up front instead of on every request.
///
/// `Debug` does not show the key bytes, so a key can sit inside structs that
/// are debug-printed without leaking it.
#[derive(Clone)]
pub struct SigningKey {
    /// HMAC state with the key already absorbed; cloned for every message.
    keyed: HmacSha256,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Decodes a secret in `whsec_<base64>` form, or bare base64, so a bad
    /// secret is reported before the first request rather than on it.
    pub fn new(secret: &str) -> Result<SigningKey, SignError> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
        let key = LENIENT.decode(encoded).map_err(|_| SignError::NotBase64)?;
        if key.is_empty() {
            return Err(SignError::Empty);
        }
        // HMAC takes keys of any length, so this error cannot happen.
        let keyed = HmacSha256::new_from_slice(&key).map_err(|_| SignError::Empty)?;
        Ok(SigningKey { keyed })
    }

    /// The `webhook-signature` header value (`v1,<base64>`) for one request,
    /// so receivers can check the body, id and timestamp were not altered.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(msg_id, timestamp, body).finalize().into_bytes();
        let mut out = String::with_capacity(VERSION.len() + 1 + 44);
        out.push_str(VERSION);
        out.push(',');
        STANDARD.encode_string(tag, &mut out);
        out
    }

    /// Checks a `webhook-signature` header value against a request, for tests
    /// and for a receiver. The header may list several space-separated
    /// signatures (as during key rotation); any matching `v1` one is enough.
    /// Comparison is constant-time. The timestamp is not checked against the
    /// clock: rejecting stale or future timestamps is the receiver's policy.
    pub fn verify(&self, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let mac = self.mac(msg_id, timestamp, body);
        header.split_ascii_whitespace().any(|candidate| {
            let Some((VERSION, encoded)) = candidate.split_once(',') else {
                return false;
            };
            match STANDARD.decode(encoded) {
                Ok(tag) => mac.clone().verify_slice(&tag).is_ok(),
                Err(_) => false,
            }
        })
    }

    /// A fresh HMAC-SHA256 state keyed with this key, for a receiver that
    /// feeds the message exactly as it arrived (`crate::verify`).
    pub(crate) fn hmac(&self) -> Hmac<Sha256> {
        self.keyed.clone()
    }

    /// HMAC state fed with `{msg_id}.{timestamp}.{body}`, without building
    /// the concatenated message.
    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// Signs one request the Standard Webhooks way and returns the
/// `webhook-signature` header value (`v1,<base64 HMAC-SHA256>`). Prefer
/// [`SigningKey`] when signing many requests with one secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignError> {
    Ok(SigningKey::new(secret)?.sign(msg_id, timestamp, body))
}

/// Whether `header` (a `webhook-signature` value, possibly listing several
/// signatures) holds a valid `v1` signature of the request under `secret`.
/// A malformed secret verifies nothing. See [`SigningKey::verify`].
pub fn verify(secret: &str, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    SigningKey::new(secret).is_ok_and(|key| key.verify(msg_id, timestamp, body, header))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks specification's known answer.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: i64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn known_answer() {
        assert_eq!(sign(SECRET, ID, TIMESTAMP, BODY).as_deref(), Ok(SIGNATURE));
    }

    #[test]
    fn prefix_is_optional() {
        let bare = SECRET.trim_start_matches(SECRET_PREFIX);
        assert_eq!(sign(bare, ID, TIMESTAMP, BODY).as_deref(), Ok(SIGNATURE));
    }

    #[test]
    fn unpadded_secret_is_accepted() {
        // 24 bytes encode without padding; use a key whose encoding has some.
        let padded = "whsec_c2VjcmV0LWtleQ==";
        let unpadded = "whsec_c2VjcmV0LWtleQ";
        assert_eq!(
            sign(padded, ID, TIMESTAMP, BODY),
            sign(unpadded, ID, TIMESTAMP, BODY)
        );
        assert!(sign(padded, ID, TIMESTAMP, BODY).is_ok());
    }

    #[test]
    fn key_signs_like_the_function() {
        let key = SigningKey::new(SECRET).expect("valid secret");
        assert_eq!(key.sign(ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn bad_secrets_are_errors_without_the_secret() {
        for secret in ["whsec_not base64!", "whsec_%%%%", "abc$def"] {
            let err = sign(secret, ID, TIMESTAMP, BODY).expect_err(secret);
            assert_eq!(err, SignError::NotBase64);
            let message = err.to_string();
            let payload = secret.trim_start_matches(SECRET_PREFIX);
            assert!(!message.contains(payload), "{message}");
        }
        assert_eq!(sign("whsec_", ID, TIMESTAMP, BODY), Err(SignError::Empty));
        assert_eq!(sign("", ID, TIMESTAMP, BODY), Err(SignError::Empty));
    }

    #[test]
    fn debug_hides_the_key() {
        let key = SigningKey::new(SECRET).expect("valid secret");
        assert_eq!(format!("{key:?}"), "SigningKey(***)");
    }

    #[test]
    fn verify_accepts_the_right_signature_only() {
        assert!(verify(SECRET, ID, TIMESTAMP, BODY, SIGNATURE));
        assert!(!verify(SECRET, ID, TIMESTAMP + 1, BODY, SIGNATURE));
        assert!(!verify(SECRET, "msg_other", TIMESTAMP, BODY, SIGNATURE));
        assert!(!verify(SECRET, ID, TIMESTAMP, b"{}", SIGNATURE));
        let other = "whsec_c2VjcmV0LWtleQ==";
        assert!(!verify(other, ID, TIMESTAMP, BODY, SIGNATURE));
        assert!(!verify("whsec_%%", ID, TIMESTAMP, BODY, SIGNATURE));
    }

    #[test]
    fn verify_handles_lists_and_junk() {
        let listed = format!("v1,AAAA v2,xyz {SIGNATURE}");
        assert!(verify(SECRET, ID, TIMESTAMP, BODY, &listed));
        let wrong_version = SIGNATURE.replacen("v1,", "v2,", 1);
        assert!(!verify(SECRET, ID, TIMESTAMP, BODY, &wrong_version));
        for junk in ["", "v1,", "v1", ",", "v1,!!!", "v1,tZ1I4/hD"] {
            assert!(!verify(SECRET, ID, TIMESTAMP, BODY, junk), "{junk:?}");
        }
    }

    #[test]
    fn negative_and_large_timestamps_sign() {
        let key = SigningKey::new(SECRET).expect("valid secret");
        for ts in [i64::MIN, -1, 0, i64::MAX] {
            let sig = key.sign(ID, ts, BODY);
            assert!(key.verify(ID, ts, BODY, &sig));
        }
    }
}
