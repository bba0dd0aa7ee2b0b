//! Client versions and their order, as Balrog compares them when it matches a rule's `version`
//! column and when it decides whether a release is newer than the client (docs/evaluation.md
//! lists the order's rules).
//!
//! Two schemes exist. [`Version`] is Balrog's `MozillaVersion`: `M.m[.p]` plus an optional
//! pre-release tag, where `60.0 == 60.0.0` and `48.0a1 < 48.0`, with the ancient four-part
//! `1.5.0.12` form and the `60.*` / `60.0.*` globs rules may use. [`LooseVersion`] is the
//! scheme of the products research names (`FirefoxVPN`, `Guardian`): a list of numbers and
//! words, where `2.0 != 2.0.0`.
//!
//! Both are `Copy` or borrow their text, so parsing a client's version on the evaluation hot
//! path allocates nothing.

use std::cmp::Ordering;
use std::fmt;

use crate::error::DomainError;

/// Products whose versions compare as [`LooseVersion`]s, as Balrog's own list has them.
pub const LOOSE_VERSION_PRODUCTS: [&str; 2] = ["FirefoxVPN", "Guardian"];

/// How a product's versions are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionScheme {
    /// Mozilla versions (`60.0.1`, `61.0b2`, `60.0esr`), ordered as Balrog orders them.
    Mozilla,
    /// Loose versions: lists of numbers and words, for products such as FirefoxVPN.
    Loose,
}

impl VersionScheme {
    /// The scheme Balrog picks for a query of `product`.
    pub fn for_product(product: &str) -> VersionScheme {
        if LOOSE_VERSION_PRODUCTS.contains(&product) {
            VersionScheme::Loose
        } else {
            VersionScheme::Mozilla
        }
    }
}

/// A Mozilla version: three numbers (a missing patch is 0) and an optional pre-release tag.
///
/// Like Balrog's `StrictVersion`, only the first letter of a tag takes part in the order
/// (`3.6.3plugin1` sorts as `3.6.3p1`), and a version with a tag sorts before the same numbers
/// without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    numbers: [u64; 3],
    /// The tag's first letter and its number.
    pre: Option<(u8, u64)>,
}

/// `M.*` or `M.m.*` in a rule: matches versions whose text starts with `M.` or `M.m.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobVersion {
    major: u64,
    minor: Option<u64>,
}

/// An exact version or a glob: what one item of a rule's `version` list can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionPattern {
    /// One version: matches versions equal to it.
    Exact(Version),
    /// A trailing-`*` glob such as `60.*`: matches every version with that prefix.
    Glob(GlobVersion),
}

fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Absurdly long numbers are refused rather than wrapped.
    text.parse().ok()
}

/// `digits[letters digits]` → the number and the tag (first letter, number).
fn number_with_tag(part: &str, alpha_only: bool) -> Option<(u64, Option<(u8, u64)>)> {
    let number_end = part
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(part.len());
    let (number, tag) = part.split_at(number_end);
    let number = digits(number)?;
    if tag.is_empty() {
        return Some((number, None));
    }
    let letters_end = tag
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(tag.len());
    let (letters, tag_number) = tag.split_at(letters_end);
    let letters_ok = if alpha_only {
        letters == "a"
    } else {
        !letters.is_empty()
    };
    if !letters_ok {
        return None;
    }
    Some((number, Some((letters.as_bytes()[0], digits(tag_number)?))))
}

fn invalid(text: &str) -> DomainError {
    DomainError::field("version", format!("invalid version number {text:?}"))
}

impl Version {
    /// Parses a concrete version (no glob). Firefox 5 and later may carry only an `aN` tag;
    /// older versions any `lettersN` tag; four-part versions are `w.x.d.z` with a one-digit
    /// third part, read as `w.x.z`.
    pub fn parse(text: &str) -> Result<Version, DomainError> {
        match VersionPattern::parse(text)? {
            VersionPattern::Exact(version) => Ok(version),
            VersionPattern::Glob(_) => Err(invalid(text)),
        }
    }

    /// The three numbers (patch 0 when absent).
    pub fn numbers(&self) -> [u64; 3] {
        self.numbers
    }

    /// Whether this version has a pre-release tag (`48.0a1`).
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }
}

impl VersionPattern {
    /// Parses an exact version or a glob, with Balrog's `MozillaVersion` dispatch: the number of
    /// dots and the major version decide which grammar applies.
    pub fn parse(text: &str) -> Result<VersionPattern, DomainError> {
        // Split at dots by hand: this runs for every query, and `str::split`'s searcher is
        // left out of line by the compiler (callgrind: +120 instructions per evaluation).
        let mut parts = [""; 4];
        let mut count = 0;
        let mut start = 0;
        let bytes = text.as_bytes();
        for end in 0..=bytes.len() {
            if end < bytes.len() && bytes[end] != b'.' {
                continue;
            }
            if count == parts.len() {
                return Err(invalid(text));
            }
            // A dot is ASCII, so both ends are character boundaries.
            parts[count] = &text[start..end];
            count += 1;
            start = end + 1;
        }
        let parts = &parts[..count];
        match parts.len() {
            2 | 3 => {
                let major = digits(parts[0]).ok_or_else(|| invalid(text))?;
                let modern = major > 4;
                if modern && parts[parts.len() - 1] == "*" {
                    let minor = match parts.len() {
                        3 => Some(digits(parts[1]).ok_or_else(|| invalid(text))?),
                        _ => None,
                    };
                    return Ok(VersionPattern::Glob(GlobVersion { major, minor }));
                }
                let last = parts[parts.len() - 1];
                let (last_number, pre) =
                    number_with_tag(last, modern).ok_or_else(|| invalid(text))?;
                let numbers = if parts.len() == 2 {
                    [major, last_number, 0]
                } else {
                    let minor = digits(parts[1]).ok_or_else(|| invalid(text))?;
                    [major, minor, last_number]
                };
                Ok(VersionPattern::Exact(Version { numbers, pre }))
            }
            4 => {
                let third = parts[2];
                if third.len() != 1 || digits(third).is_none() {
                    return Err(invalid(text));
                }
                let major = digits(parts[0]).ok_or_else(|| invalid(text))?;
                let minor = digits(parts[1]).ok_or_else(|| invalid(text))?;
                let (patch, pre) = number_with_tag(parts[3], false).ok_or_else(|| invalid(text))?;
                Ok(VersionPattern::Exact(Version {
                    numbers: [major, minor, patch],
                    pre,
                }))
            }
            _ => Err(invalid(text)),
        }
    }

    /// Whether `version` equals this pattern (a glob matches the versions it covers).
    pub fn matches(&self, version: &Version) -> bool {
        match self {
            VersionPattern::Exact(exact) => exact == version,
            VersionPattern::Glob(glob) => glob.matches(version),
        }
    }
}

impl GlobVersion {
    /// Balrog tests a glob for equality in both directions (`either_eq`), and the two
    /// directions disagree, so a version matches when either holds:
    ///
    /// - the version's numbers start with the glob's and the version has no pre-release tag
    ///   (`StrictVersion == GlobVersion`: `60.1.*` matches `60.1` and `60.1.0`, the "dot-0"
    ///   case), or
    /// - the version's *text* (`str(version)`, which drops a zero patch) starts with the glob's
    ///   text before the `*` (`GlobVersion == StrictVersion`: `60.*` matches `60.0a1`, and
    ///   `60.1.*` matches `60.1.2a1` but not `60.1a1`, whose text is not `60.1.`-anything).
    pub fn matches(&self, version: &Version) -> bool {
        let [major, minor, patch] = version.numbers;
        if major != self.major {
            return false;
        }
        match self.minor {
            // `M.`: every version of that major matches one direction or the other.
            None => true,
            Some(glob_minor) => minor == glob_minor && (version.pre.is_none() || patch != 0),
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (self.pre, other.pre) {
                (None, None) => Ordering::Equal,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.cmp(&b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    /// Balrog's `str()`: a zero patch is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [major, minor, patch] = self.numbers;
        write!(f, "{major}.{minor}")?;
        if patch != 0 {
            write!(f, ".{patch}")?;
        }
        if let Some((letter, number)) = self.pre {
            write!(f, "{}{number}", char::from(letter))?;
        }
        Ok(())
    }
}

/// A version compared as a list of numbers and lower-case words (Python's `LooseVersion`):
/// `2.0.0-beta` is `[2, 0, 0, "-", "beta"]`. Every text is a loose version.
///
/// Python 3 cannot order a number against a word and Balrog fails there; shiplog orders
/// numbers before words so the order is total.
#[derive(Debug, Clone, Copy)]
pub struct LooseVersion<'a>(pub &'a str);

/// One component of a loose version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Component<'a> {
    // Declared first: numbers sort before words.
    Number(u128),
    Word(&'a str),
}

/// Splits like Python's `re.split(r"(\d+|[a-z]+|\.)", text)` with empty pieces and dots
/// dropped: runs of digits, runs of lower-case letters, and whatever lies between them.
struct Components<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Components<'a> {
    type Item = Component<'a>;

    fn next(&mut self) -> Option<Component<'a>> {
        loop {
            let bytes = self.rest.as_bytes();
            let first = *bytes.first()?;
            let class = |b: u8| {
                if b.is_ascii_digit() {
                    1
                } else if b.is_ascii_lowercase() {
                    2
                } else if b == b'.' {
                    3
                } else {
                    0
                }
            };
            let kind = class(first);
            let end = match kind {
                3 => 1,
                // Other characters run until the next digit, letter or dot.
                _ => bytes
                    .iter()
                    .position(|&b| class(b) != kind)
                    .unwrap_or(bytes.len()),
            };
            let (piece, rest) = self.rest.split_at(end);
            self.rest = rest;
            match kind {
                3 => continue,
                // Digit runs too long for u128 compare as words; no real version has them.
                1 => {
                    return Some(
                        piece
                            .parse()
                            .map_or(Component::Word(piece), Component::Number),
                    )
                }
                _ => return Some(Component::Word(piece)),
            }
        }
    }
}

impl<'a> LooseVersion<'a> {
    fn components(&self) -> Components<'a> {
        Components { rest: self.0 }
    }
}

impl PartialEq for LooseVersion<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for LooseVersion<'_> {}

impl Ord for LooseVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.components().cmp(other.components())
    }
}

impl PartialOrd for LooseVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_missing_patch_is_zero() {
        assert_eq!(v("60.0"), v("60.0.0"));
        assert_eq!(v("60.0").cmp(&v("60.0.0")), Ordering::Equal);
        assert!(v("60.0") < v("60.0.1"));
        assert!(v("60.0.1") < v("60.1"));
        assert!(v("9.0") < v("10.0"), "numbers, not text");
    }

    #[test]
    fn prereleases_sort_before_the_release() {
        assert!(v("48.0a1") < v("48.0"));
        assert!(v("48.0a1") < v("48.0a2"));
        assert!(v("47.0") < v("48.0a1"));
        assert!(v("3.6b2") < v("3.6"));
        assert!(v("3.6a9") < v("3.6b1"));
        // Only the tag's first letter counts, as in Balrog.
        assert_eq!(v("3.6.3plugin1"), v("3.6.3p1"));
    }

    #[test]
    fn the_grammar_depends_on_the_major_version() {
        // Firefox 5 and later: only `aN`.
        for bad in [
            "60.0b1",
            "60.0esr",
            "60",
            "60.0.0.0.0",
            "a.1",
            "60..0",
            "v60.0",
            "60.0a",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        // Older: any letters.
        assert!(Version::parse("4.0b2").is_ok());
        assert!(Version::parse("3.6.3plugin1").is_ok());
        // Four parts: w.x.d.z, read as w.x.z.
        assert_eq!(v("1.5.0.12"), v("1.5.12"));
        assert!(Version::parse("1.5.12.1").is_err());
        assert!(Version::parse("99999999999999999999999.0").is_err());
    }

    #[test]
    fn globs_match_by_text_prefix() {
        let glob = |t: &str| match VersionPattern::parse(t).expect(t) {
            VersionPattern::Glob(g) => g,
            VersionPattern::Exact(_) => panic!("{t} is not a glob"),
        };
        assert!(glob("60.*").matches(&v("60.0")));
        assert!(glob("60.*").matches(&v("60.3.1")));
        assert!(glob("60.*").matches(&v("60.0a1")));
        assert!(!glob("60.*").matches(&v("61.0")));
        assert!(!glob("6.*").matches(&v("60.0")));
        assert!(glob("60.1.*").matches(&v("60.1.2")));
        assert!(!glob("60.1.*").matches(&v("60.10.1")));
        assert!(!glob("60.1.*").matches(&v("61.1.1")));
    }

    #[test]
    fn globs_match_in_either_direction_as_balrogs_either_eq() {
        let glob = |t: &str| match VersionPattern::parse(t).expect(t) {
            VersionPattern::Glob(g) => g,
            VersionPattern::Exact(_) => panic!("{t} is not a glob"),
        };
        // Balrog `either_eq`, "dot-0": StrictVersion("80.0.0") == GlobVersion("80.0.*") compares
        // the number tuples, so a zero (or missing) patch matches.
        assert!(glob("80.0.*").matches(&v("80.0.0")));
        assert!(glob("60.1.*").matches(&v("60.1")));
        // "Nightly": StrictVersion("70.0a1") != GlobVersion("70.*") (pre-release differs), but
        // GlobVersion("70.*") == StrictVersion("70.0a1") ("70.0a1" starts with "70.").
        assert!(glob("70.*").matches(&v("70.0a1")));
        // Neither direction: a pre-release on a zero patch is "60.1a1", not "60.1.…".
        assert!(!glob("60.1.*").matches(&v("60.1a1")));
        assert!(!glob("60.0.*").matches(&v("60.0a1")));
        // The text direction: "60.1.2a1" starts with "60.1.".
        assert!(glob("60.1.*").matches(&v("60.1.2a1")));
        // Globs exist for Firefox 5 and later only; a glob is not a concrete version.
        assert!(VersionPattern::parse("4.*").is_err());
        assert!(Version::parse("60.*").is_err());
        assert!(VersionPattern::parse("60.*.1").is_err());
    }

    #[test]
    fn display_drops_a_zero_patch() {
        assert_eq!(v("60.0.0").to_string(), "60.0");
        assert_eq!(v("60.0.2").to_string(), "60.0.2");
        assert_eq!(v("48.0a1").to_string(), "48.0a1");
    }

    #[test]
    fn loose_versions_compare_lists_of_numbers_and_words() {
        let l = LooseVersion;
        assert_ne!(l("2.0"), l("2.0.0"));
        assert!(l("2.0") < l("2.0.0"));
        assert!(l("2.10") > l("2.9"));
        assert_eq!(l("2.0"), l("2.0"));
        assert!(l("2.0.0-beta") > l("2.0.0"));
        assert!(l("1.a") > l("1.1"), "numbers before words");
        assert!(l("1.0b") < l("1.0c"));
        assert_eq!(
            LooseVersion("2.0.0-beta").components().collect::<Vec<_>>(),
            vec![
                Component::Number(2),
                Component::Number(0),
                Component::Number(0),
                Component::Word("-"),
                Component::Word("beta")
            ]
        );
    }

    #[test]
    fn schemes_follow_the_product() {
        assert_eq!(
            VersionScheme::for_product("Firefox"),
            VersionScheme::Mozilla
        );
        assert_eq!(
            VersionScheme::for_product("FirefoxVPN"),
            VersionScheme::Loose
        );
        assert_eq!(VersionScheme::for_product("Guardian"), VersionScheme::Loose);
    }

    fn version_text() -> impl Strategy<Value = String> {
        (
            5u64..200,
            0u64..20,
            proptest::option::of(0u64..20),
            proptest::option::of(1u64..9),
        )
            .prop_map(|(major, minor, patch, alpha)| {
                let mut text = format!("{major}.{minor}");
                if let Some(patch) = patch {
                    text.push_str(&format!(".{patch}"));
                }
                if let Some(alpha) = alpha {
                    text.push_str(&format!("a{alpha}"));
                }
                text
            })
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,24}") {
            let _ = VersionPattern::parse(&text);
            let a = LooseVersion(&text);
            prop_assert_eq!(a.cmp(&a), Ordering::Equal);
        }

        #[test]
        fn display_parses_back_to_the_same_version(text in version_text()) {
            let version = v(&text);
            prop_assert_eq!(v(&version.to_string()), version);
        }

        #[test]
        fn the_order_is_total_and_consistent(a in version_text(), b in version_text(), c in version_text()) {
            let (a, b, c) = (v(&a), v(&b), v(&c));
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
        }

        #[test]
        fn numbers_decide_before_tags(major in 5u64..100, minor in 0u64..10, alpha in 1u64..9) {
            let release = v(&format!("{major}.{minor}"));
            let alpha_version = v(&format!("{major}.{minor}a{alpha}"));
            prop_assert!(alpha_version < release);
            let patched_alpha = v(&format!("{major}.{minor}.1a{alpha}"));
            prop_assert!(release < patched_alpha);
            prop_assert_eq!(release, v(&format!("{major}.{minor}.0")));
        }

        #[test]
        fn loose_order_is_antisymmetric(a in "[0-9a-z.-]{0,12}", b in "[0-9a-z.-]{0,12}") {
            let (x, y) = (LooseVersion(&a), LooseVersion(&b));
            prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
        }
    }
}
