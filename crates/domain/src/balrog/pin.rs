//! Update pins (`?pin=` on an update URL) and the pinnable releases behind them.
//!
//! An administrator can hold an installation at a major (`"120."`) or minor (`"120.15."`)
//! version. When the release a rule serves is newer than the client's pin, the pin is looked up
//! for the query's product and base channel (`release-cck-x` uses `release`'s pins); when a
//! pinnable release is registered for it, that release is served instead — if it agrees to
//! serve the client. A pin with no registered release fails open: the client gets the newer
//! release, because a silently stuck installation is worse than an unexpected update (Balrog's
//! reasoning, kept here).

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::version::Version;
use crate::error::{DomainError, DomainResult};

/// A pin: a major version or a major and minor version, written with a trailing dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinVersion {
    major: u64,
    minor: Option<u64>,
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl PinVersion {
    /// Reads `"X."` or `"X.Y."` (digits only). Anything else — `"120"`, `"120.1.2"`,
    /// `"120.x."` — is no pin Balrog would ever look up, so it is refused.
    pub fn parse(text: &str) -> DomainResult<PinVersion> {
        let invalid = || {
            DomainError::field(
                "version",
                format!("'{text}' is not a pin version: it must be 'X.' or 'X.Y.'"),
            )
        };
        let body = text.strip_suffix('.').ok_or_else(invalid)?;
        let mut parts = body.split('.');
        let major = parts.next().and_then(number).ok_or_else(invalid)?;
        let minor = match parts.next() {
            None => None,
            Some(part) => Some(number(part).ok_or_else(invalid)?),
        };
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(PinVersion { major, minor })
    }

    /// How the pin compares with a version: only the parts the pin names count, so `"66."`
    /// equals `66.0` and `66.9.1`, and is below `67.0`.
    pub fn cmp_version(&self, version: &Version) -> Ordering {
        let [major, minor, _] = version.numbers();
        match self.minor {
            None => self.major.cmp(&major),
            Some(own) => (self.major, own).cmp(&(major, minor)),
        }
    }

    /// Whether `version` is past the pin (a release the pin holds the client back from).
    pub fn is_exceeded_by(&self, version: &Version) -> bool {
        self.cmp_version(version) == Ordering::Less
    }
}

/// The canonical text (`"66."`, `"66.1."`): what pinnable releases are stored and looked up by.
impl fmt::Display for PinVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.minor {
            None => write!(f, "{}.", self.major),
            Some(minor) => write!(f, "{}.{}.", self.major, minor),
        }
    }
}

/// A pinnable release: clients of `product` on `channel` pinned at `version` are served
/// `mapping` when the release a rule maps them to is past the pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnableRelease {
    /// The product whose clients the pin holds.
    pub product: String,
    /// The (base) channel the pin applies on.
    pub channel: String,
    /// The pin in canonical form (`"66."`).
    pub version: String,
    /// The release's name.
    pub mapping: String,
    /// Bumped by every change of the entry (optimistic locking, history).
    pub data_version: i64,
}

impl PinnableRelease {
    /// The history key: `product/channel/version`.
    pub fn key(&self) -> String {
        pin_key(&self.product, &self.channel, &self.version)
    }
}

/// A release blob's own application version, as Balrog reads it to compare two releases for
/// one pin (its top-level `appVersion`; `extv` in schema 1 blobs). `None` when it has none or
/// it does not parse.
pub fn blob_app_version(blob: &Value) -> Option<Version> {
    let schema = blob.get("schema_version").and_then(Value::as_i64);
    let key = if schema == Some(1) {
        "extv"
    } else {
        "appVersion"
    };
    Version::parse(blob.get(key)?.as_str()?).ok()
}

/// The history key of the pin `version` of `product` on `channel`.
pub fn pin_key(product: &str, channel: &str, version: &str) -> String {
    format!("{product}/{channel}/{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn pins_are_a_major_or_a_major_and_minor_with_a_trailing_dot() {
        assert_eq!(
            PinVersion::parse("66.").map(|p| p.to_string()),
            Ok("66.".into())
        );
        assert_eq!(
            PinVersion::parse("66.1.").map(|p| p.to_string()),
            Ok("66.1.".into())
        );
        assert_eq!(
            PinVersion::parse("066.01.").map(|p| p.to_string()),
            Ok("66.1.".into())
        );
        for bad in [
            "", ".", "66", "66.1", "66.1.2.", "66.x.", "x.", "66..", "-1.", " 66.",
        ] {
            assert!(PinVersion::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_blob_states_its_version_at_the_top() {
        let blob = serde_json::json!({"schema_version": 4, "appVersion": "66.0.1"});
        assert_eq!(blob_app_version(&blob), Some(v("66.0.1")));
        let old = serde_json::json!({"schema_version": 1, "extv": "3.6", "appv": "x"});
        assert_eq!(blob_app_version(&old), Some(v("3.6")));
        assert_eq!(
            blob_app_version(&serde_json::json!({"schema_version": 4})),
            None
        );
    }

    #[test]
    fn only_the_parts_a_pin_names_are_compared() {
        let major = PinVersion::parse("66.").unwrap_or_else(|e| panic!("{e}"));
        assert!(!major.is_exceeded_by(&v("66.0")));
        assert!(!major.is_exceeded_by(&v("66.9.1")));
        assert!(!major.is_exceeded_by(&v("65.0")));
        assert!(major.is_exceeded_by(&v("67.0")));
        let minor = PinVersion::parse("66.1.").unwrap_or_else(|e| panic!("{e}"));
        assert!(!minor.is_exceeded_by(&v("66.1.5")));
        assert!(!minor.is_exceeded_by(&v("66.0")));
        assert!(minor.is_exceeded_by(&v("66.2")));
        assert!(minor.is_exceeded_by(&v("67.0")));
    }
}
