//! The `shiplog` command: serve the HTTP faces, run migrations, import, evaluate rules, report
//! delivery metrics.
//! Configuration comes from flags and environment variables, read here and nowhere else.

mod config;
mod database;
mod delivery;
mod import;
mod import_balrog;
mod import_orlo;
mod log_sink;
mod logging;
mod ops;
mod query_words;
mod rules;
mod rules_test;
mod scheduled;
mod shutdown;
mod source;

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use shiplog_api::{AppState, AttemptLimit, AuthMode, AuthSettings, ServerOptions};
use shiplog_domain::UserName;
use shiplog_storage::{Secret, Store, MIN_SECRET_LEN};
use time::OffsetDateTime;

use database::Open;

use config::{
    AuthArg, Cli, Command, DatabaseArgs, ImportArgs, ImportSource, RulesCommand, ServeArgs,
    TokenCommand,
};

/// mimalloc instead of glibc's allocator: shiplog's threads hand memory to each other (a request
/// parsed on a worker, written on SQLite's write thread, answered on the worker again), and
/// glibc's per-arena locks and consolidation were a third of the write thread's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for them on its memory, and
/// hands memory it has not used for a second back to the system; touching such memory again
/// makes the kernel zero a whole 2 MiB page at once. An Orlo import after a pause (the bench's
/// import row, after its reads) spent over half its CPU zeroing pages that way: 80-83 ms of
/// server CPU an import against 50 ms with huge pages off, and 40 MB less resident memory after
/// a few imports. No other row of `make bench-http` moved. Best effort: a kernel that refuses
/// leaves the process as it was.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(err) = nix::sys::prctl::set_thp_disable(true) {
        log::debug!("transparent huge pages stay as the system sets them: {err}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.logging.log_format);
    without_huge_pages();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Migrate(args) => migrate(&args),
        Command::Import(args) => import(&args),
        Command::Rules(RulesCommand::Eval(args)) => {
            rules::eval(&args, |db| database::open(db, Open::Existing("rules eval")))
        }
        Command::Rules(RulesCommand::Test(args)) => {
            rules_test::run(&args, |db| database::open(db, Open::Existing("rules test")))
        }
        Command::Scheduled(command) => scheduled::run(&command, |db| {
            database::open(db, Open::Existing("scheduled"))
        }),
        Command::Token(TokenCommand::Create(args)) => create_token(&args),
        Command::Delivery(args) => {
            delivery::run(&args, |db| database::open(db, Open::Existing("delivery")))
        }
        Command::Backup(args) => backup(&args),
        Command::Completions(args) => completions(args.shell),
    };
    logging::finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("shiplog: {message}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(db: &DatabaseArgs) -> Result<(), String> {
    database::open(db, Open::CreateOrMigrate).map(|_| ())
}

/// The completion script for `shell`, on stdout. Made in memory first: clap_complete panics
/// when its output goes away (`shiplog completions bash | head`).
fn completions(shell: clap_complete::Shell) -> Result<(), String> {
    use clap::CommandFactory;
    use std::io::Write;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "shiplog", &mut script);
    match std::io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the completion script: {e}"))
        }
        _ => Ok(()),
    }
}

fn backup(args: &config::BackupArgs) -> Result<(), String> {
    let (backend, _) = shiplog_storage::Backend::from_url(&args.database.database_url)
        .map_err(|e| e.to_string())?;
    if backend != shiplog_storage::Backend::Sqlite {
        return Err(shiplog_storage::BackupError::NotSqlite.to_string());
    }
    let store = database::open(&args.database, Open::AsIs("backup"))?;
    let bytes = store.backup_sqlite(&args.file).map_err(|e| chain(&e))?;
    println!(
        "backed up {} to {} ({bytes} bytes)",
        args.database.redacted_url(),
        args.file.display()
    );
    Ok(())
}

fn import(args: &ImportArgs) -> Result<(), String> {
    if let Some(ImportSource::Orlo(orlo)) = &args.source {
        let store = database::open(&orlo.database, Open::Existing("import orlo"))?;
        let recorded_by = config::recorded_by(orlo.recorded_by.as_deref());
        let quiet = orlo.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr());
        return import_orlo::run(&store, orlo, &recorded_by, quiet);
    }
    if let Some(ImportSource::Balrog(balrog)) = &args.source {
        let store = database::open(&balrog.database, Open::Existing("import balrog"))?;
        let changed_by = config::recorded_by(balrog.recorded_by.as_deref());
        let quiet = balrog.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr());
        return import_balrog::run(&store, balrog, &changed_by, quiet);
    }
    let Some(file) = &args.file else {
        return Err("import: name a FILE, or a source (`import orlo --from URL`, `import balrog --from URL`)".to_owned());
    };
    let store = database::open(&args.database, Open::Existing("import"))?;
    let show_progress = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let recorded_by = config::recorded_by(args.recorded_by.as_deref());
    let count = import::import_file(&store, file, &recorded_by, show_progress)?;
    println!(
        "imported {count} releases from {} (recorded_by: {recorded_by})",
        file.display()
    );
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let chosen = bootstrap_secret(args.bootstrap_token.as_deref())?;
    let store = database::open(&args.database, Open::CreateOrMigrate)?;
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let options = ServerOptions {
        workers: args.workers,
        body_limit: args.body_limit,
        write_body_limit: args.write_body_limit,
        metrics: args.metrics.access(),
        shutdown_timeout: std::time::Duration::from_secs(args.shutdown_timeout),
        cors_origins: args.cors_origins.clone(),
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
    if !args.cors_origins.is_empty() {
        log::info!(
            "CORS: browsers may call from {}",
            args.cors_origins.join(", ")
        );
    }
    let refresh = std::time::Duration::from_millis(args.rules_refresh_ms);
    let mut state = AppState::with_refresh(store.clone(), refresh)
        .with_auth(AuthSettings {
            mode,
            access_token_lifetime: time::Duration::seconds(i64::from(args.access_token_seconds)),
            failed_attempts: Some(AttemptLimit {
                max: args.login_attempts,
                window: std::time::Duration::from_secs(args.login_window),
            }),
            ..AuthSettings::default()
        })
        .with_webhooks(shiplog_api::webhooks::WebhookSettings {
            retry_schedule: args.webhook_retry_schedule.clone(),
            deny: args.webhook_deny_cidrs.clone(),
            run_worker: !args.no_webhook_worker,
            ..shiplog_api::webhooks::WebhookSettings::default()
        })
        .with_retention(shiplog_api::retention::RetentionSettings {
            keep: args.event_retention,
            ..shiplog_api::retention::RetentionSettings::default()
        })
        .with_scheduler(shiplog_api::scheduler::SchedulerSettings {
            run: !args.no_scheduler,
            interval: args.scheduler_interval,
        });
    if let Some(allowlist) = args.domain_allowlist.clone() {
        log::info!("download URLs limited by the domain allow-list");
        state = state.with_allowlist(allowlist);
    }
    if let Some(hosts) = args.special_force_hosts.clone().filter(|h| !h.is_empty()) {
        log::info!("force passed on to download URLs under {hosts}");
        state = state.with_special_force_hosts(hosts);
    }
    let system = actix_web::rt::System::new();
    let signals = system
        .block_on(async { shutdown::Signals::install() })
        .map_err(|e| format!("cannot catch SIGTERM and SIGINT: {e}"))?;
    let metrics_server = ops::metrics_server(&args.metrics, &state)?;
    let server = shiplog_api::run(listener, state, options).map_err(|e| e.to_string())?;
    // Printed on stdout (not only logged) so scripts and tests can find a port chosen by the OS.
    say(&format!("shiplog listening on http://{address}"));
    // Only now that the port is ours: a start that fails (a busy port, a bad flag) must not use
    // up the one showing of the first token. The socket listens from `bind` on, so a client
    // that reads the token can connect at once; it waits in the backlog until workers start.
    bootstrap(&store, chosen)?;
    system
        .block_on(async move {
            let mut handles = vec![server.handle()];
            if let Some(metrics) = metrics_server {
                handles.push(metrics.handle());
                actix_web::rt::spawn(metrics);
            }
            actix_web::rt::spawn(signals.stop_on_signal(handles));
            server.await
        })
        .map_err(|e| format!("server failed: {e}"))?;
    log::info!("stopped");
    Ok(())
}

/// `SHIPLOG_BOOTSTRAP_TOKEN`, checked before anything else starts.
fn bootstrap_secret(chosen: Option<&str>) -> Result<Option<Secret>, String> {
    chosen
        .filter(|t| !t.is_empty())
        .map(|text| {
            Secret::parse(text).ok_or_else(|| {
                format!(
                    "SHIPLOG_BOOTSTRAP_TOKEN must be {MIN_SECRET_LEN} to 256 visible ASCII \
                     characters"
                )
            })
        })
        .transpose()
}

/// How to make another admin token, said wherever the first one is mentioned.
const ANOTHER_TOKEN: &str = "shiplog token create --user admin --admin";

/// On a database without users, makes `admin` and its token: the operator's
/// `SHIPLOG_BOOTSTRAP_TOKEN`, or a fresh one printed once on stdout (the only way to learn it).
fn bootstrap(store: &Store, secret: Option<Secret>) -> Result<(), String> {
    let from_operator = secret.is_some();
    let issued = store
        .bootstrap_admin(secret, OffsetDateTime::now_utc())
        .map_err(|e| format!("cannot create the first user: {}", chain(&e)))?;
    match issued {
        None if from_operator => {
            log::info!("users exist already: SHIPLOG_BOOTSTRAP_TOKEN is not used");
        }
        None => {
            say(&format!(
                "The admin token was shown on the first start only; to make another: \
                 {ANOTHER_TOKEN}"
            ));
        }
        Some(_) if from_operator => {
            log::warn!("created user admin with the token from SHIPLOG_BOOTSTRAP_TOKEN");
        }
        Some(issued) => {
            // On stdout, not in the log: whatever RUST_LOG says it is seen, and the log (which
            // may be shipped elsewhere) never holds a token. Only its hash is stored.
            log::warn!("created user admin; its API token is printed on stdout, this once");
            let rule = "=".repeat(72);
            let shown = say(&format!(
                "{rule}\n\
                 First start: created user `admin`, allowed everything, with this API token.\n\
                 It is shown only now (only its hash is stored), so keep it safe:\n\
                 \n    {}\n\n\
                 Send it as `Authorization: Bearer TOKEN`. Lost it? Make another, with the same\n\
                 --database-url:  {ANOTHER_TOKEN}\n\
                 {rule}",
                issued.secret.expose()
            ));
            if !shown {
                log::error!(
                    "the admin token could not be printed (stdout is closed); make another: \
                     {ANOTHER_TOKEN}"
                );
            }
        }
    }
    Ok(())
}

fn create_token(args: &config::TokenCreateArgs) -> Result<(), String> {
    let user = UserName::parse(&args.user).map_err(|e| e.to_string())?;
    let store = database::open(&args.database, Open::Existing("token create"))?;
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

/// Writes a line on stdout; false if it could not. A server whose stdout was closed (piped into
/// `head -1`, say) must keep serving, where `println!` would panic.
fn say(text: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
}

/// An error and its causes, on one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    // Drivers end their messages with a newline (libpq even adds a tab-indented second line).
    let mut text = err.to_string().trim_end().to_owned();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(cause.to_string().trim_end());
        source = cause.source();
    }
    text
}
