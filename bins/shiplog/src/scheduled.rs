//! `shiplog scheduled list|show|signoff|enact`: scheduled changes for operators on the machine,
//! printed as the Balrog face shows them (JSON). Signing off acts for a named user, who must
//! hold the role; enacting is recorded as `cli:NAME` and, like `…/enact` over HTTP, needs the
//! change's signoffs and ignores its `when`.

use serde_json::{json, Map, Value};
use shiplog_domain::balrog::{ScTable, ScheduledChange};
use shiplog_storage::{Enactment, Required, Store};

use crate::config::{DatabaseArgs, ScheduledCommand};

fn now_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

fn table(raw: &str) -> Result<ScTable, String> {
    ScTable::parse(raw).ok_or_else(|| {
        let known: Vec<&str> = ScTable::ALL.iter().map(|t| t.as_str()).collect();
        format!(
            "no scheduled changes for {raw:?}: use one of {}",
            known.join(", ")
        )
    })
}

fn view(change: &ScheduledChange, required: &Required) -> Value {
    let required: Map<String, Value> = required
        .iter()
        .map(|(role, count)| (role.to_owned(), json!(count)))
        .collect();
    let mut shown = change.to_json(&required);
    if let Value::Object(map) = &mut shown {
        map.insert("table".into(), json!(change.table.as_str()));
    }
    shown
}

fn print(value: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

fn failed(err: shiplog_storage::StorageError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub fn run(
    command: &ScheduledCommand,
    open_store: impl FnOnce(&DatabaseArgs) -> Result<Store, String>,
) -> Result<(), String> {
    match command {
        ScheduledCommand::List(args) => {
            let store = open_store(&args.database)?;
            let tables = match &args.table {
                Some(raw) => vec![table(raw)?],
                None => ScTable::ALL.to_vec(),
            };
            let mut changes = Vec::new();
            for table in tables {
                for (change, required) in store
                    .list_scheduled_changes(table, args.all, None)
                    .map_err(failed)?
                {
                    changes.push(view(&change, &required));
                }
            }
            print(&json!({"count": changes.len(), "scheduled_changes": changes}))
        }
        ScheduledCommand::Show(args) => {
            let store = open_store(&args.database)?;
            let table = table(&args.table)?;
            let (change, required) = store
                .find_scheduled_change(table, args.sc_id)
                .map_err(failed)?
                .ok_or_else(|| format!("no scheduled change {} in {table}", args.sc_id))?;
            print(&view(&change, &required))
        }
        ScheduledCommand::Signoff(args) => {
            let store = open_store(&args.database)?;
            let table = table(&args.table)?;
            let change = store
                .sign_off(table, args.sc_id, &args.user, &args.role, now_millis())
                .map_err(failed)?;
            println!(
                "{} signed off scheduled change {} as {}",
                args.user, change.sc_id, args.role
            );
            Ok(())
        }
        ScheduledCommand::Enact(args) => {
            let store = open_store(&args.database)?;
            let table = table(&args.table)?;
            let who = crate::config::recorded_by(args.enacted_by.as_deref());
            match store
                .enact_scheduled_change(table, args.sc_id, &who, now_millis())
                .map_err(failed)?
            {
                Enactment::Enacted(change) => {
                    println!("enacted scheduled change {} ({who})", change.sc_id);
                    Ok(())
                }
                Enactment::Failed(change) => Err(format!(
                    "scheduled change {} could not be enacted and is marked failed: {}",
                    change.sc_id,
                    view(&change, &Required::none())["failure"]
                )),
            }
        }
    }
}
