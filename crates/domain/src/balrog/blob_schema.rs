//! Blob schemas: what a release blob of each `schema_version` may hold, checked on every write
//! the way Balrog checks its blobs (see docs/balrog.md, "Blob schemas"). Every problem names the
//! JSON path it is at, so an admin can find it in a large blob.
//!
//! The schemas are written here as small `Shape` trees rather than fed to a JSON-schema
//! engine: Balrog's schemas use only a handful of constructs (typed fields, required keys,
//! closed objects, maps keyed by any name, arrays, and "alias or entry" choices), and a checker
//! of our own names paths the way our errors do.

use serde_json::{Map, Value};

use super::syntax;

/// One thing wrong with a blob: where (a JSON path such as
/// `platforms.WINNT.locales.de.completes[0].filesize`; empty for the blob itself) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobProblem {
    /// The JSON path of the offending value, dot-separated, with `[i]` for array items.
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
}

impl std::fmt::Display for BlobProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "blob: {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The schema versions Balrog has, with what each is (every one is checked here).
pub const KNOWN: &[(i64, &str)] = &[
    (1, "app release v1"),
    (2, "app release v2"),
    (3, "app release v3"),
    (4, "app release v4"),
    (5, "app release v5"),
    (6, "app release v6"),
    (7, "app release v7"),
    (8, "app release v8"),
    (9, "app release v9"),
    (50, "desupport"),
    (1000, "GMP"),
    (4000, "superblob"),
    (5000, "system add-ons"),
    (10000, "Guardian"),
];

/// Checks `blob` against the schema of its `schema_version`. A blob whose `schema_version` is
/// missing, not an integer or not a schema Balrog has is a problem too.
pub fn validate(blob: &Value) -> Result<(), Vec<BlobProblem>> {
    let mut problems = Vec::new();
    let version = match blob.get("schema_version") {
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    match version.and_then(schema) {
        Some(shape) => shape.check(blob, "", &mut problems),
        None => {
            let versions: Vec<String> = KNOWN.iter().map(|(v, _)| v.to_string()).collect();
            problems.push(BlobProblem {
                path: "schema_version".into(),
                message: format!("must be one of {}", versions.join(", ")),
            })
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// What a JSON value must look like.
enum Shape {
    /// Any string.
    Str,
    /// A string of 1 to 100 characters (names and products: Balrog's column width).
    Name,
    /// Any number.
    Number,
    /// `true` or `false`.
    Bool,
    /// Only `true` (a flag that is either set or absent).
    True,
    /// An absolute URI: a scheme, `:`, and no whitespace.
    Uri,
    /// A number, or a string of digits (build ids and file sizes).
    Digits,
    /// One of the given strings.
    OneOf(&'static [&'static str]),
    /// A string a rule's `version` column would take (empty allowed).
    VersionCondition,
    /// A string a rule's `buildID` column would take (empty allowed).
    BuildIdCondition,
    /// An array whose items all have the shape.
    Array(Box<Shape>),
    /// An object keyed by any non-empty name, every value of the shape.
    Map(Box<Shape>),
    /// An object keyed by any name, the empty one too (old app releases' URL maps).
    AnyKeyMap(Box<Shape>),
    /// An object with known fields.
    Object(Object),
    /// A platform entry: an object with a string `alias` (other keys ignored, as Balrog does),
    /// or else the given entry.
    AliasOr(Box<Shape>),
    /// One of two object shapes, chosen by which of two keys the object has.
    Either {
        first: (&'static str, Box<Shape>),
        second: (&'static str, Box<Shape>),
    },
}

/// An object's fields; with `closed`, keys not listed are refused.
struct Object {
    fields: Vec<(&'static str, Shape)>,
    required: &'static [&'static str],
    closed: bool,
}

fn closed(required: &'static [&'static str], fields: Vec<(&'static str, Shape)>) -> Shape {
    Shape::Object(Object {
        fields,
        required,
        closed: true,
    })
}

fn map(shape: Shape) -> Shape {
    Shape::Map(Box::new(shape))
}

fn array(shape: Shape) -> Shape {
    Shape::Array(Box::new(shape))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Shape {
    fn check(&self, value: &Value, path: &str, out: &mut Vec<BlobProblem>) {
        let mut problem = |message: &str| {
            out.push(BlobProblem {
                path: path.to_owned(),
                message: message.to_owned(),
            })
        };
        match self {
            Shape::Str => {
                if !value.is_string() {
                    problem("expected a string");
                }
            }
            Shape::Name => match value.as_str() {
                Some(s) if (1..=100).contains(&s.chars().count()) => {}
                Some(_) => problem("expected 1 to 100 characters"),
                None => problem("expected a string"),
            },
            Shape::Number => {
                if !value.is_number() {
                    problem("expected a number");
                }
            }
            Shape::Bool => {
                if !value.is_boolean() {
                    problem("expected true or false");
                }
            }
            Shape::True => {
                if value != &Value::Bool(true) {
                    problem("expected true (or leave the key out)");
                }
            }
            Shape::Uri => match value.as_str() {
                Some(s) if is_uri(s) => {}
                Some(_) => problem("expected an absolute URL"),
                None => problem("expected a string"),
            },
            Shape::Digits => match value {
                Value::Number(_) => {}
                Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => {}
                _ => problem("expected a number or a string of digits"),
            },
            Shape::OneOf(allowed) => match value.as_str() {
                Some(s) if allowed.contains(&s) => {}
                _ => problem(&format!("expected one of {}", allowed.join(", "))),
            },
            Shape::VersionCondition | Shape::BuildIdCondition => match value.as_str() {
                Some("") => {}
                Some(text) => {
                    let checked = if matches!(self, Shape::VersionCondition) {
                        syntax::check_version_condition(text, false)
                    } else {
                        syntax::check_integer_condition(text)
                    };
                    if let Err(reason) = checked {
                        problem(&reason);
                    }
                }
                None => problem("expected a string"),
            },
            Shape::Array(item) => match value.as_array() {
                Some(items) => {
                    for (i, v) in items.iter().enumerate() {
                        item.check(v, &format!("{path}[{i}]"), out);
                    }
                }
                None => problem("expected an array"),
            },
            Shape::Map(entry) | Shape::AnyKeyMap(entry) => match value.as_object() {
                Some(map) => {
                    for (key, v) in map {
                        let at = join(path, key);
                        if key.is_empty() && matches!(self, Shape::Map(_)) {
                            out.push(BlobProblem {
                                path: at,
                                message: "keys must not be empty".into(),
                            });
                        } else {
                            entry.check(v, &at, out);
                        }
                    }
                }
                None => problem("expected an object"),
            },
            Shape::Object(object) => match value.as_object() {
                Some(map) => object.check(map, path, out),
                None => problem("expected an object"),
            },
            Shape::AliasOr(entry) => match value.as_object() {
                Some(map) if map.contains_key("alias") => {
                    Shape::Str.check(&map["alias"], &join(path, "alias"), out)
                }
                Some(_) => entry.check(value, path, out),
                None => problem("expected an object"),
            },
            Shape::Either { first, second } => match value.as_object() {
                Some(map) if map.contains_key(first.0) => first.1.check(value, path, out),
                Some(map) if map.contains_key(second.0) => second.1.check(value, path, out),
                Some(_) => problem(&format!(
                    "'{}' or '{}' is a required property",
                    first.0, second.0
                )),
                None => problem("expected an object"),
            },
        }
    }
}

impl Object {
    fn check(&self, map: &Map<String, Value>, path: &str, out: &mut Vec<BlobProblem>) {
        for key in self.required {
            if !map.contains_key(*key) {
                out.push(BlobProblem {
                    path: path.to_owned(),
                    message: format!("'{key}' is a required property"),
                });
            }
        }
        for (key, value) in map {
            match self.fields.iter().find(|(name, _)| name == key) {
                Some((_, shape)) => shape.check(value, &join(path, key), out),
                None if self.closed => out.push(BlobProblem {
                    path: join(path, key),
                    message: "unknown key (not allowed by this schema_version)".into(),
                }),
                None => {}
            }
        }
    }
}

/// An absolute URI as far as a blob needs one: a scheme (a letter, then letters, digits, `+`,
/// `-` or `.`), a colon, something after it, and no whitespace.
fn is_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !text.chars().any(char::is_whitespace)
}

/// The schema of `version`, when this module has it.
fn schema(version: i64) -> Option<Shape> {
    Some(match version {
        1 => app_release_v1(),
        2..=9 => app_release(version),
        50 => desupport(),
        1000 => gmp(),
        4000 => superblob(),
        5000 => system_addons(),
        10000 => guardian(),
        _ => return None,
    })
}

/// The fields every blob may carry: its name, product and schema version.
fn common() -> Vec<(&'static str, Shape)> {
    // `schema_version`'s value itself was matched by `schema`.
    vec![
        ("name", Shape::Name),
        ("product", Shape::Name),
        ("schema_version", Shape::Number),
    ]
}

fn with(
    mut fields: Vec<(&'static str, Shape)>,
    more: Vec<(&'static str, Shape)>,
) -> Vec<(&'static str, Shape)> {
    fields.extend(more);
    fields
}

/// Desupport (50): where to read why a platform is no longer supported.
fn desupport() -> Shape {
    closed(
        &["name", "schema_version", "detailsUrl", "displayVersion"],
        with(
            common(),
            vec![("detailsUrl", Shape::Uri), ("displayVersion", Shape::Str)],
        ),
    )
}

/// A downloadable add-on file (GMP plugins, system add-ons).
fn addon_file(mirrors: bool) -> Shape {
    let mut fields = vec![
        ("filesize", Shape::Number),
        ("hashValue", Shape::Str),
        ("fileUrl", Shape::Uri),
    ];
    if mirrors {
        fields.push(("mirrorUrls", array(Shape::Uri)));
    }
    closed(&["filesize", "hashValue", "fileUrl"], fields)
}

/// An add-on (a GMP vendor or a system add-on): a version and per-platform files.
fn addon(mirrors: bool) -> Shape {
    closed(
        &["version"],
        vec![
            ("version", Shape::Str),
            (
                "platforms",
                map(Shape::AliasOr(Box::new(addon_file(mirrors)))),
            ),
        ],
    )
}

/// GMP (1000): media plugins by vendor; files may list mirrors.
fn gmp() -> Shape {
    closed(
        &["name", "schema_version", "hashFunction", "vendors"],
        with(
            common(),
            vec![("hashFunction", Shape::Str), ("vendors", map(addon(true)))],
        ),
    )
}

/// Superblob (4000): a list of GMP `products` or of system add-on `blobs` to serve together.
fn superblob() -> Shape {
    let list = |key: &'static str, required: &'static [&'static str]| {
        Box::new(closed(
            required,
            with(common(), vec![(key, array(Shape::Name))]),
        ))
    };
    Shape::Either {
        first: (
            "products",
            list("products", &["name", "schema_version", "products"]),
        ),
        second: ("blobs", list("blobs", &["name", "schema_version", "blobs"])),
    }
}

/// System add-ons (5000): the add-ons to install, or `uninstall` to remove them all.
fn system_addons() -> Shape {
    let base = || with(common(), vec![("hashFunction", Shape::Str)]);
    Shape::Either {
        first: (
            "addons",
            Box::new(closed(
                &["name", "schema_version", "addons"],
                with(base(), vec![("addons", map(addon(false)))]),
            )),
        ),
        second: (
            "uninstall",
            Box::new(closed(
                &["name", "schema_version", "uninstall"],
                with(base(), vec![("uninstall", Shape::Bool)]),
            )),
        ),
    }
}

/// Guardian (10000): one version, one file per platform.
fn guardian() -> Shape {
    closed(
        &[
            "name",
            "product",
            "schema_version",
            "platforms",
            "version",
            "hashFunction",
        ],
        with(
            common(),
            vec![
                ("version", Shape::Str),
                ("required", Shape::Bool),
                ("hashFunction", Shape::Str),
                (
                    "platforms",
                    map(closed(
                        &["fileUrl", "hashValue"],
                        vec![("fileUrl", Shape::Uri), ("hashValue", Shape::Str)],
                    )),
                ),
            ],
        ),
    )
}

/// App releases 4 to 9: platforms with per-locale partial and complete updates. The versions
/// differ in which fields they have: v4 and v5 have `licenseUrl`, `billboardURL` and
/// `platformVersion`; v5 to v8 `promptWaitTime`; v6 drops v5's three fields (v7 is v6 again);
/// v8 adds the binary-transparency fields and requires an inclusion proof per update; v9 moves
/// the prompt fields into `updateLine`.
fn app_release(version: i64) -> Shape {
    let text = |names: &[&'static str]| names.iter().map(|n| (*n, Shape::Str)).collect::<Vec<_>>();
    let mut fields = with(
        common(),
        with(
            text(&["hashFunction", "appVersion", "displayVersion"]),
            vec![("fileUrls", file_urls(version))],
        ),
    );
    if version <= 3 {
        fields.push(("ftpFilenames", file_names(version)));
        fields.push(("bouncerProducts", file_names(version)));
    }
    if version < 9 {
        fields.extend(text(&[
            "detailsUrl",
            "actions",
            "openURL",
            "notificationURL",
            "alertURL",
        ]));
        fields.push(("showPrompt", Shape::Bool));
        fields.push(("showNeverForVersion", Shape::Bool));
    }
    if version <= 5 {
        fields.extend(text(&["platformVersion", "licenseUrl", "billboardURL"]));
    }
    if (5..9).contains(&version) {
        fields.push(("promptWaitTime", Shape::Number));
    }
    if version >= 8 {
        fields.extend(text(&[
            "binTransMerkleRoot",
            "binTransCertificate",
            "binTransSCTList",
        ]));
    }
    if version == 9 {
        fields.push(("updateLine", array(update_line())));
    }
    fields.push((
        "platforms",
        map(Shape::AliasOr(Box::new(app_platform(version)))),
    ));
    closed(&["name", "schema_version", "hashFunction"], fields)
}

/// App release v1, the oldest: `extv`/`appv` where later versions have `appVersion` and
/// `displayVersion`, one `partial` and one `complete` per locale.
fn app_release_v1() -> Shape {
    let text = |names: &[&'static str]| names.iter().map(|n| (*n, Shape::Str)).collect::<Vec<_>>();
    let mut fields = with(
        common(),
        text(&["hashFunction", "extv", "appv", "detailsUrl", "licenseUrl"]),
    );
    fields.push(("fakePartials", Shape::Bool));
    fields.push(("oldVersionSpecialCases", Shape::Bool));
    fields.push(("fileUrls", file_urls(1)));
    fields.push(("ftpFilenames", file_names(1)));
    fields.push(("bouncerProducts", file_names(1)));
    let locale = closed(
        &[],
        vec![
            ("buildID", Shape::Digits),
            ("extv", Shape::Str),
            ("appv", Shape::Str),
            ("partial", update_entry(1, Shape::Str)),
            ("complete", update_entry(1, Shape::OneOf(&["*"]))),
        ],
    );
    let platform = closed(
        &[],
        vec![
            ("buildID", Shape::Digits),
            ("OS_BOUNCER", Shape::Str),
            ("OS_FTP", Shape::Str),
            ("locales", map(locale)),
        ],
    );
    fields.push(("platforms", map(Shape::AliasOr(Box::new(platform)))));
    closed(&["name", "schema_version", "hashFunction"], fields)
}

/// `fileUrls`: per channel (or `*`), `partials` and `completes` maps of URLs; before v4, one
/// URL per channel.
fn file_urls(version: i64) -> Shape {
    if version <= 3 {
        return Shape::AnyKeyMap(Box::new(Shape::Uri));
    }
    let urls = || map(Shape::Str);
    map(closed(
        &[],
        vec![("partials", urls()), ("completes", urls())],
    ))
}

/// `ftpFilenames` and `bouncerProducts` (v1 to v3): names for the `partial` and `complete`
/// files (v1, v2), or maps of them under `partials` and `completes` (v3, other keys ignored).
fn file_names(version: i64) -> Shape {
    if version <= 2 {
        return closed(&[], vec![("partial", Shape::Str), ("complete", Shape::Str)]);
    }
    let names = || Shape::AnyKeyMap(Box::new(Shape::Str));
    Shape::Object(Object {
        fields: vec![("partials", names()), ("completes", names())],
        required: &[],
        closed: false,
    })
}

/// An app release platform that is not an alias: build id, bouncer and FTP names, locales.
fn app_platform(version: i64) -> Shape {
    let mut locale = vec![
        ("buildID", Shape::Digits),
        ("appVersion", Shape::Str),
        ("displayVersion", Shape::Str),
    ];
    if version == 2 {
        // v2 has one partial and one complete update per locale; the complete is from `*`.
        locale.push(("partial", update_entry(version, Shape::Str)));
        locale.push(("complete", update_entry(version, Shape::OneOf(&["*"]))));
    } else {
        locale.push(("partials", array(update_entry(version, Shape::Str))));
        locale.push(("completes", array(update_entry(version, Shape::Str))));
    }
    if version < 9 {
        locale.push(("isOSUpdate", Shape::Bool));
    }
    if version <= 5 {
        locale.push(("platformVersion", Shape::Str));
    }
    closed(
        &[],
        vec![
            ("buildID", Shape::Digits),
            ("OS_BOUNCER", Shape::Str),
            ("OS_FTP", Shape::Str),
            ("locales", map(closed(&[], locale))),
        ],
    )
}

/// One partial or complete update of a locale.
fn update_entry(version: i64, from: Shape) -> Shape {
    let mut fields = vec![
        ("filesize", Shape::Digits),
        ("from", from),
        ("hashValue", Shape::Str),
        ("fileUrl", Shape::Uri),
    ];
    if version >= 8 {
        fields.push(("binTransInclusionProof", Shape::Str));
    }
    let required: &'static [&'static str] = if version == 8 {
        &["filesize", "from", "hashValue", "binTransInclusionProof"]
    } else {
        &["filesize", "from", "hashValue"]
    };
    closed(required, fields)
}

/// A v9 `updateLine` entry: which clients (`for`) get which update fields.
fn update_line() -> Shape {
    let strings = || array(Shape::Str);
    closed(
        &[],
        vec![
            (
                "for",
                closed(
                    &[],
                    vec![
                        ("locales", strings()),
                        ("channels", strings()),
                        ("versions", array(Shape::VersionCondition)),
                        ("buildIDs", array(Shape::BuildIdCondition)),
                    ],
                ),
            ),
            (
                "fields",
                closed(
                    &[],
                    vec![
                        ("type", Shape::OneOf(&["minor", "major"])),
                        ("detailsURL", Shape::Str),
                        ("actions", Shape::Str),
                        ("openURL", Shape::Str),
                        ("notificationURL", Shape::Str),
                        ("alertURL", Shape::Str),
                        ("showPrompt", Shape::Bool),
                        ("showNeverForVersion", Shape::Bool),
                        ("promptWaitTime", Shape::Number),
                        ("disableBITS", Shape::True),
                        ("disableBackgroundUpdates", Shape::True),
                    ],
                ),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The problems of `blob`, as `path: message` lines.
    fn problems(blob: Value) -> Vec<String> {
        match validate(&blob) {
            Ok(()) => Vec::new(),
            Err(found) => found.iter().map(ToString::to_string).collect(),
        }
    }

    /// Asserts `blob` is refused with a problem at `path` whose message contains `message`.
    fn refused(blob: Value, path: &str, message: &str) {
        let found = problems(blob.clone());
        assert!(
            found
                .iter()
                .any(|p| p.starts_with(&format!("{path}: ")) && p.contains(message)),
            "{blob} gave {found:?}, wanted {path}: …{message}…"
        );
    }

    fn ok(blob: Value) {
        assert_eq!(problems(blob.clone()), Vec::<String>::new(), "{blob}");
    }

    fn app(version: i64) -> Value {
        json!({
            "name": "Firefox-60.0-build1", "product": "Firefox", "schema_version": version,
            "hashFunction": "sha512", "appVersion": "60.0", "displayVersion": "60.0",
            "fileUrls": {"*": {"completes": {"*": "https://dl.example/%LOCALE%.mar"}}},
            "platforms": {
                "WINNT_x86_64-msvc": {
                    "buildID": "20180501",
                    "OS_FTP": "win64",
                    "locales": {"de": {
                        "buildID": 20180501,
                        "completes": [{"from": "*", "filesize": "123", "hashValue": "ab",
                                       "fileUrl": "https://dl.example/de.mar"}],
                        "partials": [{"from": "Firefox-59.0-build1", "filesize": 12,
                                      "hashValue": "cd"}],
                    }},
                },
                "WINNT_x86_64": {"alias": "WINNT_x86_64-msvc"},
            },
        })
    }

    #[test]
    fn app_releases_check_platforms_locales_and_updates() {
        for version in [4, 5, 6, 7, 9] {
            ok(app(version));
        }
        let mut v8 = app(8);
        v8["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["completes"][0]
            ["binTransInclusionProof"] = json!("p");
        v8["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["partials"][0]
            ["binTransInclusionProof"] = json!("p");
        ok(v8);
        // v8 requires an inclusion proof on every update.
        refused(
            app(8),
            "platforms.WINNT_x86_64-msvc.locales.de.completes[0]",
            "'binTransInclusionProof' is a required property",
        );
        let mut wrong_type = app(9);
        wrong_type["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["completes"][0]["filesize"] =
            json!("12 MB");
        refused(
            wrong_type,
            "platforms.WINNT_x86_64-msvc.locales.de.completes[0].filesize",
            "expected a number or a string of digits",
        );
        let mut unknown = app(6);
        unknown["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["complete"] = json!([]);
        refused(
            unknown,
            "platforms.WINNT_x86_64-msvc.locales.de.complete",
            "unknown key",
        );
        let mut missing = app(4);
        missing.as_object_mut().unwrap().remove("hashFunction");
        refused(missing, "blob", "'hashFunction' is a required property");
        let mut missing_from = app(9);
        missing_from["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["partials"][0]
            .as_object_mut()
            .unwrap()
            .remove("from");
        refused(
            missing_from,
            "platforms.WINNT_x86_64-msvc.locales.de.partials[0]",
            "'from' is a required property",
        );
    }

    #[test]
    fn app_release_versions_differ_in_their_top_level_fields() {
        let mut v4 = app(4);
        v4["billboardURL"] = json!("https://x.example/");
        v4["showPrompt"] = json!(true);
        ok(v4.clone());
        v4["schema_version"] = json!(5);
        ok(v4.clone());
        v4["schema_version"] = json!(6);
        refused(v4, "billboardURL", "unknown key");
        let mut wait = app(5);
        wait["promptWaitTime"] = json!(60);
        ok(wait.clone());
        wait["schema_version"] = json!(4);
        refused(wait.clone(), "promptWaitTime", "unknown key");
        wait["schema_version"] = json!(7);
        ok(wait.clone());
        wait["promptWaitTime"] = json!("60");
        refused(wait, "promptWaitTime", "expected a number");
        let mut v9 = app(9);
        v9["updateLine"] = json!([
            {"for": {"channels": ["release"]}, "fields": {"type": "minor", "disableBITS": true}}
        ]);
        ok(v9.clone());
        v9["updateLine"][0]["fields"]["type"] = json!("patch");
        refused(
            v9,
            "updateLine[0].fields.type",
            "expected one of minor, major",
        );
        let mut v9 = app(9);
        v9["updateLine"] = json!([{"for": {"versions": ["<60.0", "", "61.0,62.0"],
                                           "buildIDs": [">=20180101000000"]}}]);
        ok(v9.clone());
        v9["updateLine"][0]["for"]["versions"][1] = json!("sixty");
        v9["updateLine"][0]["for"]["buildIDs"][0] = json!("<2018x");
        refused(
            v9.clone(),
            "updateLine[0].for.versions[1]",
            "couldn't parse the version",
        );
        refused(v9, "updateLine[0].for.buildIDs[0]", "must be an integer");
        let mut v9 = app(9);
        v9["showPrompt"] = json!(true);
        refused(v9, "showPrompt", "unknown key");
        let mut bad_url = app(9);
        bad_url["platforms"]["WINNT_x86_64-msvc"]["locales"]["de"]["completes"][0]["fileUrl"] =
            json!("not a url");
        refused(
            bad_url,
            "platforms.WINNT_x86_64-msvc.locales.de.completes[0].fileUrl",
            "expected an absolute URL",
        );
        let mut alias = app(9);
        alias["platforms"]["Darwin"] = json!({"alias": 3});
        refused(alias, "platforms.Darwin.alias", "expected a string");
    }

    #[test]
    fn old_app_releases_have_one_url_per_channel() {
        let v3 = json!({"name": "r", "schema_version": 3, "hashFunction": "sha512",
            "fileUrls": {"release": "https://dl.example/%FILENAME%", "": "https://x.example/"},
            "ftpFilenames": {"completes": {"*": "f.mar"}, "other": 1},
            "bouncerProducts": {"partials": {"Firefox-1": "p"}},
            "platforms": {"p": {"locales": {"de": {"platformVersion": "1",
                "partials": [{"from": "Firefox-1", "filesize": 1, "hashValue": "h"}]}}}}});
        ok(v3.clone());
        let mut bad = v3.clone();
        bad["fileUrls"]["release"] = json!({"completes": {}});
        refused(bad, "fileUrls.release", "expected a string");
        let mut bad = v3;
        bad["ftpFilenames"]["completes"]["*"] = json!(1);
        refused(bad, "ftpFilenames.completes.*", "expected a string");
        let v2 = json!({"name": "r", "schema_version": 2, "hashFunction": "sha512",
            "ftpFilenames": {"partial": "p.mar", "complete": "c.mar"},
            "platforms": {"p": {"locales": {"de": {"isOSUpdate": false,
                "partial": {"from": "Firefox-1", "filesize": "1", "hashValue": "h"},
                "complete": {"from": "*", "filesize": 2, "hashValue": "h"}}}}}});
        ok(v2.clone());
        let mut bad = v2.clone();
        bad["platforms"]["p"]["locales"]["de"]["complete"]["from"] = json!("Firefox-1");
        refused(
            bad,
            "platforms.p.locales.de.complete.from",
            "expected one of *",
        );
        let mut bad = v2.clone();
        bad["platforms"]["p"]["locales"]["de"]["completes"] = json!([]);
        refused(bad, "platforms.p.locales.de.completes", "unknown key");
        let mut bad = v2;
        bad["ftpFilenames"]["partials"] = json!({});
        refused(bad, "ftpFilenames.partials", "unknown key");
    }

    #[test]
    fn app_release_v1_has_its_own_field_names() {
        let v1 = json!({"name": "r", "schema_version": 1, "hashFunction": "sha512",
            "extv": "3.6", "appv": "3.6", "fakePartials": true,
            "ftpFilenames": {"complete": "c.mar"},
            "platforms": {"p": {"buildID": 1, "locales": {"de": {"extv": "3.6",
                "complete": {"from": "*", "filesize": 2, "hashValue": "h"}}}}}});
        ok(v1.clone());
        let mut bad = v1.clone();
        bad["appVersion"] = json!("3.6");
        refused(bad, "appVersion", "unknown key");
        let mut bad = v1.clone();
        bad["fakePartials"] = json!("yes");
        refused(bad, "fakePartials", "expected true or false");
        let mut bad = v1;
        bad.as_object_mut().unwrap().remove("hashFunction");
        refused(bad, "blob", "'hashFunction' is a required property");
    }

    #[test]
    fn desupport_blobs() {
        let blob = json!({"name": "d", "schema_version": 50,
                          "detailsUrl": "https://support.example/", "displayVersion": "1"});
        ok(blob.clone());
        let mut unknown = blob.clone();
        unknown["extra"] = json!(1);
        refused(unknown, "extra", "unknown key");
        let mut wrong = blob.clone();
        wrong["displayVersion"] = json!(1);
        refused(wrong, "displayVersion", "expected a string");
        let mut missing = blob;
        missing.as_object_mut().unwrap().remove("detailsUrl");
        refused(missing, "blob", "'detailsUrl' is a required property");
    }

    #[test]
    fn gmp_blobs() {
        let blob = json!({"name": "g", "schema_version": 1000, "hashFunction": "sha512",
            "vendors": {"gmp-eme": {"version": "1", "platforms": {
                "WINNT_x86-msvc": {"filesize": 1, "hashValue": "h",
                    "fileUrl": "https://a.example/f", "mirrorUrls": ["https://b.example/f"]},
                "WINNT_x86_64-msvc": {"alias": "WINNT_x86-msvc"}}}}});
        ok(blob.clone());
        let mut unknown = blob.clone();
        unknown["vendors"]["gmp-eme"]["platforms"]["WINNT_x86-msvc"]["size"] = json!(1);
        refused(
            unknown,
            "vendors.gmp-eme.platforms.WINNT_x86-msvc.size",
            "unknown key",
        );
        let mut wrong = blob.clone();
        wrong["vendors"]["gmp-eme"]["platforms"]["WINNT_x86-msvc"]["mirrorUrls"] = json!("x");
        refused(
            wrong,
            "vendors.gmp-eme.platforms.WINNT_x86-msvc.mirrorUrls",
            "expected an array",
        );
        let mut missing = blob;
        missing["vendors"]["gmp-eme"]
            .as_object_mut()
            .unwrap()
            .remove("version");
        refused(
            missing,
            "vendors.gmp-eme",
            "'version' is a required property",
        );
    }

    #[test]
    fn superblobs_list_products_or_blobs() {
        ok(json!({"name": "s", "schema_version": 4000, "products": ["g1", "g2"]}));
        ok(json!({"name": "s", "schema_version": 4000, "blobs": ["a1"]}));
        refused(
            json!({"name": "s", "schema_version": 4000, "products": ["g"], "blobs": ["a"]}),
            "blobs",
            "unknown key",
        );
        refused(
            json!({"name": "s", "schema_version": 4000, "products": [1]}),
            "products[0]",
            "expected a string",
        );
        refused(
            json!({"name": "s", "schema_version": 4000}),
            "blob",
            "'products' or 'blobs' is a required property",
        );
    }

    #[test]
    fn system_addon_blobs() {
        let blob = json!({"name": "a", "schema_version": 5000, "hashFunction": "sha512",
            "addons": {"x@mozilla.org": {"version": "1.0", "platforms": {
                "default": {"filesize": 2, "hashValue": "h", "fileUrl": "https://a.example/x.xpi"}}}}});
        ok(blob.clone());
        ok(json!({"name": "a", "schema_version": 5000, "uninstall": true}));
        let mut unknown = blob.clone();
        unknown["addons"]["x@mozilla.org"]["platforms"]["default"]["mirrorUrls"] = json!([]);
        refused(
            unknown,
            "addons.x@mozilla.org.platforms.default.mirrorUrls",
            "unknown key",
        );
        refused(
            json!({"name": "a", "schema_version": 5000, "uninstall": "yes"}),
            "uninstall",
            "expected true or false",
        );
        let mut missing = blob;
        missing["addons"]["x@mozilla.org"]["platforms"]["default"]
            .as_object_mut()
            .unwrap()
            .remove("fileUrl");
        refused(
            missing,
            "addons.x@mozilla.org.platforms.default",
            "'fileUrl' is a required property",
        );
    }

    #[test]
    fn guardian_blobs() {
        let blob = json!({"name": "v", "product": "Guardian", "schema_version": 10000,
            "version": "2.0", "hashFunction": "sha512", "required": false,
            "platforms": {"WINNT": {"fileUrl": "https://g.example/v.msi", "hashValue": "h"}}});
        ok(blob.clone());
        let mut unknown = blob.clone();
        unknown["platforms"]["WINNT"]["alias"] = json!("x");
        refused(unknown, "platforms.WINNT.alias", "unknown key");
        let mut wrong = blob.clone();
        wrong["required"] = json!("no");
        refused(wrong, "required", "expected true or false");
        let mut missing = blob;
        missing.as_object_mut().unwrap().remove("product");
        refused(missing, "blob", "'product' is a required property");
    }

    #[test]
    fn unknown_schema_versions_are_refused_and_unchecked_ones_pass() {
        refused(
            json!({"name": "x", "schema_version": 42}),
            "schema_version",
            "must be one of",
        );
        refused(json!({"name": "x"}), "schema_version", "must be one of");
    }
}
