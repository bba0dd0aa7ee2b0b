//! The `update.xml` a client receives for a decision (Balrog's answer to an update check).
//!
//! App release blobs render an `<update>` with one complete and at most one partial patch; a
//! partial is offered only when the release it starts `from` is the client's own build.
//! Desupport blobs (schema 50) render an `unsupported="true"` update. GMP, system add-ons and
//! superblobs render `<addons>` (`addons_xml`); Guardian blobs are served
//! as JSON only, so the XML protocol answers them with the empty document. Whether anything is served at all was decided before, by the rule set and the
//! [`serving`](super::serving) policy.

use serde_json::Value;

use super::addons_xml::addons_xml;
use super::dice::RandomSource;
use super::evaluation_error::EvaluationError;
use super::matcher::{build_id_condition_matches, version_condition_matches};
use super::named_release::NamedRelease;
use super::query::Query;
use super::rule_set::{Decision, RuleSet};
use super::update_blob::{
    build_id, has_platform, kind, locale_data, locale_or_top, platform, text, Kind,
};

/// The answer when nothing is served (also with 200, never 404).
pub const EMPTY_UPDATES: &str = "<?xml version=\"1.0\"?>\n<updates>\n</updates>";

/// Escapes a value for a double-quoted XML attribute.
fn escape(value: &str, out: &mut String) {
    // Most values (versions, build ids, URLs, hashes) need no escaping: copied in one go.
    if !value
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"'))
    {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// A blob value as attribute text: strings as they are, booleans lower-case.
pub(crate) fn attribute_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn attribute(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape(value, out);
    out.push('"');
}

/// [`attribute`] with a blob value as [`attribute_text`] reads it (an empty value when it is
/// missing), without copying a string value first.
fn attribute_of(out: &mut String, name: &str, value: Option<&Value>) {
    match value {
        Some(Value::String(s)) => attribute(out, name, s),
        Some(other) => attribute(out, name, &attribute_text(other)),
        None => attribute(out, name, ""),
    }
}

/// A placeholder a blob's templates may hold, in the two spellings Balrog replaces.
#[derive(Clone, Copy)]
struct Placeholder {
    upper: &'static str,
    lower: &'static str,
}

/// Placeholder constants, each from its name in both spellings.
macro_rules! placeholders {
    ($($name:ident = $upper:literal, $lower:literal;)*) => {
        $(const $name: Placeholder = Placeholder {
            upper: concat!("%", $upper, "%"),
            lower: concat!("%", $lower, "%"),
        };)*
    };
}

placeholders! {
    LOCALE = "LOCALE", "locale";
    VERSION = "VERSION", "version";
    OS = "OS", "os";
    OS_FTP = "OS_FTP", "os_ftp";
    OS_BOUNCER = "OS_BOUNCER", "os_bouncer";
    FILENAME = "FILENAME", "filename";
    PRODUCT = "PRODUCT", "product";
}

/// `%LOCALE%`/`%locale%` and friends, replaced one after another in the order given (so a
/// value may itself hold a later placeholder, as in Balrog). A template without `%`, the
/// common case, is returned as it is.
fn interpolate(template: String, replacements: &[(Placeholder, &str)]) -> String {
    if !template.contains('%') {
        return template;
    }
    let mut text = template;
    for (placeholder, value) in replacements {
        for pattern in [placeholder.upper, placeholder.lower] {
            if text.contains(pattern) {
                text = text.replace(pattern, value);
            }
        }
    }
    text
}

/// The `update.xml` for a decision: the empty document when nothing is served. A superblob
/// evaluates the query again for each product it names, hence `random`; a GMP or system add-ons
/// blob missing what its `<addon>` lines need is an error (Balrog answers 400).
pub fn update_xml(
    set: &RuleSet,
    decision: &Decision<'_>,
    query: &Query<'_>,
    random: &mut impl RandomSource,
) -> Result<String, EvaluationError> {
    let Some(release) = decision.release else {
        return Ok(EMPTY_UPDATES.to_owned());
    };
    let update_type = decision.update_type().as_str();
    Ok(match kind(&release.data) {
        Some(Kind::App(schema)) => app_xml(set, release, schema, update_type, query),
        Some(Kind::Desupport) => desupport_xml(&release.data, update_type, query),
        Some(blob_kind @ (Kind::Gmp | Kind::SystemAddons | Kind::SuperBlob)) => {
            return addons_xml(set, release, blob_kind, query, random)
        }
        // Guardian blobs are served as JSON only (`/json`).
        Some(Kind::Guardian) | None => EMPTY_UPDATES.to_owned(),
    })
}

fn desupport_xml(data: &Value, update_type: &str, query: &Query<'_>) -> String {
    let target = query.build_target.unwrap_or("");
    let os = target.split('_').next().unwrap_or(target);
    let details = interpolate(
        text(data, "detailsUrl").unwrap_or("").to_owned(),
        &[
            (LOCALE, query.locale.unwrap_or("")),
            (VERSION, query.version),
            (OS, os),
        ],
    );
    let mut line = String::from("    <update");
    attribute(&mut line, "type", update_type);
    attribute(&mut line, "unsupported", "true");
    attribute(&mut line, "detailsURL", &details);
    attribute(
        &mut line,
        "displayVersion",
        &data
            .get("displayVersion")
            .map(attribute_text)
            .unwrap_or_default(),
    );
    line.push('>');
    // Balrog's desupport blob has an empty inner header, hence the blank line.
    format!("<?xml version=\"1.0\"?>\n<updates>\n\n{line}\n</update>\n</updates>")
}

/// The optional `<update>` attributes each app schema copies from the blob, and which of them
/// take `%LOCALE%`.
fn optional_attributes(schema: u64) -> (&'static [&'static str], &'static [&'static str]) {
    const V2: &[&str] = &[
        "billboardURL",
        "showPrompt",
        "showNeverForVersion",
        "actions",
        "openURL",
        "notificationURL",
        "alertURL",
    ];
    const V5: &[&str] = &[
        "billboardURL",
        "showPrompt",
        "showNeverForVersion",
        "actions",
        "openURL",
        "notificationURL",
        "alertURL",
        "promptWaitTime",
    ];
    const V6: &[&str] = &[
        "showPrompt",
        "showNeverForVersion",
        "actions",
        "openURL",
        "notificationURL",
        "alertURL",
        "promptWaitTime",
    ];
    const V8: &[&str] = &[
        "showPrompt",
        "showNeverForVersion",
        "actions",
        "openURL",
        "notificationURL",
        "alertURL",
        "promptWaitTime",
        "binTransMerkleRoot",
        "binTransCertificate",
        "binTransSCTList",
    ];
    const OLD_INTERPOLABLE: &[&str] = &["billboardURL", "openURL", "notificationURL", "alertURL"];
    const INTERPOLABLE: &[&str] = &["openURL", "notificationURL", "alertURL"];
    match schema {
        2..=4 => (V2, OLD_INTERPOLABLE),
        5 => (V5, OLD_INTERPOLABLE),
        6 => (V6, INTERPOLABLE),
        8 => (V8, INTERPOLABLE),
        _ => (&[], &[]),
    }
}

fn app_xml(
    set: &RuleSet,
    release: &NamedRelease,
    schema: u64,
    update_type: &str,
    query: &Query<'_>,
) -> String {
    let data = &release.data;
    let target = query.build_target.unwrap_or("");
    let locale = query.locale.unwrap_or("");
    let Some(locale_entry) = locale_data(data, target, locale) else {
        return EMPTY_UPDATES.to_owned();
    };
    let param = |key: &str| locale_or_top(data, target, locale, key).map(attribute_text);
    let build = build_id(data, target, locale).unwrap_or("").to_owned();
    let with_locale = |value: String| interpolate(value, &[(LOCALE, locale)]);

    let mut xml = String::with_capacity(1024);
    xml.push_str("<?xml version=\"1.0\"?>\n<updates>\n    <update");
    if schema == 9 {
        let mut attrs: Vec<(String, String)> = Vec::new();
        let mut set_attr = |key: &str, value: String| match attrs.iter_mut().find(|(k, _)| k == key)
        {
            Some(slot) => slot.1 = value,
            None => attrs.push((key.to_owned(), value)),
        };
        if let Some(v) = param("appVersion") {
            set_attr("appVersion", v);
        }
        if let Some(v) = param("displayVersion") {
            set_attr("displayVersion", v);
        }
        set_attr("buildID", build.clone());
        set_attr("type", update_type.to_owned());
        for group in data
            .get("updateLine")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if update_line_applies(group, query) {
                if let Some(fields) = group.get("fields").and_then(Value::as_object) {
                    for (key, value) in fields {
                        set_attr(key, attribute_text(value));
                    }
                }
            }
        }
        attrs.sort();
        for (key, value) in attrs {
            let value = if ["openURL", "notificationURL", "alertURL", "detailsURL"]
                .contains(&key.as_str())
            {
                with_locale(value)
            } else {
                value
            };
            attribute(&mut xml, &key, &value);
        }
    } else {
        attribute(&mut xml, "type", update_type);
        let versions: &[(&str, &str)] = if schema == 1 {
            &[("version", "appv"), ("extensionVersion", "extv")]
        } else {
            &[
                ("displayVersion", "displayVersion"),
                ("appVersion", "appVersion"),
                ("platformVersion", "platformVersion"),
            ]
        };
        for (name, key) in versions {
            // Balrog prints a missing value as "None"; shiplog leaves the attribute out.
            if let Some(value) = param(key) {
                attribute(&mut xml, name, &value);
            }
        }
        attribute(&mut xml, "buildID", &build);
        for (name, key) in [("detailsURL", "detailsUrl"), ("licenseURL", "licenseUrl")] {
            if let Some(value) = data.get(key) {
                attribute(&mut xml, name, &with_locale(attribute_text(value)));
            }
        }
        if schema >= 2 {
            if locale_entry.get("isOSUpdate").and_then(Value::as_bool) == Some(true) {
                attribute(&mut xml, "isOSUpdate", "true");
            }
            let (optional, interpolable) = optional_attributes(schema);
            for name in optional {
                if let Some(value) = data.get(*name) {
                    let value = attribute_text(value);
                    let value = if interpolable.contains(name) {
                        with_locale(value)
                    } else {
                        value
                    };
                    attribute(&mut xml, name, &value);
                }
            }
        }
    }
    xml.push('>');

    let patch_lists: &[(&str, &str)] = if schema <= 2 {
        &[("complete", "complete"), ("partial", "partial")]
    } else {
        &[("completes", "complete"), ("partials", "partial")]
    };
    for (key, patch_type) in patch_lists {
        let candidates: &[Value] = match locale_entry.get(*key) {
            Some(Value::Array(items)) => items,
            Some(single @ Value::Object(_)) => std::slice::from_ref(single),
            _ => &[],
        };
        // The first patch that applies to this client; at most one of each type.
        let _ = candidates.iter().any(|patch| {
            patch_xml(set, data, schema, key, patch_type, patch, query, &mut xml).is_some()
        });
    }
    xml.push_str("\n    </update>\n</updates>");
    xml
}

/// Whether a schema 9 `updateLine` group's `for` conditions all hold for the query.
fn update_line_applies(group: &Value, query: &Query<'_>) -> bool {
    let Some(conditions) = group.get("for").and_then(Value::as_object) else {
        return true;
    };
    conditions.iter().all(|(condition, values)| {
        let values = values.as_array().map(Vec::as_slice).unwrap_or_default();
        let texts = || values.iter().filter_map(Value::as_str);
        match condition.as_str() {
            "channels" => texts().any(|pattern| {
                let channel = query.channel();
                let fallback = query.fallback_channel();
                let glob = |c: &str| match pattern.strip_suffix('*') {
                    Some(prefix) => pattern.len() >= 3 && c.starts_with(prefix),
                    None => pattern == c,
                };
                glob(channel) || glob(&fallback)
            }),
            "locales" => texts().any(|l| Some(l) == query.locale),
            "versions" => {
                texts().any(|condition| version_condition_matches(condition, query.version))
            }
            "buildIDs" => texts().any(|condition| {
                build_id_condition_matches(condition, query.build_id.unwrap_or(""))
            }),
            _ => false,
        }
    })
}

/// Appends one `<patch>` line (after a line break) to `out`; `None`, with nothing written, when
/// the patch does not apply (its `from` release is not the client's build, or no URL can be
/// found for it).
#[allow(clippy::too_many_arguments)]
fn patch_xml(
    set: &RuleSet,
    data: &Value,
    schema: u64,
    patch_key: &str,
    patch_type: &str,
    patch: &Value,
    query: &Query<'_>,
    out: &mut String,
) -> Option<()> {
    let from = text(patch, "from").unwrap_or("*");
    if from != "*" {
        let from_release = set.release(from)?;
        let target = query.build_target.unwrap_or("");
        let matches_client = has_platform(&from_release.data, target)
            && build_id(&from_release.data, target, query.locale.unwrap_or(""))
                == Some(query.build_id.unwrap_or(""));
        if !matches_client {
            return None;
        }
    }
    let url = match text(patch, "fileUrl") {
        Some(url) => url.to_owned(),
        None => file_url(data, schema, patch_key, from, query)?,
    };
    // A URL the allow-list does not allow for this product: the next patch may do.
    if !set.allows_url(&url, query.product) {
        return None;
    }
    let url = set.pass_on_force(url, query.force);
    out.push_str("\n        <patch");
    attribute(out, "type", patch_type);
    attribute(out, "URL", &url);
    attribute_of(out, "hashFunction", data.get("hashFunction"));
    attribute_of(out, "hashValue", patch.get("hashValue"));
    attribute_of(out, "size", patch.get("filesize"));
    if schema >= 8 {
        if let Some(proof) = patch.get("binTransInclusionProof") {
            attribute_of(out, "binTransInclusionProof", Some(proof));
        }
    }
    out.push_str("/>");
    Some(())
}

/// A patch URL from the blob's `fileUrls` templates.
fn file_url(
    data: &Value,
    schema: u64,
    patch_key: &str,
    from: &str,
    query: &Query<'_>,
) -> Option<String> {
    let file_urls = data.get("fileUrls")?;
    let target = query.build_target.unwrap_or("");
    let platform = platform(data, target)?;
    let os_ftp = text(platform, "OS_FTP").unwrap_or("");
    let os_bouncer = text(platform, "OS_BOUNCER").unwrap_or("");
    let locale = query.locale.unwrap_or("");
    if schema <= 3 {
        // One template per channel (or its fallback), with %FILENAME% and %PRODUCT% looked up
        // per patch (and, from schema 3, per `from` release).
        let template = text(file_urls, query.channel())
            .or_else(|| text(file_urls, &query.fallback_channel()))?;
        let lookup = |table: &str| {
            let entry = data.get(table).and_then(|t| t.get(patch_key));
            let value = if schema == 3 {
                entry.and_then(|e| e.get(from))
            } else {
                entry
            };
            value.and_then(Value::as_str).unwrap_or("").to_owned()
        };
        let filename = lookup("ftpFilenames");
        let product = lookup("bouncerProducts");
        return Some(interpolate(
            template.to_owned(),
            &[
                (LOCALE, locale),
                (OS_FTP, os_ftp),
                (FILENAME, &filename),
                (PRODUCT, &product),
                (OS_BOUNCER, os_bouncer),
            ],
        ));
    }
    // Schema 4+: the client's channel, its fallback, then the catch-all "*"; the first block
    // present decides, even when it lacks this patch.
    let fallback = query.fallback_channel();
    let block = [query.channel(), &fallback, "*"]
        .into_iter()
        .find_map(|c| {
            file_urls
                .get(c)
                .filter(|b| b.as_object().is_some_and(|o| !o.is_empty()))
        })?;
    let template = block.get(patch_key).and_then(|k| text(k, from))?;
    Some(interpolate(
        template.to_owned(),
        &[(LOCALE, locale), (OS_FTP, os_ftp), (OS_BOUNCER, os_bouncer)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balrog::dice::FixedRoll;
    use crate::balrog::evaluation_error::EvaluationError;
    use crate::balrog::force_hosts::SpecialForceHosts;
    use crate::balrog::query::Force;
    use crate::balrog::rule::{Rule, RuleFields};
    use serde_json::json;

    #[test]
    fn placeholders_are_replaced_in_both_spellings_one_after_another() {
        let template = "https://x/%LOCALE%/%locale%/%OS_FTP%/%os_bouncer%/%PRODUCT%".to_owned();
        // A value holding a later placeholder gets it replaced too, as Balrog's chain of
        // `replace` calls does.
        let text = interpolate(
            template,
            &[(LOCALE, "%OS_FTP%"), (OS_FTP, "win64"), (OS_BOUNCER, "win")],
        );
        assert_eq!(text, "https://x/win64/win64/win64/win/%PRODUCT%");
        assert_eq!(
            interpolate("no placeholders".to_owned(), &[(LOCALE, "de")]),
            "no placeholders"
        );
        assert_eq!(
            interpolate("100% %Locale%".to_owned(), &[(LOCALE, "de")]),
            "100% %Locale%"
        );
    }

    #[test]
    fn attribute_values_are_escaped_only_where_they_need_it() {
        let mut out = String::new();
        attribute(&mut out, "a", "plain-1.0");
        attribute(&mut out, "b", "x&y<z>\"q\" ü");
        attribute_of(&mut out, "c", Some(&json!(true)));
        attribute_of(&mut out, "d", Some(&json!(null)));
        attribute_of(&mut out, "e", Some(&json!(12)));
        attribute_of(&mut out, "f", None);
        assert_eq!(
            out,
            " a=\"plain-1.0\" b=\"x&amp;y&lt;z&gt;&quot;q&quot; ü\" c=\"true\" d=\"None\" e=\"12\" f=\"\""
        );
    }

    fn named(name: &str, data: Value) -> NamedRelease {
        NamedRelease {
            id: crate::ReleaseId::new(),
            name: name.into(),
            product: "Firefox".into(),
            data,
            read_only: false,
            data_version: 1,
        }
    }

    fn rule(mapping: &str, update_type: &str) -> Rule {
        let fields: RuleFields = serde_json::from_value(json!({
            "alias": null, "priority": 100, "mapping": mapping, "fallbackMapping": null,
            "backgroundRate": 100, "update_type": update_type, "product": "Firefox",
            "version": null, "channel": null, "buildTarget": null, "buildID": null,
            "locale": null, "osVersion": null, "memory": null, "instructionSet": null,
            "distribution": null, "distVersion": null, "headerArchitecture": null,
            "mig64": null, "jaws": null, "whitelist": null, "comment": null
        }))
        .expect("fields");
        Rule {
            rule_id: 1,
            fields,
            data_version: 1,
        }
    }

    /// Firefox 61.0 (v4 blob) with a partial from 60.0's build, and 60.0 itself.
    fn releases() -> Vec<NamedRelease> {
        let new = json!({
            "name": "Firefox-61.0", "schema_version": 4, "hashFunction": "sha512",
            "appVersion": "61.0", "displayVersion": "61.0", "platformVersion": "61.0",
            "detailsUrl": "https://example.com/%LOCALE%/firefox/61.0/releasenotes/",
            "fileUrls": {"release": {
                "completes": {"*": "https://dl.example.com/?product=firefox-61.0-complete&os=%OS_BOUNCER%&lang=%LOCALE%"},
                "partials": {"Firefox-60.0": "https://dl.example.com/?product=firefox-61.0-partial-60.0&os=%OS_BOUNCER%&lang=%LOCALE%"}
            }},
            "platforms": {
                "WINNT_x86_64-msvc": {"OS_BOUNCER": "win64", "OS_FTP": "win64", "locales": {
                    "de": {"buildID": "20180620000000",
                        "completes": [{"from": "*", "filesize": 41, "hashValue": "c0"}],
                        "partials": [
                            {"from": "Firefox-59.0", "filesize": 7, "hashValue": "p59"},
                            {"from": "Firefox-60.0", "filesize": 8, "hashValue": "p60"}
                        ]}
                }},
                "WINNT_x86_64-msvc-x64": {"alias": "WINNT_x86_64-msvc"}
            }
        });
        let old = json!({
            "name": "Firefox-60.0", "schema_version": 4, "hashFunction": "sha512",
            "appVersion": "60.0",
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "20180501000000"}}}}
        });
        let desupport = json!({
            "name": "Desupport", "schema_version": 50,
            "detailsUrl": "https://example.com/%LOCALE%/%OS%/unsupported/%VERSION%",
            "displayVersion": "61.0"
        });
        vec![
            named("Firefox-61.0", new),
            named("Firefox-60.0", old),
            named("Desupport", desupport),
        ]
    }

    fn xml_for(mapping: &str, query: &Query<'_>) -> String {
        let set = RuleSet::compile(&[rule(mapping, "minor")], &[], releases()).expect("ok");
        let decision = set.evaluate(query, &mut FixedRoll(0)).expect("ok");
        update_xml(&set, &decision, query, &mut FixedRoll(0)).expect("renders")
    }

    fn query(build_id: &'static str) -> Query<'static> {
        Query {
            build_id: Some(build_id),
            build_target: Some("WINNT_x86_64-msvc"),
            locale: Some("de"),
            channel: Some("release"),
            ..Query::new("Firefox", "60.0")
        }
    }

    #[test]
    fn a_client_on_the_partials_from_build_gets_complete_and_partial() {
        let xml = xml_for("Firefox-61.0", &query("20180501000000"));
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?>\n<updates>\n    <update type=\"minor\" displayVersion=\"61.0\" appVersion=\"61.0\" platformVersion=\"61.0\" buildID=\"20180620000000\" detailsURL=\"https://example.com/de/firefox/61.0/releasenotes/\">\n        <patch type=\"complete\" URL=\"https://dl.example.com/?product=firefox-61.0-complete&amp;os=win64&amp;lang=de\" hashFunction=\"sha512\" hashValue=\"c0\" size=\"41\"/>\n        <patch type=\"partial\" URL=\"https://dl.example.com/?product=firefox-61.0-partial-60.0&amp;os=win64&amp;lang=de\" hashFunction=\"sha512\" hashValue=\"p60\" size=\"8\"/>\n    </update>\n</updates>"
        );
    }

    #[test]
    fn force_is_passed_on_to_patch_urls_on_special_force_hosts() {
        let hosts = SpecialForceHosts::parse("https://dl.example.com").expect("valid");
        let set = RuleSet::compile(&[rule("Firefox-61.0", "minor")], &[], releases())
            .expect("ok")
            .with_special_force_hosts(std::sync::Arc::new(hosts));
        let forced = Query {
            force: Force::Main,
            ..query("20180501000000")
        };
        let decision = set.evaluate(&forced, &mut FixedRoll(0)).expect("ok");
        let xml = update_xml(&set, &decision, &forced, &mut FixedRoll(0)).expect("renders");
        // Both patches are on the special host: each URL carries the client's force=1.
        assert_eq!(
            xml.matches("&amp;lang=de&amp;force=1\"").count(),
            2,
            "{xml}"
        );
        // Without force the URLs are as the blob makes them.
        let plain = query("20180501000000");
        let decision = set.evaluate(&plain, &mut FixedRoll(0)).expect("ok");
        let xml = update_xml(&set, &decision, &plain, &mut FixedRoll(0)).expect("renders");
        assert!(!xml.contains("force="), "{xml}");
    }

    #[test]
    fn another_build_gets_only_the_complete() {
        let xml = xml_for("Firefox-61.0", &query("20180401000000"));
        assert!(xml.contains("type=\"complete\""), "{xml}");
        assert!(!xml.contains("type=\"partial\""), "{xml}");
    }

    #[test]
    fn an_aliased_platform_serves_the_aliased_builds() {
        let q = Query {
            build_target: Some("WINNT_x86_64-msvc-x64"),
            ..query("20180401000000")
        };
        let xml = xml_for("Firefox-61.0", &q);
        assert!(xml.contains("buildID=\"20180620000000\""), "{xml}");
    }

    #[test]
    fn nothing_served_is_the_empty_document() {
        let newer = Query {
            version: "62.0",
            ..query("1")
        };
        assert_eq!(xml_for("Firefox-61.0", &newer), EMPTY_UPDATES);
        let other_locale = Query {
            locale: Some("fr"),
            ..query("1")
        };
        assert_eq!(xml_for("Firefox-61.0", &other_locale), EMPTY_UPDATES);
    }

    #[test]
    fn desupport_blobs_always_serve_an_unsupported_update() {
        let q = Query {
            version: "70.0",
            ..query("1")
        };
        assert_eq!(
            xml_for("Desupport", &q),
            "<?xml version=\"1.0\"?>\n<updates>\n\n    <update type=\"minor\" unsupported=\"true\" detailsURL=\"https://example.com/de/WINNT/unsupported/70.0\" displayVersion=\"61.0\">\n</update>\n</updates>"
        );
    }

    #[test]
    fn schema_9_update_lines_apply_matching_groups_in_key_order() {
        let blob = json!({
            "name": "R9", "schema_version": 9, "hashFunction": "sha512",
            "appVersion": "61.0", "displayVersion": "61.0",
            "updateLine": [
                {"for": {}, "fields": {"detailsURL": "https://e.com/%LOCALE%/", "type": "minor"}},
                {"for": {"channels": ["release*"], "versions": ["<61.0"]}, "fields": {"showPrompt": true}},
                {"for": {"locales": ["fr"]}, "fields": {"actions": "silent"}}
            ],
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "2",
                "completes": [{"from": "*", "filesize": 1, "hashValue": "h", "fileUrl": "https://e.com/c.mar", "binTransInclusionProof": "proof"}]}}}}
        });
        let set =
            RuleSet::compile(&[rule("R9", "major")], &[], vec![named("R9", blob)]).expect("ok");
        let q = query("1");
        let decision = set.evaluate(&q, &mut FixedRoll(0)).expect("ok");
        assert_eq!(
            update_xml(&set, &decision, &q, &mut FixedRoll(0)).expect("renders"),
            "<?xml version=\"1.0\"?>\n<updates>\n    <update appVersion=\"61.0\" buildID=\"2\" detailsURL=\"https://e.com/de/\" displayVersion=\"61.0\" showPrompt=\"true\" type=\"minor\">\n        <patch type=\"complete\" URL=\"https://e.com/c.mar\" hashFunction=\"sha512\" hashValue=\"h\" size=\"1\" binTransInclusionProof=\"proof\"/>\n    </update>\n</updates>"
        );
    }

    #[test]
    fn schema_2_blobs_use_single_patches_and_channel_templates() {
        let blob = json!({
            "name": "R2", "schema_version": 2, "hashFunction": "sha1",
            "appVersion": "61.0", "displayVersion": "61.0", "platformVersion": "61.0",
            "fileUrls": {"release": "https://e.com/%PRODUCT%/%OS_FTP%/%LOCALE%/%FILENAME%"},
            "ftpFilenames": {"complete": "c.mar"}, "bouncerProducts": {"complete": "fx"},
            "platforms": {"WINNT_x86_64-msvc": {"OS_FTP": "win64", "locales": {"de": {"buildID": "2",
                "complete": {"from": "*", "filesize": 3, "hashValue": "h"}, "isOSUpdate": true}}}}
        });
        let set =
            RuleSet::compile(&[rule("R2", "minor")], &[], vec![named("R2", blob)]).expect("ok");
        let q = Query {
            channel: Some("release-cck-partner"),
            ..query("1")
        };
        let decision = set.evaluate(&q, &mut FixedRoll(0)).expect("ok");
        let xml = update_xml(&set, &decision, &q, &mut FixedRoll(0)).expect("renders");
        assert!(xml.contains(" isOSUpdate=\"true\">"), "{xml}");
        assert!(
            xml.contains("URL=\"https://e.com/fx/win64/de/c.mar\""),
            "{xml}"
        );
    }

    #[test]
    fn a_release_version_that_does_not_parse_is_an_error() {
        let blob = json!({"name": "B", "schema_version": 4, "appVersion": "sixty",
            "platforms": {"WINNT_x86_64-msvc": {"locales": {"de": {"buildID": "2"}}}}});
        let set = RuleSet::compile(&[rule("B", "minor")], &[], vec![named("B", blob)]).expect("ok");
        assert!(matches!(
            set.evaluate(&query("1"), &mut FixedRoll(0)),
            Err(EvaluationError::ReleaseVersion { .. })
        ));
    }
}
