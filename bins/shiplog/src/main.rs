//! The `shiplog` command: serve the HTTP faces, run migrations, import, evaluate rules.
//! Configuration comes from flags and environment variables, read here and nowhere else.

mod config;
mod import;
mod rules;

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use shiplog_api::{AppState, AuthMode, AuthSettings, ServerOptions};
use shiplog_domain::UserName;
use shiplog_storage::{Secret, Store, MIN_SECRET_LEN};
use time::OffsetDateTime;

use config::{
    AuthArg, Cli, Command, DatabaseArgs, ImportArgs, RulesCommand, ServeArgs, TokenCommand,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Migrate(args) => migrate(&args),
        Command::Import(args) => import(&args),
        Command::Rules(RulesCommand::Eval(args)) => rules::eval(&args, open_store),
        Command::Token(TokenCommand::Create(args)) => create_token(&args),
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
    // Before announcing the address: a script that waits for it can then read the token.
    bootstrap(&store, args.bootstrap_token.as_deref())?;
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // Printed on stdout (not only logged) so scripts and tests can find a port chosen by the OS.
    println!("shiplog listening on http://{address}");
    let options = ServerOptions {
        workers: args.workers,
        body_limit: args.body_limit,
    };
    if std::env::var_os("SHIPLOG_BILETO_TOKEN").is_some() {
        log::warn!(
            "SHIPLOG_BILETO_TOKEN is no longer used: /v1 writes take shiplog tokens with the \
             `ticket` permission (docs/identity.md)"
        );
    }
    let mode = match args.auth {
        AuthArg::Writes => AuthMode::Writes,
        AuthArg::All => AuthMode::All,
        AuthArg::Off => {
            log::warn!("**********************************************************************");
            log::warn!("AUTH IS OFF: anyone who can reach this server can change everything.");
            log::warn!("Use --auth off for local experiments only.");
            log::warn!("**********************************************************************");
            AuthMode::Off
        }
    };
    log::info!("auth mode: {}", mode.as_str());
    let refresh = std::time::Duration::from_millis(args.rules_refresh_ms);
    let state = AppState::with_refresh(store, refresh).with_auth(AuthSettings {
        mode,
        access_token_lifetime: time::Duration::seconds(i64::from(args.access_token_seconds)),
        ..AuthSettings::default()
    });
    let server = shiplog_api::run(listener, state, options).map_err(|e| e.to_string())?;
    actix_web::rt::System::new()
        .block_on(server)
        .map_err(|e| format!("server failed: {e}"))
}

/// On a database without users, makes `admin` and its token: the operator's
/// `SHIPLOG_BOOTSTRAP_TOKEN`, or a fresh one printed once to the log (the only way to learn it).
fn bootstrap(store: &Store, chosen: Option<&str>) -> Result<(), String> {
    let secret = match chosen.filter(|t| !t.is_empty()) {
        Some(text) => Some(Secret::parse(text).ok_or_else(|| {
            format!(
                "SHIPLOG_BOOTSTRAP_TOKEN must be {MIN_SECRET_LEN} to 256 visible ASCII characters"
            )
        })?),
        None => None,
    };
    let from_operator = secret.is_some();
    let issued = store
        .bootstrap_admin(secret, OffsetDateTime::now_utc())
        .map_err(|e| format!("cannot create the first user: {}", chain(&e)))?;
    match issued {
        None if from_operator => {
            log::info!("users exist already: SHIPLOG_BOOTSTRAP_TOKEN is not used");
        }
        None => {}
        Some(_) if from_operator => {
            log::warn!("created user admin with the token from SHIPLOG_BOOTSTRAP_TOKEN");
        }
        Some(issued) => {
            // The one deliberate exception to "tokens never reach the log": nobody could use
            // the server otherwise. It is printed once; only its hash is stored.
            log::warn!(
                "created user admin; its API token (shown only now, store it safely): {}",
                issued.secret.expose()
            );
        }
    }
    Ok(())
}

fn create_token(args: &config::TokenCreateArgs) -> Result<(), String> {
    let user = UserName::parse(&args.user).map_err(|e| e.to_string())?;
    let store = open_store(&args.database)?;
    let issued = store
        .create_api_token(&user, args.admin, "cli", OffsetDateTime::now_utc())
        .map_err(|e| format!("cannot create a token: {}", chain(&e)))?;
    eprintln!(
        "created API token {} for {}{} (shown only now):",
        issued.info.id,
        issued.info.user,
        if args.admin { ", an admin" } else { "" }
    );
    // Only the secret on stdout, so `TOKEN=$(shiplog token create …)` works.
    println!("{}", issued.secret.expose());
    Ok(())
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
