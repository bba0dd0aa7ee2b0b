//! Who is writing: until shiplog issues its own tokens (the identity issue), a write names its
//! user in `Authorization: Bearer <name>`, and a write without one is refused with 401 as
//! Balrog refuses anonymous writes. Reads are public. The user is recorded as `changed_by` in
//! the history and as the user of releases created through this face.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};

use super::error::BalrogError;

/// The user a write is made by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The user named by a bearer credential: one non-empty word after the `Bearer` scheme
    /// (case-insensitive, as RFC 7235 has it).
    pub fn from_header(value: &str) -> Option<Actor> {
        let (scheme, credential) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let user = credential.trim();
        (!user.is_empty() && !user.contains(char::is_whitespace)).then(|| Actor(user.to_owned()))
    }
}

impl FromRequest for Actor {
    type Error = BalrogError;
    type Future = Ready<Result<Actor, BalrogError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let actor = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(Actor::from_header);
        ready(actor.ok_or_else(BalrogError::login_required))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_names_the_user() {
        assert_eq!(
            Actor::from_header("Bearer alice"),
            Some(Actor("alice".into()))
        );
        assert_eq!(
            Actor::from_header("bearer  ffxbld "),
            Some(Actor("ffxbld".into()))
        );
        for bad in [
            "",
            "Bearer",
            "Bearer ",
            "Basic YWxpY2U6eA==",
            "Bearer a b",
            "alice",
        ] {
            assert_eq!(Actor::from_header(bad), None, "{bad:?}");
        }
    }
}
