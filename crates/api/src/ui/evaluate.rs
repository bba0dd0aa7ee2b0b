//! Evaluate: a form with a client's query (product, version, channel, build target, locale, …)
//! and, once submitted, which rule wins, what is served and why — the same evaluation
//! `/api/v1/evaluate` and `/update` run, over the same live rule set.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::page::{self, layout, respond, Section, Viewer};
use super::params::Params;
use super::UiError;
use crate::native::parse_query;
use crate::serving::with_dice;
use crate::state::AppState;

/// The form's fields: (query key, label, hint).
const FIELDS: [(&str, &str, &str); 14] = [
    ("product", "Product", "e.g. Firefox"),
    ("version", "Version", "e.g. 60.0"),
    ("channel", "Channel", "e.g. release"),
    ("buildTarget", "Build target", "e.g. WINNT_x86_64-msvc"),
    ("locale", "Locale", "e.g. en-US"),
    ("buildID", "Build id", "e.g. 20180101000000"),
    ("osVersion", "OS version", "e.g. Windows_NT 10.0"),
    ("distribution", "Distribution", ""),
    ("distVersion", "Distribution version", ""),
    ("headerArchitecture", "Header architecture", ""),
    ("instructionSet", "Instruction set", "e.g. SSE2"),
    ("memory", "Memory (MB)", "a whole number"),
    ("pin", "Update pin", "e.g. 60. or 60.1."),
    ("force", "Force", ""),
];

pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, UiError> {
    let keys: Vec<&'static str> = FIELDS.iter().map(|(k, _, _)| *k).collect();
    let params = Params::read(req.query_string(), &keys)?;
    let force = params.choice("force", &["1", "-1"], "")?;
    let asked = params.get("product").is_some() || params.get("version").is_some();
    let (status, outcome) = if asked {
        // Empty fields were dropped by `Params`: an absent key is not an empty one to Balrog.
        let query_string = page::query_string(params.pairs());
        match parse_query(&query_string) {
            Err(err) => (StatusCode::BAD_REQUEST, Some(refused(err.message()))),
            Ok(owned) => {
                let rules = state.rules.current(&state.store).await;
                let query = owned.query();
                match with_dice(|dice| rules.set.evaluate(&query, dice)) {
                    Err(err) => (StatusCode::BAD_REQUEST, Some(refused(&err.to_string()))),
                    Ok(decision) => (
                        StatusCode::OK,
                        Some(html! {
                            section #result aria-labelledby="result-title" aria-live="polite" {
                                h2 #result-title { "Result" }
                                dl.facts {
                                    dt { "Winning rule" }
                                    dd #winning-rule { @match decision.rule {
                                        Some(rule) => a href={ "/ui/rollouts#rule-" (rule.rule_id) } { "#" (rule.rule_id)
                                            @if let Some(alias) = &rule.fields.alias { " (" (alias) ")" } },
                                        None => span.muted { "none" },
                                    } }
                                    dt { "Served" }
                                    dd #served { @match decision.mapping() {
                                        Some(name) => { (page::badge("ok", "✓", "served")) " " code { (name) } },
                                        None => (page::badge("idle", "○", "nothing is served")),
                                    } }
                                    dt { "Why" }
                                    dd #reason { (decision.reason.describe()) }
                                    @if let Some(rule) = decision.rule {
                                        dt { "Background rate" }
                                        dd { (rule.fields.background_rate) " % get the mapping"
                                            @if force.is_empty() && rule.fields.background_rate < 100 { "; this answer was drawn at random — use Force to pick a side" } }
                                    }
                                }
                            }
                        }),
                    ),
                }
            }
        }
    } else {
        (StatusCode::OK, None)
    };
    let body = html! {
        form.evaluate method="get" action="/ui/evaluate" {
            div.grid {
                @for (key, label, hint) in FIELDS.iter().filter(|(k, _, _)| *k != "force") {
                    div.field {
                        label for={ "f-" (key) } { (label) @if matches!(*key, "product" | "version") { " (required)" } }
                        input id={ "f-" (key) } type="text" name=(key) value=(params.text(key))
                            placeholder=(hint) required[matches!(*key, "product" | "version")];
                    }
                }
                div.field {
                    label for="f-force" { "Force" }
                    select id="f-force" name="force" {
                        option value="" selected[force.is_empty()] { "no: the background rate decides" }
                        option value="1" selected[force == "1"] { "1: the mapping" }
                        option value="-1" selected[force == "-1"] { "-1: the fallback" }
                    }
                }
            }
            button type="submit" { "Evaluate" }
        }
        @if let Some(outcome) = outcome { (outcome) }
    };
    let viewer = Viewer::of(&req, &state);
    Ok(respond(
        status,
        layout("Evaluate", Section::Evaluate, &viewer, body),
    ))
}

fn refused(message: &str) -> Markup {
    html! { p.notice.error #result role="alert" { (message) } }
}
