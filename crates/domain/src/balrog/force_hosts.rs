//! Special force hosts: download URLs that are told about a client's `force` parameter.
//!
//! Balrog passes `force` on to the download URLs of some hosts (its `SPECIAL_FORCE_HOSTS`
//! setting; Mozilla's production list is `http://download.mozilla.org`, the bouncer). A bouncer
//! sends forced clients past its own throttling, so a QA client asking with `force=1` gets
//! the files the rule's rollout serves, not a throttled redirect. Only app-release patch URLs
//! are changed, as in Balrog (GMP and system add-on downloads never carry it).

use std::fmt;

use super::query::Force;

/// Why a special force host entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("special force host {entry:?}: {reason}")]
pub struct ForceHostError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// URL prefixes whose download URLs carry the client's `force` value.
///
/// An entry is compared as Balrog compares it: the URL must *start with* it, so
/// `http://download.mozilla.org` covers every path on that host (and, as in Balrog, a host name
/// that merely starts with it: end an entry with `/` to rule that out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialForceHosts {
    prefixes: Vec<Box<str>>,
}

impl SpecialForceHosts {
    /// Reads a comma list of URL prefixes (`http://download.example.com,https://dl.example.org/`).
    /// Each must be an `http://` or `https://` URL with a host and no whitespace; an empty list is
    /// none.
    pub fn parse(list: &str) -> Result<SpecialForceHosts, ForceHostError> {
        let mut prefixes = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let refuse = |reason| ForceHostError {
                entry: entry.to_owned(),
                reason,
            };
            let host = entry
                .strip_prefix("https://")
                .or_else(|| entry.strip_prefix("http://"))
                .ok_or_else(|| refuse("must start with http:// or https://"))?;
            if host.is_empty() || host.starts_with('/') {
                return Err(refuse("names no host"));
            }
            if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(refuse("must not contain whitespace"));
            }
            prefixes.push(entry.into());
        }
        Ok(SpecialForceHosts { prefixes })
    }

    /// Whether no prefix is configured.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// Whether `url` is on a special force host (Balrog's `isSpecialURL`).
    pub fn covers(&self, url: &str) -> bool {
        self.prefixes.iter().any(|p| url.starts_with(&**p))
    }

    /// `url` with `force=1` or `force=-1` added to its query string when it is on a special
    /// host and the client asked with `force`; otherwise `url` unchanged.
    pub fn pass_on(&self, url: String, force: Force) -> String {
        let value = match force {
            Force::None => return url,
            Force::Main => "1",
            Force::Fallback => "-1",
        };
        if !self.covers(&url) {
            return url;
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}force={value}")
    }
}

impl fmt::Display for SpecialForceHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefixes.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_is_passed_on_to_urls_on_special_hosts_only() {
        // AUS.isSpecialURL + ReleaseBlobBase.processSpecialForceHosts.
        let hosts = SpecialForceHosts::parse("http://download.example.com").expect("valid");
        assert_eq!(
            hosts.pass_on(
                "http://download.example.com/?product=f&os=win".into(),
                Force::Main
            ),
            "http://download.example.com/?product=f&os=win&force=1"
        );
        assert_eq!(
            hosts.pass_on("http://download.example.com/f.mar".into(), Force::Fallback),
            "http://download.example.com/f.mar?force=-1"
        );
        // Without force, or on another host, nothing changes.
        assert_eq!(
            hosts.pass_on("http://download.example.com/f.mar".into(), Force::None),
            "http://download.example.com/f.mar"
        );
        assert_eq!(
            hosts.pass_on("https://download.example.com/f.mar".into(), Force::Main),
            "https://download.example.com/f.mar",
            "a prefix, scheme included"
        );
        assert!(SpecialForceHosts::default().is_empty());
        assert!(!SpecialForceHosts::default().covers("http://download.example.com/"));
    }

    #[test]
    fn entries_are_http_url_prefixes() {
        let hosts =
            SpecialForceHosts::parse(" http://a.example , https://b.example/x ,").expect("valid");
        assert_eq!(hosts.to_string(), "http://a.example,https://b.example/x");
        assert!(SpecialForceHosts::parse("").expect("none").is_empty());
        for bad in [
            "download.example.com",
            "ftp://a",
            "http://",
            "https:///x",
            "http://a b",
        ] {
            assert!(SpecialForceHosts::parse(bad).is_err(), "{bad}");
        }
    }
}
