//! Changing release blobs: the three edits the admin API offers, and the 3-way merge that
//! applies an edit made against an older version of a blob on top of the current one.
//!
//! Build automation uploads the locales of one nightly in parallel, each upload carrying the
//! `data_version` it read. Refusing all but the first would make the others retry forever, so, as
//! Balrog does, an edit made against an older (but real) version is merged: the blob at that
//! version is the common ancestor, the current blob is one side and the edited ancestor the
//! other. Objects merge key by key, arrays merge as sets, and only a real conflict — both sides
//! changing the same value differently, or a value changing type — is refused.

use std::fmt;

use serde_json::{Map, Value};

/// What a request does to a blob.
#[derive(Debug, Clone, PartialEq)]
pub enum BlobEdit {
    /// `PUT /releases/{name}`: the blob is replaced whole.
    Replace(Value),
    /// `POST /releases/{name}`: each top-level key given replaces the blob's (Python's
    /// `dict.update`, so a `platforms` given replaces every platform).
    MergeTopLevel(Map<String, Value>),
    /// `PUT /releases/{name}/builds/{platform}/{locale}`: one locale entry is replaced; each
    /// alias names a platform that should point at this one (added only where none exists).
    SetLocale {
        /// The platform (build target) the locale belongs to.
        platform: String,
        /// The locale replaced.
        locale: String,
        /// The locale entry, as the client sent it.
        data: Value,
        /// Platforms to point at `platform` with an `alias`.
        aliases: Vec<String>,
    },
}

impl BlobEdit {
    /// The blob `base` with this edit made.
    pub fn apply(&self, base: &Value) -> Value {
        match self {
            BlobEdit::Replace(blob) => blob.clone(),
            BlobEdit::MergeTopLevel(data) => {
                let mut blob = base.as_object().cloned().unwrap_or_default();
                for (key, value) in data {
                    blob.insert(key.clone(), value.clone());
                }
                Value::Object(blob)
            }
            BlobEdit::SetLocale {
                platform,
                locale,
                data,
                aliases,
            } => {
                let mut blob = base.as_object().cloned().unwrap_or_default();
                let mut platforms = blob
                    .remove("platforms")
                    .and_then(|p| match p {
                        Value::Object(map) => Some(map),
                        _ => None,
                    })
                    .unwrap_or_default();
                let target = resolve_platform(&platforms, platform).to_owned();
                let entry = platforms
                    .entry(target.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(entry) = entry {
                    let locales = entry
                        .entry("locales")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !locales.is_object() {
                        *locales = Value::Object(Map::new());
                    }
                    if let Value::Object(locales) = locales {
                        locales.insert(locale.clone(), data.clone());
                    }
                }
                for alias in aliases {
                    if !platforms.contains_key(alias) {
                        let mut pointer = Map::new();
                        pointer.insert("alias".into(), Value::String(target.clone()));
                        platforms.insert(alias.clone(), Value::Object(pointer));
                    }
                }
                blob.insert("platforms".into(), Value::Object(platforms));
                Value::Object(blob)
            }
        }
    }
}

/// The platform data for `platform` really lives under: a platform entry that is only
/// `{"alias": "other"}` points at another one (one level, as Balrog resolves it).
fn resolve_platform<'a>(platforms: &'a Map<String, Value>, platform: &'a str) -> &'a str {
    platforms
        .get(platform)
        .and_then(|entry| entry.get("alias"))
        .and_then(Value::as_str)
        .unwrap_or(platform)
}

/// The locale entry at `platform`/`locale` of a blob, if there is one (no alias resolution, as
/// Balrog's `GET …/builds/{platform}/{locale}`).
pub fn locale_entry<'a>(blob: &'a Value, platform: &str, locale: &str) -> Option<&'a Value> {
    blob.get("platforms")?
        .get(platform)?
        .get("locales")?
        .get(locale)
}

/// Whether a [`BlobEdit::SetLocale`] on `blob` would replace an existing entry.
pub fn has_locale(blob: &Value, platform: &str, locale: &str) -> bool {
    let Some(platforms) = blob.get("platforms").and_then(Value::as_object) else {
        return false;
    };
    let target = resolve_platform(platforms, platform);
    locale_entry(blob, target, locale).is_some()
}

/// Both sides changed the same value differently (or one changed its type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConflict {
    /// Where, as dotted keys from the blob's root (`platforms.WINNT.locales.de.buildID`).
    pub path: String,
}

impl fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conflicting changes at {}", self.path)
    }
}

impl std::error::Error for MergeConflict {}

/// Merges `left` and `right`, two descendants of `ancestor`: every change either side made
/// relative to the ancestor is kept; changes to the same place must agree.
pub fn merge3(ancestor: &Value, left: &Value, right: &Value) -> Result<Value, MergeConflict> {
    let merged = merge_at(Some(ancestor), Some(left), Some(right), &mut Vec::new())?;
    Ok(merged.unwrap_or(Value::Null))
}

/// `None` is a key that is absent (as opposed to `null`).
fn merge_at(
    ancestor: Option<&Value>,
    left: Option<&Value>,
    right: Option<&Value>,
    path: &mut Vec<String>,
) -> Result<Option<Value>, MergeConflict> {
    if left == right {
        return Ok(left.cloned());
    }
    if left == ancestor {
        return Ok(right.cloned());
    }
    if right == ancestor {
        return Ok(left.cloned());
    }
    match (left, right) {
        (Some(Value::Object(l)), Some(Value::Object(r))) => {
            let empty = Map::new();
            let a = ancestor.and_then(Value::as_object).unwrap_or(&empty);
            let mut keys: Vec<&String> = l.keys().collect();
            keys.extend(r.keys().filter(|k| !l.contains_key(*k)));
            keys.extend(
                a.keys()
                    .filter(|k| !l.contains_key(*k) && !r.contains_key(*k)),
            );
            let mut merged = Map::new();
            for key in keys {
                path.push(key.clone());
                let value = merge_at(a.get(key), l.get(key), r.get(key), path)?;
                path.pop();
                if let Some(value) = value {
                    merged.insert(key.clone(), value);
                }
            }
            Ok(Some(Value::Object(merged)))
        }
        (Some(Value::Array(l)), Some(Value::Array(r))) => {
            let empty = Vec::new();
            let a = ancestor.and_then(Value::as_array).unwrap_or(&empty);
            // As sets: an item survives unless a side removed it; items either side added stay.
            let mut merged: Vec<Value> = l
                .iter()
                .filter(|item| !a.contains(item) || r.contains(item))
                .cloned()
                .collect();
            for item in r {
                if !l.contains(item) && !a.contains(item) && !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            Ok(Some(Value::Array(merged)))
        }
        _ => Err(MergeConflict {
            path: if path.is_empty() {
                "the blob's root".to_owned()
            } else {
                path.join(".")
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locale(platform: &str, locale: &str, build: &str) -> BlobEdit {
        BlobEdit::SetLocale {
            platform: platform.into(),
            locale: locale.into(),
            data: json!({"buildID": build}),
            aliases: vec![],
        }
    }

    #[test]
    fn edits_replace_merge_top_level_or_set_one_locale() {
        let base = json!({"name": "r", "schema_version": 1, "platforms": {"p": {"locales": {"de": {"buildID": "1"}}}}});
        assert_eq!(
            BlobEdit::Replace(json!({"name": "r"})).apply(&base),
            json!({"name": "r"})
        );
        let merged = BlobEdit::MergeTopLevel(
            json!({"hashFunction": "sha512", "platforms": {"q": {}}})
                .as_object()
                .cloned()
                .expect("object"),
        )
        .apply(&base);
        assert_eq!(merged["hashFunction"], "sha512");
        assert_eq!(
            merged["platforms"],
            json!({"q": {}}),
            "top-level keys replace"
        );
        let with_fr = locale("p", "fr", "2").apply(&base);
        assert_eq!(with_fr["platforms"]["p"]["locales"]["de"]["buildID"], "1");
        assert_eq!(with_fr["platforms"]["p"]["locales"]["fr"]["buildID"], "2");
        assert!(has_locale(&with_fr, "p", "fr"));
        assert!(!has_locale(&base, "p", "fr"));
        let fresh = locale("new", "de", "3").apply(&json!({"name": "r"}));
        assert_eq!(fresh["platforms"]["new"]["locales"]["de"]["buildID"], "3");
    }

    #[test]
    fn locales_follow_platform_aliases_and_add_new_ones() {
        let base = json!({"platforms": {"real": {"locales": {}}, "other": {"alias": "real"}}});
        let edit = BlobEdit::SetLocale {
            platform: "other".into(),
            locale: "de".into(),
            data: json!({"buildID": "1"}),
            aliases: vec!["real".into(), "third".into()],
        };
        let blob = edit.apply(&base);
        assert_eq!(blob["platforms"]["real"]["locales"]["de"]["buildID"], "1");
        assert_eq!(blob["platforms"]["other"], json!({"alias": "real"}));
        assert_eq!(blob["platforms"]["third"], json!({"alias": "real"}));
        assert!(
            locale_entry(&blob, "other", "de").is_none(),
            "GET does not resolve aliases"
        );
        assert!(has_locale(&blob, "other", "de"));
    }

    #[test]
    fn parallel_locale_uploads_merge() {
        let ancestor = json!({"name": "r", "platforms": {"p": {"locales": {}}}});
        let left = locale("p", "de", "1").apply(&ancestor);
        let right = locale("p", "fr", "1").apply(&ancestor);
        let merged = merge3(&ancestor, &left, &right).expect("no conflict");
        assert_eq!(merged["platforms"]["p"]["locales"]["de"]["buildID"], "1");
        assert_eq!(merged["platforms"]["p"]["locales"]["fr"]["buildID"], "1");
        let third = locale("q", "en-US", "1").apply(&ancestor);
        let merged = merge3(&ancestor, &merged, &third).expect("no conflict");
        assert_eq!(merged["platforms"].as_object().expect("object").len(), 2);
    }

    #[test]
    fn the_same_change_on_both_sides_is_no_conflict_but_different_ones_are() {
        let ancestor = json!({"a": 1, "b": {"c": 1}});
        let same = json!({"a": 2, "b": {"c": 1}});
        assert_eq!(merge3(&ancestor, &same, &same), Ok(same.clone()));
        let other = json!({"a": 3, "b": {"c": 1}});
        assert_eq!(
            merge3(&ancestor, &same, &other),
            Err(MergeConflict { path: "a".into() })
        );
        let typed = json!({"a": 1, "b": [1]});
        let deeper = json!({"a": 1, "b": {"c": 2}});
        assert_eq!(
            merge3(&ancestor, &typed, &deeper).map_err(|e| e.to_string()),
            Err("conflicting changes at b".to_owned())
        );
        let deep_left = json!({"a": 1, "b": {"c": 5}});
        assert_eq!(
            merge3(&ancestor, &deep_left, &deeper).map_err(|e| e.path),
            Err("b.c".to_owned())
        );
    }

    #[test]
    fn deletions_and_lists_merge_as_sets() {
        let ancestor = json!({"keep": 1, "drop": 1, "list": [1, 2, 3]});
        let left = json!({"keep": 1, "list": [1, 2, 3, 4]});
        let right = json!({"keep": 1, "drop": 1, "list": [2, 3, 5], "new": true});
        let merged = merge3(&ancestor, &left, &right).expect("no conflict");
        assert_eq!(
            merged,
            json!({"keep": 1, "list": [2, 3, 4, 5], "new": true})
        );
        // Deleting what the other side changed is a conflict.
        let changed = json!({"keep": 1, "drop": 2, "list": [1, 2, 3]});
        assert!(merge3(&ancestor, &left, &changed).is_err());
    }
}
