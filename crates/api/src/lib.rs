#![doc = include_str!("../README.md")]

pub mod balrog;
pub mod bileto;
mod blocking;
pub mod envelope;
pub mod evaluation;
pub mod identity;
pub mod orlo;
pub mod server;
mod state;

pub use identity::{AuthMode, AuthSettings, Clock};
pub use server::{run, ServerOptions};
pub use state::AppState;
