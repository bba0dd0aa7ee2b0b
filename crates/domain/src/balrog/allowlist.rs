//! The download-domain allow-list: which hosts (and optionally which paths on them) each
//! product's blobs may send clients to. It is the guard against a mistaken or compromised admin
//! pointing clients at arbitrary downloads: a write bringing a URL the list does not allow for
//! the release's product is refused, and serving drops any URL the list does not allow for the
//! requesting product.
//!
//! The list is JSON, as Balrog's `DOMAIN_ALLOWLIST` setting is shaped:
//!
//! ```json
//! {"download.example.com": ["Firefox", "Thunderbird"],
//!  "cdn.example.com": {"/gmp/.*": ["GMP"], "/addons/.*": ["SystemAddons"]}}
//! ```
//!
//! A host maps to the products allowed on it, or to path patterns (regular expressions that
//! must match the whole path) each with its products; the first pattern matching the path
//! decides. Hosts match exactly: a port, user info or a sub-domain is a different host.

use std::collections::HashMap;

use serde_json::Value;

/// Who may use a host.
#[derive(Debug, Clone)]
enum Allowed {
    Products(Vec<String>),
    Paths(Vec<(regex_lite::Regex, Vec<String>)>),
}

/// The allow-list; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct DomainAllowlist {
    hosts: HashMap<String, Allowed>,
}

/// Why an allow-list document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("domain allow-list: {0}")]
pub struct AllowlistError(String);

fn products(value: &Value, at: &str) -> Result<Vec<String>, AllowlistError> {
    value
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| AllowlistError(format!("{at} must be a list of product names")))
}

impl DomainAllowlist {
    /// Reads the JSON document described in the module documentation.
    pub fn from_json(document: &Value) -> Result<DomainAllowlist, AllowlistError> {
        let entries = document
            .as_object()
            .ok_or_else(|| AllowlistError("the document must be an object of hosts".into()))?;
        let mut hosts = HashMap::new();
        for (host, entry) in entries {
            let allowed = match entry {
                Value::Object(paths) => {
                    let mut patterns = Vec::new();
                    for (pattern, value) in paths {
                        let regex =
                            regex_lite::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                                AllowlistError(format!("{host}: path pattern {pattern:?}: {e}"))
                            })?;
                        patterns.push((regex, products(value, &format!("{host} {pattern}"))?));
                    }
                    Allowed::Paths(patterns)
                }
                other => Allowed::Products(products(other, host)?),
            };
            hosts.insert(host.clone(), allowed);
        }
        Ok(DomainAllowlist { hosts })
    }

    /// Whether `product`'s blobs may send clients to `url`.
    pub fn allows(&self, url: &str, product: &str) -> bool {
        let (host, path) = host_and_path(url);
        let allowed = |products: &[String]| products.iter().any(|p| p == product);
        match self.hosts.get(host) {
            None => false,
            Some(Allowed::Products(products)) => allowed(products),
            Some(Allowed::Paths(patterns)) => patterns
                .iter()
                .find(|(pattern, _)| pattern.is_match(path))
                .is_some_and(|(_, products)| allowed(products)),
        }
    }

    /// Every URL in `blob` (a whole blob, or the top-level keys a partial edit brings) that
    /// `product` may not use, in the order the blob holds them.
    pub fn forbidden_in_blob(&self, blob: &Value, product: &str) -> Vec<String> {
        let mut urls = Vec::new();
        download_urls(blob, &mut urls);
        self.refuse(urls, product)
    }

    /// Every URL in one locale's entry (what a locale upload brings) that `product` may not use.
    pub fn forbidden_in_locale(&self, locale: &Value, product: &str) -> Vec<String> {
        let mut urls = Vec::new();
        locale_urls(locale, &mut urls);
        self.refuse(urls, product)
    }

    fn refuse(&self, urls: Vec<&str>, product: &str) -> Vec<String> {
        let mut refused: Vec<String> = Vec::new();
        for url in urls {
            if !self.allows(url, product) && !refused.iter().any(|r| r == url) {
                refused.push(url.to_owned());
            }
        }
        refused
    }
}

/// The host (everything between `//` and the path: user info and port included, as Python's
/// `netloc`) and the path of a URL. A URL without `//` has no host.
fn host_and_path(url: &str) -> (&str, &str) {
    let without_fragment = url.split('#').next().unwrap_or("");
    let without_query = without_fragment.split('?').next().unwrap_or("");
    let Some(at) = without_query.find("//") else {
        return ("", without_query);
    };
    // A scheme, if any, must come before `//` and be all scheme characters.
    let scheme = &without_query[..at];
    let scheme_ok = scheme.is_empty()
        || (scheme.ends_with(':')
            && scheme[..scheme.len() - 1]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)));
    if !scheme_ok {
        return ("", without_query);
    }
    let rest = &without_query[at + 2..];
    match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    }
}

fn push_str<'v>(value: Option<&'v Value>, urls: &mut Vec<&'v str>) {
    if let Some(url) = value.and_then(Value::as_str) {
        urls.push(url);
    }
}

/// The download URLs of a locale entry: `partial`/`complete` (schema 1–2) and each of
/// `partials`/`completes` (3+).
fn locale_urls<'v>(locale: &'v Value, urls: &mut Vec<&'v str>) {
    for key in ["partial", "complete"] {
        push_str(locale.get(key).and_then(|p| p.get("fileUrl")), urls);
    }
    for key in ["partials", "completes"] {
        for patch in locale
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push_str(patch.get("fileUrl"), urls);
        }
    }
}

/// The download URLs of a blob of any kind, as Balrog collects them: an app release's
/// `fileUrls` templates and its locales' patch URLs; GMP vendors' and system add-ons' platform
/// URLs and mirrors; Guardian platforms' URLs. Desupport `detailsUrl`s are links to read, not
/// downloads, and superblobs hold no URLs.
fn download_urls<'v>(blob: &'v Value, urls: &mut Vec<&'v str>) {
    for templates in blob
        .get("fileUrls")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|o| o.values())
    {
        match templates {
            // Schema 4+: channel → patch type → from → URL.
            Value::Object(by_type) => {
                for by_from in by_type.values() {
                    for url in by_from.as_object().into_iter().flat_map(|o| o.values()) {
                        push_str(Some(url), urls);
                    }
                }
            }
            // Schema 1–3: channel → URL.
            other => push_str(Some(other), urls),
        }
    }
    let platforms = blob.get("platforms").and_then(Value::as_object);
    for platform in platforms.into_iter().flat_map(|p| p.values()) {
        // Guardian platforms carry their URL directly.
        push_str(platform.get("fileUrl"), urls);
        for locale in platform
            .get("locales")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|l| l.values())
        {
            locale_urls(locale, urls);
        }
    }
    for section in ["vendors", "addons"] {
        for entry in blob
            .get(section)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|s| s.values())
        {
            for platform in entry
                .get("platforms")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|p| p.values())
            {
                push_str(platform.get("fileUrl"), urls);
                for mirror in platform
                    .get("mirrorUrls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    push_str(Some(mirror), urls);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn list() -> DomainAllowlist {
        DomainAllowlist::from_json(&json!({
            "download.example.com": ["Firefox", "Thunderbird"],
            "cdn.example.com": {"/gmp/.*": ["GMP"], "/addons/[a-z]+\\.xpi": ["SystemAddons"]}
        }))
        .expect("a valid list")
    }

    #[test]
    fn hosts_match_exactly_and_paths_match_whole() {
        let list = list();
        assert!(list.allows("https://download.example.com/?product=firefox", "Firefox"));
        assert!(list.allows("http://download.example.com", "Thunderbird"));
        assert!(!list.allows("https://download.example.com/x", "GMP"));
        for url in [
            "https://download.example.com:443/x",
            "https://user@download.example.com/x",
            "https://evil.download.example.com/x",
            "https://download.example.com.evil/x",
            "download.example.com/x",
            "",
        ] {
            assert!(!list.allows(url, "Firefox"), "{url}");
        }
        assert!(list.allows("https://cdn.example.com/gmp/widevine.zip", "GMP"));
        assert!(!list.allows("https://cdn.example.com/gmp/widevine.zip", "SystemAddons"));
        assert!(list.allows("https://cdn.example.com/addons/pip.xpi?x=1", "SystemAddons"));
        assert!(!list.allows(
            "https://cdn.example.com/addons/pip.xpi/more",
            "SystemAddons"
        ));
        assert!(!list.allows("https://cdn.example.com/other", "GMP"));
    }

    #[test]
    fn every_kind_of_blob_gives_up_its_download_urls() {
        let list = list();
        let app = json!({
            "fileUrls": {"*": {"completes": {"*": "https://download.example.com/c"},
                               "partials": {"R-1": "https://bad.example/p"}},
                         "beta": "https://bad.example/old-style"},
            "platforms": {"WINNT": {"locales": {"de": {
                "completes": [{"from": "*", "fileUrl": "https://bad.example/de"}],
                "partial": {"fileUrl": "https://download.example.com/ok"}}}}},
            "detailsUrl": "https://anywhere.example/notes"
        });
        assert_eq!(
            list.forbidden_in_blob(&app, "Firefox"),
            [
                "https://bad.example/p",
                "https://bad.example/old-style",
                "https://bad.example/de"
            ]
        );
        let gmp = json!({"vendors": {"v": {"platforms": {"default": {
            "fileUrl": "https://cdn.example.com/gmp/v.zip",
            "mirrorUrls": ["https://cdn.example.com/gmp/v.zip", "https://mirror.bad/v.zip"]}}}}});
        assert_eq!(
            list.forbidden_in_blob(&gmp, "GMP"),
            ["https://mirror.bad/v.zip"]
        );
        let guardian = json!({"platforms": {"WINNT": {"fileUrl": "https://bad.example/g.msi"}}});
        assert_eq!(
            list.forbidden_in_blob(&guardian, "Guardian"),
            ["https://bad.example/g.msi"]
        );
        let locale = json!({"completes": [{"fileUrl": "https://download.example.com/c"},
                                          {"fileUrl": "https://bad.example/c"}]});
        assert_eq!(
            list.forbidden_in_locale(&locale, "Firefox"),
            ["https://bad.example/c"]
        );
        let desupport = json!({"schema_version": 50, "detailsUrl": "https://bad.example/"});
        assert!(list.forbidden_in_blob(&desupport, "Firefox").is_empty());
    }

    #[test]
    fn a_malformed_list_is_refused_with_its_place() {
        for (document, part) in [
            (json!(["download.example.com"]), "object of hosts"),
            (json!({"h": "Firefox"}), "h must be a list"),
            (json!({"h": {"(": ["Firefox"]}}), "path pattern"),
            (json!({"h": {"/p": [1]}}), "h /p must be a list"),
        ] {
            let err = DomainAllowlist::from_json(&document).expect_err("malformed");
            assert!(err.to_string().contains(part), "{err}");
        }
    }
}
