//! Rule conditions compiled for matching: each column of a [`Rule`] parsed once (version lists
//! and globs, channel globs, buildID and memory comparisons, OS-version groups, comma lists),
//! then checked against a [`Query`] in Balrog's order without allocating.

use super::evaluation_error::EvaluationError;
use super::query::{find, Query};
use super::rule::Rule;
use super::syntax::{split_operator, Comparison};
use super::version::{LooseVersion, Version, VersionPattern, VersionScheme};
use crate::error::{DomainError, DomainResult};

/// One item of a rule's `version` list, read the way Balrog reads it at evaluation time
/// (`comparison.get_op`): nothing here is refused, an item Balrog cannot use is an error only
/// when a query reaches it.
#[derive(Debug, Clone)]
pub(crate) struct VersionItem {
    /// `None` when Balrog finds no operator and no version (`=60.0`, `!60`, an empty item):
    /// its `get_op` answers nothing and the comparison fails.
    op: Option<Comparison>,
    /// The operand as Balrog takes it (a glob keeps its `*`; after an operator only the run of
    /// word characters and dots counts): loose versions compare this text.
    operand: Box<str>,
    /// The operand as a Mozilla version; `None` when it is not one.
    mozilla: Option<VersionPattern>,
}

/// Balrog's `get_op` for a version item: a trailing `*` makes the whole item a glob compared
/// for equality (its `either_eq`, even with an operator in front, which then fails to parse);
/// an item starting with a word character is compared for equality as it is; otherwise one of
/// `>=`, `>`, `<`, `<=` followed by a run of word characters and dots, and whatever follows the
/// run is ignored (`>=60.0-x` compares with `60.0`).
fn get_op(item: &str) -> Option<(Comparison, &str)> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    if item.ends_with('*') {
        return Some((Comparison::Eq, item));
    }
    if item.chars().next().is_some_and(word) {
        return Some((Comparison::Eq, item));
    }
    for (text, op) in [
        (">=", Comparison::Ge),
        ("<=", Comparison::Le),
        (">", Comparison::Gt),
        ("<", Comparison::Lt),
    ] {
        if let Some(rest) = item.strip_prefix(text) {
            let end = rest
                .find(|c: char| !(word(c) || c == '.'))
                .unwrap_or(rest.len());
            return (end > 0).then(|| (op, &rest[..end]));
        }
    }
    None
}

impl VersionItem {
    pub(crate) fn compile(item: &str) -> VersionItem {
        match get_op(item) {
            Some((op, operand)) => VersionItem {
                op: Some(op),
                operand: operand.into(),
                mozilla: VersionPattern::parse(operand).ok(),
            },
            None => VersionItem {
                op: None,
                operand: item.into(),
                mozilla: None,
            },
        }
    }

    /// Whether comparing this item with a Mozilla version fails in Balrog.
    fn is_unusable_for_mozilla(&self) -> bool {
        self.op.is_none() || self.mozilla.is_none()
    }
}

#[inline]
fn compare<T: Ord + ?Sized>(value: &T, op: Comparison, operand: &T) -> bool {
    match op {
        Comparison::Eq => value == operand,
        Comparison::Lt => value < operand,
        Comparison::Le => value <= operand,
        Comparison::Gt => value > operand,
        Comparison::Ge => value >= operand,
    }
}

/// A `channel` column: exact, or a trailing-`*` prefix of at least two characters.
#[derive(Debug, Clone)]
enum ChannelPattern {
    Exact(Box<str>),
    Prefix(Box<str>),
    /// `*`, `r*`, `**`: Balrog matches nothing with globs shorter than three characters.
    Nothing,
}

impl ChannelPattern {
    fn compile(text: &str) -> ChannelPattern {
        match text.strip_suffix('*') {
            Some(_) if text.len() < 3 => ChannelPattern::Nothing,
            Some(prefix) => ChannelPattern::Prefix(prefix.into()),
            None => ChannelPattern::Exact(text.into()),
        }
    }

    #[inline]
    fn matches(&self, channel: &str) -> bool {
        match self {
            ChannelPattern::Exact(exact) => &**exact == channel,
            ChannelPattern::Prefix(prefix) => channel.starts_with(&**prefix),
            ChannelPattern::Nothing => false,
        }
    }
}

/// A rule with every condition parsed.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) rule: Rule,
    channel: Option<ChannelPattern>,
    version: Option<Vec<VersionItem>>,
    build_id: Option<(Comparison, Box<str>)>,
    memory: Option<(Comparison, i64)>,
    /// OR of AND groups, each part trimmed.
    os_version: Option<Vec<Vec<Box<str>>>>,
    instruction_set: Option<Vec<Box<str>>>,
    distribution: Option<Vec<Box<str>>>,
    locale: Option<Vec<Box<str>>>,
}

fn list(text: &Option<String>) -> Option<Vec<Box<str>>> {
    text.as_deref()
        .map(|t| t.split(',').map(Box::from).collect())
}

#[inline]
fn list_contains(list: &Option<Vec<Box<str>>>, value: &str) -> bool {
    list.as_ref()
        .is_none_or(|items| items.iter().any(|item| &**item == value))
}

#[inline]
fn optional_equals(rule: &Option<String>, query: Option<&str>) -> bool {
    rule.as_deref().is_none_or(|r| Some(r) == query)
}

impl CompiledRule {
    pub(crate) fn compile(rule: &Rule) -> DomainResult<CompiledRule> {
        let fields = &rule.fields;
        let bad = |field: &'static str, value: &str| {
            DomainError::field(
                field,
                format!("rule {} has an unusable condition {value:?}", rule.rule_id),
            )
        };
        let version = fields
            .version
            .as_deref()
            .map(|text| text.split(',').map(VersionItem::compile).collect());
        let build_id = match &fields.build_id {
            None => None,
            Some(text) if text.ends_with('*') => Some((Comparison::Eq, text.as_str().into())),
            Some(text) => {
                let (op, operand) = split_operator(text).ok_or_else(|| bad("buildID", text))?;
                Some((op, operand.into()))
            }
        };
        let memory = match &fields.memory {
            None => None,
            Some(text) => {
                let (op, operand) = split_operator(text).ok_or_else(|| bad("memory", text))?;
                Some((op, operand.parse().map_err(|_| bad("memory", text))?))
            }
        };
        let os_version = fields.os_version.as_deref().map(|text| {
            text.split(',')
                .map(|group| group.split("&&").map(|p| Box::from(p.trim())).collect())
                .collect()
        });
        Ok(CompiledRule {
            rule: rule.clone(),
            channel: fields.channel.as_deref().map(ChannelPattern::compile),
            version,
            build_id,
            memory,
            os_version,
            instruction_set: list(&fields.instruction_set),
            distribution: list(&fields.distribution),
            locale: list(&fields.locale),
        })
    }

    /// Whether a version item cannot be compared with a Mozilla version (or with any version,
    /// for want of an operator).
    pub(crate) fn has_non_mozilla_version(&self) -> bool {
        self.version
            .as_ref()
            .is_some_and(|items| items.iter().any(VersionItem::is_unusable_for_mozilla))
    }

    /// The columns Balrog filters in SQL: product, buildTarget, headerArchitecture, distVersion.
    #[inline]
    pub(crate) fn matches_columns(&self, query: &Query<'_>) -> bool {
        let fields = &self.rule.fields;
        optional_equals(&fields.build_target, query.build_target)
            && optional_equals(&fields.header_architecture, query.header_architecture)
            && optional_equals(&fields.dist_version, query.dist_version)
    }

    #[inline]
    pub(crate) fn matches_channel(&self, channel: &str, fallback: &str) -> bool {
        self.channel
            .as_ref()
            .is_none_or(|p| p.matches(channel) || p.matches(fallback))
    }

    #[inline]
    pub(crate) fn matches_version(
        &self,
        query: &Query<'_>,
        scheme: VersionScheme,
        parsed: Option<&Version>,
    ) -> Result<bool, EvaluationError> {
        let Some(items) = &self.version else {
            return Ok(true);
        };
        for item in items {
            let unusable = || EvaluationError::RuleVersion {
                rule_id: self.rule.rule_id,
                value: item.operand.to_string(),
            };
            // Balrog's order: the operator first (no operator fails before any parsing), then
            // the query's version, then the rule's.
            let op = item.op.ok_or_else(unusable)?;
            let matched = match scheme {
                VersionScheme::Loose => compare(
                    &LooseVersion(query.version),
                    op,
                    &LooseVersion(&item.operand),
                ),
                VersionScheme::Mozilla => {
                    let value = parsed
                        .ok_or_else(|| EvaluationError::QueryVersion(query.version.to_owned()))?;
                    match (op, item.mozilla) {
                        (Comparison::Eq, Some(pattern)) => pattern.matches(value),
                        (op, Some(VersionPattern::Exact(operand))) => compare(value, op, &operand),
                        _ => return Err(unusable()),
                    }
                }
            };
            if matched {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The conditions Balrog checks after the version, in its order.
    #[inline]
    pub(crate) fn matches_rest(&self, query: &Query<'_>) -> bool {
        let fields = &self.rule.fields;
        if let Some((op, operand)) = &self.build_id {
            if !compare(query.build_id.unwrap_or(""), *op, operand) {
                return false;
            }
        }
        if let (Some((op, operand)), Some(memory)) = (&self.memory, query.memory) {
            if !compare(&memory, *op, operand) {
                return false;
            }
        }
        if let Some(groups) = &self.os_version {
            let os = query.os_version.unwrap_or("");
            if !groups.iter().any(|group| {
                group
                    .iter()
                    .all(|part| find(os.as_bytes(), part.as_bytes()).is_some())
            }) {
                return false;
            }
        }
        list_contains(&self.instruction_set, query.instruction_set.unwrap_or(""))
            && list_contains(&self.distribution, query.distribution.unwrap_or(""))
            && list_contains(&self.locale, query.locale.unwrap_or(""))
            && three_valued(fields.mig64, query.mig64)
            && three_valued(fields.jaws, query.jaws)
    }
}

/// A set rule value matches only the same known query value; an unset one matches anything.
#[inline]
fn three_valued(rule: Option<bool>, query: Option<bool>) -> bool {
    rule.is_none_or(|r| query == Some(r))
}

/// A version condition as a rule column holds it, against a version (Mozilla order), for the
/// conditions inside release blobs; anything unusable does not match.
pub(crate) fn version_condition_matches(condition: &str, version: &str) -> bool {
    let Ok(version) = Version::parse(version) else {
        return false;
    };
    condition
        .split(',')
        .map(VersionItem::compile)
        .any(|item| match (item.op, item.mozilla) {
            (Some(Comparison::Eq), Some(pattern)) => pattern.matches(&version),
            (Some(op), Some(VersionPattern::Exact(operand))) => compare(&version, op, &operand),
            _ => false,
        })
}

/// A buildID condition (one operator or none), compared as text.
pub(crate) fn build_id_condition_matches(condition: &str, build_id: &str) -> bool {
    let (op, operand) = if condition.ends_with('*') {
        (Comparison::Eq, condition)
    } else {
        match split_operator(condition) {
            Some(split) => split,
            None => return false,
        }
    };
    compare(build_id, op, operand)
}
