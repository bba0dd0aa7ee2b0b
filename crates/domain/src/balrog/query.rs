//! A client's update query: [`Query`] borrows the values of one request, [`OwnedQuery`] owns
//! them (for a query read from a URL or a file), and [`Force`] is the `force` parameter.

use std::borrow::Cow;

/// The suffix of a channel used to test system add-on releases (`release-sysaddon`).
pub const SYSADDON_SUFFIX: &str = "-sysaddon";

/// `force=1` serves the main mapping whatever the background rate; `force=-1` the fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Force {
    #[default]
    /// No `force` parameter, or one that means nothing.
    None,
    /// `force=1`: the main mapping, whatever the background rate.
    Main,
    /// `force=-1`: the fallback mapping.
    Fallback,
}

impl Force {
    /// Only `"1"` and `"-1"` mean anything; every other value is no force.
    pub fn parse(text: &str) -> Force {
        match text {
            "1" => Force::Main,
            "-1" => Force::Fallback,
            _ => Force::None,
        }
    }
}

/// The stable client identifiers a request carries, for sticky rules (a shiplog extension):
/// what a rule's `stickyBy` source (`query:NAME`, `header:NAME`) finds in the request.
#[derive(Debug, Clone, Copy, Default)]
pub enum ClientIds<'a> {
    /// None: every sticky rule rolls as Balrog does, at random.
    #[default]
    None,
    /// One identifier for every source: what `/api/v1/evaluate?clientId=…` says a client
    /// would send, wherever the rule looks for it.
    Same(&'a str),
    /// Each source (a rule's `stickyBy` text) with the value the request has for it; a source
    /// the request lacks is not listed.
    BySource(&'a [(String, String)]),
}

impl<'a> ClientIds<'a> {
    /// The identifier for a rule's `stickyBy` source; an empty value counts as none.
    #[inline]
    pub fn get(&self, source: &str) -> Option<&'a str> {
        let found = match *self {
            ClientIds::None => None,
            ClientIds::Same(id) => Some(id),
            ClientIds::BySource(pairs) => pairs
                .iter()
                .find(|(s, _)| s == source)
                .map(|(_, id)| id.as_str()),
        };
        found.filter(|id| !id.is_empty())
    }
}

/// A client's update query. `None` is an absent key, which is not the same as an empty value:
/// an absent `headerArchitecture` or `distVersion` matches only rules that leave the column
/// unset, while most other absent keys read as `""` as Balrog reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    /// The product (`Firefox`, …).
    pub product: &'a str,
    /// The client's application version.
    pub version: &'a str,
    /// The client's build id (`buildID`); compared as text.
    pub build_id: Option<&'a str>,
    /// The build target (`buildTarget`), e.g. `WINNT_x86_64-msvc`.
    pub build_target: Option<&'a str>,
    /// The client's locale.
    pub locale: Option<&'a str>,
    /// The update channel; `release-cck-*` partner channels also match `release`.
    pub channel: Option<&'a str>,
    /// The operating system version (`osVersion`), matched by substring.
    pub os_version: Option<&'a str>,
    /// The partner distribution.
    pub distribution: Option<&'a str>,
    /// The distribution's version (`distVersion`); absent matches only rules without one.
    pub dist_version: Option<&'a str>,
    /// The CPU architecture (`headerArchitecture`); absent matches only rules without one.
    pub header_architecture: Option<&'a str>,
    /// The CPU instruction set (`instructionSet`).
    pub instruction_set: Option<&'a str>,
    /// Unknown (`None`) matches every memory condition.
    pub memory: Option<i64>,
    /// Whether the JAWS screen reader is running; unknown matches only rules that leave it unset.
    pub jaws: Option<bool>,
    /// Whether the client may migrate to 64-bit; unknown matches only rules that leave it unset.
    pub mig64: Option<bool>,
    /// The `force` parameter.
    pub force: Force,
    /// The `pin` parameter (`"66."`): hold the client at or below this version when a
    /// pinnable release is registered for it. Parsed only when it matters (see `pin.rs`).
    pub pin: Option<&'a str>,
    /// Identifiers for sticky rules; none leaves every roll random.
    pub client_ids: ClientIds<'a>,
}

impl<'a> Query<'a> {
    /// A query for `product` at `version`, every other key absent.
    pub fn new(product: &'a str, version: &'a str) -> Query<'a> {
        Query {
            product,
            version,
            ..Query::default()
        }
    }

    /// The channel as given (`""` when absent).
    #[inline]
    pub fn channel(&self) -> &'a str {
        self.channel.unwrap_or("")
    }

    /// `release-cck-yahoo` → `release`: partner builds also match their base channel.
    ///
    /// A channel ending in `-sysaddon` keeps that suffix (`release-cck-ubuntu-sysaddon` →
    /// `release-sysaddon`), as Balrog's `getFallbackChannel` does since it learned of the
    /// suffix people add to their update URL to try a new system add-on release: a partner
    /// build must reach the `-sysaddon` rules, not the plain channel's. Only that rare channel
    /// allocates; every other fallback borrows from the query.
    #[inline]
    pub fn fallback_channel(&self) -> Cow<'a, str> {
        let channel = self.channel();
        match find(channel.as_bytes(), b"-cck-") {
            Some(at) if channel.ends_with(SYSADDON_SUFFIX) => {
                Cow::Owned([&channel[..at], SYSADDON_SUFFIX].concat())
            }
            Some(at) => Cow::Borrowed(&channel[..at]),
            None => Cow::Borrowed(channel),
        }
    }
}

/// A query that owns its values: what a server reads from a URL or query string, or an embedder
/// builds from its own data. [`OwnedQuery::query`] lends it as the [`Query`] evaluation takes.
///
/// The fields mean what [`Query`]'s fields mean; `None` is an absent key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OwnedQuery {
    /// The product (`Firefox`, …).
    pub product: String,
    /// The client's application version.
    pub version: String,
    /// The client's build id (`buildID`).
    pub build_id: Option<String>,
    /// The build target (`buildTarget`), e.g. `WINNT_x86_64-msvc`.
    pub build_target: Option<String>,
    /// The client's locale.
    pub locale: Option<String>,
    /// The update channel.
    pub channel: Option<String>,
    /// The operating system version (`osVersion`).
    pub os_version: Option<String>,
    /// The partner distribution.
    pub distribution: Option<String>,
    /// The distribution's version (`distVersion`).
    pub dist_version: Option<String>,
    /// The CPU architecture from the update URL's header (`headerArchitecture`).
    pub header_architecture: Option<String>,
    /// The CPU instruction set (`instructionSet`).
    pub instruction_set: Option<String>,
    /// Memory in MB; unknown (`None`) matches every memory condition.
    pub memory: Option<i64>,
    /// Whether the JAWS screen reader is running (`JAWS`).
    pub jaws: Option<bool>,
    /// Whether the client may migrate to 64-bit (`mig64`).
    pub mig64: Option<bool>,
    /// The `force` parameter.
    pub force: Force,
    /// The `pin` parameter (`"66."`).
    pub pin: Option<String>,
    /// One client identifier for every sticky rule, whatever source it names (`clientId` of
    /// `/api/v1/evaluate`); takes precedence over `client_ids`.
    pub client_id: Option<String>,
    /// The identifiers a request carries, by sticky source (`query:NAME`/`header:NAME`).
    pub client_ids: Vec<(String, String)>,
}

impl OwnedQuery {
    /// A query for `product` at `version`, every other key absent.
    pub fn new(product: impl Into<String>, version: impl Into<String>) -> OwnedQuery {
        OwnedQuery {
            product: product.into(),
            version: version.into(),
            ..OwnedQuery::default()
        }
    }

    /// The query as evaluation takes it, borrowing from `self`.
    pub fn query(&self) -> Query<'_> {
        Query {
            product: &self.product,
            version: &self.version,
            build_id: self.build_id.as_deref(),
            build_target: self.build_target.as_deref(),
            locale: self.locale.as_deref(),
            channel: self.channel.as_deref(),
            os_version: self.os_version.as_deref(),
            distribution: self.distribution.as_deref(),
            dist_version: self.dist_version.as_deref(),
            header_architecture: self.header_architecture.as_deref(),
            instruction_set: self.instruction_set.as_deref(),
            memory: self.memory,
            jaws: self.jaws,
            mig64: self.mig64,
            force: self.force,
            pin: self.pin.as_deref(),
            client_ids: match (&self.client_id, self.client_ids.is_empty()) {
                (Some(id), _) => ClientIds::Same(id),
                (None, false) => ClientIds::BySource(&self.client_ids),
                (None, true) => ClientIds::None,
            },
        }
    }
}

impl From<&Query<'_>> for OwnedQuery {
    fn from(query: &Query<'_>) -> OwnedQuery {
        let owned = |value: Option<&str>| value.map(str::to_owned);
        OwnedQuery {
            product: query.product.to_owned(),
            version: query.version.to_owned(),
            build_id: owned(query.build_id),
            build_target: owned(query.build_target),
            locale: owned(query.locale),
            channel: owned(query.channel),
            os_version: owned(query.os_version),
            distribution: owned(query.distribution),
            dist_version: owned(query.dist_version),
            header_architecture: owned(query.header_architecture),
            instruction_set: owned(query.instruction_set),
            memory: query.memory,
            jaws: query.jaws,
            mig64: query.mig64,
            force: query.force,
            pin: owned(query.pin),
            client_id: match query.client_ids {
                ClientIds::Same(id) => Some(id.to_owned()),
                _ => None,
            },
            client_ids: match query.client_ids {
                ClientIds::BySource(pairs) => pairs.to_vec(),
                _ => Vec::new(),
            },
        }
    }
}

/// The first position of `needle` in `haystack`. Channels and OS versions are short, so a plain
/// scan beats setting up the standard library's two-way searcher on every evaluation.
#[inline]
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fallback(channel: &str) -> String {
        Query {
            channel: Some(channel),
            ..Query::new("Firefox", "60.0")
        }
        .fallback_channel()
        .into_owned()
    }

    #[test]
    fn partner_channels_fall_back_to_their_base_keeping_sysaddon() {
        // AUS.getFallbackChannel: the part before `-cck-`.
        assert_eq!(fallback("release-cck-yahoo"), "release");
        assert_eq!(fallback("release"), "release");
        assert_eq!(fallback(""), "");
        // ... plus `-sysaddon` when the channel ends with it.
        assert_eq!(fallback("release-cck-ubuntu-sysaddon"), "release-sysaddon");
        assert_eq!(fallback("beta-cck-x-sysaddon"), "beta-sysaddon");
        // Without a partner part the channel is its own fallback (Balrog appends the suffix a
        // second time here, to a channel no rule names).
        assert_eq!(fallback("release-sysaddon"), "release-sysaddon");
    }
}
