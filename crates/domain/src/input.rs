//! The input policy: which characters shiplog refuses in the text it stores or searches for,
//! the longest text of each kind and the most items of a list. It is decided here, before any
//! database sees the input, so SQLite and PostgreSQL give the same answer for the same request:
//! PostgreSQL's text columns cannot hold NUL, and its btree indexes refuse entries over about
//! 2,700 bytes, limits SQLite does not have. Every limit is listed in docs/limits.md.

use crate::error::{DomainError, DomainResult};

/// Kinds of text, each with its own maximum length (in characters) and allowed characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Names and identifiers: users, teams, platforms, packages, versions, products, channels,
    /// metadata keys, references. Many are indexed; two of them fit in one index entry even
    /// at four bytes a character. No control characters at all.
    Name,
    /// Rule conditions that hold lists (locales, OS versions, distributions, instruction sets,
    /// allow-lists): not indexed, longer than a name. No control characters.
    Condition,
    /// A URL (a package's diff link). No control characters.
    Url,
    /// Free text: notes, comments, descriptions, metadata values, package results. Tabs and
    /// line breaks are allowed; other control characters are not.
    Text,
}

impl TextKind {
    /// The longest text of this kind, in characters.
    pub const fn max_chars(self) -> usize {
        match self {
            TextKind::Name => 255,
            TextKind::Condition => 4_096,
            TextKind::Url => 8_192,
            TextKind::Text => 65_536,
        }
    }

    fn allows(self, c: char) -> bool {
        if !c.is_control() {
            return true;
        }
        self == TextKind::Text && matches!(c, '\t' | '\n' | '\r')
    }
}

/// The most items in one list of a write: platforms, references or notes of a release,
/// metadata keys, packages of one release, products of a permission.
pub const MAX_LIST_ITEMS: usize = 1_000;

/// Why `value` is refused as text of `kind`, or `None` when it is acceptable. The reason does
/// not repeat the value (it may be huge, or a secret).
pub fn problem(value: &str, kind: TextKind) -> Option<String> {
    let max = kind.max_chars();
    // A character is at most four bytes, so short text needs no count.
    if value.len() > max && value.chars().count() > max {
        return Some(format!("must be at most {max} characters"));
    }
    value.chars().find(|c| !kind.allows(*c)).map(|c| {
        if c == '\0' {
            "must not contain NUL characters".to_owned()
        } else {
            format!(
                "must not contain control characters (found U+{:04X})",
                c as u32
            )
        }
    })
}

/// Checks `value` as text of `kind` for the field named `field`.
pub fn check(field: &'static str, value: &str, kind: TextKind) -> DomainResult<()> {
    match problem(value, kind) {
        None => Ok(()),
        Some(reason) => Err(DomainError::field(field, reason)),
    }
}

/// Checks an optional value (absent is fine).
pub fn check_opt(field: &'static str, value: Option<&str>, kind: TextKind) -> DomainResult<()> {
    value.map_or(Ok(()), |v| check(field, v, kind))
}

/// Checks that a list of `len` items is not over [`MAX_LIST_ITEMS`]. Callers check the count
/// before doing any work per item, so an oversized list is refused at once.
pub fn check_count(field: &'static str, len: usize) -> DomainResult<()> {
    if len > MAX_LIST_ITEMS {
        Err(DomainError::field(
            field,
            format!("must have at most {MAX_LIST_ITEMS} items (got {len})"),
        ))
    } else {
        Ok(())
    }
}

/// Checks a list: its length, then every item as text of `kind`.
pub fn check_list<S: AsRef<str>>(
    field: &'static str,
    items: &[S],
    kind: TextKind,
) -> DomainResult<()> {
    check_count(field, items.len())?;
    items
        .iter()
        .try_for_each(|item| check(field, item.as_ref(), kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limits_are_counted_in_characters() {
        let at = "é".repeat(TextKind::Name.max_chars());
        assert_eq!(problem(&at, TextKind::Name), None);
        let over = "a".repeat(TextKind::Name.max_chars() + 1);
        assert_eq!(
            problem(&over, TextKind::Name).as_deref(),
            Some("must be at most 255 characters")
        );
    }

    #[test]
    fn control_characters_are_refused_and_named() {
        assert_eq!(
            check("user", "a\0b", TextKind::Name),
            Err(DomainError::field(
                "user",
                "must not contain NUL characters"
            ))
        );
        assert_eq!(
            problem("a\u{1b}b", TextKind::Text).as_deref(),
            Some("must not contain control characters (found U+001B)")
        );
        assert!(
            problem("a\u{85}b", TextKind::Name).is_some(),
            "C1 controls too"
        );
        assert_eq!(problem("line\nnext\ttab\r", TextKind::Text), None);
        assert!(problem("line\nnext", TextKind::Name).is_some());
    }

    #[test]
    fn lists_are_counted_before_their_items_are_read() {
        let many = vec![String::from("\0"); MAX_LIST_ITEMS + 1];
        let err = check_list("platforms", &many, TextKind::Name).expect_err("too many");
        assert!(err.to_string().contains("at most 1000 items"), "{err}");
        assert!(check_list("platforms", &["a", "b"], TextKind::Name).is_ok());
    }

    proptest! {
        /// The policy is total (never panics) and agrees with a plain reading of the rules.
        #[test]
        fn problem_matches_the_rules(value in "\\PC{0,40}|[\\x00-\\x20a\u{80}-\u{9f}é]{0,300}") {
            for kind in [TextKind::Name, TextKind::Condition, TextKind::Url, TextKind::Text] {
                let too_long = value.chars().count() > kind.max_chars();
                let bad_char = value.chars().any(|c| {
                    c.is_control() && !(kind == TextKind::Text && "\t\n\r".contains(c))
                });
                prop_assert_eq!(problem(&value, kind).is_some(), too_long || bad_char);
            }
        }
    }
}
