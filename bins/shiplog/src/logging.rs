//! Log lines on stderr, as text for people or as one JSON object a line for log collectors
//! (`--log-format`). Every line written while a request runs carries its request id; the
//! access lines' fields (face, route, status, duration, …) become JSON keys.
//!
//! actix reports each connection whose request it could not parse (a malformed request line or
//! header, a head over its limit, a slow client) at ERROR, after answering it with a 400, 431 or
//! 408. Those are the client's mistakes, not the server's, so they are logged at DEBUG here: an
//! ERROR line stays something an operator should act on.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use clap::{Args, ValueEnum};
use log::kv::{Key, Value, VisitSource};
use serde_json::{Map, Value as Json};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::log_sink::{Sink, SinkWriter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log lines on stderr as `text`, or `json` (one object a line, for log collectors).
    /// The level comes from RUST_LOG (default `info`).
    #[arg(
        long,
        global = true,
        env = "SHIPLOG_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// The batched stderr every line goes to, once [`init`] ran.
static SINK: OnceLock<Arc<Sink>> = OnceLock::new();

/// Installs the logger; call once, first thing.
pub fn init(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    // Without a writer thread (none could be started), lines go to stderr one by one.
    if let Ok(sink) = Sink::start(Box::new(std::io::stderr())) {
        builder.target(env_logger::Target::Pipe(Box::new(SinkWriter(Arc::clone(
            &sink,
        )))));
        let _ = SINK.set(sink);
        // A panic's own message goes straight to stderr: the lines logged before it go first.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(sink) = SINK.get() {
                sink.drain();
            }
            report(info);
        }));
    }
    let inner = builder
        .format(move |buf, record| {
            let line = match format {
                LogFormat::Text => text_line(record),
                LogFormat::Json => json_line(record),
            };
            writeln!(buf, "{line}")
        })
        // Lines are written as they are: `text_line` escapes control characters itself (so a
        // terminal escape or a newline in a message cannot forge or colour a line), and
        // env_logger's own stripping pass over every byte cost 2 % of a request's CPU.
        .write_style(env_logger::WriteStyle::Always)
        .build();
    let max = inner.filter();
    let sink = SINK.get().cloned();
    if log::set_boxed_logger(Box::new(Demoting { inner, sink })).is_ok() {
        log::set_max_level(max);
    }
}

/// Writes out every line logged so far; call before the process ends.
pub fn finish() {
    log::logger().flush();
}

/// Where actix logs a connection's protocol errors.
const PROTOCOL_ERRORS: &str = "actix_http::h1::dispatcher";

/// env_logger, with actix's protocol errors demoted to DEBUG, writing to the batched `sink`
/// (stderr directly when there is none). Warnings and errors are written out at once.
struct Demoting {
    inner: env_logger::Logger,
    sink: Option<Arc<Sink>>,
}

impl log::Log for Demoting {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() == log::Level::Error && record.target().starts_with(PROTOCOL_ERRORS) {
            let metadata = log::Metadata::builder()
                .level(log::Level::Debug)
                .target(record.target())
                .build();
            if self.inner.enabled(&metadata) {
                self.inner.log(
                    &log::Record::builder()
                        .metadata(metadata)
                        .args(*record.args())
                        .module_path(record.module_path())
                        .file(record.file())
                        .line(record.line())
                        .build(),
                );
            }
        } else if self.inner.matches(record) {
            self.inner.log(record);
            if record.level() <= log::Level::Warn {
                self.flush();
            }
        }
    }

    fn flush(&self) {
        self.inner.flush();
        if let Some(sink) = &self.sink {
            sink.drain();
        }
    }
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The record's key-values as JSON.
fn fields(record: &log::Record<'_>) -> Map<String, Json> {
    struct Collect(Map<String, Json>);
    impl<'kvs> VisitSource<'kvs> for Collect {
        fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
            let json = if let Some(n) = value.to_u64() {
                Json::from(n)
            } else if let Some(n) = value.to_i64() {
                Json::from(n)
            } else if let Some(x) = value.to_f64() {
                // Milliseconds to the microsecond are enough.
                Json::from((x * 1000.0).round() / 1000.0)
            } else if let Some(b) = value.to_bool() {
                Json::from(b)
            } else {
                Json::from(value.to_string())
            };
            self.0.insert(key.as_str().to_owned(), json);
            Ok(())
        }
    }
    let mut collect = Collect(Map::new());
    let _ = record.key_values().visit(&mut collect);
    if !collect.0.contains_key("request_id") {
        if let Some(id) = shiplog_api::ops::current_request_id() {
            collect
                .0
                .insert("request_id".to_owned(), Json::from(id.to_string()));
        }
    }
    collect.0
}

fn text_line(record: &log::Record<'_>) -> String {
    let mut line = format!(
        "[{} {:<5} {}] {}",
        now(),
        record.level(),
        record.target(),
        record.args()
    );
    if let Some(id) = request_id(record) {
        line.push_str(" request_id=");
        line.push_str(&id);
    }
    escape_controls(line)
}

/// The record's own `request_id`, else the id of the request this thread is serving. Looked up
/// alone: collecting every field into a JSON map first, as [`json_line`] does, was a fifth of
/// the cost of an access line (one is written for every request).
fn request_id(record: &log::Record<'_>) -> Option<String> {
    match record.key_values().get(Key::from_str("request_id")) {
        Some(value) => Some(value.to_string()),
        None => shiplog_api::ops::current_request_id().map(|id| id.to_string()),
    }
}

/// The line with every control character (newlines and terminal escapes included) written as
/// a Rust escape, so one record stays one plain line.
fn escape_controls(line: String) -> String {
    if !line.chars().any(char::is_control) {
        return line;
    }
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn json_line(record: &log::Record<'_>) -> String {
    let mut object = Map::new();
    object.insert("ts".to_owned(), Json::from(now()));
    object.insert("level".to_owned(), Json::from(record.level().as_str()));
    object.insert("target".to_owned(), Json::from(record.target()));
    object.insert("message".to_owned(), Json::from(record.args().to_string()));
    object.extend(fields(record));
    Json::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_sink::Captured;
    use log::{Level, Log, Record};

    fn logged(filter: &str, target: &str) -> String {
        let out = Captured::default();
        let inner = env_logger::Builder::new()
            .parse_filters(filter)
            .target(env_logger::Target::Pipe(Box::new(out.clone())))
            .build();
        Demoting { inner, sink: None }.log(
            &Record::builder()
                .level(Level::Error)
                .target(target)
                .args(format_args!("stream error: request parse error"))
                .build(),
        );
        out.text()
    }

    #[test]
    fn text_lines_escape_control_characters() {
        let line = text_line(
            &Record::builder()
                .level(Level::Info)
                .target("shiplog")
                .args(format_args!("a\nforged [line] \u{1b}[31mred\u{1b}[0m"))
                .build(),
        );
        assert!(
            line.ends_with(r"a\nforged [line] \u{1b}[31mred\u{1b}[0m"),
            "{line}"
        );
        assert!(!line.contains('\n') && !line.contains('\u{1b}'));
    }

    #[test]
    fn text_lines_end_with_the_request_id() {
        let id = [("request_id", "4f1c")];
        let line = text_line(
            &Record::builder()
                .level(Level::Info)
                .target("shiplog::access")
                .args(format_args!("127.0.0.1 \"GET /ping HTTP/1.1\" 200"))
                .key_values(&id)
                .build(),
        );
        assert!(
            line.ends_with(r#"] 127.0.0.1 "GET /ping HTTP/1.1" 200 request_id=4f1c"#),
            "{line}"
        );
        let without = text_line(
            &Record::builder()
                .level(Level::Info)
                .target("shiplog")
                .args(format_args!("started"))
                .build(),
        );
        assert!(without.ends_with("] started"), "{without}");
    }

    #[test]
    fn protocol_errors_are_debug_and_other_errors_stay_errors() {
        assert_eq!(logged("info", PROTOCOL_ERRORS), "");
        assert!(logged("debug", PROTOCOL_ERRORS).contains("DEBUG"));
        assert!(logged("info", "shiplog_api::orlo").contains("ERROR"));
    }
}
