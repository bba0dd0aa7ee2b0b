//! An update blob's JSON as the update protocol reads it: the kind of blob by its
//! `schema_version`, the platform entry for a build target (one `alias` followed), a locale's
//! entry, and the values a locale inherits from its platform or from the blob.
//!
//! Both the serving policy ([`serving`](super::serving)) and the rendering of `update.xml`
//! ([`update_xml`](super::update_xml)) read blobs through these functions.

use serde_json::Value;

/// A blob's JSON field as text (`None` when absent or not a string).
pub(crate) fn text<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

/// What kind of blob a release holds, by its `schema_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    App(u64),
    Desupport,
    /// Gecko media plugins (schema 1000): `<addons>`, one per vendor, with mirrors.
    Gmp,
    /// A superblob (schema 4000): the answers of other products or other named releases.
    SuperBlob,
    /// System add-ons (schema 5000): `<addons>`, one per add-on.
    SystemAddons,
    /// Guardian (schema 10000): served as JSON by `/json`, never as XML.
    Guardian,
}

pub(crate) fn kind(data: &Value) -> Option<Kind> {
    match data.get("schema_version").and_then(Value::as_u64)? {
        schema @ (1..=6 | 8 | 9) => Some(Kind::App(schema)),
        50 => Some(Kind::Desupport),
        1000 => Some(Kind::Gmp),
        4000 => Some(Kind::SuperBlob),
        5000 => Some(Kind::SystemAddons),
        10000 => Some(Kind::Guardian),
        _ => None,
    }
}

/// The platform entry for a build target, following one `alias`.
pub(crate) fn platform<'v>(data: &'v Value, build_target: &str) -> Option<&'v Value> {
    let platforms = data.get("platforms")?;
    let entry = platforms.get(build_target)?;
    match text(entry, "alias") {
        Some(alias) => platforms.get(alias),
        None => Some(entry),
    }
}

pub(crate) fn locale_data<'v>(
    data: &'v Value,
    build_target: &str,
    locale: &str,
) -> Option<&'v Value> {
    platform(data, build_target)?.get("locales")?.get(locale)
}

/// A locale's own value, else the blob's top-level one.
pub(crate) fn locale_or_top<'v>(
    data: &'v Value,
    build_target: &str,
    locale: &str,
    key: &str,
) -> Option<&'v Value> {
    locale_data(data, build_target, locale)
        .and_then(|l| l.get(key))
        .or_else(|| data.get(key))
}

/// The build id of a locale (or of its platform); `None` when the locale is missing.
pub(crate) fn build_id<'v>(data: &'v Value, build_target: &str, locale: &str) -> Option<&'v str> {
    let platform = platform(data, build_target)?;
    let locale = platform.get("locales")?.get(locale)?;
    text(locale, "buildID").or_else(|| text(platform, "buildID"))
}

pub(crate) fn has_platform(data: &Value, build_target: &str) -> bool {
    data.get("platforms")
        .and_then(|p| p.get(build_target))
        .is_some()
}
