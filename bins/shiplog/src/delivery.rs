//! `shiplog delivery`: the delivery metrics /api/v1/delivery answers, from the database, as a
//! readable table or (with `--json`) as the endpoint's `data` object. The parameters are read
//! and checked by the same code as the endpoint.

use std::fmt::Write as _;

use shiplog_api::native::delivery::{parse_params, DeliveryData};
use shiplog_domain::delivery::Figures;
use shiplog_storage::Store;
use time::OffsetDateTime;

use crate::config::{DatabaseArgs, DeliveryArgs};
use crate::rules::encode;

/// The options as the endpoint's query string.
fn query_string(args: &DeliveryArgs) -> String {
    [
        ("from", &args.from),
        ("to", &args.to),
        ("team", &args.team),
        ("platform", &args.platform),
        ("package", &args.package),
        ("user", &args.user),
        ("group_by", &args.group_by),
    ]
    .iter()
    .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={}", encode(v))))
    .collect::<Vec<_>>()
    .join("&")
}

pub fn run(
    args: &DeliveryArgs,
    open_store: impl FnOnce(&DatabaseArgs) -> Result<Store, String>,
) -> Result<(), String> {
    let query = parse_params(&query_string(args), OffsetDateTime::now_utc())
        .map_err(|e| e.message().to_owned())?;
    let store = open_store(&args.database)?;
    let report = store
        .delivery(&query)
        .map_err(|e| format!("cannot read the ledger: {e}"))?;
    let data = DeliveryData::new(&query, report);
    if args.json {
        let text = serde_json::to_string_pretty(&data).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", table(&data));
    }
    Ok(())
}

/// Whole seconds, readably: `45s`, `12m 05s`, `3h 20m`, `2d 04h`.
fn duration(seconds: Option<i64>) -> String {
    let Some(s) = seconds else {
        return "-".to_owned();
    };
    let sign = if s < 0 { "-" } else { "" };
    let s = s.unsigned_abs();
    match s {
        0..=59 => format!("{sign}{s}s"),
        60..=3_599 => format!("{sign}{}m {:02}s", s / 60, s % 60),
        3_600..=86_399 => format!("{sign}{}h {:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{sign}{}d {:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn summary(out: &mut String, f: &Figures) {
    let freq = &f.deployment_frequency;
    let band = serde_json::to_value(freq.band)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "deployments          {} ({:.2} a day; {} deploy days, {:.2} a week: {band})",
        f.deployments, freq.per_day, freq.deploy_days, freq.deploy_days_per_week
    );
    let _ = writeln!(
        out,
        "change failure rate  {} ({} failed)",
        percent(f.change_failure_rate),
        f.failed
    );
    let r = &f.recovery_time;
    let _ = writeln!(
        out,
        "recovery time        median {}, p90 {} ({} recovered, {} unrecovered)",
        duration(r.median_s),
        duration(r.p90_s),
        r.recovered,
        r.unrecovered
    );
    let l = &f.lead_time;
    let _ = writeln!(
        out,
        "lead time            median {}, p90 {} ({} measured, {} without a change time)",
        duration(l.median_s),
        duration(l.p90_s),
        l.measured,
        l.without_change_time
    );
    let _ = writeln!(out, "rework rate          {}", percent(f.rework_rate));
}

/// The figures, the per-day series and the groups as plain-text tables.
fn table(data: &DeliveryData) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "delivery from {} to {} ({:.2} days)\n",
        data.from, data.to, data.days
    );
    summary(&mut out, &data.figures);
    let _ = writeln!(
        out,
        "\n{:<10}  {:>11}  {:>6}  {:>15}",
        "date", "deployments", "failed", "median duration"
    );
    for day in &data.figures.series {
        let _ = writeln!(
            out,
            "{:<10}  {:>11}  {:>6}  {:>15}",
            day.date,
            day.deployments,
            day.failed,
            duration(day.median_duration_s)
        );
    }
    if let Some(groups) = &data.groups {
        let width = groups.iter().map(|g| g.key.len()).max().unwrap_or(3).max(3);
        let _ = writeln!(
            out,
            "\n{:<width$}  {:>11}  {:>6}  {:>12}  {:>8}  {:>15}  {:>11}",
            "key",
            "deployments",
            "failed",
            "failure rate",
            "per day",
            "recovery median",
            "lead median"
        );
        for group in groups {
            let f = &group.figures;
            let _ = writeln!(
                out,
                "{:<width$}  {:>11}  {:>6}  {:>12}  {:>8.2}  {:>15}  {:>11}",
                group.key,
                f.deployments,
                f.failed,
                percent(f.change_failure_rate),
                f.deployment_frequency.per_day,
                duration(f.recovery_time.median_s),
                duration(f.lead_time.median_s)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(45)), "45s");
        assert_eq!(duration(Some(725)), "12m 05s");
        assert_eq!(duration(Some(12_000)), "3h 20m");
        assert_eq!(duration(Some(187_200)), "2d 04h");
        assert_eq!(duration(Some(-90)), "-1m 30s");
    }

    #[test]
    fn options_become_the_endpoint_query() {
        let args = DeliveryArgs {
            from: Some("2026-01-01T00:00:00+01:00".into()),
            to: None,
            team: Some("web ops".into()),
            platform: None,
            package: None,
            user: None,
            group_by: Some("team".into()),
            json: false,
            database: DatabaseArgs {
                database_url: "x.db".into(),
                pool_size: 1,
                release_cache_mb: 0,
            },
        };
        assert_eq!(
            query_string(&args),
            "from=2026-01-01T00%3A00%3A00%2B01%3A00&team=web%20ops&group_by=team"
        );
    }
}
