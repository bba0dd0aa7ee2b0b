//! Balrog rules: which release a client is offered, as plain data with Balrog's column names,
//! and the checks a rule passes before it is stored (the admin API's; see docs/balrog.md).
//!
//! A request to create or change a rule arrives as loosely typed fields (JSON or form values).
//! [`RuleChanges::parse`] turns them into typed, normalised values — strings trimmed, `""` as
//! null, whitespace removed from the comma lists, numeric strings read as numbers, version and
//! buildID syntax checked — or refuses them; [`RuleFields::create`] and [`RuleFields::apply`]
//! then build the rule. Checks that need the database (a mapping names an existing release, an
//! alias is unique) are the storage layer's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::syntax;
use super::version::VersionScheme;
use crate::error::{DomainError, DomainResult};
use crate::input::{self, TextKind};

/// Balrog's `update_type`: whether the offered update is a minor or a major one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateType {
    /// A minor update: offered in the background.
    Minor,
    /// A major update: the client asks the user first.
    Major,
}

impl UpdateType {
    /// Balrog's spelling: `minor` or `major`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::Minor => "minor",
            UpdateType::Major => "major",
        }
    }

    /// Reads Balrog's spelling; anything else is `None`.
    pub fn parse(text: &str) -> Option<UpdateType> {
        match text {
            "minor" => Some(UpdateType::Minor),
            "major" => Some(UpdateType::Major),
            _ => None,
        }
    }
}

impl fmt::Display for UpdateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a rule says, apart from its id and version: what it matches, what it serves, and
/// how. An unset (`None`) matching column matches every client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFields {
    /// A unique name the rule can be addressed by instead of its id.
    pub alias: Option<String>,
    /// Higher wins.
    pub priority: i64,
    /// The release served; `None` serves nothing (and stops lower rules from serving).
    pub mapping: Option<String>,
    /// The release served to clients the background rate leaves out.
    #[serde(rename = "fallbackMapping")]
    pub fallback_mapping: Option<String>,
    /// Percentage (0–100) of matching clients that get `mapping`.
    #[serde(rename = "backgroundRate")]
    pub background_rate: i64,
    /// Whether the update offered is minor or major.
    pub update_type: UpdateType,
    /// Matches only this product.
    pub product: Option<String>,
    /// A version condition: `60.0`, `<61.0`, `>=56.0`, `60.*`, or a comma list of them.
    pub version: Option<String>,
    /// A channel, or a prefix glob such as `release*`; partner `-cck-` channels match their base.
    pub channel: Option<String>,
    #[serde(rename = "buildTarget")]
    /// An exact build target, e.g. `WINNT_x86_64-msvc`.
    pub build_target: Option<String>,
    #[serde(rename = "buildID")]
    /// A build id compared as text, with an optional operator.
    pub build_id: Option<String>,
    /// A comma list of locales.
    pub locale: Option<String>,
    #[serde(rename = "osVersion")]
    /// A comma list of OS version substrings; `&&` joins parts that must all appear.
    pub os_version: Option<String>,
    /// A memory size in MB with an optional operator (`<2048`).
    pub memory: Option<String>,
    #[serde(rename = "instructionSet")]
    /// A comma list of instruction sets.
    pub instruction_set: Option<String>,
    /// A comma list of partner distributions.
    pub distribution: Option<String>,
    #[serde(rename = "distVersion")]
    /// An exact distribution version.
    pub dist_version: Option<String>,
    #[serde(rename = "headerArchitecture")]
    /// An exact header architecture.
    pub header_architecture: Option<String>,
    /// Matches only clients that report (`true`) or deny (`false`) 64-bit migration.
    pub mig64: Option<bool>,
    /// Matches only clients that report (`true`) or deny (`false`) running JAWS.
    pub jaws: Option<bool>,
    /// Dropped by Balrog in 2017 (B2G only); stored so old clients can still send it.
    pub whitelist: Option<String>,
    /// Free text for the people who read the rule.
    pub comment: Option<String>,
    /// shiplog's extension (Balrog has no such column): where the stable client identifier
    /// that makes the background-rate roll sticky comes from — `query:NAME` (a parameter of the
    /// update URL's query string) or `header:NAME` (a request header). `None`, or a request
    /// without that identifier: Balrog's fresh random roll. See docs/evaluation.md. Left out
    /// of a rule's JSON when unset, so a rule that does not use it has Balrog's exact shape.
    #[serde(rename = "stickyBy", default, skip_serializing_if = "Option::is_none")]
    pub sticky_by: Option<String>,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The rule's id.
    pub rule_id: i64,
    #[serde(flatten)]
    /// What the rule matches and serves.
    pub fields: RuleFields,
    /// Counts the rule's changes; a write names the version it read (optimistic locking).
    pub data_version: i64,
}

/// How `/rules/{id_or_alias}` names a rule: digits are an id, an identifier is an alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleRef {
    /// A rule id.
    Id(i64),
    /// A rule alias.
    Alias(String),
}

impl RuleRef {
    /// `None` for text that is neither (such a rule cannot exist).
    pub fn parse(text: &str) -> Option<RuleRef> {
        if syntax::is_alias(text) {
            return Some(RuleRef::Alias(text.to_owned()));
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().ok().map(RuleRef::Id);
        }
        None
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleRef::Id(id) => write!(f, "{id}"),
            RuleRef::Alias(alias) => f.write_str(alias),
        }
    }
}

/// The kind of value a rule column holds, which decides how input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Trimmed text; `""` is null.
    Text,
    /// A comma list with every whitespace character removed.
    List,
    /// An integer, or text holding one.
    Integer,
    /// A boolean, or text/0/1 holding one.
    Boolean,
    /// `minor` or `major`.
    UpdateType,
}

/// A rule column a client can set, by its Balrog name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleField {
    /// `alias`
    Alias,
    /// `priority`
    Priority,
    /// `mapping`
    Mapping,
    /// `fallbackMapping`
    FallbackMapping,
    /// `backgroundRate`
    BackgroundRate,
    /// `update_type`
    UpdateType,
    /// `product`
    Product,
    /// `version`
    Version,
    /// `channel`
    Channel,
    /// `buildTarget`
    BuildTarget,
    /// `buildID`
    BuildId,
    /// `locale`
    Locale,
    /// `osVersion`
    OsVersion,
    /// `memory`
    Memory,
    /// `instructionSet`
    InstructionSet,
    /// `distribution`
    Distribution,
    /// `distVersion`
    DistVersion,
    /// `headerArchitecture`
    HeaderArchitecture,
    /// `mig64`
    Mig64,
    /// `jaws`
    Jaws,
    /// `whitelist`
    Whitelist,
    /// `comment`
    Comment,
    /// `stickyBy` (a shiplog extension)
    StickyBy,
}

impl RuleField {
    /// Every column, in Balrog's order, then shiplog's own.
    pub const ALL: [RuleField; 23] = [
        RuleField::Alias,
        RuleField::Priority,
        RuleField::Mapping,
        RuleField::FallbackMapping,
        RuleField::BackgroundRate,
        RuleField::UpdateType,
        RuleField::Product,
        RuleField::Version,
        RuleField::Channel,
        RuleField::BuildTarget,
        RuleField::BuildId,
        RuleField::Locale,
        RuleField::OsVersion,
        RuleField::Memory,
        RuleField::InstructionSet,
        RuleField::Distribution,
        RuleField::DistVersion,
        RuleField::HeaderArchitecture,
        RuleField::Mig64,
        RuleField::Jaws,
        RuleField::Whitelist,
        RuleField::Comment,
        RuleField::StickyBy,
    ];

    /// Balrog's name for the column (also the JSON key).
    pub fn name(self) -> &'static str {
        match self {
            RuleField::Alias => "alias",
            RuleField::Priority => "priority",
            RuleField::Mapping => "mapping",
            RuleField::FallbackMapping => "fallbackMapping",
            RuleField::BackgroundRate => "backgroundRate",
            RuleField::UpdateType => "update_type",
            RuleField::Product => "product",
            RuleField::Version => "version",
            RuleField::Channel => "channel",
            RuleField::BuildTarget => "buildTarget",
            RuleField::BuildId => "buildID",
            RuleField::Locale => "locale",
            RuleField::OsVersion => "osVersion",
            RuleField::Memory => "memory",
            RuleField::InstructionSet => "instructionSet",
            RuleField::Distribution => "distribution",
            RuleField::DistVersion => "distVersion",
            RuleField::HeaderArchitecture => "headerArchitecture",
            RuleField::Mig64 => "mig64",
            RuleField::Jaws => "jaws",
            RuleField::Whitelist => "whitelist",
            RuleField::Comment => "comment",
            RuleField::StickyBy => "stickyBy",
        }
    }

    /// The column with this Balrog name, if any.
    pub fn from_name(name: &str) -> Option<RuleField> {
        RuleField::ALL.into_iter().find(|f| f.name() == name)
    }

    /// How the column's input is read.
    pub fn kind(self) -> FieldKind {
        match self {
            RuleField::Priority | RuleField::BackgroundRate => FieldKind::Integer,
            RuleField::Mig64 | RuleField::Jaws => FieldKind::Boolean,
            RuleField::UpdateType => FieldKind::UpdateType,
            RuleField::Locale | RuleField::Distribution => FieldKind::List,
            _ => FieldKind::Text,
        }
    }

    /// Columns a rule cannot do without: refused as null on update, required on create.
    pub fn is_required(self) -> bool {
        matches!(
            self,
            RuleField::Priority
                | RuleField::BackgroundRate
                | RuleField::UpdateType
                | RuleField::Mapping
        )
    }
}

/// One typed, normalised value for a rule column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// A text or list column; `None` is null.
    Text(Option<String>),
    /// An integer column.
    Integer(Option<i64>),
    /// A boolean column.
    Boolean(Option<bool>),
    /// The update type.
    UpdateType(Option<UpdateType>),
}

impl FieldValue {
    fn is_null(&self) -> bool {
        matches!(
            self,
            FieldValue::Text(None)
                | FieldValue::Integer(None)
                | FieldValue::Boolean(None)
                | FieldValue::UpdateType(None)
        )
    }
}

/// Parsed, checked assignments to rule columns: what a create or update request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleChanges {
    values: BTreeMap<RuleField, FieldValue>,
}

fn invalid(field: RuleField, reason: impl Into<String>) -> DomainError {
    DomainError::field(field.name(), reason)
}

fn read_text(field: RuleField, value: &Value) -> DomainResult<Option<String>> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        // A version or buildID typed as a bare JSON number means its digits.
        Value::Number(n) => n.to_string(),
        _ => return Err(invalid(field, "must be a string")),
    };
    let normalised: String = if field.kind() == FieldKind::List {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        text.trim().to_owned()
    };
    input::check(field.name(), &normalised, text_kind(field))?;
    Ok(Some(normalised).filter(|s| !s.is_empty()))
}

/// Which kind of text a rule column holds, for the input policy.
fn text_kind(field: RuleField) -> TextKind {
    match field {
        RuleField::Comment => TextKind::Text,
        RuleField::Locale
        | RuleField::OsVersion
        | RuleField::InstructionSet
        | RuleField::Distribution
        | RuleField::Whitelist => TextKind::Condition,
        _ => TextKind::Name,
    }
}

fn read_integer(field: RuleField, value: &Value) -> DomainResult<Option<i64>> {
    let not_integer = || invalid(field, "must be an integer");
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(not_integer),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s.trim().parse().map(Some).map_err(|_| not_integer()),
        _ => Err(not_integer()),
    }
}

fn read_boolean(field: RuleField, value: &Value) -> DomainResult<Option<bool>> {
    let not_boolean = || invalid(field, "must be true, false or null");
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(not_boolean()),
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" | "null" | "none" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(not_boolean()),
        },
        _ => Err(not_boolean()),
    }
}

impl RuleChanges {
    /// Reads every rule column present in `input` (keys are Balrog's column names; other keys,
    /// such as `rule_id`, `data_version` or `csrf_token`, are ignored) and checks each value on
    /// its own. Setting a required column to null is refused here.
    pub fn parse(input: &Map<String, Value>) -> DomainResult<RuleChanges> {
        RuleChanges::read(input, false)
    }

    /// Reads a rule as Balrog *stores* it (an export of its `/api/rules`, a rules file, an
    /// import): like [`parse`](RuleChanges::parse), except that a null `mapping` is taken and
    /// the `version` column is not held to the admin API's grammar. Balrog's admin API refuses
    /// both, but its databases hold them — the classic "no update for this population" rule, and
    /// version lists mixing operators and globs written before its validator existed — and its
    /// evaluation reads them: a null mapping serves nothing, and a version item it cannot
    /// compare is an error only for the queries that reach it (docs/evaluation.md).
    pub fn parse_stored(input: &Map<String, Value>) -> DomainResult<RuleChanges> {
        RuleChanges::read(input, true)
    }

    fn read(input: &Map<String, Value>, stored: bool) -> DomainResult<RuleChanges> {
        let mut values = BTreeMap::new();
        for (key, raw) in input {
            let Some(field) = RuleField::from_name(key) else {
                continue;
            };
            let value = match field.kind() {
                FieldKind::Text | FieldKind::List => FieldValue::Text(read_text(field, raw)?),
                FieldKind::Integer => FieldValue::Integer(read_integer(field, raw)?),
                FieldKind::Boolean => FieldValue::Boolean(read_boolean(field, raw)?),
                FieldKind::UpdateType => FieldValue::UpdateType(
                    read_text(field, raw)?
                        .map(|t| {
                            UpdateType::parse(&t)
                                .ok_or_else(|| invalid(field, "must be 'minor' or 'major'"))
                        })
                        .transpose()?,
                ),
            };
            let may_be_null = stored && field == RuleField::Mapping;
            if value.is_null() && field.is_required() && !may_be_null {
                let reason = if field == RuleField::Mapping {
                    "mapping value cannot be set to null/empty"
                } else {
                    "cannot be set to null/empty"
                };
                return Err(invalid(field, reason));
            }
            check_value(field, &value)?;
            values.insert(field, value);
        }
        let changes = RuleChanges { values };
        // The version grammar depends on the product, which may be the stored one: here only
        // what holds for every product is checked; `create` and `apply` check the rest.
        if let (false, Some(FieldValue::Text(Some(version)))) =
            (stored, changes.values.get(&RuleField::Version))
        {
            let product = changes.text(RuleField::Product);
            let loose = match &product {
                Some(product) => is_loose_product(product.as_deref()),
                None => true,
            };
            syntax::check_version_condition(version, loose)
                .map_err(|e| invalid(RuleField::Version, e))?;
        }
        Ok(changes)
    }

    /// Whether the request names this column at all.
    pub fn contains(&self, field: RuleField) -> bool {
        self.values.contains_key(&field)
    }

    /// The text value given for a column: `None` if not given, `Some(None)` if set to null.
    pub fn text(&self, field: RuleField) -> Option<Option<String>> {
        match self.values.get(&field) {
            Some(FieldValue::Text(text)) => Some(text.clone()),
            _ => None,
        }
    }

    /// Whether no column is named.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every column a rule has, set to the rule's values: reverting to a stored revision.
    pub fn from_fields(fields: &RuleFields) -> RuleChanges {
        let mut values = BTreeMap::new();
        for field in RuleField::ALL {
            values.insert(field, fields.get(field));
        }
        RuleChanges { values }
    }
}

/// Whether Balrog compares this product's versions loosely (lists of numbers and words).
fn is_loose_product(product: Option<&str>) -> bool {
    product.is_some_and(|p| VersionScheme::for_product(p) == VersionScheme::Loose)
}

fn check_version(version: &str, product: Option<&str>) -> DomainResult<()> {
    syntax::check_version_condition(version, is_loose_product(product))
        .map_err(|e| invalid(RuleField::Version, e))
}

fn check_value(field: RuleField, value: &FieldValue) -> DomainResult<()> {
    match (field, value) {
        (RuleField::Priority, FieldValue::Integer(Some(n))) if *n < 0 => {
            Err(invalid(field, "should be an integer >= 0"))
        }
        (RuleField::BackgroundRate, FieldValue::Integer(Some(n))) if !(0..=100).contains(n) => {
            Err(invalid(field, "should be an integer between 0 and 100"))
        }
        (RuleField::Alias, FieldValue::Text(Some(alias))) if !syntax::is_alias(alias) => {
            Err(invalid(
                field,
                "must start with a letter and contain only letters, digits and '-'",
            ))
        }
        (RuleField::BuildId | RuleField::Memory, FieldValue::Text(Some(text))) => {
            syntax::check_integer_condition(text).map_err(|e| invalid(field, e))
        }
        (RuleField::StickyBy, FieldValue::Text(Some(text))) => {
            syntax::check_sticky_source(text).map_err(|e| invalid(field, e))
        }
        _ => Ok(()),
    }
}

impl RuleFields {
    /// A new rule from a create request: `priority`, `backgroundRate`, `update_type` and
    /// `mapping` are required.
    pub fn create(changes: &RuleChanges) -> DomainResult<RuleFields> {
        RuleFields::build(changes, false)
    }

    /// A rule as Balrog stores it (see [`RuleChanges::parse_stored`]): `priority`,
    /// `backgroundRate` and `update_type` are required; `mapping` may be null (the rule then
    /// serves nothing to the clients it matches, and stops lower rules from serving) and
    /// `version` is evaluated as Balrog evaluates it, whatever its grammar.
    pub fn create_stored(changes: &RuleChanges) -> DomainResult<RuleFields> {
        RuleFields::build(changes, true)
    }

    fn build(changes: &RuleChanges, stored: bool) -> DomainResult<RuleFields> {
        for field in RuleField::ALL {
            let optional = stored && field == RuleField::Mapping;
            if field.is_required() && !optional && !changes.contains(field) {
                let reason = if field == RuleField::Mapping {
                    "mapping value cannot be set to null/empty"
                } else {
                    "is a required property"
                };
                return Err(invalid(field, reason));
            }
        }
        let mut fields = RuleFields {
            alias: None,
            priority: 0,
            mapping: None,
            fallback_mapping: None,
            background_rate: 0,
            update_type: UpdateType::Minor,
            product: None,
            version: None,
            channel: None,
            build_target: None,
            build_id: None,
            locale: None,
            os_version: None,
            memory: None,
            instruction_set: None,
            distribution: None,
            dist_version: None,
            header_architecture: None,
            mig64: None,
            jaws: None,
            whitelist: None,
            comment: None,
            sticky_by: None,
        };
        fields.set_all(changes);
        if let (false, Some(version)) = (stored, &fields.version) {
            check_version(version, fields.product.as_deref())?;
        }
        Ok(fields)
    }

    /// This rule with the requested columns changed; the others stay as they are.
    ///
    /// The version is checked against the resulting product: a product change can turn a loose
    /// version into one the strict grammar refuses.
    pub fn apply(&self, changes: &RuleChanges) -> DomainResult<RuleFields> {
        let mut fields = self.clone();
        fields.set_all(changes);
        if changes.contains(RuleField::Product) || changes.contains(RuleField::Version) {
            if let Some(version) = &fields.version {
                check_version(version, fields.product.as_deref())?;
            }
        }
        Ok(fields)
    }

    fn set_all(&mut self, changes: &RuleChanges) {
        for (field, value) in &changes.values {
            self.set(*field, value.clone());
        }
    }

    /// The value of one column.
    pub fn get(&self, field: RuleField) -> FieldValue {
        let text = |t: &Option<String>| FieldValue::Text(t.clone());
        match field {
            RuleField::Alias => text(&self.alias),
            RuleField::Priority => FieldValue::Integer(Some(self.priority)),
            RuleField::Mapping => text(&self.mapping),
            RuleField::FallbackMapping => text(&self.fallback_mapping),
            RuleField::BackgroundRate => FieldValue::Integer(Some(self.background_rate)),
            RuleField::UpdateType => FieldValue::UpdateType(Some(self.update_type)),
            RuleField::Product => text(&self.product),
            RuleField::Version => text(&self.version),
            RuleField::Channel => text(&self.channel),
            RuleField::BuildTarget => text(&self.build_target),
            RuleField::BuildId => text(&self.build_id),
            RuleField::Locale => text(&self.locale),
            RuleField::OsVersion => text(&self.os_version),
            RuleField::Memory => text(&self.memory),
            RuleField::InstructionSet => text(&self.instruction_set),
            RuleField::Distribution => text(&self.distribution),
            RuleField::DistVersion => text(&self.dist_version),
            RuleField::HeaderArchitecture => text(&self.header_architecture),
            RuleField::Mig64 => FieldValue::Boolean(self.mig64),
            RuleField::Jaws => FieldValue::Boolean(self.jaws),
            RuleField::Whitelist => text(&self.whitelist),
            RuleField::Comment => text(&self.comment),
            RuleField::StickyBy => text(&self.sticky_by),
        }
    }

    /// Sets one column. Values of the wrong kind cannot come out of [`RuleChanges::parse`];
    /// they, and nulls for required columns, leave the column as it is.
    fn set(&mut self, field: RuleField, value: FieldValue) {
        match (field, value) {
            (RuleField::Priority, FieldValue::Integer(Some(n))) => self.priority = n,
            (RuleField::BackgroundRate, FieldValue::Integer(Some(n))) => self.background_rate = n,
            (RuleField::UpdateType, FieldValue::UpdateType(Some(t))) => self.update_type = t,
            (RuleField::Mig64, FieldValue::Boolean(b)) => self.mig64 = b,
            (RuleField::Jaws, FieldValue::Boolean(b)) => self.jaws = b,
            (RuleField::Mapping, FieldValue::Text(Some(t))) => self.mapping = Some(t),
            (field, FieldValue::Text(t)) => {
                let slot = match field {
                    RuleField::Alias => &mut self.alias,
                    RuleField::FallbackMapping => &mut self.fallback_mapping,
                    RuleField::Product => &mut self.product,
                    RuleField::Version => &mut self.version,
                    RuleField::Channel => &mut self.channel,
                    RuleField::BuildTarget => &mut self.build_target,
                    RuleField::BuildId => &mut self.build_id,
                    RuleField::Locale => &mut self.locale,
                    RuleField::OsVersion => &mut self.os_version,
                    RuleField::Memory => &mut self.memory,
                    RuleField::InstructionSet => &mut self.instruction_set,
                    RuleField::Distribution => &mut self.distribution,
                    RuleField::DistVersion => &mut self.dist_version,
                    RuleField::HeaderArchitecture => &mut self.header_architecture,
                    RuleField::Whitelist => &mut self.whitelist,
                    RuleField::Comment => &mut self.comment,
                    RuleField::StickyBy => &mut self.sticky_by,
                    _ => return,
                };
                *slot = t;
            }
            _ => {}
        }
    }

    /// The releases this rule points at (`mapping`, then `fallbackMapping`).
    pub fn mapped_releases(&self) -> impl Iterator<Item = (RuleField, &str)> {
        [
            (RuleField::Mapping, self.mapping.as_deref()),
            (RuleField::FallbackMapping, self.fallback_mapping.as_deref()),
        ]
        .into_iter()
        .filter_map(|(field, name)| name.map(|n| (field, n)))
    }
}

impl Rule {
    /// The rule as Balrog's JSON object (every column, nulls included).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn create(value: Value) -> DomainResult<RuleFields> {
        RuleFields::create(&RuleChanges::parse(&map(value))?)
    }

    fn minimal() -> Value {
        json!({"priority": 100, "backgroundRate": 100, "update_type": "minor", "mapping": "Firefox-60.0"})
    }

    #[test]
    fn a_rule_needs_priority_rate_update_type_and_mapping() {
        let fields = create(minimal()).expect("valid");
        assert_eq!(fields.priority, 100);
        assert_eq!(fields.mapping.as_deref(), Some("Firefox-60.0"));
        for missing in ["priority", "backgroundRate", "update_type", "mapping"] {
            let mut input = minimal();
            input.as_object_mut().expect("object").remove(missing);
            let err = create(input).expect_err(missing);
            assert!(
                matches!(&err, DomainError::InvalidField { field, .. } if *field == missing),
                "{err}"
            );
        }
        let err = create(
            json!({"priority": 1, "backgroundRate": 1, "update_type": "minor", "mapping": "  "}),
        )
        .expect_err("blank mapping");
        assert_eq!(
            err.to_string(),
            "mapping: mapping value cannot be set to null/empty"
        );
    }

    #[test]
    fn form_strings_are_trimmed_emptied_and_read_as_numbers() {
        let fields = create(json!({
            "priority": " 90 ", "backgroundRate": "25", "update_type": " major ",
            "mapping": " Firefox-60.0 ", "channel": "  ", "locale": " de, en-US ,\tfr ",
            "distribution": "a, b", "product": " Firefox ", "mig64": "true", "jaws": "",
            "buildID": "<20180101000000", "memory": ">=512", "unknown": "ignored",
            "csrf_token": "x", "data_version": 3,
        }))
        .expect("valid");
        assert_eq!(fields.priority, 90);
        assert_eq!(fields.background_rate, 25);
        assert_eq!(fields.update_type, UpdateType::Major);
        assert_eq!(fields.mapping.as_deref(), Some("Firefox-60.0"));
        assert_eq!(fields.channel, None);
        assert_eq!(fields.locale.as_deref(), Some("de,en-US,fr"));
        assert_eq!(fields.distribution.as_deref(), Some("a,b"));
        assert_eq!(fields.product.as_deref(), Some("Firefox"));
        assert_eq!(fields.mig64, Some(true));
        assert_eq!(fields.jaws, None);
    }

    #[test]
    fn values_out_of_range_or_malformed_are_refused() {
        for (field, value) in [
            ("backgroundRate", json!(101)),
            ("backgroundRate", json!(-1)),
            ("backgroundRate", json!("lots")),
            ("priority", json!(-5)),
            ("priority", json!(1.5)),
            ("update_type", json!("minorish")),
            ("alias", json!("1st")),
            ("alias", json!("has space")),
            ("version", json!("sixty")),
            ("version", json!(">=60.0,61.0")),
            ("buildID", json!("2018*")),
            ("memory", json!("lots")),
            ("mig64", json!("maybe")),
            ("channel", json!(["release"])),
        ] {
            let mut input = minimal();
            input[field] = value.clone();
            let err = create(input).expect_err(&format!("{field}={value}"));
            assert!(
                matches!(&err, DomainError::InvalidField { field: f, .. } if *f == field),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn updates_change_only_what_they_name_and_refuse_null_required_columns() {
        let base = create(json!({
            "priority": 10, "backgroundRate": 50, "update_type": "minor",
            "mapping": "a", "channel": "release", "version": "2.0", "product": "FirefoxVPN",
        }))
        .expect("valid");
        let changes = RuleChanges::parse(&map(json!({"backgroundRate": "75", "channel": ""})))
            .expect("valid changes");
        let updated = base.apply(&changes).expect("applies");
        assert_eq!(updated.background_rate, 75);
        assert_eq!(updated.channel, None);
        assert_eq!(updated.priority, 10);
        assert_eq!(updated.mapping.as_deref(), Some("a"));

        for field in ["mapping", "priority", "backgroundRate", "update_type"] {
            let err = RuleChanges::parse(&map(json!({ field: null }))).expect_err(field);
            assert!(err.to_string().starts_with(field), "{err}");
        }
        // A product change re-checks the version against the product's grammar.
        let to_firefox = RuleChanges::parse(&map(json!({"product": "Firefox"}))).expect("valid");
        let loose = create(json!({"priority": 1, "backgroundRate": 1, "update_type": "minor", "mapping": "a", "version": "2", "product": "FirefoxVPN"})).expect("loose version");
        assert!(loose.apply(&to_firefox).is_err());
    }

    #[test]
    fn rules_serialise_with_balrogs_column_names() {
        let rule = Rule {
            rule_id: 7,
            fields: create(minimal()).expect("valid"),
            data_version: 2,
        };
        let json = rule.to_json();
        assert_eq!(json["rule_id"], 7);
        assert_eq!(json["backgroundRate"], 100);
        assert_eq!(json["fallbackMapping"], Value::Null);
        assert_eq!(json["buildID"], Value::Null);
        assert_eq!(json["update_type"], "minor");
        assert_eq!(json["data_version"], 2);
        let back: Rule = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, rule);
        let reverted = RuleFields::create(&RuleChanges::from_fields(&rule.fields)).expect("same");
        assert_eq!(reverted, rule.fields);
    }

    #[test]
    fn rule_refs_are_ids_or_aliases() {
        assert_eq!(RuleRef::parse("12"), Some(RuleRef::Id(12)));
        assert_eq!(
            RuleRef::parse("firefox-release"),
            Some(RuleRef::Alias("firefox-release".into()))
        );
        assert_eq!(RuleRef::parse("1a"), None);
        assert_eq!(RuleRef::parse("-1"), None);
        assert_eq!(RuleRef::parse(""), None);
        assert_eq!(RuleRef::parse("99999999999999999999999"), None);
    }

    #[test]
    fn a_stored_rule_may_have_no_mapping_but_a_new_one_may_not() {
        let no_mapping = json!({"priority": 100, "backgroundRate": 100, "update_type": "minor",
            "mapping": null, "product": "Firefox", "channel": "release"});
        assert!(
            create(no_mapping.clone()).is_err(),
            "the admin API refuses it"
        );
        let stored = RuleFields::create_stored(
            &RuleChanges::parse_stored(&map(no_mapping)).expect("readable"),
        )
        .expect("Balrog databases hold such rules");
        assert_eq!(stored.mapping, None);
        assert_eq!(stored.product.as_deref(), Some("Firefox"));
        // Left out entirely, too; the other required columns stay required.
        let absent = json!({"priority": 1, "backgroundRate": 0, "update_type": "major"});
        assert!(
            RuleFields::create_stored(&RuleChanges::parse_stored(&map(absent)).expect("ok"))
                .is_ok()
        );
        let no_rate = json!({"priority": 1, "update_type": "major", "mapping": null});
        let err = RuleFields::create_stored(&RuleChanges::parse_stored(&map(no_rate)).expect("ok"))
            .expect_err("backgroundRate is required");
        assert!(err.to_string().contains("backgroundRate"), "{err}");
        let null_priority = json!({"priority": null, "backgroundRate": 0, "update_type": "major"});
        assert!(RuleChanges::parse_stored(&map(null_priority)).is_err());
    }

    #[test]
    fn stored_versions_follow_balrogs_evaluation_not_its_write_validator() {
        // jsonschema_validators.version_validator: operators and globs are refused in a list,
        // and every operand must be a MozillaVersion.
        for version in ["<56.0,>=60.0", "58.*,61.0", "=60.0", ">=60.*"] {
            let rule = json!({"priority": 1, "backgroundRate": 100, "update_type": "minor",
                "mapping": "b", "product": "Firefox", "version": version});
            assert!(
                create(rule.clone()).is_err(),
                "the admin API refuses {version}"
            );
            let stored =
                RuleFields::create_stored(&RuleChanges::parse_stored(&map(rule)).expect("read"))
                    .expect("Balrog databases hold it");
            assert_eq!(stored.version.as_deref(), Some(version));
        }
    }
}
