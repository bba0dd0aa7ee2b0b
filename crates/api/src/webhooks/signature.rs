//! Standard Webhooks 1.0 signing: secrets (`whsec_` + base64 of random bytes) and the
//! `webhook-signature` value `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with
//! the base64-decoded part of the secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix every signing secret carries.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A fresh signing secret.
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The key a secret signs with: the base64 after `whsec_`. `None` for a malformed secret.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

/// The `webhook-signature` header value of a message, or `None` for a malformed secret.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = key_of(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published with the Standard Webhooks specification's reference libraries.
    #[test]
    fn the_specification_test_vector_verifies() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn any_change_to_id_timestamp_or_body_changes_the_signature() {
        let secret = generate_secret().expect("random");
        let base = sign(&secret, "msg_1", 100, "{}").expect("signs");
        assert_ne!(sign(&secret, "msg_2", 100, "{}").expect("signs"), base);
        assert_ne!(sign(&secret, "msg_1", 101, "{}").expect("signs"), base);
        assert_ne!(sign(&secret, "msg_1", 100, "{ }").expect("signs"), base);
    }

    #[test]
    fn secrets_are_prefixed_base64_of_32_random_bytes() {
        let a = generate_secret().expect("random");
        let b = generate_secret().expect("random");
        assert_ne!(a, b);
        let key = key_of(&a).expect("base64");
        assert_eq!(key.len(), SECRET_BYTES);
        assert!(a.starts_with(SECRET_PREFIX));
        assert!(sign("whsec_not base64!", "m", 1, "").is_none());
    }
}
