//! `campaign serve`, and the commands that work on its database whether or
//! not it runs: `enroll`, `status`, `revisions`, `migrate`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use campaign::contacts::{field_names, for_each_contact, Row};
use campaign::serve::engine::{Clock, DEFAULT_RETRY_SCHEDULE};
use campaign::serve::{self, Options, Source};
use campaign::store::any::Database;
use campaign::store::{Change, Inbound, Position, State, Store, Triggers};
use campaign::syntax::units::unit_millis;

use super::error::{CliError, Failure};
use super::inputs::{open_contacts, read_source, SourceError};
use super::render::{plural, render};
use super::{
    rate_flag, DataFormat, EnrollArgs, LogFormat, MigrateArgs, RevisionsArgs, ServeArgs, StatusArgs,
};

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

/// The database `db` names: an SQLite file or a `postgres://` URL. Only
/// `serve` makes a new file; the commands that read or change what it
/// serves refuse a file that is not there, as a typo would otherwise
/// answer with an empty database.
fn open_store(
    runtime: &tokio::runtime::Runtime,
    db: &Path,
    create: bool,
) -> Result<Arc<Database>, CliError> {
    if !create && !Database::is_url(db) && !db.exists() {
        return Err(CliError::NoDatabase(db.to_path_buf()));
    }
    Ok(Arc::new(
        runtime
            .block_on(Database::open(db))
            .map_err(CliError::Store)?,
    ))
}

/// Every `.campaign` file among `paths` (folders are searched, not
/// recursively), sorted.
fn campaign_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| CliError::OpenContacts {
                path: path.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "campaign") && p.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Reads and compiles every campaign; any error is rendered as `check`
/// renders it, and nothing starts.
fn load_sources(paths: &[PathBuf], json_logs: bool) -> Result<Vec<Source>, Failure> {
    let files = campaign_files(paths)?;
    if files.is_empty() {
        return Err(CliError::NoCampaigns.into());
    }
    let mut sources = Vec::new();
    let mut failed = false;
    for file in files {
        let source = match read_source(&file) {
            Ok(s) => s,
            Err(SourceError::Refused(s, d)) => {
                render(&s, &[*d]);
                failed = true;
                continue;
            }
            Err(SourceError::Unreadable(e)) => return Err(e.into()),
        };
        match campaign::compile(&source.text, None) {
            Ok(compiled) => {
                if json_logs {
                    // Machines read the log: one JSON line per warning.
                    for d in &compiled.warnings {
                        let (line, column) = source.line_col(d.span.start);
                        tracing::warn!(code = d.code, file = %source.name, line, column, "{}", d.message);
                    }
                } else {
                    render(&source, &compiled.warnings);
                }
                let Ok(tree) = campaign::syntax::parser::parse(&source.text) else {
                    failed = true;
                    continue;
                };
                sources.push(Source {
                    file,
                    campaign: tree,
                    program: compiled.program,
                    source,
                });
            }
            Err(diagnostics) => {
                render(&source, &diagnostics);
                failed = true;
            }
        }
    }
    if failed {
        eprintln!("error: not serving: fix the errors above (`campaign check` shows the same)");
        return Err(Failure::Reported);
    }
    Ok(sources)
}

/// `5s,5m,30m,2h`: durations in the script's units.
fn parse_schedule(text: &str) -> Result<Vec<Duration>, CliError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let digits = item
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(item.len());
            let (n, unit) = item.split_at(digits);
            let n: u64 = n
                .parse()
                .map_err(|_| CliError::Schedule(item.to_string()))?;
            let unit =
                unit_millis(unit.trim()).ok_or_else(|| CliError::Schedule(item.to_string()))?;
            Ok(Duration::from_millis(n.saturating_mul(unit)))
        })
        .collect()
}

fn init_logs(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(super::color::stderr());
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub(super) fn serve(args: &ServeArgs) -> Result<(), Failure> {
    let token = match (args.no_api, std::env::var("CAMPAIGN_API_TOKEN")) {
        (true, _) => None,
        (false, Ok(t)) if !t.trim().is_empty() => Some(t),
        (false, _) => return Err(CliError::NoToken.into()),
    };
    // Opens the live map and nothing else (docs/serve.md).
    let map_token = std::env::var("CAMPAIGN_MAP_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    init_logs(args.log_format);
    let json_logs = matches!(args.log_format, LogFormat::Json);
    let sources = load_sources(&args.paths, json_logs)?;
    let rate = rate_flag(args.rate.as_deref())?;
    let retry_schedule = match &args.retry_schedule {
        Some(text) => parse_schedule(text)?,
        None => DEFAULT_RETRY_SCHEDULE.to_vec(),
    };
    let options = Options {
        listen: args.listen,
        concurrency: args.concurrency as usize,
        rate,
        env_file: args.env_file.clone(),
        allow_private: args.allow_private,
        token,
        map_token,
        retry_schedule,
        grace: Duration::from_secs(args.grace),
        retention: (args.retention > 0).then(|| Duration::from_secs(args.retention * 24 * 3600)),
        clock: Clock::System,
        lease: Duration::from_secs(args.lease),
    };
    let runtime = runtime()?;
    let store = open_store(&runtime, &args.db, true)?;
    // Workers share a PostgreSQL database; an SQLite file has one.
    let lock = match store.shared() {
        true => None,
        false => Some(serve_lock(&args.db)?),
    };
    let result = runtime.block_on(async {
        let stopping = Arc::new(AtomicBool::new(false));
        let engine = serve::engine(store, sources, &options, stopping).await?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| serve::ServeError::Listen {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().unwrap_or(options.listen);
        {
            let catalog = engine.catalog_read();
            let mut names: Vec<_> = catalog.current.iter().collect();
            names.sort();
            let list: Vec<String> = names
                .iter()
                .map(|(name, rev)| format!("{name:?} (revision {rev})"))
                .collect();
            tracing::info!(
                "serving {} on http://{addr} with database {}: {}",
                plural(list.len() as u64, "campaign"),
                Database::describe(&args.db),
                list.join(", ")
            );
            for (name, _) in names {
                if let Some(l) = catalog.current(name) {
                    for hook in &l.hooks {
                        tracing::info!("POST http://{addr}{} enters contacts into {name:?}", hook.path);
                    }
                }
            }
            if options.token.is_none() {
                tracing::info!("the /v1 API is off (--no-api)");
            }
            if options.token.is_some() || options.map_token.is_some() {
                tracing::info!("the live map is on http://{addr}/ (sign in with the API or map token)");
            } else {
                tracing::info!("the live map is off: set CAMPAIGN_MAP_TOKEN to turn it on");
            }
        }
        let reload_engine = engine.clone();
        let reload_paths = args.paths.clone();
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading campaigns");
                match load_sources(&reload_paths, json_logs) {
                    Ok(sources) => {
                        match serve::install(&reload_engine, sources).await {
                            Ok(()) => tracing::info!("campaigns reloaded"),
                            Err(e) => tracing::error!(error = %e, "reload failed; the campaigns served before stay"),
                        }
                    }
                    Err(_) => tracing::error!("reload failed: a campaign has errors; the campaigns served before stay"),
                }
            }
        });
        serve::serve(engine, &options, listener, shutdown()).await?;
        tracing::info!("stopped");
        Ok::<(), CliError>(())
    });
    drop(lock);
    Ok(result?)
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}

/// One `serve` per database: an exclusive lock on `DB.serve-lock`, released
/// however the process ends. Other commands use the database meanwhile.
fn serve_lock(db: &Path) -> Result<std::fs::File, CliError> {
    let mut path = db.as_os_str().to_owned();
    path.push(".serve-lock");
    let path = PathBuf::from(path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| CliError::OpenContacts {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => Err(CliError::ServeRunning(db.to_path_buf())),
    }
}

/// The campaign named `name`, or the campaign a `.campaign` file defines.
fn campaign_name(name: &str) -> String {
    let path = Path::new(name);
    if path.extension().is_some_and(|e| e == "campaign") && path.is_file() {
        if let Ok(source) = read_source(path) {
            if let Ok(tree) = campaign::syntax::parser::parse(&source.text) {
                return tree.name.node.into();
            }
        }
    }
    name.to_string()
}

pub(super) fn enroll(args: &EnrollArgs) -> Result<(), Failure> {
    let runtime = runtime()?;
    let store = open_store(&runtime, &args.db, false)?;
    let name = campaign_name(&args.campaign);
    let (input, format) = open_contacts(&args.contacts, args.contacts_format)?;
    let names = field_names(input, format).map_err(|e| CliError::Enroll(e.to_string()))?;
    let (input, format) = open_contacts(&args.contacts, Some(format))?;
    runtime.block_on(async {
        let revision = store
            .revisions(Some(&name))
            .await
            .map_err(CliError::Store)?
            .last()
            .map(|r| r.revision)
            .ok_or_else(|| {
                CliError::Store(campaign::store::StoreError::NoCampaign(name.clone()))
            })?;
        let mut events = Vec::new();
        let mut invalid = 0u64;
        for_each_contact(input, format, &names, |row| {
            match row {
                Row::Contact(c) => {
                    let mut fields = BTreeMap::new();
                    for (i, value) in c.fields.iter().enumerate() {
                        if let (Some(n), Some(v)) = (names.get(i), value) {
                            if n != "Tags" && n != "Contact ID" {
                                fields.insert(n.clone(), v.clone());
                            }
                        }
                    }
                    events.push(Inbound {
                        dedupe: None,
                        source: "enroll".into(),
                        change: Change {
                            contact: c.id.clone(),
                            fields,
                            add_tags: c.tags.clone(),
                            remove_tags: Vec::new(),
                        },
                        enroll: vec![(name.clone(), revision)],
                    });
                }
                Row::Invalid(e) => {
                    invalid += 1;
                    eprintln!("record {}: {}; not enrolled", e.row, e.message);
                }
            }
            Ok::<(), campaign::contacts::ContactsError>(())
        })
        .map_err(|e| CliError::Enroll(e.to_string()))?;
        let (mut entered, mut already) = (0u64, 0u64);
        for event in events {
            let applied = store
                .apply(event, &Triggers::default())
                .await
                .map_err(CliError::Store)?;
            if applied.entered.is_empty() {
                already += 1;
            } else {
                entered += 1;
            }
        }
        note!(
            "enrolled {} in {name:?} (revision {revision}); {} already in it, {} invalid",
            plural(entered, "contact"),
            already,
            invalid
        );
        if invalid > 0 {
            Err(Failure::Reported)
        } else {
            Ok(())
        }
    })
}

/// One line of counts: a state, how many, and the step for waiting and
/// failed contacts.
fn count_line(row: &campaign::store::StatusRow) -> String {
    let state = row.state.as_str();
    match (&row.step, row.state) {
        (Some(step), State::Failed) => {
            format!("  {state:<8} {:>8}  failed at step {step}\n", row.count)
        }
        (Some(step), _) => format!("  {state:<8} {:>8}  at step {step}\n", row.count),
        (None, _) => format!("  {state:<8} {:>8}\n", row.count),
    }
}

pub(super) fn status(args: &StatusArgs) -> Result<(), Failure> {
    let runtime = runtime()?;
    let store = open_store(&runtime, &args.db, false)?;
    let rows = runtime.block_on(store.status()).map_err(CliError::Store)?;
    if args.format == DataFormat::Json {
        let text = serde_json::to_string_pretty(&rows).unwrap_or_default();
        super::output::print_stdout(&format!("{text}\n"))?;
        return Ok(());
    }
    let mut out = String::new();
    let mut last: Option<(String, i64)> = None;
    for row in &rows {
        let key = (row.campaign.clone(), row.revision);
        if last.as_ref() != Some(&key) {
            out.push_str(&format!("{:?} revision {}\n", row.campaign, row.revision));
            last = Some(key);
        }
        out.push_str(&count_line(row));
    }
    if rows.is_empty() {
        out.push_str("no contacts in any campaign yet\n");
    }
    super::output::print_stdout(&out)?;
    Ok(())
}

pub(super) fn revisions(args: &RevisionsArgs) -> Result<(), Failure> {
    let runtime = runtime()?;
    let store = open_store(&runtime, &args.db, false)?;
    let name = campaign_name(&args.campaign);
    let (revs, rows) = runtime.block_on(async {
        Ok::<_, CliError>((
            store
                .revisions(Some(&name))
                .await
                .map_err(CliError::Store)?,
            store.status().await.map_err(CliError::Store)?,
        ))
    })?;
    if revs.is_empty() {
        return Err(CliError::Store(campaign::store::StoreError::NoCampaign(name)).into());
    }
    let counts = |revision: i64| -> Vec<&campaign::store::StatusRow> {
        rows.iter()
            .filter(|r| r.campaign == name && r.revision == revision)
            .collect()
    };
    if args.format == DataFormat::Json {
        let list: Vec<serde_json::Value> = revs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "campaign": r.campaign,
                    "revision": r.revision,
                    "hash": r.hash,
                    "loaded_at": campaign::deliver::journal::report::rfc3339_ms(r.loaded_ms),
                    "counts": counts(r.revision),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&list).unwrap_or_default();
        super::output::print_stdout(&format!("{text}\n"))?;
        return Ok(());
    }
    let mut out = String::new();
    for r in &revs {
        out.push_str(&format!(
            "revision {}  {}  loaded {}\n",
            r.revision,
            &r.hash[..12.min(r.hash.len())],
            campaign::deliver::journal::report::rfc3339_ms(r.loaded_ms)
        ));
        let c = counts(r.revision);
        if c.is_empty() {
            out.push_str("  no contacts\n");
        }
        for row in c {
            out.push_str(&count_line(row));
        }
    }
    super::output::print_stdout(&out)?;
    Ok(())
}

pub(super) fn migrate(args: &MigrateArgs) -> Result<(), Failure> {
    let runtime = runtime()?;
    let store = open_store(&runtime, &args.db, false)?;
    let name = campaign_name(&args.campaign);
    runtime.block_on(async {
        let revs = store.revisions(Some(&name)).await.map_err(CliError::Store)?;
        let find = |n: i64| revs.iter().find(|r| r.revision == n);
        let (Some(from), Some(to)) = (find(args.from), find(args.to)) else {
            return Err(CliError::Migrate(format!(
                "campaign {name:?} has no revision {} in this database (`campaign revisions` lists them)",
                if find(args.from).is_none() { args.from } else { args.to }
            ))
            .into());
        };
        let target = serve::compile_stored(&to.source).ok_or_else(|| {
            CliError::Migrate(format!("revision {} does not compile with this campaign version", to.revision))
        })?;
        let (tree, program) = target;
        let waits = serve::campaigns::wait_places(&tree, &program);
        let waiting = store.waiting(&name, from.revision).await.map_err(CliError::Store)?;
        let mut moves: Vec<Position> = Vec::new();
        let mut refused = 0u64;
        for p in waiting {
            let place = p.step.clone().unwrap_or_default();
            match waits.iter().find(|(_, s)| *s == place) {
                Some((pc, _)) => {
                    let mut moved = p.clone();
                    moved.revision = to.revision;
                    moved.pc = pc + 1;
                    moved.vm.check_goals_after = Some(*pc);
                    moves.push(moved);
                }
                None => {
                    refused += 1;
                    println!(
                        "{}: stays in revision {}: revision {} has no wait at step {place}",
                        p.contact, from.revision, to.revision
                    );
                }
            }
        }
        if args.dry_run {
            for m in &moves {
                println!("{}: would move to revision {} (step {})", m.contact, to.revision, m.step.as_deref().unwrap_or(""));
            }
            note!(
                "dry run: {} would move, {refused} cannot; nothing was changed",
                plural(moves.len() as u64, "contact")
            );
            return Ok(());
        }
        let moved = store.move_positions(from.revision, &moves).await.map_err(CliError::Store)?;
        let busy = moves.len() as u64 - moved;
        note!(
            "moved {} from revision {} to {}; {refused} cannot move, {busy} were running and stay",
            plural(moved, "contact"),
            from.revision,
            to.revision
        );
        Ok(())
    })
}
