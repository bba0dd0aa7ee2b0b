//! Emergency shutoffs: a `(product, channel)` pair for which no update is served at all, whatever
//! the rules say: evaluation checks them first (see docs/evaluation.md). Balrog's admin API keeps them at
//! `/emergency_shutoff` with a data_version and history like rules.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::input::{self, TextKind};

/// One stored shutoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyShutoff {
    /// The product whose updates are shut off.
    pub product: String,
    /// The channel shut off; its `-cck-` partner channels are shut off with it.
    pub channel: String,
    #[serde(default)]
    /// Why, for the people who read it.
    pub comment: Option<String>,
    #[serde(default = "first_version")]
    /// Counts the shutoff's changes (optimistic locking).
    pub data_version: i64,
}

fn first_version() -> i64 {
    1
}

impl EmergencyShutoff {
    /// A new shutoff (data_version 1). Product and channel are trimmed and must not be empty; an
    /// empty comment is no comment.
    pub fn new(product: &str, channel: &str, comment: Option<&str>) -> DomainResult<Self> {
        let product = product.trim();
        let channel = channel.trim();
        if product.is_empty() {
            return Err(DomainError::field("product", "is a required property"));
        }
        if channel.is_empty() {
            return Err(DomainError::field("channel", "is a required property"));
        }
        input::check("product", product, TextKind::Name)?;
        input::check("channel", channel, TextKind::Name)?;
        input::check_opt("comment", comment, TextKind::Text)?;
        Ok(EmergencyShutoff {
            product: product.to_owned(),
            channel: channel.to_owned(),
            comment: comment
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            data_version: 1,
        })
    }

    /// The key history records use: `product/channel`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.product, self.channel)
    }

    /// Balrog's JSON shape.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_and_channel_are_required_and_trimmed() {
        let shutoff = EmergencyShutoff::new(" Firefox ", "release ", Some("  ")).expect("valid");
        assert_eq!(shutoff.product, "Firefox");
        assert_eq!(shutoff.channel, "release");
        assert_eq!(shutoff.comment, None);
        assert_eq!(shutoff.data_version, 1);
        assert_eq!(shutoff.key(), "Firefox/release");
        assert!(EmergencyShutoff::new("", "release", None).is_err());
        assert!(EmergencyShutoff::new("Firefox", " ", None).is_err());
    }
}
