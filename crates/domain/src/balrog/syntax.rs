//! The small languages inside some rule columns, checked the way Balrog's admin API checks them
//! before it stores a rule: version conditions, buildID and memory comparisons, rule aliases.
//!
//! Only the syntax lives here. Rule evaluation (comparing a client's version with a condition)
//! builds on [`split_operator`] and the version grammar below.

/// A comparison operator written in front of a rule value (`>=60.0`); none means equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// `=` or no operator.
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Splits the operator off a condition: `">=60.0"` → `(Ge, "60.0")`, `"60.0"` → `(Eq, "60.0")`.
/// `None` when the value starts with neither a word character nor an operator, or when an
/// operator is followed by nothing usable (Balrog: "No Operator or Match found").
pub fn split_operator(condition: &str) -> Option<(Comparison, &str)> {
    let starts_with_word = condition
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if starts_with_word {
        return Some((Comparison::Eq, condition));
    }
    // Longest operator first, so `<=` is not read as `<` followed by `=…`.
    for (text, op) in [
        (">=", Comparison::Ge),
        ("<=", Comparison::Le),
        (">", Comparison::Gt),
        ("<", Comparison::Lt),
    ] {
        if let Some(operand) = condition.strip_prefix(text) {
            let usable = !operand.is_empty()
                && operand
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '*');
            return usable.then_some((op, operand));
        }
    }
    None
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `digits` optionally followed by `letters digits` (`3plugin1`), or `a digits` only when
/// `alpha_only` (Firefox 5+ may carry `a1` but no other tag).
fn numeric_with_tag(part: &str, alpha_only: bool) -> bool {
    let digits_end = part
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(part.len());
    let (number, tag) = part.split_at(digits_end);
    if number.is_empty() {
        return false;
    }
    if tag.is_empty() {
        return true;
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
    letters_ok && all_digits(tag_number)
}

/// Whether `version` is a version Balrog's `MozillaVersion` parses: `M.m[.p]` with an `aN` tag
/// for Firefox 5 and later (or a trailing `.*` glob: `60.*`, `60.0.*`), any `lettersN` tag for
/// older versions, and the ancient four-part `1.5.0.12` form.
pub fn is_mozilla_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    match parts.len() {
        2 | 3 => {
            if !all_digits(parts[0]) {
                return false;
            }
            // Over-long majors are certainly modern; only the comparison with 4 matters.
            let modern = parts[0].len() > 2 || parts[0].parse::<u32>().unwrap_or(u32::MAX) > 4;
            let last = parts[parts.len() - 1];
            if modern && last == "*" {
                // GlobVersion: `N.*` or `N.M.*`.
                return parts.len() == 2 || all_digits(parts[1]);
            }
            let middle_ok = parts.len() == 2 || all_digits(parts[1]);
            middle_ok && numeric_with_tag(last, modern)
        }
        4 => {
            // w.x.y.z with a single-digit y, as in 1.5.0.12.
            all_digits(parts[0])
                && all_digits(parts[1])
                && parts[2].len() == 1
                && all_digits(parts[2])
                && numeric_with_tag(parts[3], false)
        }
        _ => false,
    }
}

/// Checks a rule's `version` column: one condition (`60.0`, `>=60.0`, `<61.0b1`, `60.*`) or a
/// comma-separated list of exact versions (operators and globs are refused inside lists, as
/// Balrog refuses them). `loose` accepts any operand without whitespace, for the products Balrog
/// compares with LooseVersion.
pub fn check_version_condition(value: &str, loose: bool) -> Result<(), String> {
    let items: Vec<&str> = value.split(',').collect();
    let is_list = items.len() > 1;
    for item in items {
        let is_glob = item.ends_with('*');
        let (op, operand) = if is_glob {
            (Comparison::Eq, item)
        } else {
            split_operator(item).ok_or_else(|| {
                format!("invalid version condition {item:?}: no operator or version found")
            })?
        };
        if is_list && (op != Comparison::Eq || is_glob) {
            return Err(format!(
                "invalid version {value:?}: operators and globs are not allowed in a list of versions"
            ));
        }
        let valid = if loose {
            !operand.is_empty() && !operand.chars().any(char::is_whitespace)
        } else {
            is_mozilla_version(operand)
        };
        if !valid {
            return Err(format!("couldn't parse the version {operand:?}"));
        }
    }
    Ok(())
}

/// Checks an integer comparison column (`buildID`, `memory`): an optional operator and an
/// integer, e.g. `20160329030246` or `<20170101000000`. Lists and globs are refused.
pub fn check_integer_condition(value: &str) -> Result<(), String> {
    let (_, operand) = split_operator(value)
        .ok_or_else(|| format!("invalid condition {value:?}: no operator or value found"))?;
    if all_digits(operand) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} must be an integer, optionally after <, <=, > or >="
        ))
    }
}

/// Where a sticky rule finds its client identifier (a rule's `stickyBy`, a shiplog extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StickySource<'a> {
    /// `query:NAME`: the parameter `NAME` of the request's query string.
    Query(&'a str),
    /// `header:NAME`: the request header `NAME` (any case).
    Header(&'a str),
}

/// Most characters a sticky source's name may have.
const MAX_STICKY_NAME: usize = 64;

impl<'a> StickySource<'a> {
    /// Reads `query:NAME` or `header:NAME`. A query parameter name is letters, digits, `_`,
    /// `-` and `.`; a header name is an HTTP token (RFC 9110: letters, digits and
    /// ``!#$%&'*+-.^_`|~``). Either is 1 to 64 characters.
    pub fn parse(text: &'a str) -> Result<StickySource<'a>, String> {
        let (kind, name) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?} must be query:NAME or header:NAME"))?;
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        let param = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
        let (source, allowed): (StickySource<'a>, &dyn Fn(char) -> bool) = match kind {
            "query" => (StickySource::Query(name), &param),
            "header" => (StickySource::Header(name), &token),
            _ => return Err(format!("{text:?} must be query:NAME or header:NAME")),
        };
        if name.is_empty() || name.chars().count() > MAX_STICKY_NAME || !name.chars().all(allowed) {
            return Err(format!(
                "{text:?}: the {kind} name must be 1 to {MAX_STICKY_NAME} characters of {}",
                if kind == "query" {
                    "letters, digits, '_', '-' and '.'"
                } else {
                    "an HTTP header name"
                }
            ));
        }
        Ok(source)
    }
}

/// Checks a rule's `stickyBy` (see [`StickySource::parse`]).
pub fn check_sticky_source(value: &str) -> Result<(), String> {
    StickySource::parse(value).map(|_| ())
}

/// Whether `alias` is a valid rule alias: a letter, then letters, digits and dashes. Anything
/// else would be mistaken for a rule id in `/rules/{id_or_alias}`.
pub fn is_alias(alias: &str) -> bool {
    let mut chars = alias.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_split_longest_first() {
        assert_eq!(split_operator("60.0"), Some((Comparison::Eq, "60.0")));
        assert_eq!(split_operator(">=60.0"), Some((Comparison::Ge, "60.0")));
        assert_eq!(split_operator("<=60.0"), Some((Comparison::Le, "60.0")));
        assert_eq!(split_operator(">6"), Some((Comparison::Gt, "6")));
        assert_eq!(split_operator("<6"), Some((Comparison::Lt, "6")));
        for bad in ["", "=60", "<", ">= 60", " 60", "!60", "<60 0"] {
            assert_eq!(split_operator(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mozilla_versions_follow_balrogs_grammar() {
        for good in [
            "60.0",
            "60.0.1",
            "48.0a1",
            "5.0",
            "3.6.3plugin1",
            "3.6",
            "4.0b2",
            "1.5.0.12",
            "2.0.0.20",
            "60.*",
            "60.0.*",
            "100.0",
        ] {
            assert!(is_mozilla_version(good), "{good}");
        }
        for bad in [
            "",
            "60",
            "60.0b1",
            "60.0esr",
            "a.1",
            "60..0",
            "60.0.0.0.0",
            "1.5.12.1",
            "4.*",
            "60.*.1",
            "60.0 ",
            "v60.0",
            "60.0a",
            "1.2.3.4.5",
        ] {
            assert!(!is_mozilla_version(bad), "{bad}");
        }
    }

    #[test]
    fn version_conditions_allow_operators_only_alone() {
        for good in [
            "60.0",
            ">=60.0",
            "<61.0",
            "60.*",
            "60.0,61.0",
            "4.0b2,4.0b3",
        ] {
            assert_eq!(check_version_condition(good, false), Ok(()), "{good}");
        }
        for bad in [
            ">=60.0,61.0",
            "60.*,61.0",
            "60.0, 61.0",
            "latest",
            ">=",
            "60.0,",
        ] {
            assert!(check_version_condition(bad, false).is_err(), "{bad}");
        }
        assert_eq!(check_version_condition("2.0", true), Ok(()));
        assert_eq!(
            check_version_condition(">=2.0.0-beta", true),
            Err("invalid version condition \">=2.0.0-beta\": no operator or version found".into())
        );
    }

    #[test]
    fn integer_conditions_take_one_operator_and_digits() {
        for good in ["20160329030246", "<20170101000000", ">=1", "512"] {
            assert_eq!(check_integer_condition(good), Ok(()), "{good}");
        }
        for bad in ["2018*", "1,2", "<=", "abc", ">1.5", "-1"] {
            assert!(check_integer_condition(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sticky_sources_name_a_query_parameter_or_a_header() {
        assert_eq!(
            StickySource::parse("query:clientId"),
            Ok(StickySource::Query("clientId"))
        );
        assert_eq!(
            StickySource::parse("header:X-Client-Id"),
            Ok(StickySource::Header("X-Client-Id"))
        );
        for bad in [
            "clientId",
            "cookie:id",
            "query:",
            "header:",
            "query:a b",
            "query:a=b",
            "header:X:Y",
            "header:X(Y)",
            "Query:id",
        ] {
            assert!(check_sticky_source(bad).is_err(), "{bad}");
        }
        assert!(check_sticky_source(&format!("query:{}", "a".repeat(65))).is_err());
        assert!(check_sticky_source(&format!("query:{}", "a".repeat(64))).is_ok());
    }

    #[test]
    fn aliases_start_with_a_letter() {
        assert!(is_alias("firefox-release"));
        assert!(is_alias("a"));
        assert!(!is_alias("1abc"));
        assert!(!is_alias("-a"));
        assert!(!is_alias("a_b"));
        assert!(!is_alias(""));
    }
}
