//! Landing tickets (Bileto's "requests") and their comments: the flat record of string fields,
//! the computed `search` text, the automatic change comment, and the checks a POST body must
//! pass before it may touch storage (see docs/bileto.md).
//!
//! Every field is free text: `status` is written by backends in many composed forms, so
//! no field is an enum. An unset field is `""`, never null.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{DomainError, DomainResult};
use crate::input::{self, TextKind};
use crate::timestamp;

/// Statuses that mean a ticket is finished; listings leave them out unless asked.
pub const INACTIVE_STATUSES: [&str; 2] = ["Landed", "Abandoned"];
/// The status of a silo whose packages are ready to publish.
pub const PUBLISHABLE_STATUS: &str = "Packages built";
/// QA sign-offs that let trainguards publish a built silo.
pub const PUBLISHABLE_QA_SIGNOFFS: [&str; 2] = ["QA Granted", "Publish without QA"];
/// Words whose presence (in any case) in a status marks a failure.
pub const FAILURE_WORDS: [&str; 3] = ["can't", "failed", "error"];

/// Who an automatic comment is from when the POST body names no `author`: the holder of the
/// shared bot token (until API tokens carry a user name).
pub const BOT_AUTHOR: &str = "bot";

/// A ticket's id: a positive integer allocated by the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(i64);

impl TicketId {
    /// A ticket id; it must be positive.
    pub fn new(id: i64) -> DomainResult<Self> {
        if id > 0 {
            Ok(TicketId(id))
        } else {
            Err(invalid_request_id())
        }
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }

    /// Reads `request_id` from JSON: a positive integer, or a string of digits.
    pub fn from_json(value: &Value) -> DomainResult<Self> {
        match value {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(invalid_request_id)
                .and_then(Self::new),
            Value::String(s) => s.parse(),
            _ => Err(invalid_request_id()),
        }
    }
}

fn invalid_request_id() -> DomainError {
    DomainError::field("request_id", "must be a positive integer")
}

impl FromStr for TicketId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        // Digits only: `+6`, `0x6` and `6.0` are not ids.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid_request_id());
        }
        s.parse::<i64>()
            .map_err(|_| invalid_request_id())
            .and_then(Self::new)
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A comment's id: one sequence over all tickets, so ids also order comments in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommentId(i64);

impl CommentId {
    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for CommentId {
    fn from(id: i64) -> Self {
        CommentId(id)
    }
}

/// Declares the string fields once: the enum, its names, its documentation and the struct.
macro_rules! ticket_fields {
    ($($variant:ident => $name:ident, $doc:literal;)*) => {
        /// One of a ticket's free-text fields.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum TicketField {
            $(#[doc = $doc] $variant,)*
        }

        impl TicketField {
            /// Every field, in the order of Bileto's documented field table,
            /// which is also the order of the lines of an automatic change comment.
            pub const ALL: [TicketField; 15] = [$(TicketField::$variant,)*];

            /// The JSON key and column name.
            pub fn name(self) -> &'static str {
                match self {
                    $(TicketField::$variant => stringify!($name),)*
                }
            }

            /// What the field holds, for `/v1/metadata`.
            pub fn doc(self) -> &'static str {
                match self {
                    $(TicketField::$variant => $doc,)*
                }
            }
        }

        /// A ticket's free-text fields; an unset field is `""`.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct TicketFields {
            $(#[doc = $doc] pub $name: String,)*
        }

        impl TicketFields {
            /// A field's value (`""` when unset).
            pub fn get(&self, field: TicketField) -> &str {
                match field {
                    $(TicketField::$variant => &self.$name,)*
                }
            }

            /// Sets a field's value.
            pub fn set(&mut self, field: TicketField, value: String) {
                match field {
                    $(TicketField::$variant => self.$name = value,)*
                }
            }
        }
    };
}

ticket_fields! {
    Description => description, "What the landing is for, in a sentence.";
    TestPlan => test_plan, "How the change was or will be tested (a link or free text).";
    MergeProposals => merge_proposals, "The merge proposals to land, one or more URLs.";
    Sources => sources, "Source packages to copy or sync without a merge proposal.";
    Landers => landers, "The people landing the change; may name several.";
    Siloname => siloname, "The silo (PPA) assigned to the ticket, e.g. ubuntu/landing-001.";
    Status => status, "Where the ticket stands, written by the backend (free text).";
    QaSignoff => qa_signoff, "The QA decision, e.g. Ready for QA, QA Granted, Publish without QA.";
    Distribution => distribution, "The distribution the packages are for, e.g. ubuntu.";
    Series => series, "The series the packages are for, e.g. dual.";
    Dest => dest, "Where the packages go when published (empty: the distribution's archive).";
    SyncRequest => sync_request, "A silo or PPA to sync packages from.";
    PublishedVersions => published_versions, "The versions published when the ticket landed.";
    DownloadLinks => download_links, "Links to the built packages.";
    Jenkins => jenkins, "The CI server that builds the silo.";
}

impl TicketField {
    /// The fields concatenated into `search` after the request id, in the order Bileto's documentation fixes:
    /// the slots of Bileto's example with the unprovable empty ones taken from the UI form order.
    pub const SEARCH_ORDER: [TicketField; 11] = [
        TicketField::Description,
        TicketField::TestPlan,
        TicketField::MergeProposals,
        TicketField::Landers,
        TicketField::Status,
        TicketField::Siloname,
        TicketField::Sources,
        TicketField::Distribution,
        TicketField::Series,
        TicketField::Dest,
        TicketField::QaSignoff,
    ];

    /// True if the field's text is part of `search`.
    pub fn in_search(self) -> bool {
        Self::SEARCH_ORDER.contains(&self)
    }

    fn names() -> String {
        Self::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for TicketField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TicketField {
    type Err = DomainError;

    /// Exact, case-sensitive names, as JSON keys are.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                DomainError::field(
                    "body",
                    format!("unknown field {s:?} (the fields are {})", Self::names()),
                )
            })
    }
}

impl TicketFields {
    /// The `search` text: the request id and the fields of [`TicketField::SEARCH_ORDER`],
    /// joined by newlines. Rebuilt on every write, so it always matches the fields.
    pub fn search_text(&self, request_id: TicketId) -> String {
        let mut text = request_id.to_string();
        for field in TicketField::SEARCH_ORDER {
            text.push('\n');
            text.push_str(self.get(field));
        }
        text
    }

    /// True unless the ticket has landed or been abandoned.
    pub fn is_active(&self) -> bool {
        !INACTIVE_STATUSES.contains(&self.status.as_str())
    }

    /// True if trainguards can publish the silo: packages built and QA granted or waived.
    pub fn is_publishable(&self) -> bool {
        self.status == PUBLISHABLE_STATUS
            && PUBLISHABLE_QA_SIGNOFFS.contains(&self.qa_signoff.as_str())
    }

    /// True if the status mentions a failure, in any case.
    pub fn is_failure(&self) -> bool {
        let status = self.status.to_lowercase();
        FAILURE_WORDS.iter().any(|word| status.contains(word))
    }
}

/// A recorded ticket with its comments, oldest first.
///
/// Its JSON is the Bileto face's (one item of `{"requests": [...]}`): the fields flattened
/// beside `request_id`, `date` written as `2015-07-01T13:11:58.852196` (UTC, no zone) and the
/// computed `search` text, which reading ignores.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ticket {
    /// The ticket's number.
    pub request_id: TicketId,
    /// When the ticket was created.
    #[serde(with = "timestamp::bileto")]
    pub date: OffsetDateTime,
    /// The free-text fields.
    #[serde(flatten)]
    pub fields: TicketFields,
    /// The comments, oldest first.
    #[serde(default)]
    pub comments: Vec<Comment>,
}

impl Ticket {
    /// The computed `search` text (see [`TicketFields::search_text`]).
    pub fn search(&self) -> String {
        self.fields.search_text(self.request_id)
    }
}

/// A ticket as the Bileto face writes it: the stored values and the computed search text.
#[derive(Serialize)]
struct TicketWire<'a> {
    comments: &'a [Comment],
    #[serde(with = "timestamp::bileto")]
    date: OffsetDateTime,
    #[serde(flatten)]
    fields: &'a TicketFields,
    request_id: TicketId,
    search: String,
}

impl Serialize for Ticket {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TicketWire {
            comments: &self.comments,
            date: self.date,
            fields: &self.fields,
            request_id: self.request_id,
            search: self.search(),
        }
        .serialize(serializer)
    }
}

/// One comment on a ticket; its JSON is the Bileto face's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    /// One sequence over all tickets.
    pub id: CommentId,
    /// The ticket commented on.
    pub request_id: TicketId,
    /// Who wrote it.
    pub author: String,
    /// When, written like a ticket's date.
    #[serde(with = "timestamp::bileto")]
    pub date: OffsetDateTime,
    /// The comment itself.
    pub text: String,
}

/// The fields an update sets, each at most once, in [`TicketField::ALL`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketChanges(Vec<(TicketField, String)>);

impl TicketChanges {
    /// Sets `field` to `value`, replacing an earlier value for the same field.
    pub fn set(&mut self, field: TicketField, value: String) {
        match self.0.iter_mut().find(|(f, _)| *f == field) {
            Some(slot) => slot.1 = value,
            None => {
                self.0.push((field, value));
                self.0.sort_by_key(|(f, _)| *f);
            }
        }
    }

    /// The fields set and their new values, in [`TicketField::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (TicketField, &str)> {
        self.0.iter().map(|(f, v)| (*f, v.as_str()))
    }

    /// Whether no field changes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `old` with these changes applied; fields not named keep their value.
    pub fn apply(&self, old: &TicketFields) -> TicketFields {
        let mut new = old.clone();
        for (field, value) in self.iter() {
            new.set(field, value.to_owned());
        }
        new
    }
}

/// The automatic comment for an update: one line per changed field, in [`TicketField::ALL`]
/// order, `<field> changed from '<old>' to '<new>'`. `None` when nothing changed.
pub fn change_comment(old: &TicketFields, new: &TicketFields) -> Option<String> {
    let lines: Vec<String> = TicketField::ALL
        .into_iter()
        .filter(|f| old.get(*f) != new.get(*f))
        .map(|f| format!("{f} changed from '{}' to '{}'", old.get(f), new.get(f)))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// A ticket to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTicket {
    /// The fields of the new ticket; the ones not given are `""`.
    pub fields: TicketFields,
}

/// An update of an existing ticket: only the fields named change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketUpdate {
    /// The ticket updated.
    pub request_id: TicketId,
    /// The fields that change.
    pub changes: TicketChanges,
    /// The author of the automatic comment.
    pub author: String,
}

/// What a POST to the tickets endpoint asks for, checked.
// One value per request, moved once: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketWrite {
    /// A new ticket.
    Create(NewTicket),
    /// An update of an existing ticket.
    Update(TicketUpdate),
}

/// Keys a client may send back from a GET but that the server owns: ignored on POST.
const SERVER_OWNED: [&str; 3] = ["date", "comments", "search"];

impl TicketWrite {
    /// Checks a POST body: a JSON object whose keys are ticket fields, `request_id` (update) or
    /// `author`; `date`, `comments` and `search` are ignored. Field values are strings (numbers
    /// are taken as their text, null as `""`). `author` defaults to `default_author`.
    pub fn from_json(body: &Value, default_author: &str) -> DomainResult<Self> {
        let map = object(body)?;
        let mut changes = TicketChanges::default();
        let mut request_id = None;
        let mut author = None;
        for (key, value) in map {
            match key.as_str() {
                "request_id" if value.is_null() => {}
                "request_id" => request_id = Some(TicketId::from_json(value)?),
                "author" => author = optional_text("author", value, TextKind::Name)?,
                key if SERVER_OWNED.contains(&key) => {}
                key => {
                    let field: TicketField = key.parse()?;
                    changes.set(field, field_text(field, value)?);
                }
            }
        }
        Ok(match request_id {
            None => TicketWrite::Create(NewTicket {
                fields: changes.apply(&TicketFields::default()),
            }),
            Some(request_id) => TicketWrite::Update(TicketUpdate {
                request_id,
                changes,
                author: author.unwrap_or_else(|| default_author.to_owned()),
            }),
        })
    }
}

/// A comment to add to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    /// The ticket commented on.
    pub request_id: TicketId,
    /// Who writes the comment.
    pub author: String,
    /// The comment itself.
    pub text: String,
}

impl NewComment {
    /// A comment; its text must not be blank, and no text may hold a NUL character.
    pub fn new(request_id: TicketId, author: &str, text: &str) -> DomainResult<Self> {
        if text.trim().is_empty() {
            return Err(DomainError::field("text", "must not be empty"));
        }
        input::check("text", text, TextKind::Text)?;
        input::check("author", author, TextKind::Name)?;
        Ok(NewComment {
            request_id,
            author: author.to_owned(),
            text: text.to_owned(),
        })
    }

    /// Checks a POST body `{"request_id": 6, "text": "…", "author"?: "…"}`. The server-owned
    /// `id` and `date` of a comment are ignored; any other key is refused.
    pub fn from_json(body: &Value, default_author: &str) -> DomainResult<Self> {
        let map = object(body)?;
        let mut request_id = None;
        let mut text = None;
        let mut author = None;
        for (key, value) in map {
            match key.as_str() {
                "request_id" if value.is_null() => {}
                "request_id" => request_id = Some(TicketId::from_json(value)?),
                "text" => text = optional_text("text", value, TextKind::Text)?,
                "author" => author = optional_text("author", value, TextKind::Name)?,
                "id" | "date" => {}
                other => {
                    return Err(DomainError::field(
                        "body",
                        format!(
                            "unknown field {other:?} (a comment has request_id, text and author)"
                        ),
                    ))
                }
            }
        }
        let request_id =
            request_id.ok_or_else(|| DomainError::field("request_id", "is required"))?;
        let text = text.ok_or_else(|| DomainError::field("text", "is required"))?;
        NewComment::new(
            request_id,
            author.as_deref().unwrap_or(default_author),
            &text,
        )
    }
}

fn object(body: &Value) -> DomainResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| DomainError::field("body", "must be a JSON object"))
}

/// How the input policy reads a ticket field: the two that are indexed together (status and
/// QA sign-off) are names; the rest are free text, which may span lines.
fn text_kind(field: TicketField) -> TextKind {
    match field {
        TicketField::Status | TicketField::QaSignoff => TextKind::Name,
        _ => TextKind::Text,
    }
}

/// A field value: a string, a number (its text) or null (`""`).
fn field_text(field: TicketField, value: &Value) -> DomainResult<String> {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(DomainError::field(field.name(), "must be a string")),
    };
    input::check(field.name(), &text, text_kind(field))?;
    Ok(text)
}

/// An optional string: null or blank is absent.
fn optional_text(
    field: &'static str,
    value: &Value,
    kind: TextKind,
) -> DomainResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => {
            input::check(field, s, kind)?;
            Ok(Some(s.clone()))
        }
        _ => Err(DomainError::field(field, "must be a string")),
    }
}

/// Values for the drop-down lists of a frontend (`/v1/metadata`). Fields stay free text: these
/// are suggestions, from Bileto's documentation and the statuses its bots were seen writing.
pub mod choices {
    /// QA decisions.
    pub const QA_SIGNOFF: [&str; 3] = ["Ready for QA", "QA Granted", "Publish without QA"];
    /// Distributions.
    pub const DISTRIBUTION: [&str; 1] = ["ubuntu"];
    /// Series.
    pub const SERIES: [&str; 4] = ["dual", "xenial", "bionic", "focal"];
    /// Statuses the backends write.
    pub const STATUS: [&str; 19] = [
        "Preparing packages",
        "Uploading build",
        "Pending binary packages",
        "Generating diffs",
        "Diff missing",
        "Successfully built",
        "Failed to build",
        "Ready to build",
        "Dependency wait",
        "Packages built",
        "Needs rebuild due to higher version at destination",
        "Needs rebuild due to new commits",
        "Proposed pocket",
        "Updates pocket",
        "Security pocket",
        "Release pocket",
        "Abandoning ticket",
        "Landed",
        "Abandoned",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc_example() -> TicketFields {
        TicketFields {
            description: "browser desktop tabs prototype".into(),
            distribution: "ubuntu".into(),
            jenkins: "http://ci-train.staging.ubuntu.com".into(),
            landers: "oSoMoN".into(),
            merge_proposals:
                "https://code.launchpad.net/~osomon/webbrowser-app/desktop-tabs-prototype/+merge/262358"
                    .into(),
            qa_signoff: "Ready for QA".into(),
            series: "dual".into(),
            siloname: "ubuntu/landing-000".into(),
            status: "Packages built".into(),
            ..TicketFields::default()
        }
    }

    fn id(n: i64) -> TicketId {
        TicketId::new(n).expect("positive")
    }

    #[test]
    fn search_text_reproduces_the_documented_example() {
        let expected = "6\nbrowser desktop tabs prototype\n\nhttps://code.launchpad.net/~osomon/webbrowser-app/desktop-tabs-prototype/+merge/262358\noSoMoN\nPackages built\nubuntu/landing-000\n\nubuntu\ndual\n\nReady for QA";
        assert_eq!(doc_example().search_text(id(6)), expected);
        assert_eq!(expected.split('\n').count(), 12);
    }

    #[test]
    fn search_text_places_every_slot_in_the_shiplog_order() {
        let mut fields = TicketFields::default();
        for field in TicketField::ALL {
            fields.set(field, field.name().to_owned());
        }
        assert_eq!(
            fields.search_text(id(1)),
            "1\ndescription\ntest_plan\nmerge_proposals\nlanders\nstatus\nsiloname\nsources\ndistribution\nseries\ndest\nqa_signoff"
        );
        let left_out: Vec<_> = TicketField::ALL
            .into_iter()
            .filter(|f| !f.in_search())
            .map(TicketField::name)
            .collect();
        assert_eq!(
            left_out,
            [
                "sync_request",
                "published_versions",
                "download_links",
                "jenkins"
            ]
        );
    }

    #[test]
    fn field_names_round_trip_and_unknown_names_are_listed() {
        for field in TicketField::ALL {
            assert_eq!(field.name().parse::<TicketField>(), Ok(field));
            assert!(!field.doc().is_empty());
        }
        let err = "qa_sigoff"
            .parse::<TicketField>()
            .expect_err("refused")
            .to_string();
        assert!(
            err.starts_with("body: unknown field \"qa_sigoff\""),
            "{err}"
        );
        assert!(err.contains("qa_signoff"), "{err}");
        assert!("Status".parse::<TicketField>().is_err(), "names are exact");
    }

    #[test]
    fn ticket_ids_are_positive_integers() {
        assert_eq!("6".parse::<TicketId>(), Ok(id(6)));
        assert_eq!(" 42 ".parse::<TicketId>(), Ok(id(42)));
        for bad in ["0", "-1", "+6", "6.0", "", "x", "99999999999999999999"] {
            assert!(bad.parse::<TicketId>().is_err(), "{bad:?}");
        }
        assert_eq!(TicketId::from_json(&json!(7)), Ok(id(7)));
        assert_eq!(TicketId::from_json(&json!("7")), Ok(id(7)));
        for bad in [json!(7.5), json!(-7), json!(true), json!([7]), json!(0)] {
            assert_eq!(
                TicketId::from_json(&bad).expect_err("refused").to_string(),
                "request_id: must be a positive integer",
                "{bad}"
            );
        }
    }

    #[test]
    fn change_comment_lists_each_changed_field_in_field_order() {
        let old = doc_example();
        assert_eq!(change_comment(&old, &old), None);
        let mut changes = TicketChanges::default();
        changes.set(TicketField::Status, "Landed".into());
        changes.set(TicketField::QaSignoff, "QA Granted".into());
        changes.set(TicketField::Description, old.description.clone());
        changes.set(TicketField::Dest, "ubuntu/stable".into());
        let new = changes.apply(&old);
        assert_eq!(
            change_comment(&old, &new).as_deref(),
            Some(
                "status changed from 'Packages built' to 'Landed'\n\
                 qa_signoff changed from 'Ready for QA' to 'QA Granted'\n\
                 dest changed from '' to 'ubuntu/stable'"
            )
        );
    }

    #[test]
    fn changes_keep_one_value_per_field_and_leave_others_alone() {
        let mut changes = TicketChanges::default();
        changes.set(TicketField::Series, "a".into());
        changes.set(TicketField::Description, "d".into());
        changes.set(TicketField::Series, "b".into());
        assert_eq!(
            changes.iter().collect::<Vec<_>>(),
            [(TicketField::Description, "d"), (TicketField::Series, "b")]
        );
        let new = changes.apply(&doc_example());
        assert_eq!(new.series, "b");
        assert_eq!(new.landers, "oSoMoN");
    }

    #[test]
    fn a_body_without_request_id_creates() {
        let write = TicketWrite::from_json(
            &json!({
                "description": "d",
                "series": 16.04,
                "dest": null,
                "request_id": null,
                "author": "robru",
                "date": "2015-07-01T13:11:58.852196",
                "comments": [{"text": "ignored"}],
                "search": "ignored",
            }),
            BOT_AUTHOR,
        )
        .expect("valid");
        let TicketWrite::Create(new) = write else {
            panic!("expected a create: {write:?}")
        };
        assert_eq!(new.fields.description, "d");
        assert_eq!(new.fields.series, "16.04");
        assert_eq!(new.fields.dest, "");
        let empty = TicketWrite::from_json(&json!({}), BOT_AUTHOR).expect("valid");
        assert_eq!(empty, TicketWrite::Create(NewTicket::default()));
    }

    #[test]
    fn a_body_with_request_id_updates_only_the_fields_it_names() {
        let write = TicketWrite::from_json(
            &json!({"request_id": "6", "status": "Landed", "dest": null}),
            BOT_AUTHOR,
        )
        .expect("valid");
        let TicketWrite::Update(update) = write else {
            panic!("expected an update: {write:?}")
        };
        assert_eq!(update.request_id, id(6));
        assert_eq!(update.author, BOT_AUTHOR);
        assert_eq!(
            update.changes.iter().collect::<Vec<_>>(),
            [(TicketField::Status, "Landed"), (TicketField::Dest, "")]
        );
        let by_robru = TicketWrite::from_json(&json!({"request_id": 6, "author": "robru"}), "x")
            .expect("valid");
        assert!(
            matches!(by_robru, TicketWrite::Update(u) if u.author == "robru" && u.changes.is_empty())
        );
    }

    #[test]
    fn bad_bodies_say_which_field_is_wrong() {
        for (body, message) in [
            (json!([]), "body: must be a JSON object"),
            (json!("x"), "body: must be a JSON object"),
            (json!({"status": ["Landed"]}), "status: must be a string"),
            (json!({"landers": true}), "landers: must be a string"),
            (
                json!({"landers": "a\u{0}b"}),
                "landers: must not contain NUL characters",
            ),
            (json!({"author": 5}), "author: must be a string"),
            (
                json!({"request_id": "six"}),
                "request_id: must be a positive integer",
            ),
            (
                json!({"request_id": 0}),
                "request_id: must be a positive integer",
            ),
        ] {
            assert_eq!(
                TicketWrite::from_json(&body, BOT_AUTHOR)
                    .expect_err("refused")
                    .to_string(),
                message,
                "{body}"
            );
        }
        let unknown = TicketWrite::from_json(&json!({"colour": "red"}), BOT_AUTHOR)
            .expect_err("refused")
            .to_string();
        assert!(
            unknown.starts_with("body: unknown field \"colour\""),
            "{unknown}"
        );
    }

    #[test]
    fn comments_need_a_ticket_and_text() {
        let comment = NewComment::from_json(
            &json!({"request_id": 6, "text": "This request is broken, please fix it."}),
            BOT_AUTHOR,
        )
        .expect("valid");
        assert_eq!(comment.request_id, id(6));
        assert_eq!(comment.author, BOT_AUTHOR);
        let by_timo = NewComment::from_json(
            &json!({"request_id": "6", "text": "I approve this!", "author": "timo-jyrinki", "id": 3}),
            BOT_AUTHOR,
        )
        .expect("valid");
        assert_eq!(by_timo.author, "timo-jyrinki");
        for (body, message) in [
            (json!({"text": "x"}), "request_id: is required"),
            (json!({"request_id": 6}), "text: is required"),
            (json!({"request_id": 6, "text": "  "}), "text: is required"),
            (
                json!({"request_id": 6, "text": 5}),
                "text: must be a string",
            ),
            (
                json!({"request_id": "x", "text": "t"}),
                "request_id: must be a positive integer",
            ),
            (json!(null), "body: must be a JSON object"),
        ] {
            assert_eq!(
                NewComment::from_json(&body, BOT_AUTHOR)
                    .expect_err("refused")
                    .to_string(),
                message,
                "{body}"
            );
        }
        assert!(
            NewComment::from_json(&json!({"request_id": 6, "text": "t", "mood": "x"}), "b")
                .is_err()
        );
        assert!(NewComment::new(id(1), "a", "\u{0}").is_err());
    }

    #[test]
    fn activity_publishability_and_failure_follow_the_documented_values() {
        let mut fields = doc_example();
        assert!(fields.is_active());
        assert!(!fields.is_publishable(), "Ready for QA is not yet granted");
        fields.qa_signoff = "Publish without QA".into();
        assert!(fields.is_publishable());
        fields.status = "Landed".into();
        assert!(!fields.is_active() && !fields.is_publishable());
        for failing in ["Failed to build", "Can't merge", "Build ERROR (focal/x)"] {
            fields.status = failing.into();
            assert!(fields.is_failure(), "{failing}");
        }
        fields.status = "Successfully built".into();
        assert!(!fields.is_failure());
    }

    #[test]
    fn choice_lists_include_the_documented_values() {
        for status in INACTIVE_STATUSES.iter().chain([&PUBLISHABLE_STATUS]) {
            assert!(choices::STATUS.contains(status), "{status}");
        }
        for qa in PUBLISHABLE_QA_SIGNOFFS {
            assert!(choices::QA_SIGNOFF.contains(&qa));
        }
    }
}
