//! Who may write to `/v1`: the holder of the shared token passed as `?token=` (Bileto's "API
//! token, which only Jenkins knows"), until shiplog's own API tokens with a `ticket` permission
//! replace it. Reads need no token.
//!
//! A missing token is 401, a wrong one 403 (research/conventions.md §1.3); with no token
//! configured every write is 403, saying how to enable writes.

use actix_web::http::StatusCode;

use super::BiletoError;
use crate::state::AppState;

/// The configured token. Its `Debug` never shows it, so it cannot leak through a logged state.
#[derive(Clone)]
pub struct BiletoToken(String);

impl BiletoToken {
    /// `None` for an empty token: that would be a password anyone could guess.
    pub fn new(token: String) -> Option<Self> {
        (!token.is_empty()).then_some(BiletoToken(token))
    }

    /// Compares in time that depends on the configured token's length only, never on how much
    /// of a guess is right.
    fn matches(&self, given: &str) -> bool {
        let expected = self.0.as_bytes();
        let given = given.as_bytes();
        let mut difference = u8::from(expected.len() != given.len());
        for (i, byte) in expected.iter().enumerate() {
            difference |= byte ^ given.get(i).copied().unwrap_or(0);
        }
        std::hint::black_box(difference) == 0
    }
}

impl std::fmt::Debug for BiletoToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BiletoToken(***)")
    }
}

/// Checks the `token` of a write's query string (the first one, if repeated).
pub(crate) fn authorize(state: &AppState, query: &[(String, String)]) -> Result<(), BiletoError> {
    let given = query
        .iter()
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| {
            BiletoError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "Writes need the API token: add ?token=<token> to the URL",
            )
        })?;
    let Some(expected) = &state.bileto_token else {
        return Err(BiletoError::new(
            StatusCode::FORBIDDEN,
            "writes_disabled",
            "Writes to /v1 are disabled until the server is started with SHIPLOG_BILETO_TOKEN set",
        ));
    };
    if expected.matches(given) {
        Ok(())
    } else {
        Err(BiletoError::new(
            StatusCode::FORBIDDEN,
            "invalid_token",
            "The API token is not valid",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly() {
        let token = BiletoToken::new("s3cret".into()).expect("non-empty");
        assert!(token.matches("s3cret"));
        for wrong in ["", "s3cre", "s3cret!", "S3cret", "s3cret\0", "x3cret"] {
            assert!(!token.matches(wrong), "{wrong:?}");
        }
        assert!(BiletoToken::new(String::new()).is_none());
        assert_eq!(format!("{token:?}"), "BiletoToken(***)");
    }
}
