//! The overview: the delivery metrics (DORA) of a window as tiles, deployments and failures per
//! day, the median duration per day, and the change failure rate by team and by platform. The
//! figures are the ones `/api/v1/delivery` answers (docs/delivery.md), from the same query.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use shiplog_domain::delivery::{Band, Figures, GroupBy, Window};
use shiplog_storage::DeliveryQuery;
use time::{Duration, OffsetDateTime};

use super::chart::{bars, columns, Bar, Column};
use super::page::{self, layout, maybe_duration, percent, respond, Section, Viewer};
use super::params::Params;
use super::UiError;
use crate::blocking::with_store;
use crate::state::AppState;

const WINDOWS: [&str; 4] = ["7", "30", "90", "365"];

pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, UiError> {
    let params = Params::read(req.query_string(), &["days", "team", "platform"])?;
    let days: i64 = params.choice("days", &WINDOWS, "30")?.parse().unwrap_or(30);
    let now = OffsetDateTime::now_utc();
    let window = Window::new(now - Duration::days(days), now)
        .map_err(|e| UiError::bad_request(e.to_string()))?;
    let mut query = DeliveryQuery::new(window);
    query.team = params.get("team").map(str::to_owned);
    query.platform = params.get("platform").map(str::to_owned);
    let (figures, groups) = with_store(&state.store, move |store| {
        store.delivery_grouped(&query, &[GroupBy::Team, GroupBy::Platform])
    })
    .await?;
    let figures = &figures;
    let (by_team, by_platform) = match groups.as_slice() {
        [team, platform] => (team.as_slice(), platform.as_slice()),
        _ => (&[][..], &[][..]),
    };
    let body = html! {
        form.filters method="get" action="/ui/" {
            label { "Window "
                select name="days" {
                    @for choice in WINDOWS {
                        option value=(choice) selected[choice == days.to_string()] { "last " (choice) " days" }
                    }
                }
            }
            label { "Team " input type="text" name="team" value=(params.text("team")); }
            label { "Platform " input type="text" name="platform" value=(params.text("platform")); }
            button type="submit" { "Show" }
        }
        p.muted {
            "From " (page::when(window.from())) " to " (page::when(window.to()))
            ": releases that finished in the window with a final status."
        }
        (tiles(figures))
        section aria-labelledby="per-day" {
            h2 #per-day { "Deployments per day" }
            (per_day(figures))
            p.legend { span.key.ok {} " successful " span.key.bad {} " failed (failed status or a rollback)" }
        }
        section aria-labelledby="durations" {
            h2 #durations { "Median duration per day" }
            (durations(figures))
        }
        div.pair {
            section aria-labelledby="by-team" {
                h2 #by-team { "Change failure rate by team" }
                (rates("team-chart", "Change failure rate by team", by_team))
            }
            section aria-labelledby="by-platform" {
                h2 #by-platform { "Change failure rate by platform" }
                (rates("platform-chart", "Change failure rate by platform", by_platform))
            }
        }
    };
    let viewer = Viewer::of(&req, &state);
    Ok(respond(
        StatusCode::OK,
        layout("Overview", Section::Overview, &viewer, body),
    ))
}

fn band_tone(band: Band) -> (&'static str, &'static str) {
    match band {
        Band::Daily => ("ok", "daily"),
        Band::Weekly => ("ok", "weekly"),
        Band::Monthly => ("warn", "monthly"),
        Band::Yearly => ("bad", "yearly"),
    }
}

fn tiles(f: &Figures) -> Markup {
    let (tone, band) = band_tone(f.deployment_frequency.band);
    html! {
        ul.tiles aria-label="Delivery metrics" {
            li.tile #tile-frequency {
                h2 { "Deployment frequency" }
                p.figure { (format!("{:.2}", f.deployment_frequency.per_day)) " / day" }
                p { (page::count(f.deployments as i64, "deployment")) " on " (page::count(f.deployment_frequency.deploy_days as i64, "day")) " ("
                    (format!("{:.1}", f.deployment_frequency.deploy_days_per_week)) " a week)" }
                p { "Band: " (page::badge(tone, "●", band)) }
            }
            li.tile #tile-failure {
                h2 { "Change failure rate" }
                p.figure { (percent(f.change_failure_rate)) }
                p { (f.failed) " of " (f.deployments) " deployments failed" }
            }
            li.tile #tile-recovery {
                h2 { "Time to restore" }
                p.figure { (maybe_duration(f.recovery_time.median_s)) }
                p { "median; p90 " (maybe_duration(f.recovery_time.p90_s)) }
                p { (f.recovery_time.recovered) " recovered, " (f.recovery_time.unrecovered) " not yet" }
            }
            li.tile #tile-lead {
                h2 { "Lead time for changes" }
                p.figure { (maybe_duration(f.lead_time.median_s)) }
                p { "median; p90 " (maybe_duration(f.lead_time.p90_s)) }
                p { (f.lead_time.measured) " measured, " (f.lead_time.without_change_time) " without a change time" }
            }
            li.tile #tile-rework {
                h2 { "Rework rate" }
                p.figure { (percent(f.rework_rate)) }
                p { "rollbacks and unplanned deployments" }
            }
        }
    }
}

/// `YYYY-MM-DD` as `MM-DD` for the axis.
fn short_date(date: &str) -> String {
    date.get(5..).unwrap_or(date).to_owned()
}

fn per_day(f: &Figures) -> Markup {
    let cols: Vec<Column> = f
        .series
        .iter()
        .map(|day| Column {
            label: short_date(&day.date),
            segments: vec![
                ("ok", (day.deployments - day.failed) as f64),
                ("bad", day.failed as f64),
            ],
            title: format!(
                "{}: {} deployments, {} failed",
                day.date, day.deployments, day.failed
            ),
        })
        .collect();
    columns(
        "deployments-chart",
        "Deployments per day, successful and failed",
        |max| format!("{max:.0}"),
        &cols,
    )
}

fn durations(f: &Figures) -> Markup {
    let cols: Vec<Column> = f
        .series
        .iter()
        .map(|day| Column {
            label: short_date(&day.date),
            segments: vec![("time", day.median_duration_s.unwrap_or(0) as f64)],
            title: match day.median_duration_s {
                Some(s) => format!("{}: median {}", day.date, page::duration(s)),
                None => format!("{}: no deployments", day.date),
            },
        })
        .collect();
    columns(
        "durations-chart",
        "Median deployment duration per day",
        // The axis shows whole seconds as a duration.
        |max| page::duration(max.round() as i64),
        &cols,
    )
}

fn rates(id: &str, caption: &str, groups: &[(String, Figures)]) -> Markup {
    let rows: Vec<Bar> = groups
        .iter()
        .map(|(key, f)| Bar {
            label: key.clone(),
            share: f.change_failure_rate,
            text: format!(
                "{} ({} of {})",
                percent(f.change_failure_rate),
                f.failed,
                f.deployments
            ),
        })
        .collect();
    bars(id, caption, &rows)
}
