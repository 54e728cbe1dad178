//! `server` — runs Hub Notify (`server` or `server serve`), or administers it:
//! `server create-user --id N --name NAME [--admin]` issues a user's API key (printed once).
use std::process::ExitCode;

use app::session::Role;
use server::http::{self, state::AppState};
use server::platform::config::{AppEnv, Config, DatabaseConfig};
use server::platform::encryption::{self, KeyCheck};
use server::platform::{db, redis, telemetry};
use server::{leptos_options, usage::users};

const USAGE: &str = "usage: server [serve]\n       server create-user --id <integer> --name <name> [--admin]\n       server demo-data [--days <1-60>]";

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    // `.env` of the working directory only, never a parent's (a checkout's `.env` must not reach
    // a server started below it, as by the tests); what the environment already holds wins.
    if let Err(e) = dotenvy::from_path(".env") {
        if !e.not_found() {
            return fail(format!(".env: {e}"));
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("create-user") => create_user(&args[1..]).await,
        Some("demo-data") => demo_data(&args[1..]).await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => fail(format!("unknown command {other:?}\n{USAGE}")),
    }
}

async fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    telemetry::init(config.app_env);
    let options = match leptos_options(config.site_addr) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let db = match db::connect_and_migrate(&config.database).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    match encryption::check_key(&db, &config.secrets).await {
        Ok(KeyCheck::Adopted) => tracing::info!(
            key_id = config.secrets.current.id(),
            "SECRETS_KEY adopted by this database"
        ),
        Ok(KeyCheck::Same) => {}
        Ok(KeyCheck::Rotated { from }) => {
            tracing::warn!(from = %from, to = config.secrets.current.id(), "secrets sealed again under the new SECRETS_KEY; SECRETS_KEY_PREVIOUS may be removed")
        }
        Err(e) => return fail(e),
    }
    match server::notifications::bindings::adopt_legacy_urls(&db, &config.secrets.current).await {
        Ok(adopted) if adopted != Default::default() => tracing::info!(
            kinds = adopted.kinds,
            deliveries = adopted.deliveries,
            "webhook URLs moved into sealed push targets"
        ),
        Ok(_) => {}
        Err(e) => return fail(format!("cannot move webhook URLs into push targets: {e}")),
    }
    match server::usage::ingest::align_daily_rollups(&db, config.timezone).await {
        Ok(true) => tracing::warn!(timezone = %config.timezone, "APP_TIMEZONE changed: daily usage recomputed"),
        Ok(false) => {}
        Err(e) => return fail(format!("cannot prepare the daily usage rollups: {e}")),
    }
    let redis = match redis::connect(&config.redis).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let addr = config.site_addr;
    let env = config.app_env;
    let state = match AppState::new(config, options, db, redis) {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot build the webhook client: {e}")),
    };
    if let Err(e) = state.settings.rebuild_schedule().await {
        return fail(format!("cannot load the notification settings: {e}"));
    }
    let engine = match state.start_delivery_engine() {
        Ok(engine) => engine,
        Err(e) => return fail(format!("REDIS_URL: {e}")),
    };
    // Other instances' saves reach this one's schedule.
    let (stop_following, following) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(state.settings.scheduler().clone().follow(following));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {addr} (LEPTOS_SITE_ADDR): {e}")),
    };
    tracing::info!(%addr, production = env == AppEnv::Production, "Hub Notify listening");
    if let Err(e) = http::router::serve(listener, state, shutdown_signal()).await {
        return fail(format!("server error: {e}"));
    }
    let _ = stop_following.send(true);
    let _ = follower.await;
    // In-flight deliveries finish (or their jobs go back to the queue) before the process ends.
    engine.stop().await;
    tracing::info!("shut down");
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

async fn create_user(args: &[String]) -> ExitCode {
    let mut id = None;
    let mut name = None;
    let mut role = Role::User;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--id" => id = it.next().and_then(|v| v.parse::<i64>().ok()),
            "--name" => name = it.next().cloned(),
            "--admin" => role = Role::Admin,
            other => return fail(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let (Some(id), Some(name)) = (id, name) else {
        return fail(format!("--id <integer> and --name <name> are required\n{USAGE}"));
    };
    let database = match DatabaseConfig::from_lookup(&|n| std::env::var(n).ok()) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let db = match db::connect_and_migrate(&database).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    match users::issue_api_key(&db, id, &name, role).await {
        Ok(key) => {
            println!("{key}");
            eprintln!("API key for {name} (id {id}); it is shown only this once.");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn demo_data(args: &[String]) -> ExitCode {
    let days = match args {
        [] => 7,
        [flag, n] if flag == "--days" => match n.parse::<u32>() {
            Ok(n) if (1..=60).contains(&n) => n,
            _ => return fail(format!("--days must be 1 to 60, got {n:?}")),
        },
        _ => return fail(format!("unexpected arguments {args:?}\n{USAGE}")),
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let db = match db::connect_and_migrate(&config.database).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    if let Err(e) = server::usage::ingest::align_daily_rollups(&db, config.timezone).await {
        return fail(format!("daily rollups: {e}"));
    }
    match server::usage::demo::fill(&db, config.timezone, chrono::Utc::now(), days).await {
        Ok(r) => {
            eprintln!(
                "demo data: {} requests over {days} days ({} new), users 1001–1012, providers 1–4",
                r.events, r.new
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("demo data: {e}")),
    }
}
