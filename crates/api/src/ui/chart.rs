//! SVG charts drawn on the server: columns over days (stacked segments) and horizontal bars per
//! key. No script and no chart library: the page works offline, has nothing to fail in the
//! browser's console, and a test can count the shapes drawn. Colours come from the stylesheet
//! (by class), and every column or bar carries a `<title>` with its figures in words.

use maud::{html, Markup};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 84.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;

/// One column: its axis label, stacked segments `(class, value)` bottom up, and its title.
pub struct Column {
    pub label: String,
    pub segments: Vec<(&'static str, f64)>,
    pub title: String,
}

/// A column chart; `axis` formats the largest value for the axis label.
pub fn columns(id: &str, caption: &str, axis: fn(f64) -> String, cols: &[Column]) -> Markup {
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = cols
        .iter()
        .map(|c| c.segments.iter().map(|(_, v)| v).sum::<f64>())
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { plot_h / max } else { 0.0 };
    let step = plot_w / cols.len().max(1) as f64;
    let bar = (step * 0.8).max(1.0);
    // At most about eight axis labels, whatever the number of columns.
    let every = cols.len().div_ceil(8).max(1);
    let title_id = format!("{id}-title");
    html! {
        svg id=(id) class="chart" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-labelledby=(title_id) preserveAspectRatio="xMidYMid meet" {
            title id=(title_id) { (caption) }
            line.axis x1=(LEFT) y1=(TOP + plot_h) x2=(WIDTH - 8.0) y2=(TOP + plot_h) {}
            line.grid x1=(LEFT) y1=(TOP) x2=(WIDTH - 8.0) y2=(TOP) {}
            // The largest value inside the plot, under its grid line: a long duration would not
            // fit left of the axis.
            text.tick.max x=(LEFT + 4.0) y=(TOP + 14.0) text-anchor="start" { (axis(max)) }
            text.tick x=(LEFT - 6.0) y=(TOP + plot_h) text-anchor="end" { "0" }
            @for (i, col) in cols.iter().enumerate() {
                @let x = LEFT + step * i as f64 + (step - bar) / 2.0;
                g.col {
                    title { (col.title) }
                    @let mut base = TOP + plot_h;
                    @for (class, value) in &col.segments {
                        @if *value > 0.0 {
                            @let h = value * scale;
                            @let y = { base -= h; base };
                            rect class={ "seg " (class) } x=(fmt(x)) y=(fmt(y)) width=(fmt(bar)) height=(fmt(h)) {}
                        }
                    }
                    @if i % every == 0 {
                        text.tick x=(fmt(x + bar / 2.0)) y=(HEIGHT - 6.0) text-anchor="middle" { (col.label) }
                    }
                }
            }
        }
    }
}

/// One horizontal bar: its key, its share (0–1; `None` draws no bar), and what to write.
pub struct Bar {
    pub label: String,
    pub share: Option<f64>,
    pub text: String,
}

/// Horizontal bars, one row per key, the share as the bar's length.
pub fn bars(id: &str, caption: &str, rows: &[Bar]) -> Markup {
    // Narrower than the column charts: these sit two abreast, and their text must stay legible.
    const BARS_WIDTH: f64 = 480.0;
    const ROW: f64 = 28.0;
    const LABEL: f64 = 130.0;
    const VALUE: f64 = 120.0;
    let height = ROW * rows.len().max(1) as f64 + 8.0;
    let track = BARS_WIDTH - LABEL - VALUE;
    let title_id = format!("{id}-title");
    html! {
        svg id=(id) class="chart" viewBox={ "0 0 " (BARS_WIDTH) " " (height) } role="img"
            aria-labelledby=(title_id) preserveAspectRatio="xMidYMid meet" {
            title id=(title_id) { (caption) }
            @if rows.is_empty() {
                text.tick x="8" y="22" { "No deployments in this window." }
            }
            @for (i, row) in rows.iter().enumerate() {
                @let y = 4.0 + ROW * i as f64;
                g.row {
                    title { (row.label) ": " (row.text) }
                    text.label x=(LABEL - 8.0) y=(fmt(y + 18.0)) text-anchor="end" { (shorten(&row.label)) }
                    rect.track x=(LABEL) y=(fmt(y + 6.0)) width=(fmt(track)) height="16" {}
                    @if let Some(share) = row.share {
                        rect.seg.bad x=(LABEL) y=(fmt(y + 6.0)) width=(fmt(track * share.clamp(0.0, 1.0))) height="16" {}
                    }
                    text.value x=(fmt(LABEL + track + 8.0)) y=(fmt(y + 18.0)) { (row.text) }
                }
            }
        }
    }
}

/// Coordinates with two decimals: enough for a screen, and stable text for tests.
fn fmt(value: f64) -> String {
    format!("{value:.2}")
}

/// A label that fits the label column (the whole key is in the row's title).
fn shorten(label: &str) -> String {
    const MAX: usize = 18;
    if label.chars().count() <= MAX {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(MAX - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(markup: &str, needle: &str) -> usize {
        markup.matches(needle).count()
    }

    #[test]
    fn columns_draw_one_rect_per_non_empty_segment() {
        let cols: Vec<Column> = (0..10)
            .map(|i| Column {
                label: format!("d{i}"),
                segments: vec![("ok", f64::from(i % 3)), ("bad", f64::from(i % 2))],
                title: format!("day {i}"),
            })
            .collect();
        let svg = columns("c", "Deployments <per day>", |v| format!("{v}"), &cols).into_string();
        let ok = (0..10).filter(|i| i % 3 != 0).count();
        let bad = (0..10).filter(|i| i % 2 != 0).count();
        assert_eq!(count(&svg, r#"class="seg ok""#), ok);
        assert_eq!(count(&svg, r#"class="seg bad""#), bad);
        assert_eq!(count(&svg, r#"<g class="col">"#), 10);
        assert!(svg.contains("Deployments &lt;per day&gt;"));
        // The tallest column (2 + 1) fills the plot exactly.
        assert!(svg.contains(r#"y="10.00""#), "{svg}");
    }

    #[test]
    fn an_empty_series_draws_no_bars_and_no_nan() {
        let cols = vec![Column {
            label: "d".to_owned(),
            segments: vec![("ok", 0.0)],
            title: "none".to_owned(),
        }];
        let svg = columns("c", "x", |v| format!("{v}"), &cols).into_string();
        assert_eq!(count(&svg, "<rect"), 0);
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn bars_scale_to_the_track() {
        let rows = vec![
            Bar {
                label: "core".to_owned(),
                share: Some(0.5),
                text: "50 %".to_owned(),
            },
            Bar {
                label: "a-very-long-team-name-indeed".to_owned(),
                share: None,
                text: "none".to_owned(),
            },
        ];
        let svg = bars("b", "Failure rate", &rows).into_string();
        assert_eq!(count(&svg, r#"class="seg bad""#), 1);
        assert_eq!(count(&svg, r#"class="track""#), 2);
        assert!(svg.contains(r#"width="115.00""#), "{svg}");
        assert!(svg.contains("a-very-long-team-…"));
    }
}
