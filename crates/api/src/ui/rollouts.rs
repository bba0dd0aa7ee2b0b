//! Rollouts: each product's Balrog rules in the order evaluation tries them (priority, highest
//! first), with what they match, what they serve, the background rate and the fallback; and the
//! emergency shutoffs, which win over every rule.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use shiplog_domain::balrog::Rule;

use super::page::{self, layout, respond, Section, Viewer};
use super::params::Params;
use super::UiError;
use crate::blocking::with_store;
use crate::state::AppState;

/// Rules without a product match every product; they are listed under this heading.
const ANY_PRODUCT: &str = "Any product";

pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, UiError> {
    let params = Params::read(req.query_string(), &["product"])?;
    let product = params.get("product").map(str::to_owned);
    let (rules, shutoffs) = with_store(&state.store, move |store| {
        Ok((
            store.list_rules(product.as_deref())?,
            store.list_emergency_shutoffs()?,
        ))
    })
    .await?;
    let mut by_product: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for rule in &rules {
        by_product
            .entry(rule.fields.product.as_deref().unwrap_or(ANY_PRODUCT))
            .or_default()
            .push(rule);
    }
    for list in by_product.values_mut() {
        list.sort_by(|a, b| {
            b.fields
                .priority
                .cmp(&a.fields.priority)
                .then(a.rule_id.cmp(&b.rule_id))
        });
    }
    let shutoffs: Vec<_> = shutoffs
        .iter()
        .filter(|s| params.get("product").is_none_or(|p| p == s.product))
        .collect();
    let body = html! {
        form.filters method="get" action="/ui/rollouts" {
            label { "Product " input type="text" name="product" value=(params.text("product")); }
            button type="submit" { "Show" }
        }
        section aria-labelledby="shutoffs" {
            h2 #shutoffs { "Emergency shutoffs" }
            @if shutoffs.is_empty() {
                p.muted { "None: updates flow wherever the rules send them." }
            } @else {
                ul #shutoff-list {
                    @for s in &shutoffs {
                        li { (page::badge("bad", "■", "shut off")) " " strong { (s.product) } " on " strong { (s.channel) }
                            @if let Some(c) = &s.comment { " — " (c) } }
                    }
                }
            }
        }
        @if by_product.is_empty() { p.notice { "No rules." } }
        @for (product, list) in &by_product {
            section.product {
                h2 { (product) }
                div.scroll { (rule_table(list)) }
            }
        }
    };
    let viewer = Viewer::of(&req, &state);
    Ok(respond(
        StatusCode::OK,
        layout("Rollouts", Section::Rollouts, &viewer, body),
    ))
}

/// What a rule matches, as `key value` pairs (only the conditions it sets).
fn conditions(rule: &Rule) -> Vec<(&'static str, String)> {
    let f = &rule.fields;
    let text = [
        ("channel", &f.channel),
        ("version", &f.version),
        ("buildTarget", &f.build_target),
        ("buildID", &f.build_id),
        ("locale", &f.locale),
        ("osVersion", &f.os_version),
        ("memory", &f.memory),
        ("instructionSet", &f.instruction_set),
        ("distribution", &f.distribution),
        ("distVersion", &f.dist_version),
        ("headerArchitecture", &f.header_architecture),
    ];
    let mut out: Vec<(&'static str, String)> = text
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect();
    if let Some(v) = f.mig64 {
        out.push(("mig64", v.to_string()));
    }
    if let Some(v) = f.jaws {
        out.push(("jaws", v.to_string()));
    }
    out
}

fn rule_table(rules: &[&Rule]) -> Markup {
    html! {
        table.rules {
            thead { tr {
                th scope="col" { "Priority" } th scope="col" { "Rule" } th scope="col" { "Matches" }
                th scope="col" { "Mapping" } th scope="col" { "Background rate" } th scope="col" { "Fallback" }
            } }
            tbody {
                @for rule in rules {
                    tr id={ "rule-" (rule.rule_id) } {
                        td { (rule.fields.priority) }
                        td { "#" (rule.rule_id) @if let Some(a) = &rule.fields.alias { br; code { (a) } }
                             @if let Some(c) = &rule.fields.comment { br; span.muted { (c) } } }
                        td {
                            @let conds = conditions(rule);
                            @if conds.is_empty() { span.muted { "every client" } }
                            ul.conds { @for (k, v) in &conds { li { span.muted { (k) } " " code { (v) } } } }
                        }
                        td { @match &rule.fields.mapping { Some(m) => code { (m) }, None => span.muted { "nothing (stops here)" } } }
                        td {
                            meter min="0" max="100" value=(rule.fields.background_rate)
                                aria-label={ "Background rate of rule " (rule.rule_id) } {}
                            " " (rule.fields.background_rate) " %"
                        }
                        td { @match &rule.fields.fallback_mapping { Some(m) => code { (m) }, None => span.muted { "—" } } }
                    }
                }
            }
        }
    }
}
