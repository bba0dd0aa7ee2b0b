//! Command-line flags and their environment variables.

use clap::{Args, Parser, Subcommand};
use shiplog_storage::PoolOptions;

/// shiplog: a release ledger and rollout-rules service.
///
/// It records releases as they happen and answers what is live where, speaking the Orlo API at
/// `/`. Data lives in SQLite (the default, a file in the working directory) or PostgreSQL,
/// chosen by the database URL's scheme.
#[derive(Debug, Parser)]
#[command(name = "shiplog", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub logging: crate::logging::LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (migrating the database first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Import releases from an Orlo import document (a JSON list of releases), all or nothing;
    /// or, with `import orlo --from URL`, copy them from a running Orlo.
    Import(ImportArgs),
    /// Balrog rules: evaluate a query as /api/v1/evaluate would.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Balrog scheduled changes: list, show, sign off, enact.
    #[command(subcommand)]
    Scheduled(ScheduledCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Delivery metrics (DORA) over a time window, as /api/v1/delivery computes them.
    Delivery(DeliveryArgs),
    /// Copy a SQLite database to a new file while the server keeps running (a consistent
    /// snapshot; writes go on). PostgreSQL databases are backed up with pg_dump.
    Backup(BackupArgs),
    /// Print a shell completion script: `source <(shiplog completions bash)`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write; it must not exist yet.
    pub file: std::path::PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DeliveryArgs {
    /// Window start, inclusive: any timestamp the Orlo face accepts (default: 30 days before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// Window end, exclusive (default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Only releases of this team.
    #[arg(long)]
    pub team: Option<String>,
    /// Only releases to this platform.
    #[arg(long)]
    pub platform: Option<String>,
    /// Only releases with a package of this name.
    #[arg(long)]
    pub package: Option<String>,
    /// Only releases recorded with this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Also compute the figures per team, platform or package.
    #[arg(long, value_name = "team|platform|package")]
    pub group_by: Option<String>,
    /// Print the endpoint's `data` object as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum ScheduledCommand {
    /// Print the pending scheduled changes (every one with --all) as JSON.
    List(ScheduledListArgs),
    /// Print one scheduled change as JSON.
    Show(ScheduledIdArgs),
    /// Sign a scheduled change off for USER with ROLE (which USER must hold).
    Signoff(ScheduledSignoffArgs),
    /// Enact a scheduled change now, whatever its `when`, if its signoffs are complete.
    Enact(ScheduledEnactArgs),
}

#[derive(Debug, Args)]
pub struct ScheduledListArgs {
    /// Only this table: rules, releases, permissions, emergency_shutoff,
    /// required_signoffs/product or required_signoffs/permissions (default: every table).
    #[arg(long)]
    pub table: Option<String>,
    /// Completed (enacted or failed) changes too.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ScheduledIdArgs {
    /// rules, releases, permissions, emergency_shutoff, required_signoffs/product or
    /// required_signoffs/permissions.
    pub table: String,
    /// The scheduled change's id.
    pub sc_id: i64,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ScheduledSignoffArgs {
    /// rules, releases, permissions, emergency_shutoff, required_signoffs/product or
    /// required_signoffs/permissions.
    pub table: String,
    /// The scheduled change's id.
    pub sc_id: i64,
    /// The user signing off.
    #[arg(long)]
    pub user: String,
    /// The role they sign with.
    #[arg(long)]
    pub role: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ScheduledEnactArgs {
    /// rules, releases, permissions, emergency_shutoff, required_signoffs/product or
    /// required_signoffs/permissions.
    pub table: String,
    /// The scheduled change's id.
    pub sc_id: i64,
    /// Recorded as `enacted_by` in the form `cli:NAME` (default: the login).
    #[arg(long)]
    pub enacted_by: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print which rule wins for a query and which release is served, as the `data` object of
    /// /api/v1/evaluate. Reads the configured database, or only a JSON file with --rules.
    Eval(EvalArgs),
    /// Check a file of queries against the answers each must get (rule, mapping, reason or
    /// error), from the configured database or a rules file; fails on any mismatch.
    Test(RulesTestArgs),
}

#[derive(Debug, Args)]
pub struct RulesTestArgs {
    /// The cases: a JSON list of `{"name"?, "query": {...}, "roll"?, "expect": {"rule_id"?,
    /// "mapping"?, "reason"?, "error"?}}` (see docs/evaluation.md).
    #[arg(value_name = "CASES")]
    pub cases: std::path::PathBuf,
    /// Check against this rules file (the format of `rules eval --rules`) instead of the database.
    #[arg(long)]
    pub rules: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Evaluate offline against this file instead of the database: a JSON list of rules with
    /// Balrog's column names, or `{"rules": [...], "emergency_shutoffs": [...], "releases":
    /// [{"name", "product", "data"}]}`.
    #[arg(long)]
    pub rules: Option<std::path::PathBuf>,
    /// A query key and value by Balrog's name (`buildTarget=WINNT_x86_64-msvc`); repeatable.
    #[arg(long = "query", value_name = "KEY=VALUE")]
    pub query: Vec<String>,
    /// The product asking for an update (`Firefox`); required, here or as --query.
    #[arg(long)]
    pub product: Option<String>,
    /// The version it runs now (`60.0`); required, here or as --query.
    #[arg(long)]
    pub version: Option<String>,
    /// Its update channel (`release`, `beta`, …).
    #[arg(long)]
    pub channel: Option<String>,
    /// Its build id (`20180605171542`), for rules with a build-id comparison.
    #[arg(long)]
    pub build_id: Option<String>,
    /// Its build target (`WINNT_x86_64-msvc`).
    #[arg(long)]
    pub build_target: Option<String>,
    /// Its locale (`en-US`).
    #[arg(long)]
    pub locale: Option<String>,
    /// Its operating system version (`Windows_NT 10.0`).
    #[arg(long)]
    pub os_version: Option<String>,
    /// The client's update pin (`120.` or `120.15.`): serve the release pinned for it when the
    /// rule's release is newer.
    #[arg(long)]
    pub pin: Option<String>,
    /// The background-rate dice roll (0–99) to use; random if not given.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..100))]
    pub roll: Option<u8>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user (created if new) and print it: it is shown only once.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The user the token authenticates as.
    #[arg(long)]
    pub user: String,
    /// Also grant the user the `admin` permission without product limits.
    #[arg(long)]
    pub admin: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `--auth`: who must present a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// Reads are public; writes need a token and the permission for them.
    Writes,
    /// Every request but login, `/token`, `/ping` and the API description needs a token.
    All,
    /// No checks at all: for local experiments only.
    Off,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: Option<ImportSource>,
    /// The JSON file: `[{"user", "platforms", "packages", "stime", "ftime", …}, …]`.
    #[arg(required = true)]
    pub file: Option<std::path::PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Who ran the import, recorded as each release's `recorded_by` in the form `cli:NAME`
    /// (beside the `user` the file names). Default: the login running the command.
    #[arg(long, value_name = "NAME")]
    pub recorded_by: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// Copy every release, with its packages, from a running Orlo (or another shiplog), keeping
    /// their ids: running it again copies nothing twice, and a stopped copy resumes.
    Orlo(ImportOrloArgs),
    /// Copy rules, named releases (with their blobs), emergency shutoffs and, where the source
    /// shows them, permissions from a running Balrog admin API (or another shiplog): running
    /// it again copies nothing twice, and a stopped copy resumes.
    Balrog(ImportBalrogArgs),
}

#[derive(Debug, Args)]
pub struct ImportBalrogArgs {
    /// The admin API's base URL, e.g. `https://balrog-admin.example.com` (its `/api/…` is read).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// A token for the source, sent as a bearer token.
    #[arg(long, env = "SHIPLOG_SOURCE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Seconds to wait for each answer of the source.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Who ran the copy, recorded as `changed_by` in the history of everything copied
    /// (`cli:NAME`). Default: the login running the command.
    #[arg(long, value_name = "NAME")]
    pub recorded_by: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ImportOrloArgs {
    /// The source's base URL, e.g. `https://orlo.example.com` (its `/releases` is read).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// A token for the source, sent as `X-Auth-Token` (Orlo) and as a bearer token (shiplog).
    #[arg(long, env = "SHIPLOG_SOURCE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Releases asked for per request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub page_size: u16,
    /// Seconds to wait for each answer of the source.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Who ran the copy, recorded as each release's `recorded_by` (`cli:NAME`). Default: the
    /// login running the command.
    #[arg(long, value_name = "NAME")]
    pub recorded_by: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `cli:` and `--recorded-by` or the login. The command line has no shiplog identity, but a
/// release should not be unattributed; and as `:` cannot occur in a shiplog user name, the value
/// never passes for a user who authenticated over HTTP.
pub fn recorded_by(chosen: Option<&str>) -> String {
    let login = chosen.map(str::to_owned).or_else(|| {
        ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    });
    format!("cli:{}", login.as_deref().unwrap_or("unknown"))
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: postgres://…, postgresql://…, sqlite://PATH or a file path (relative to
    /// the working folder). Only `serve` and `migrate` create a database that is not there.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "shiplog.db",
        value_name = "URL"
    )]
    pub database_url: String,
    /// Most database connections held open at once.
    #[arg(long, env = "SHIPLOG_POOL_SIZE", default_value_t = 10)]
    pub pool_size: u32,
    /// Mebibytes of releases kept whole in memory, by id and revision, so that reads of
    /// releases that have not changed skip their related rows (0: none).
    #[arg(long, env = "SHIPLOG_RELEASE_CACHE_MB", default_value_t = DEFAULT_RELEASE_CACHE_MB)]
    pub release_cache_mb: u64,
}

/// The default of `--release-cache-mb`: the storage crate's default, in mebibytes.
const DEFAULT_RELEASE_CACHE_MB: u64 = shiplog_storage::DEFAULT_RELEASE_CACHE_BYTES >> 20;

impl DatabaseArgs {
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_size: self.pool_size,
            release_cache_bytes: self.release_cache_mb.saturating_mul(1 << 20),
            ..PoolOptions::default()
        }
    }

    /// The URL without its password, for messages.
    pub fn redacted_url(&self) -> String {
        redact(&self.database_url)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 lets the system choose).
    #[arg(long, env = "SHIPLOG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "SHIPLOG_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// Largest body of a bulk request (Orlo import, Balrog release blob or locale), in bytes.
    #[arg(long, env = "SHIPLOG_BODY_LIMIT", default_value_t = 16 * 1024 * 1024)]
    pub body_limit: usize,
    /// Largest body of every other request (one release, rule, ticket, …), in bytes.
    #[arg(long, env = "SHIPLOG_WRITE_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub write_body_limit: usize,
    /// How often, at most, to check the database for rule changes, revoked tokens and changed
    /// permissions made by other instances (milliseconds). Changes through this instance are
    /// seen at once.
    #[arg(long, env = "SHIPLOG_RULES_REFRESH_MS", default_value_t = 250)]
    pub rules_refresh_ms: u64,
    /// Who must present a credential: `writes` (reads are public), `all`, or `off` (no checks,
    /// for local experiments only).
    #[arg(long, env = "SHIPLOG_AUTH", value_enum, default_value = "writes")]
    pub auth: AuthArg,
    /// The secret of the `admin` token made on the first start with no users (at least 32
    /// visible characters), for automation that must know it in advance. Unset: a random one
    /// is made and printed once to the log. Prefer the environment variable: a flag shows in the
    /// process list.
    #[arg(long, env = "SHIPLOG_BOOTSTRAP_TOKEN", hide_env_values = true)]
    pub bootstrap_token: Option<String>,
    /// How long access tokens from `POST /api/v1/login` and `GET /token` last, in seconds.
    #[arg(long, env = "SHIPLOG_ACCESS_TOKEN_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u32).range(1..))]
    pub access_token_seconds: u32,
    /// Failed credential checks allowed from one client address (an IPv6 /64) per
    /// --login-window, on the login and on every token check; past them its credentials get
    /// 429 with Retry-After until the oldest failure is a window old. 0: no limit.
    #[arg(
        long,
        env = "SHIPLOG_LOGIN_ATTEMPTS",
        default_value_t = 20,
        value_name = "N"
    )]
    pub login_attempts: u32,
    /// The window of --login-attempts, in seconds.
    #[arg(long, env = "SHIPLOG_LOGIN_WINDOW", default_value_t = 60, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub login_window: u64,
    /// On SIGTERM or Ctrl-C, how long to let requests in flight finish (seconds) before closing
    /// their connections; new connections are refused at once. A second signal stops at once.
    #[arg(
        long,
        env = "SHIPLOG_SHUTDOWN_TIMEOUT",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub shutdown_timeout: u64,
    /// An origin browsers may call shiplog from (`https://admin.example.com`), for browser
    /// clients such as Balrog's admin UI; repeatable (comma-separated in the environment
    /// variable); `*` allows any. Unset: no CORS headers, browsers keep the same-origin policy.
    #[arg(long = "cors-origin", env = "SHIPLOG_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGIN", value_parser = shiplog_api::cors::parse_origin)]
    pub cors_origins: Vec<String>,
    /// Delays before each webhook retry, a comma list of durations (`500ms`, `5s`, `5m`, `2h`,
    /// `1d`); after the last one a message is given up.
    #[arg(long, env = "SHIPLOG_WEBHOOK_RETRY_SCHEDULE", default_value = shiplog_api::webhooks::worker::DEFAULT_SCHEDULE, value_parser = shiplog_api::webhooks::worker::parse_schedule)]
    pub webhook_retry_schedule: std::vec::Vec<std::time::Duration>,
    /// Address ranges webhooks may not reach, a comma list (`10.0.0.0/8,fd00::/8`), besides the
    /// link-local and cloud metadata addresses that are always refused.
    #[arg(long, env = "SHIPLOG_WEBHOOK_DENY_CIDRS", default_value = "", value_parser = shiplog_api::webhooks::destination::parse_cidrs)]
    pub webhook_deny_cidrs: std::vec::Vec<shiplog_api::webhooks::destination::Cidr>,
    /// A JSON file naming the download hosts each product's release blobs may use
    /// (`{"host": ["Product", …]}` or `{"host": {"path regex": ["Product", …]}}`): release writes
    /// with other URLs are refused and update answers leave them out. Unset: any URL
    /// (docs/evaluation.md).
    #[arg(long, env = "SHIPLOG_DOMAIN_ALLOWLIST", value_name = "FILE", value_parser = read_allowlist)]
    pub domain_allowlist: Option<shiplog_domain::balrog::DomainAllowlist>,
    /// URL prefixes whose download URLs carry a client's `force=1`/`force=-1`, a comma list
    /// (`http://download.example.com`): Balrog's `SPECIAL_FORCE_HOSTS`, for a bouncer that lets
    /// forced clients past its own throttling. Unset: no URL is changed (docs/evaluation.md).
    #[arg(long, env = "SHIPLOG_SPECIAL_FORCE_HOSTS", value_name = "URLS", value_parser = read_force_hosts)]
    pub special_force_hosts: Option<shiplog_domain::balrog::SpecialForceHosts>,
    /// Do not send webhooks from this instance (another instance on the database does).
    #[arg(long, env = "SHIPLOG_NO_WEBHOOK_WORKER")]
    pub no_webhook_worker: bool,
    /// How long events and finished webhook deliveries are kept (`90d`, `12h`, …); `0` or `off`
    /// keeps them forever. Events a webhook subscription has not yet taken are always kept.
    #[arg(long, env = "SHIPLOG_EVENT_RETENTION", default_value = shiplog_api::retention::DEFAULT_RETENTION, value_parser = shiplog_api::retention::parse_retention)]
    pub event_retention: shiplog_api::retention::Retention,
    /// How often the scheduler looks for due scheduled changes to enact (`1s`, `250ms`).
    #[arg(long, env = "SHIPLOG_SCHEDULER_INTERVAL", default_value = "1s", value_parser = shiplog_api::scheduler::parse_interval)]
    pub scheduler_interval: std::time::Duration,
    /// Do not enact scheduled changes from this instance (another instance on the database
    /// does; several may, each change is enacted once).
    #[arg(long, env = "SHIPLOG_NO_SCHEDULER")]
    pub no_scheduler: bool,
    #[command(flatten)]
    pub metrics: crate::ops::MetricsArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// Reads `--domain-allowlist`: a JSON file, refused at start with its problem named.
fn read_force_hosts(list: &str) -> Result<shiplog_domain::balrog::SpecialForceHosts, String> {
    shiplog_domain::balrog::SpecialForceHosts::parse(list).map_err(|e| e.to_string())
}

fn read_allowlist(path: &str) -> Result<shiplog_domain::balrog::DomainAllowlist, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let document: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
    shiplog_domain::balrog::DomainAllowlist::from_json(&document)
        .map_err(|e| format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("shiplog.db"), "shiplog.db");
    }

    #[test]
    fn every_flag_has_help_text() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        use clap::CommandFactory;
        let mut missing = Vec::new();
        walk(&Cli::command(), "shiplog", &mut missing);
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }

    #[test]
    fn special_force_hosts_are_read_from_the_flag_or_refused_by_name() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "shiplog",
            "serve",
            "--special-force-hosts",
            "http://download.example.com, https://dl.example.org/",
        ])
        .expect("valid");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        let hosts = args.special_force_hosts.expect("set");
        assert_eq!(
            hosts.to_string(),
            "http://download.example.com,https://dl.example.org/"
        );
        let error = Cli::try_parse_from([
            "shiplog",
            "serve",
            "--special-force-hosts",
            "download.example.com",
        ])
        .expect_err("no scheme")
        .to_string();
        assert!(
            error.contains("special force host \"download.example.com\""),
            "{error}"
        );
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
