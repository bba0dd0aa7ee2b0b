//! Reads a page's query string: only the keys the page knows (anything else is a 400 naming
//! it), the last value of each, and an empty value (what a form sends for an empty field) as
//! no value.

use std::collections::BTreeMap;

use actix_web::web;

use super::UiError;

/// The non-empty parameters of one request.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<&'static str, String>,
}

impl Params {
    /// Reads `query`, refusing keys not in `known`.
    pub fn read(query: &str, known: &[&'static str]) -> Result<Params, UiError> {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
            .map_err(|e| UiError::bad_request(format!("The query string cannot be read: {e}")))?
            .into_inner();
        let mut values = BTreeMap::new();
        for (key, value) in pairs {
            let Some(known) = known.iter().find(|k| **k == key) else {
                return Err(UiError::bad_request(format!(
                    "This page has no parameter '{key}'; it takes {}",
                    known.join(", ")
                )));
            };
            let value = value.trim();
            if value.is_empty() {
                values.remove(known);
            } else {
                values.insert(*known, value.to_owned());
            }
        }
        Ok(Params { values })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value, or `""` (for form fields).
    pub fn text(&self, key: &str) -> &str {
        self.get(key).unwrap_or_default()
    }

    /// The value as one of `choices`, or `default` when absent.
    pub fn choice<'c>(
        &self,
        key: &str,
        choices: &[&'c str],
        default: &'c str,
    ) -> Result<&'c str, UiError> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => choices
                .iter()
                .find(|c| **c == value)
                .copied()
                .ok_or_else(|| {
                    UiError::bad_request(format!(
                        "'{key}' must be one of {}, not {value:?}",
                        choices.join(", ")
                    ))
                }),
        }
    }

    /// Every present (key, value), in key order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_absent_and_unknown_keys_refused() {
        let params = Params::read(
            "team=core&user=&platform=+eu+",
            &["team", "user", "platform"],
        )
        .expect("readable");
        assert_eq!(params.get("team"), Some("core"));
        assert_eq!(params.get("user"), None);
        assert_eq!(params.get("platform"), Some("eu"));
        let err = Params::read("colour=red", &["team"]).expect_err("unknown key");
        assert!(err.to_string().contains("'colour'"), "{err}");
        let params = Params::read("days=7", &["days"]).expect("readable");
        assert_eq!(params.choice("days", &["7", "30"], "30").ok(), Some("7"));
        assert!(params.choice("days", &["30"], "30").is_err());
    }
}
