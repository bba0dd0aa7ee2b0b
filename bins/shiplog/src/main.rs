//! The `shiplog` command: serve the HTTP faces, run migrations, import, evaluate rules.
//! Configuration comes from flags and environment variables, read here and nowhere else.

mod config;
mod import;
mod rules;

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use shiplog_api::{AppState, ServerOptions};
use shiplog_storage::Store;

use config::{Cli, Command, DatabaseArgs, ImportArgs, RulesCommand, ServeArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Migrate(args) => migrate(&args),
        Command::Import(args) => import(&args),
        Command::Rules(RulesCommand::Eval(args)) => rules::eval(&args, open_store),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("shiplog: {message}");
            ExitCode::FAILURE
        }
    }
}

fn open_store(db: &DatabaseArgs) -> Result<Store, String> {
    let store = Store::connect(&db.database_url, &db.pool_options())
        .map_err(|e| format!("cannot open database {}: {}", db.redacted_url(), chain(&e)))?;
    let applied = store
        .migrate()
        .map_err(|e| format!("cannot migrate {}: {}", db.redacted_url(), chain(&e)))?;
    for version in &applied {
        log::info!("applied migration {version}");
    }
    if let Err(err) = store.optimize() {
        log::warn!("refreshing planner statistics failed: {}", chain(&err));
    }
    log::info!(
        "database {} ({}) is up to date",
        db.redacted_url(),
        store.backend().name()
    );
    Ok(store)
}

fn migrate(db: &DatabaseArgs) -> Result<(), String> {
    open_store(db).map(|_| ())
}

fn import(args: &ImportArgs) -> Result<(), String> {
    let store = open_store(&args.database)?;
    let show_progress = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let count = import::import_file(&store, &args.file, show_progress)?;
    println!("imported {count} releases from {}", args.file.display());
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let store = open_store(&args.database)?;
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // Printed on stdout (not only logged) so scripts and tests can find a port chosen by the OS.
    println!("shiplog listening on http://{address}");
    let options = ServerOptions {
        workers: args.workers,
        body_limit: args.body_limit,
    };
    let mut state = AppState::with_refresh(
        store,
        std::time::Duration::from_millis(args.rules_refresh_ms),
    );
    match args.bileto_token.filter(|t| !t.is_empty()) {
        Some(token) => state = state.with_bileto_token(token),
        None => log::warn!("writes to /v1 (Bileto) are disabled: set SHIPLOG_BILETO_TOKEN"),
    }
    let server = shiplog_api::run(listener, state, options).map_err(|e| e.to_string())?;
    actix_web::rt::System::new()
        .block_on(server)
        .map_err(|e| format!("server failed: {e}"))
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
