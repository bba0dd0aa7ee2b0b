//! `update.xml` for add-on blobs: Gecko media plugins (GMP, schema 1000), system add-ons (schema
//! 5000), and superblobs (schema 4000), which answer with the add-ons of other products (each
//! evaluated as if the client had asked for it) or of other named releases.
//!
//! The document is Balrog's: `<updates>`, an `<addons>` block, one `<addon>` line per vendor or
//! add-on whose platforms list the client's build target (or a `default` entry), in name order.
//! A GMP add-on with mirrors lists them as `<mirror>` children. A system add-ons blob with
//! nothing for the client (and no `uninstall`) answers `<updates>` without the `<addons>` block,
//! which tells the client to keep what it has.

use serde_json::{Map, Value};

use super::dice::RandomSource;
use super::evaluation_error::EvaluationError;
use super::named_release::NamedRelease;
use super::query::Query;
use super::rule_set::RuleSet;
use super::update_blob::{kind, text, Kind};
use super::update_xml::{attribute, attribute_text};

const ADDONS_OPEN: &str = "    <addons>";
const ADDONS_CLOSE: &str = "    </addons>";

/// The whole document for a GMP, system add-ons or superblob release the rule set chose.
pub(crate) fn addons_xml(
    set: &RuleSet,
    release: &NamedRelease,
    blob_kind: Kind,
    query: &Query<'_>,
    random: &mut impl RandomSource,
) -> Result<String, EvaluationError> {
    let mut lines = vec!["<?xml version=\"1.0\"?>".to_owned(), "<updates>".to_owned()];
    match blob_kind {
        Kind::Gmp => {
            lines.push(ADDONS_OPEN.to_owned());
            lines.extend(gmp_lines(set, release, query)?);
            lines.push(ADDONS_CLOSE.to_owned());
        }
        Kind::SystemAddons => {
            let inner = system_addon_lines(set, release, query)?;
            let uninstall = release.data.get("uninstall").and_then(Value::as_bool) == Some(true);
            // Balrog prints the empty header and footer as blank lines.
            let block = uninstall || !inner.is_empty();
            lines.push(if block { ADDONS_OPEN } else { "" }.to_owned());
            lines.extend(inner);
            lines.push(if block { ADDONS_CLOSE } else { "" }.to_owned());
        }
        Kind::SuperBlob => {
            lines.push(ADDONS_OPEN.to_owned());
            lines.extend(superblob_lines(set, release, query, random)?);
            lines.push(ADDONS_CLOSE.to_owned());
        }
        Kind::App(_) | Kind::Desupport | Kind::Guardian => {}
    }
    lines.push("</updates>".to_owned());
    Ok(lines.join("\n"))
}

/// The `<addon>` lines of a blob answering inside a superblob: GMP and system add-ons have
/// some; any other kind contributes nothing (Balrog fails the request there).
fn inner_lines(
    set: &RuleSet,
    release: &NamedRelease,
    query: &Query<'_>,
) -> Result<Vec<String>, EvaluationError> {
    match kind(&release.data) {
        Some(Kind::Gmp) => gmp_lines(set, release, query),
        Some(Kind::SystemAddons) => system_addon_lines(set, release, query),
        _ => Ok(Vec::new()),
    }
}

fn superblob_lines(
    set: &RuleSet,
    release: &NamedRelease,
    query: &Query<'_>,
    random: &mut impl RandomSource,
) -> Result<Vec<String>, EvaluationError> {
    let names = |key: &str| -> Vec<&str> {
        release
            .data
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    };
    let mut lines = Vec::new();
    let products = names("products");
    if !products.is_empty() {
        // Each product answers as if the client had asked for it.
        for product in products {
            let product_query = Query { product, ..*query };
            let decision = set.evaluate(&product_query, random)?;
            if let Some(answer) = decision.release {
                lines.extend(inner_lines(set, answer, &product_query)?);
            }
        }
        return Ok(lines);
    }
    // Named releases answer for their own product; a name no release has is skipped.
    for name in names("blobs") {
        if let Some(answer) = set.release(name) {
            let product_query = Query {
                product: &answer.product,
                ..*query
            };
            lines.extend(inner_lines(set, answer, &product_query)?);
        }
    }
    Ok(lines)
}

/// One vendor or add-on for the client: its name, its entry, and its platform entry.
struct Entry<'v> {
    id: &'v str,
    entry: &'v Map<String, Value>,
    platform: &'v Value,
}

/// The entries of `data[section]` (vendors, add-ons) whose platforms have the client's build
/// target or a `default`, in name order, each with its platform entry (one alias followed).
fn entries_for<'v>(
    release: &'v NamedRelease,
    section: &str,
    build_target: &str,
) -> Result<Vec<Entry<'v>>, EvaluationError> {
    let mut found = Vec::new();
    let Some(entries) = release.data.get(section).and_then(Value::as_object) else {
        return Ok(found);
    };
    for (name, entry) in entries {
        let Some(entry) = entry.as_object() else {
            continue;
        };
        let Some(platforms) = entry.get("platforms").and_then(Value::as_object) else {
            continue;
        };
        let resolved = match platforms.get(build_target) {
            Some(listed) => text(listed, "alias").unwrap_or(build_target),
            None if platforms.contains_key("default") => "default",
            None => continue,
        };
        let platform = platforms
            .get(resolved)
            .ok_or_else(|| EvaluationError::BadBlob {
                release: release.name.clone(),
                problem: format!("no platform '{resolved}' in '{name}'"),
            })?;
        found.push(Entry {
            id: name.as_str(),
            entry,
            platform,
        });
    }
    // serde_json keeps object keys sorted, but say so rather than rely on it.
    found.sort_by(|a, b| a.id.cmp(b.id));
    Ok(found)
}

/// A platform entry's field the `<addon>` line needs; its absence is the blob's fault.
fn required<'v>(
    release: &NamedRelease,
    entry: &'v Value,
    key: &str,
) -> Result<&'v Value, EvaluationError> {
    entry.get(key).ok_or_else(|| EvaluationError::BadBlob {
        release: release.name.clone(),
        problem: format!("a platform has no '{key}'"),
    })
}

/// `<addon id URL hashFunction hashValue size version>`, without its closing.
fn addon_open(release: &NamedRelease, found: &Entry<'_>) -> Result<String, EvaluationError> {
    let Entry {
        id,
        entry,
        platform,
    } = found;
    let field = |value: Option<&Value>| value.map(attribute_text).unwrap_or_default();
    let mut line = String::from("        <addon");
    attribute(&mut line, "id", id);
    attribute(
        &mut line,
        "URL",
        &attribute_text(required(release, platform, "fileUrl")?),
    );
    attribute(
        &mut line,
        "hashFunction",
        &field(release.data.get("hashFunction")),
    );
    attribute(
        &mut line,
        "hashValue",
        &attribute_text(required(release, platform, "hashValue")?),
    );
    attribute(
        &mut line,
        "size",
        &attribute_text(required(release, platform, "filesize")?),
    );
    attribute(&mut line, "version", &field(entry.get("version")));
    Ok(line)
}

/// Whether the allow-list lets the add-on's own URL reach the client (a missing URL is the
/// blob's fault, reported when the line is written).
fn url_allowed(set: &RuleSet, found: &Entry<'_>, query: &Query<'_>) -> bool {
    text(found.platform, "fileUrl").is_none_or(|url| set.allows_url(url, query.product))
}

fn gmp_lines(
    set: &RuleSet,
    release: &NamedRelease,
    query: &Query<'_>,
) -> Result<Vec<String>, EvaluationError> {
    let mut lines = Vec::new();
    for found in entries_for(release, "vendors", query.build_target.unwrap_or(""))? {
        if !url_allowed(set, &found, query) {
            continue;
        }
        let mut line = addon_open(release, &found)?;
        let mirrors: Vec<&str> = found
            .platform
            .get("mirrorUrls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|mirror| set.allows_url(mirror, query.product))
            .collect();
        if mirrors.is_empty() {
            line.push_str("/>");
            lines.push(line);
            continue;
        }
        line.push('>');
        lines.push(line);
        for mirror in mirrors {
            let mut child = String::from("            <mirror");
            attribute(&mut child, "URL", mirror);
            child.push_str("/>");
            lines.push(child);
        }
        lines.push("        </addon>".to_owned());
    }
    Ok(lines)
}

fn system_addon_lines(
    set: &RuleSet,
    release: &NamedRelease,
    query: &Query<'_>,
) -> Result<Vec<String>, EvaluationError> {
    // An uninstall blob has no `addons` at all.
    entries_for(release, "addons", query.build_target.unwrap_or(""))?
        .into_iter()
        .filter(|found| url_allowed(set, found, query))
        .map(|found| {
            let mut line = addon_open(release, &found)?;
            line.push_str("/>");
            Ok(line)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::balrog::dice::FixedRoll;
    use crate::balrog::rule::{Rule, RuleFields};
    use crate::balrog::update_xml::update_xml;

    fn named(name: &str, product: &str, data: Value) -> NamedRelease {
        NamedRelease {
            id: crate::ReleaseId::new(),
            name: name.into(),
            product: product.into(),
            data,
            read_only: false,
            data_version: 1,
        }
    }

    fn rule(rule_id: i64, product: &str, mapping: &str) -> Rule {
        let fields: RuleFields = serde_json::from_value(json!({
            "alias": null, "priority": 100, "mapping": mapping, "fallbackMapping": null,
            "backgroundRate": 100, "update_type": "minor", "product": product,
            "version": null, "channel": null, "buildTarget": null, "buildID": null,
            "locale": null, "osVersion": null, "memory": null, "instructionSet": null,
            "distribution": null, "distVersion": null, "headerArchitecture": null,
            "mig64": null, "jaws": null, "whitelist": null, "comment": null
        }))
        .expect("fields");
        Rule {
            rule_id,
            fields,
            data_version: 1,
        }
    }

    fn gmp() -> NamedRelease {
        named(
            "GMP-1",
            "GMP",
            json!({
                "name": "GMP-1", "schema_version": 1000, "hashFunction": "sha512",
                "vendors": {
                    "gmp-widevine": {"version": "4.10", "platforms": {
                        "WINNT_x86_64-msvc": {"fileUrl": "https://cdn.example/wv.zip",
                            "filesize": 42, "hashValue": "w1",
                            "mirrorUrls": ["https://m1.example/wv.zip", "https://m2.example/wv.zip?a=1&b=2"]},
                        "WINNT_x86_64-msvc-x64": {"alias": "WINNT_x86_64-msvc"}
                    }},
                    "gmp-openh264": {"version": "1.8", "platforms": {
                        "default": {"fileUrl": "https://cdn.example/h264.zip", "filesize": 7, "hashValue": "h1"}
                    }},
                    "gmp-linux-only": {"version": "1", "platforms": {
                        "Linux_x86_64-gcc3": {"fileUrl": "https://cdn.example/l.zip", "filesize": 1, "hashValue": "l1"}
                    }}
                }
            }),
        )
    }

    fn addons() -> NamedRelease {
        named(
            "SystemAddons-1",
            "SystemAddons",
            json!({
                "name": "SystemAddons-1", "schema_version": 5000, "hashFunction": "sha512",
                "uninstall": false,
                "addons": {"pictureinpicture@mozilla.org": {"version": "1.0", "platforms": {
                    "WINNT_x86_64-msvc": {"fileUrl": "https://cdn.example/pip.xpi", "filesize": 9, "hashValue": "p1"}
                }}}
            }),
        )
    }

    fn render(
        rules: &[Rule],
        releases: Vec<NamedRelease>,
        query: &Query<'_>,
    ) -> Result<String, EvaluationError> {
        let set = RuleSet::compile(rules, &[], releases).expect("compiles");
        let decision = set.evaluate(query, &mut FixedRoll(0)).expect("evaluates");
        update_xml(&set, &decision, query, &mut FixedRoll(0))
    }

    fn query(product: &'static str, build_target: &'static str) -> Query<'static> {
        Query {
            build_target: Some(build_target),
            channel: Some("release"),
            ..Query::new(product, "60.0")
        }
    }

    #[test]
    fn gmp_lists_each_vendor_for_the_platform_with_its_mirrors() {
        let xml = render(
            &[rule(1, "GMP", "GMP-1")],
            vec![gmp()],
            &query("GMP", "WINNT_x86_64-msvc-x64"),
        )
        .expect("renders");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n\
             \x20       <addon id=\"gmp-openh264\" URL=\"https://cdn.example/h264.zip\" hashFunction=\"sha512\" hashValue=\"h1\" size=\"7\" version=\"1.8\"/>\n\
             \x20       <addon id=\"gmp-widevine\" URL=\"https://cdn.example/wv.zip\" hashFunction=\"sha512\" hashValue=\"w1\" size=\"42\" version=\"4.10\">\n\
             \x20           <mirror URL=\"https://m1.example/wv.zip\"/>\n\
             \x20           <mirror URL=\"https://m2.example/wv.zip?a=1&amp;b=2\"/>\n\
             \x20       </addon>\n    </addons>\n</updates>"
        );
    }

    #[test]
    fn gmp_with_nothing_for_the_platform_is_an_empty_addons_block() {
        let mut release = gmp();
        release.data["vendors"]
            .as_object_mut()
            .expect("vendors")
            .remove("gmp-openh264");
        let xml = render(
            &[rule(1, "GMP", "GMP-1")],
            vec![release],
            &query("GMP", "Darwin_x86_64-gcc3"),
        )
        .expect("renders");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n    </addons>\n</updates>"
        );
    }

    #[test]
    fn an_add_on_platform_without_its_url_is_a_bad_blob() {
        let mut release = gmp();
        release.data["vendors"]["gmp-openh264"]["platforms"]["default"]
            .as_object_mut()
            .expect("platform")
            .remove("fileUrl");
        let err = render(
            &[rule(1, "GMP", "GMP-1")],
            vec![release],
            &query("GMP", "WINNT_x86_64-msvc"),
        )
        .expect_err("no URL");
        assert!(matches!(err, EvaluationError::BadBlob { .. }), "{err}");
        let mut release = gmp();
        release.data["vendors"]["gmp-widevine"]["platforms"]["WINNT_x86_64-msvc-x64"]["alias"] =
            json!("nowhere");
        let err = render(
            &[rule(1, "GMP", "GMP-1")],
            vec![release],
            &query("GMP", "WINNT_x86_64-msvc-x64"),
        )
        .expect_err("alias to nothing");
        assert_eq!(
            err.to_string(),
            "release GMP-1: no platform 'nowhere' in 'gmp-widevine'"
        );
    }

    #[test]
    fn system_addons_without_an_update_leave_out_the_addons_block() {
        let rules = [rule(1, "SystemAddons", "SystemAddons-1")];
        let xml = render(
            &rules,
            vec![addons()],
            &query("SystemAddons", "WINNT_x86_64-msvc"),
        )
        .expect("renders");
        assert!(
            xml.contains(
                "<addon id=\"pictureinpicture@mozilla.org\" URL=\"https://cdn.example/pip.xpi\""
            ),
            "{xml}"
        );
        let none = render(
            &rules,
            vec![addons()],
            &query("SystemAddons", "Linux_x86_64-gcc3"),
        )
        .expect("renders");
        assert_eq!(none, "<?xml version=\"1.0\"?>\n<updates>\n\n\n</updates>");
        let mut uninstall = addons();
        uninstall.data = json!({"name": "SystemAddons-1", "schema_version": 5000, "hashFunction": "sha512", "uninstall": true});
        let xml = render(
            &rules,
            vec![uninstall],
            &query("SystemAddons", "Linux_x86_64-gcc3"),
        )
        .expect("renders");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n    </addons>\n</updates>"
        );
    }

    #[test]
    fn a_superblob_of_products_answers_each_product_as_asked_for() {
        let superblob = named(
            "Super",
            "Firefox",
            json!({"name": "Super", "schema_version": 4000, "products": ["GMP", "SystemAddons", "Nothing"]}),
        );
        let rules = [
            rule(1, "Firefox", "Super"),
            rule(2, "GMP", "GMP-1"),
            rule(3, "SystemAddons", "SystemAddons-1"),
        ];
        let xml = render(
            &rules,
            vec![superblob, gmp(), addons()],
            &query("Firefox", "WINNT_x86_64-msvc"),
        )
        .expect("renders");
        let ids: Vec<&str> = xml
            .lines()
            .filter_map(|l| l.split("<addon id=\"").nth(1))
            .map(|l| l.split('"').next().unwrap_or(""))
            .collect();
        assert_eq!(
            ids,
            [
                "gmp-openh264",
                "gmp-widevine",
                "pictureinpicture@mozilla.org"
            ]
        );
        assert!(
            xml.starts_with("<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n"),
            "{xml}"
        );
        assert!(xml.ends_with("    </addons>\n</updates>"), "{xml}");
    }

    #[test]
    fn a_superblob_of_blobs_answers_with_the_named_releases() {
        let superblob = named(
            "Super",
            "SystemAddons",
            json!({"name": "Super", "schema_version": 4000, "blobs": ["SystemAddons-1", "Missing"]}),
        );
        let rules = [rule(1, "SystemAddons", "Super")];
        let xml = render(
            &rules,
            vec![superblob, addons()],
            &query("SystemAddons", "WINNT_x86_64-msvc"),
        )
        .expect("renders");
        assert_eq!(xml.matches("<addon ").count(), 1, "{xml}");
    }

    #[test]
    fn guardian_serves_listed_platforms_older_than_the_blob_and_is_never_xml() {
        let guardian = named(
            "Guardian-2.1",
            "Guardian",
            json!({"name": "Guardian-2.1", "schema_version": 10000, "version": "2.1.0",
                   "required": false, "hashFunction": "sha512",
                   "platforms": {"WINNT_x86_64": {"fileUrl": "https://cdn.example/g.msi", "hashValue": "g1"}}}),
        );
        let set = RuleSet::compile(&[rule(1, "Guardian", "Guardian-2.1")], &[], vec![guardian])
            .expect("compiles");
        let ask = |version: &'static str, target: &'static str| {
            let q = Query {
                build_target: Some(target),
                channel: Some("release"),
                ..Query::new("Guardian", version)
            };
            set.evaluate(&q, &mut FixedRoll(0))
                .expect("evaluates")
                .reason
        };
        use crate::balrog::{Blocked, Reason};
        assert_eq!(ask("2.0.9", "WINNT_x86_64"), Reason::Served);
        assert_eq!(
            ask("2.1.0", "WINNT_x86_64"),
            Reason::Blocked(Blocked::NotNewer)
        );
        assert_eq!(
            ask("2.10", "WINNT_x86_64"),
            Reason::Blocked(Blocked::NotNewer)
        );
        assert_eq!(ask("1.0", "Darwin"), Reason::Blocked(Blocked::NoPlatform));
        let q = Query {
            build_target: Some("WINNT_x86_64"),
            ..Query::new("Guardian", "1.0")
        };
        let decision = set.evaluate(&q, &mut FixedRoll(0)).expect("evaluates");
        assert_eq!(
            update_xml(&set, &decision, &q, &mut FixedRoll(0)).expect("renders"),
            crate::balrog::EMPTY_UPDATES
        );
    }

    #[test]
    fn serving_leaves_out_urls_the_allow_list_refuses_for_the_product() {
        let list = crate::balrog::DomainAllowlist::from_json(&json!({
            "cdn.example": ["GMP"], "m1.example": ["GMP"]
        }))
        .expect("list");
        let set = RuleSet::compile(&[rule(1, "GMP", "GMP-1")], &[], vec![gmp()])
            .expect("compiles")
            .with_allowlist(std::sync::Arc::new(list));
        let q = query("GMP", "WINNT_x86_64-msvc");
        let decision = set.evaluate(&q, &mut FixedRoll(0)).expect("evaluates");
        let xml = update_xml(&set, &decision, &q, &mut FixedRoll(0)).expect("renders");
        assert!(
            xml.contains("<mirror URL=\"https://m1.example/wv.zip\"/>"),
            "{xml}"
        );
        assert!(!xml.contains("m2.example"), "{xml}");
        assert_eq!(xml.matches("<addon ").count(), 2, "{xml}");
        // The same blob asked for by another product: nothing it names is allowed.
        let other = RuleSet::compile(&[rule(1, "Other", "GMP-1")], &[], vec![gmp()])
            .expect("compiles")
            .with_allowlist(std::sync::Arc::new(
                crate::balrog::DomainAllowlist::from_json(&json!({"cdn.example": ["GMP"]}))
                    .expect("list"),
            ));
        let q = query("Other", "WINNT_x86_64-msvc");
        let decision = other.evaluate(&q, &mut FixedRoll(0)).expect("evaluates");
        let xml = update_xml(&other, &decision, &q, &mut FixedRoll(0)).expect("renders");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?>\n<updates>\n    <addons>\n    </addons>\n</updates>"
        );
    }
}
