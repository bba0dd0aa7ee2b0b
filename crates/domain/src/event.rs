//! Change events: the names of the event types and the `type` patterns that select them
//! (`release.created`, `release.*`, `*`), shared by the feed, the stream and webhooks.

use std::fmt;

use crate::error::DomainError;

/// Every event type shiplog writes, in the order docs/events.md lists them.
pub const EVENT_TYPES: &[&str] = &[
    "release.created",
    "release.started",
    "release.finished",
    "release.updated",
    "package.added",
    "package.started",
    "package.finished",
    "package.updated",
    "rule.created",
    "rule.updated",
    "rule.deleted",
    "named_release.created",
    "named_release.updated",
    "named_release.deleted",
    "emergency_shutoff.created",
    "emergency_shutoff.deleted",
    "pinnable_release.created",
    "pinnable_release.updated",
    "permission.changed",
    "role.changed",
    "required_signoff.changed",
    "scheduled_change.created",
    "scheduled_change.enacted",
    "scheduled_change.failed",
    "signoff.required",
    "ticket.created",
    "ticket.updated",
    "comment.created",
];

/// The longest type pattern accepted: far longer than any type, short enough to bound work.
const MAX_PATTERN_LEN: usize = 64;

/// A pattern over event types: one type, every type of a family (`release.*`), or all (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypePattern {
    /// Exactly this type.
    Exact(String),
    /// Every type whose name starts with this family and a dot (`release` for `release.*`).
    Family(String),
    /// Every type.
    Any,
}

impl TypePattern {
    /// Reads a pattern: `*`, `family.*` or `family.action`, each part lowercase letters and
    /// underscores. A type shiplog does not write yet is accepted (a subscription may name it
    /// ahead of time), but not malformed text.
    pub fn parse(text: &str) -> Result<TypePattern, DomainError> {
        let bad = || {
            DomainError::field(
                "type",
                "must be `*`, `family.*` or `family.action` (lowercase letters and underscores)",
            )
        };
        if text == "*" {
            return Ok(TypePattern::Any);
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(bad());
        }
        let (family, action) = text.split_once('.').ok_or_else(bad)?;
        if !is_word(family) {
            return Err(bad());
        }
        match action {
            "*" => Ok(TypePattern::Family(family.to_owned())),
            action if is_word(action) => Ok(TypePattern::Exact(text.to_owned())),
            _ => Err(bad()),
        }
    }

    /// Reads a comma-separated list of patterns (the feed's `type=` parameter).
    pub fn parse_list(text: &str) -> Result<Vec<TypePattern>, DomainError> {
        text.split(',')
            .map(|p| TypePattern::parse(p.trim()))
            .collect()
    }

    /// Whether an event of type `kind` matches.
    pub fn matches(&self, kind: &str) -> bool {
        match self {
            TypePattern::Any => true,
            TypePattern::Exact(exact) => exact == kind,
            TypePattern::Family(family) => kind
                .strip_prefix(family.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
        }
    }
}

impl fmt::Display for TypePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypePattern::Any => f.write_str("*"),
            TypePattern::Exact(exact) => f.write_str(exact),
            TypePattern::Family(family) => write!(f, "{family}.*"),
        }
    }
}

fn is_word(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_select_one_type_a_family_or_all() {
        let exact = TypePattern::parse("release.created").expect("exact");
        assert!(exact.matches("release.created"));
        assert!(!exact.matches("release.started"));
        let family = TypePattern::parse("release.*").expect("family");
        assert!(family.matches("release.finished"));
        assert!(!family.matches("named_release.created"));
        assert!(!family.matches("releases.created"));
        let any = TypePattern::parse("*").expect("any");
        assert!(EVENT_TYPES.iter().all(|t| any.matches(t)));
        assert_eq!(family.to_string(), "release.*");
        assert_eq!(
            TypePattern::parse_list("release.*, rule.deleted").expect("list"),
            vec![family, TypePattern::Exact("rule.deleted".into())]
        );
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "",
            "release",
            "release.",
            ".created",
            "Release.created",
            "release.*.x",
            "release.created.x",
            "re lease.created",
            "*.created",
            "release.%",
            &format!("{}.x", "a".repeat(70)),
        ] {
            assert!(TypePattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_written_type_is_a_valid_exact_pattern() {
        for kind in EVENT_TYPES {
            assert_eq!(
                TypePattern::parse(kind).expect("valid"),
                TypePattern::Exact((*kind).to_owned())
            );
        }
    }
}
