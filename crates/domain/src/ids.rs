//! Typed ids: a release id can never be passed where a package id is expected.
//!
//! Ids are UUIDs, written lowercase and hyphenated; parsing accepts every form `uuid` accepts
//! (upper case, no hyphens, braces), as Orlo's `uuid.UUID()` does.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id: a time-ordered UUID (v7: 48 bits of Unix milliseconds, then 74
            /// random bits). Ids made later sort later, so new rows land at the end of the
            /// indexes keyed by them instead of on a random page each: an import of a thousand
            /// releases touches a few index pages, not a thousand. Still unguessable enough for
            /// an id (not a secret), and any UUID is accepted when parsing, as before.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| DomainError::InvalidId { kind: $kind })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

typed_id!(
    /// The id of a release.
    ReleaseId,
    "Release"
);
typed_id!(
    /// The id of a package (one deployment of one package version within a release).
    PackageId,
    "Package"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_time_ordered_and_distinct() {
        let ids: Vec<ReleaseId> = (0..1000).map(|_| ReleaseId::new()).collect();
        assert!(ids.iter().all(|id| id.as_uuid().get_version_num() == 7));
        // Made later, sorted later (uuid keeps v7 ids of one process in order, also within a
        // millisecond), as text too: that is how the database's indexes compare them.
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert!(texts.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_parse_every_uuid_form_and_print_hyphenated_lowercase() {
        let canonical = "1dfb4887-295e-44db-8576-491a163c4b96";
        for form in [
            canonical,
            "1DFB4887-295E-44DB-8576-491A163C4B96",
            "1dfb4887295e44db8576491a163c4b96",
        ] {
            let id: ReleaseId = form.parse().expect("valid uuid form");
            assert_eq!(id.to_string(), canonical);
        }
    }

    #[test]
    fn malformed_ids_name_their_kind() {
        assert_eq!(
            "nope"
                .parse::<ReleaseId>()
                .expect_err("refused")
                .to_string(),
            "Release ID given is not a valid UUID"
        );
        assert_eq!(
            "".parse::<PackageId>().expect_err("refused").to_string(),
            "Package ID given is not a valid UUID"
        );
    }

    #[test]
    fn new_ids_are_distinct() {
        assert_ne!(PackageId::new(), PackageId::new());
    }
}
