#![doc = include_str!("../README.md")]

pub mod attempts;
pub mod balrog;
pub mod bileto;
mod blocking;
pub mod body;
mod caching;
pub mod cors;
mod error_chain;
pub mod face;
pub mod identity;
pub mod identity_cache;
pub mod live_rules;
pub mod native;
pub mod openapi;
pub mod ops;
pub mod orlo;
pub mod paging;
pub mod recent_queries;
mod redact;
pub mod retention;
mod routes;
pub mod scheduler;
pub mod security_headers;
pub mod server;
pub mod serving;
mod state;
pub mod ui;
pub mod update;
pub mod url_input;
pub mod webhooks;

pub use attempts::AttemptLimit;
pub use identity::{AuthMode, AuthSettings, Clock};
pub use live_rules::{CompiledRules, LiveRuleSet};
pub use ops::{Metrics, MetricsAccess};
pub use server::{run, ServerOptions};
pub use state::AppState;
