//! Whether a release blob agrees to serve a client (Balrog's `shouldServeUpdate`): the policy,
//! apart from rendering.
//!
//! App release blobs (schema 1–6, 8, 9) serve only clients older than the release, and only a
//! platform and locale they have a build for. Guardian blobs (schema 10000) serve clients of a
//! listed platform older than the blob. Desupport blobs (schema 50), GMP, superblobs and system
//! add-ons always serve: the client decides what to do with them. Each blob is read once, when the
//! rule set is compiled, so a query costs two hash lookups. An app release newer than the
//! client's `pin` answers `Serve::PastPin`: the rule set then looks for the pinned release.

use serde_json::Value;

use super::evaluation_error::EvaluationError;
use super::fast_map::FastMap;
use super::named_release::NamedRelease;
use super::pin::PinVersion;
use super::query::Query;
use super::update_blob::{kind, platform, text, Kind};
use super::version::{LooseVersion, Version};

/// Why a blob refuses to serve a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blocked {
    /// The blob's `schema_version` is none Balrog serves.
    UnknownSchema,
    /// The blob names no application version for this client.
    NoAppVersion,
    /// The client already has this version (and build) or a newer one.
    NotNewer,
    /// The blob has no platform for the client's build target.
    NoPlatform,
    /// The blob has no build for the client's locale.
    NoLocale,
}

impl Blocked {
    /// The refusal in a sentence.
    pub fn describe(&self) -> &'static str {
        match self {
            Blocked::UnknownSchema => {
                "the mapped release's blob has a schema_version that is not served"
            }
            Blocked::NoAppVersion => {
                "the mapped release names no application version for this client"
            }
            Blocked::NotNewer => "the mapped release is not newer than the client",
            Blocked::NoPlatform => "the mapped release has no build for this build target",
            Blocked::NoLocale => "the mapped release has no build for this locale",
        }
    }
}

/// How a blob agrees to serve a client (Balrog's `ServeUpdate.Yes` and `.Maybe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serve {
    /// Serve it.
    Yes,
    /// Serve it, unless the client's pin (given here) has a pinnable release registered: the
    /// release is newer than the pin.
    PastPin(PinVersion),
}

/// An application version as a blob states it: parsed once, or the text that does not parse.
#[derive(Debug, Clone)]
enum AppVersion {
    Valid(Version),
    Invalid(Box<str>),
}

impl AppVersion {
    fn read(value: Option<&Value>) -> Option<AppVersion> {
        let text = value?.as_str()?;
        Some(match Version::parse(text) {
            Ok(version) => AppVersion::Valid(version),
            Err(_) => AppVersion::Invalid(text.into()),
        })
    }
}

/// What the serve check needs of one locale: its application version (the locale's own, else
/// the blob's) and its build id (the locale's own, else the platform's).
#[derive(Debug, Clone)]
struct LocaleFacts {
    app_version: Option<AppVersion>,
    build_id: Option<Box<str>>,
}

/// A release blob read once, at compile time, for [`should_serve`]: evaluation then does two
/// hash lookups instead of walking the JSON and parsing versions on every query.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReleaseFacts {
    kind: Option<Kind>,
    top_app_version: Option<AppVersion>,
    /// By build target as the blob names it (aliases resolved): the locales of its platform.
    platforms: FastMap<Box<str>, FastMap<Box<str>, LocaleFacts>>,
}

impl ReleaseFacts {
    pub(crate) fn read(data: &Value) -> ReleaseFacts {
        let kind = kind(data);
        let Some(Kind::App(schema)) = kind else {
            return ReleaseFacts {
                kind,
                ..ReleaseFacts::default()
            };
        };
        // Schema 1 blobs kept the application version in `extv` (`appv` was for display).
        let key = if schema == 1 { "extv" } else { "appVersion" };
        let mut platforms = FastMap::default();
        for target in data
            .get("platforms")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|p| p.keys())
        {
            let mut locales = FastMap::default();
            if let Some(platform) = platform(data, target) {
                for (name, locale) in platform
                    .get("locales")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    locales.insert(
                        name.as_str().into(),
                        LocaleFacts {
                            app_version: AppVersion::read(
                                locale.get(key).or_else(|| data.get(key)),
                            ),
                            build_id: text(locale, "buildID")
                                .or_else(|| text(platform, "buildID"))
                                .map(Box::from),
                        },
                    );
                }
            }
            platforms.insert(target.as_str().into(), locales);
        }
        ReleaseFacts {
            kind,
            top_app_version: AppVersion::read(data.get(key)),
            platforms,
        }
    }
}

/// A Guardian blob serves a client whose build target it lists and whose version is older than
/// its own, both compared as loose versions (whatever the product).
fn guardian_serves(data: &Value, query: &Query<'_>) -> Result<(), Blocked> {
    let listed = data
        .get("platforms")
        .and_then(|p| p.get(query.build_target.unwrap_or("")))
        .is_some();
    if !listed {
        return Err(Blocked::NoPlatform);
    }
    let version = text(data, "version").ok_or(Blocked::NoAppVersion)?;
    if LooseVersion(query.version) >= LooseVersion(version) {
        return Err(Blocked::NotNewer);
    }
    Ok(())
}

/// Whether `release` agrees to serve the client, whose version was parsed as `client` (`None`
/// when it does not parse). Only app release blobs look at the client's pin, as in Balrog; a
/// pin that is not `X.` or `X.Y.` fails the query, but only once a release would be served.
#[inline]
pub(crate) fn should_serve(
    release: &NamedRelease,
    facts: &ReleaseFacts,
    query: &Query<'_>,
    client: Option<&Version>,
) -> Result<Result<Serve, Blocked>, EvaluationError> {
    match facts.kind {
        None => return Ok(Err(Blocked::UnknownSchema)),
        // GMP, superblobs and system add-ons leave the decision to the client.
        Some(Kind::Desupport | Kind::Gmp | Kind::SuperBlob | Kind::SystemAddons) => {
            return Ok(Ok(Serve::Yes))
        }
        Some(Kind::Guardian) => {
            return Ok(guardian_serves(&release.data, query).map(|()| Serve::Yes))
        }
        Some(Kind::App(_)) => {}
    }
    let platform = facts.platforms.get(query.build_target.unwrap_or(""));
    let locale = platform.and_then(|p| p.get(query.locale.unwrap_or("")));
    let app_version = match locale {
        Some(locale) => locale.app_version.as_ref(),
        None => facts.top_app_version.as_ref(),
    };
    let release_version = match app_version {
        None => return Ok(Err(Blocked::NoAppVersion)),
        Some(AppVersion::Invalid(text)) => {
            return Err(EvaluationError::ReleaseVersion {
                release: release.name.clone(),
                value: text.to_string(),
            })
        }
        Some(AppVersion::Valid(version)) => version,
    };
    let client = client.ok_or_else(|| EvaluationError::QueryVersion(query.version.to_owned()))?;
    if client > release_version {
        return Ok(Err(Blocked::NotNewer));
    }
    if client == release_version {
        let Some(release_build) = locale.and_then(|l| l.build_id.as_deref()) else {
            return Ok(Err(Blocked::NoLocale));
        };
        if query.build_id.unwrap_or("") >= release_build {
            return Ok(Err(Blocked::NotNewer));
        }
    }
    if platform.is_none() {
        return Ok(Err(Blocked::NoPlatform));
    }
    // Balrog fails the request here; shiplog serves nothing, so the JSON answer and the XML
    // agree.
    if locale.is_none() {
        return Ok(Err(Blocked::NoLocale));
    }
    if let Some(text) = query.pin {
        let pin =
            PinVersion::parse(text).map_err(|_| EvaluationError::PinVersion(text.to_owned()))?;
        if pin.is_exceeded_by(release_version) {
            return Ok(Ok(Serve::PastPin(pin)));
        }
    }
    Ok(Ok(Serve::Yes))
}
