//! What every dashboard page shares: the layout (header, navigation, main), the answer with its
//! content policy, the embedded assets, and how values are shown (times, durations, statuses).
//! Every value goes through maud, which escapes it.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};
use shiplog_domain::{timestamp, PackageStatus};
use time::OffsetDateTime;

use crate::identity::{AuthMode, Who};
use crate::state::AppState;

/// The dashboard's content policy: its own stylesheet and icon, forms posting to itself, no
/// script at all (the pages need none: charts are SVG drawn on the server).
pub const UI_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const STYLESHEET: &str = include_str!("assets/ui.css");
const ICON: &str = include_str!("assets/icon.svg");

/// The pages of the navigation, in order: (path, title).
const NAV: [(&str, &str); 6] = [
    ("/ui/", "Overview"),
    ("/ui/releases", "Releases"),
    ("/ui/live", "Live now"),
    ("/ui/rollouts", "Rollouts"),
    ("/ui/evaluate", "Evaluate"),
    ("/ui/tickets", "Tickets"),
];

/// Which navigation entry a page belongs to (none for the login and error pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Releases,
    Live,
    Rollouts,
    Evaluate,
    Tickets,
    None,
}

impl Section {
    fn index(self) -> Option<usize> {
        match self {
            Section::Overview => Some(0),
            Section::Releases => Some(1),
            Section::Live => Some(2),
            Section::Rollouts => Some(3),
            Section::Evaluate => Some(4),
            Section::Tickets => Some(5),
            Section::None => None,
        }
    }
}

/// Who is signed in, shown in the header with a way out (only where reads need a login).
pub struct Viewer {
    user: Option<String>,
    login_used: bool,
}

impl Viewer {
    pub fn of(req: &HttpRequest, state: &AppState) -> Viewer {
        Viewer {
            user: req.extensions().get::<Who>().map(|who| who.user.clone()),
            login_used: state.auth.mode == AuthMode::All,
        }
    }

    /// No one (the login and error pages show no one).
    pub fn of_nobody() -> Viewer {
        Viewer {
            user: None,
            login_used: false,
        }
    }
}

/// A whole page: `title`, the navigation with `section` marked, and `body`.
pub fn layout(title: &str, section: Section, viewer: &Viewer, body: Markup) -> Markup {
    let current = section.index();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · shiplog" }
                link rel="icon" href="/ui/assets/icon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/ui/assets/ui.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { img src="/ui/assets/icon.svg" alt="" width="24" height="24"; " shiplog" }
                    nav aria-label="Sections" {
                        ul {
                            @for (i, (href, name)) in NAV.iter().enumerate() {
                                li {
                                    @if current == Some(i) {
                                        a href=(href) aria-current="page" { (name) }
                                    } @else {
                                        a href=(href) { (name) }
                                    }
                                }
                            }
                        }
                    }
                    @if viewer.login_used {
                        @if let Some(user) = &viewer.user {
                            form.who method="post" action="/ui/logout" {
                                span { "Signed in as " strong { (user) } }
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An HTML answer with the dashboard's content policy.
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, UI_POLICY))
        .body(markup.into_string())
}

/// A page that says what went wrong, with the status in its title.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = html! {
        p.notice.error role="alert" { (message) }
        p { a href="/ui/" { "Back to the overview" } }
    };
    respond(
        status,
        layout(&title, Section::None, &Viewer::of_nobody(), body),
    )
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(STYLESHEET)
}

pub async fn icon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(ICON)
}

/// A time as `2026-01-31 12:00 UTC`, in a `<time>` element carrying the exact value.
pub fn when(at: OffsetDateTime) -> Markup {
    let exact = timestamp::format(at);
    let shown = format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    );
    html! { time datetime=(exact) title=(exact) { (shown) } }
}

/// `Some` time, or a dash.
pub fn maybe_when(at: Option<OffsetDateTime>) -> Markup {
    match at {
        Some(at) => when(at),
        None => html! { span.muted { "—" } },
    }
}

/// Whole seconds as `1 d 2 h`, `3 h 05 min`, `4 min 09 s` or `12 s`.
pub fn duration(seconds: i64) -> String {
    let sign = if seconds < 0 { "−" } else { "" };
    let s = seconds.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    let text = if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {sec:02} s")
    } else {
        format!("{sec} s")
    };
    format!("{sign}{text}")
}

pub fn maybe_duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "—".to_owned(), duration)
}

/// A ratio as a percentage with one decimal.
pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "—".to_owned(), |r| format!("{:.1} %", r * 100.0))
}

/// A status as a badge: a symbol and the word, and a colour (never the colour alone).
pub fn status_badge(status: Option<PackageStatus>) -> Markup {
    let (class, symbol, word) = match status {
        Some(PackageStatus::Successful) => ("ok", "✓", "Successful"),
        Some(PackageStatus::Failed) => ("bad", "✗", "Failed"),
        Some(PackageStatus::InProgress) => ("busy", "◔", "In progress"),
        Some(PackageStatus::NotStarted) => ("idle", "○", "Not started"),
        None => ("idle", "○", "No packages"),
    };
    badge(class, symbol, word)
}

/// A badge of one of the dashboard's tones (`ok`, `bad`, `busy`, `idle`, `warn`).
pub fn badge(tone: &str, symbol: &str, word: &str) -> Markup {
    html! {
        span class={ "badge " (tone) } {
            span aria-hidden="true" { (symbol) } " " (word)
        }
    }
}

/// `1 ticket`, `2 tickets`: a count with its noun (regular plurals only).
pub fn count(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query string of the non-empty pairs.
pub fn query_string<K: AsRef<str>, V: AsRef<str>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> String {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.as_ref().is_empty())
        .map(|(k, v)| format!("{}={}", encode(k.as_ref()), encode(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(61), "1 min 01 s");
        assert_eq!(duration(3_900), "1 h 05 min");
        assert_eq!(duration(90_000), "1 d 1 h");
        assert_eq!(duration(-30), "−30 s");
        assert_eq!(maybe_duration(None), "—");
        assert_eq!(percent(Some(0.25)), "25.0 %");
        assert_eq!(count(1, "ticket"), "1 ticket");
        assert_eq!(count(0, "release"), "0 releases");
    }

    #[test]
    fn values_are_escaped_and_encoded() {
        let markup = layout(
            "<script>alert(1)</script>",
            Section::Releases,
            &Viewer::of_nobody(),
            html! { p { ("a & b <i>") } },
        )
        .into_string();
        assert!(!markup.contains("<script>"));
        assert!(markup.contains("&lt;script&gt;"));
        assert!(markup.contains("a &amp; b &lt;i&gt;"));
        assert!(markup.contains(r#"href="/ui/releases" aria-current="page""#));
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(query_string([("team", "core"), ("user", "")]), "team=core");
    }
}
