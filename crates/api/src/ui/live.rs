//! Live now: the current version of each package on each platform — the version of its most
//! recent successful deployment there, as Orlo's `/info/packages/versions` answers it.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::page::{layout, respond, Section, Viewer};
use super::params::Params;
use super::UiError;
use crate::blocking::with_store;
use crate::state::AppState;

/// Platforms shown as columns; more would not be readable (a filter narrows them).
const MAX_PLATFORMS: usize = 40;

pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, UiError> {
    let params = Params::read(req.query_string(), &["platform"])?;
    let only = params.get("platform").map(str::to_owned);
    let (platforms, more, table) = with_store(&state.store, move |store| {
        let all: Vec<String> = match only {
            Some(p) => vec![p],
            None => store.releases_per_platform(None)?.into_keys().collect(),
        };
        let more = all.len().saturating_sub(MAX_PLATFORMS);
        let mut table: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let shown: Vec<String> = all.into_iter().take(MAX_PLATFORMS).collect();
        for platform in &shown {
            for (package, version) in store.current_versions(Some(platform), false)? {
                table
                    .entry(package)
                    .or_default()
                    .insert(platform.clone(), version);
            }
        }
        Ok((shown, more, table))
    })
    .await?;
    let packages: BTreeSet<&String> = table.keys().collect();
    let body = html! {
        form.filters method="get" action="/ui/live" {
            label { "Platform " input type="text" name="platform" value=(params.text("platform")); }
            button type="submit" { "Show" }
        }
        p.muted { "Each cell is the version of the package's most recent successful deployment to the platform; a rollback to an older version counts as current." }
        @if more > 0 { p.notice { (more) " more platforms are not shown; filter by platform to see one." } }
        @if packages.is_empty() {
            p.notice { "Nothing has been deployed successfully yet." }
        } @else {
            div.scroll {
                table #live {
                    thead { tr {
                        th scope="col" { "Package" }
                        @for p in &platforms { th scope="col" { (p) } }
                    } }
                    tbody {
                        @for package in &packages {
                            tr {
                                th scope="row" { (package) }
                                @for p in &platforms {
                                    td {
                                        @match table.get(*package).and_then(|row| row.get(p)) {
                                            Some(version) => code { (version) },
                                            None => span.muted title="never deployed here" { "—" },
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let viewer = Viewer::of(&req, &state);
    Ok(respond(
        StatusCode::OK,
        layout("Live now", Section::Live, &viewer, body),
    ))
}
