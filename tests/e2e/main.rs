//! End-to-end tests: the real server on a random port, real HTTP, every backend under test.

mod balrog;
mod balrog_client;
mod bileto;
mod caching;
mod cors;
mod delivery;
mod domain_json;
mod evaluation;
mod events;
mod faces;
mod governance_scheduled;
mod governance_signoffs;
mod hardening;
mod identity;
mod login_limit;
mod openapi_fuzz;
mod ops;
mod orlo_errors;
mod orlo_lifecycle;
mod orlo_queries;
mod orlo_reports;
mod orloclient;
mod permissions;
mod service;
mod ui;
mod webhooks;
