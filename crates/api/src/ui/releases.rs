//! Releases: a filterable list with status badges, and one release's page with its packages on
//! a timeline, its notes, metadata and references (`ticket:<id>` links to the tickets page).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use shiplog_domain::delivery::TICKET_REFERENCE_PREFIX;
use shiplog_domain::{PackageStatus, Release, ReleaseId};
use shiplog_storage::{PackageFilter, Page, ReleaseFilter};
use time::OffsetDateTime;

use super::page::{self, layout, maybe_when, respond, status_badge, when, Section, Viewer};
use super::params::Params;
use super::UiError;
use crate::blocking::{find_release, list_releases_counted};
use crate::state::AppState;

/// Releases per page of the list.
const PAGE: i64 = 50;

const STATUSES: [&str; 4] = ["SUCCESSFUL", "FAILED", "IN_PROGRESS", "NOT_STARTED"];

pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, UiError> {
    let params = Params::read(
        req.query_string(),
        &["user", "team", "platform", "package", "status", "page"],
    )?;
    let number: i64 = match params.get("page") {
        None => 1,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| UiError::bad_request("'page' must be a page number from 1"))?,
    };
    let status = params.choice("status", &STATUSES, "")?;
    let filter = ReleaseFilter {
        user: params.get("user").map(str::to_owned),
        team: params.get("team").map(|t| Some(t.to_owned())),
        platform: params.get("platform").map(str::to_owned),
        status: (!status.is_empty())
            .then(|| status.parse::<PackageStatus>().ok())
            .flatten(),
        package: PackageFilter {
            name: params.get("package").map(str::to_owned),
            ..PackageFilter::default()
        },
        ..ReleaseFilter::default()
    };
    let page = Page {
        limit: Some(PAGE),
        offset: (number - 1) * PAGE,
        ascending: false,
    };
    let (releases, total) = list_releases_counted(&state.store, filter, page).await?;
    let link = |n: i64| {
        let mut pairs: Vec<(&str, String)> = params
            .pairs()
            .filter(|(k, _)| *k != "page")
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        pairs.push(("page", n.to_string()));
        format!("/ui/releases?{}", page::query_string(pairs))
    };
    let last = (total + PAGE - 1) / PAGE;
    let body = html! {
        form.filters method="get" action="/ui/releases" {
            label { "User " input type="text" name="user" value=(params.text("user")); }
            label { "Team " input type="text" name="team" value=(params.text("team")); }
            label { "Platform " input type="text" name="platform" value=(params.text("platform")); }
            label { "Package " input type="text" name="package" value=(params.text("package")); }
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in STATUSES {
                        option value=(s) selected[s == status] { (s) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        p #release-count { (page::count(total, "release")) @if total > 1 { ", newest first" } "." }
        @if releases.is_empty() {
            p.notice { "No release matches these filters." }
        } @else {
            div.scroll {
                table #releases {
                    thead { tr {
                        th scope="col" { "Status" }
                        th scope="col" { "Started" }
                        th scope="col" { "Packages" }
                        th scope="col" { "Platforms" }
                        th scope="col" { "Team" }
                        th scope="col" { "User" }
                        th scope="col" { "Duration" }
                    } }
                    tbody {
                        @for r in &releases {
                            tr {
                                td { (status_badge(r.status())) }
                                td { a href={ "/ui/releases/" (r.id) } { (when(r.stime)) } }
                                td { (package_list(r)) }
                                td { (r.platforms.join(", ")) }
                                td { (r.team.as_deref().unwrap_or("—")) }
                                td { (r.user) }
                                td { (page::maybe_duration(r.duration)) }
                            }
                        }
                    }
                }
            }
        }
        @if last > 1 {
            nav.pages aria-label="Pages" {
                @if number > 1 { a href=(link(number - 1)) rel="prev" { "← Newer" } }
                span { "Page " (number) " of " (last) }
                @if number < last { a href=(link(number + 1)) rel="next" { "Older →" } }
            }
        }
    };
    let viewer = Viewer::of(&req, &state);
    Ok(respond(
        StatusCode::OK,
        layout("Releases", Section::Releases, &viewer, body),
    ))
}

fn package_list(r: &Release) -> Markup {
    html! {
        @for (i, p) in r.packages.iter().enumerate() {
            @if i > 0 { ", " }
            span.pkg { (p.name) " " span.muted { (p.version) } @if p.rollback { " (rollback)" } }
        }
    }
}

pub async fn one(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    Params::read(req.query_string(), &[])?;
    let id: ReleaseId = path
        .parse()
        .map_err(|_| UiError::new(StatusCode::NOT_FOUND, "There is no release with this id."))?;
    let release = find_release(&state.store, id, ReleaseFilter::default())
        .await?
        .ok_or_else(|| UiError::new(StatusCode::NOT_FOUND, "There is no release with this id."))?;
    let r = &release;
    let body = html! {
        p { (status_badge(r.status())) }
        dl.facts {
            dt { "Id" } dd { code { (r.id) } }
            dt { "User" } dd { (r.user) @if let Some(by) = &r.recorded_by { @if by != &r.user { " (recorded by " (by) ")" } } }
            dt { "Team" } dd { (r.team.as_deref().unwrap_or("—")) }
            dt { "Platforms" } dd { (r.platforms.join(", ")) }
            dt { "Started" } dd { (when(r.stime)) }
            dt { "Finished" } dd { (maybe_when(r.ftime)) }
            dt { "Duration" } dd { (page::maybe_duration(r.duration)) }
        }
        section aria-labelledby="timeline" {
            h2 #timeline { "Packages" }
            (timeline(r, OffsetDateTime::now_utc()))
            div.scroll {
                table #packages {
                    thead { tr {
                        th scope="col" { "Package" } th scope="col" { "Version" } th scope="col" { "Status" }
                        th scope="col" { "Started" } th scope="col" { "Finished" } th scope="col" { "Duration" }
                        th scope="col" { "Diff" }
                    } }
                    tbody {
                        @for p in &r.packages {
                            tr {
                                td { (p.name) @if p.rollback { " " (page::badge("warn", "◀", "rollback")) } }
                                td { (p.version) }
                                td { (status_badge(Some(p.status))) }
                                td { (maybe_when(p.stime)) }
                                td { (maybe_when(p.ftime)) }
                                td { (page::maybe_duration(p.duration)) }
                                td { @if let Some(url) = p.diff_url.as_deref().filter(|u| is_web_link(u)) { a href=(url) rel="noreferrer" { "changes" } } @else { span.muted { "—" } } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="notes" {
            h2 #notes { "Notes" }
            @if r.notes.is_empty() { p.muted { "No notes." } }
            ul { @for note in &r.notes { li { (note) } } }
        }
        section aria-labelledby="metadata" {
            h2 #metadata { "Metadata" }
            @if r.metadata.is_empty() { p.muted { "No metadata." } } @else {
                dl.facts { @for (key, value) in &r.metadata { dt { (key) } dd { (value) } } }
            }
        }
        section aria-labelledby="references" {
            h2 #references { "References" }
            @if r.references.is_empty() { p.muted { "No references." } }
            ul { @for reference in &r.references { li { (reference_link(reference)) } } }
        }
    };
    let viewer = Viewer::of(&req, &state);
    Ok(respond(
        StatusCode::OK,
        layout("Release", Section::Releases, &viewer, body),
    ))
}

/// Only http(s) links become links: a stored `javascript:` URL must not run on a click.
fn is_web_link(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// `ticket:<id>` links to that ticket; a web address links out; anything else is text.
fn reference_link(reference: &str) -> Markup {
    let ticket = reference
        .strip_prefix(TICKET_REFERENCE_PREFIX)
        .and_then(|id| id.trim().parse::<i64>().ok())
        .filter(|id| *id > 0);
    html! {
        @if let Some(id) = ticket {
            a href={ "/ui/tickets?id=" (id) } { (reference) }
        } @else if is_web_link(reference) {
            a href=(reference) rel="noreferrer" { (reference) }
        } @else {
            (reference)
        }
    }
}

/// The packages as bars on one time axis, from the first start to the last finish (a package
/// still running reaches `now`).
fn timeline(r: &Release, now: OffsetDateTime) -> Markup {
    const WIDTH: f64 = 760.0;
    const LABEL: f64 = 170.0;
    const ROW: f64 = 26.0;
    let spans: Vec<(&shiplog_domain::Package, OffsetDateTime, OffsetDateTime)> = r
        .packages
        .iter()
        .filter_map(|p| {
            let start = p.stime?;
            Some((p, start, p.ftime.unwrap_or(now).max(start)))
        })
        .collect();
    let Some(first) = spans.iter().map(|s| s.1).min() else {
        return html! { p.muted { "No package has started yet." } };
    };
    let last = spans.iter().map(|s| s.2).max().unwrap_or(first);
    let total = (last - first).as_seconds_f64().max(1.0);
    let track = WIDTH - LABEL - 16.0;
    let height = ROW * spans.len() as f64 + 24.0;
    html! {
        svg id="timeline-chart" class="chart" viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-labelledby="timeline-title" {
            title id="timeline-title" { "When each package was deployed" }
            @for (i, (p, start, end)) in spans.iter().enumerate() {
                @let y = 4.0 + ROW * i as f64;
                @let x = LABEL + track * (*start - first).as_seconds_f64() / total;
                @let w = (track * (*end - *start).as_seconds_f64() / total).max(2.0);
                g.row {
                    title { (p.name) " " (p.version) ": " (p.status.as_str()) ", " (page::maybe_duration(p.duration)) }
                    text.label x=(LABEL - 8.0) y=(format!("{:.2}", y + 16.0)) text-anchor="end" { (p.name) }
                    rect class={ "seg " (tone(p.status)) } x=(format!("{x:.2}")) y=(format!("{:.2}", y + 4.0)) width=(format!("{w:.2}")) height="16" {}
                }
            }
            text.tick x=(LABEL) y=(format!("{:.2}", height - 4.0)) { (page::duration(0)) }
            text.tick x=(WIDTH - 16.0) y=(format!("{:.2}", height - 4.0)) text-anchor="end" { (page::duration(total.round() as i64)) }
        }
    }
}

fn tone(status: PackageStatus) -> &'static str {
    match status {
        PackageStatus::Successful => "ok",
        PackageStatus::Failed => "bad",
        PackageStatus::InProgress => "busy",
        PackageStatus::NotStarted => "idle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_link_tickets_and_web_pages_only() {
        let html = |r: &str| reference_link(r).into_string();
        assert_eq!(
            html("ticket:12"),
            r#"<a href="/ui/tickets?id=12">ticket:12</a>"#
        );
        assert_eq!(html("ticket:x"), "ticket:x");
        assert!(html("https://example.org/x?a=1&b=2")
            .contains(r#"href="https://example.org/x?a=1&amp;b=2""#));
        assert_eq!(html("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(html("<b>"), "&lt;b&gt;");
    }
}
