//! The front end as users get it, from the release site (`cargo leptos build --release`, what
//! `scripts/run` serves; `scripts/bench frontend` builds it first when an input changed):
//!
//! - the size of each front-end file raw and as its `.gz` / `.br` twin (what the server sends);
//! - what Chromium downloads on a first visit to 消息推送 with an empty cache
//!   (`bench/frontend/first-visit.mjs`), per kind of resource, and the wasm of that visit gzipped;
//! - the server-side render time of that page, signed in, over one kept-alive HTTP/1.1
//!   connection, beside `/healthz` on the same connection (the floor: routing, access layer,
//!   one Redis look-up less) and beside the page on a fresh connection per request.
//!
//! The server is the release binary, started on a free port with a throwaway database and Redis
//! prefix, removed at the end.
use crate::support::say;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::delivery::Database;
use crate::support::{ms, thousands, Percentiles};

/// The first-visit wasm a page may cost, gzipped (the issue's target).
const TARGET_FIRST_VISIT_WASM_GZIP: u64 = 250_000;
/// Server-side render of the settings page on a kept-alive connection, median.
const TARGET_SSR_P50: Duration = Duration::from_millis(5);
const PAGE: &str = "/settings/notifications";

#[derive(Clone, Debug)]
pub(crate) struct FrontendSetup {
    /// Timed requests per measure (after a warm-up of a tenth as many).
    pub requests: usize,
    /// The release site (`target/site`) and the server built with it.
    pub site_root: PathBuf,
    pub server: PathBuf,
}

impl Default for FrontendSetup {
    fn default() -> Self {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        FrontendSetup {
            requests: 500,
            site_root: checkout.join("target/site"),
            server: checkout.join("target/release-server/server"),
        }
    }
}

/// One front-end file and its compressed twins.
#[derive(Clone, Debug)]
pub(crate) struct SiteFile {
    pub name: String,
    pub raw: u64,
    pub gzip: Option<u64>,
    pub brotli: Option<u64>,
}

/// One response of the first visit.
#[derive(Clone, Debug)]
pub(crate) struct Download {
    pub path: String,
    pub kind: String,
    pub encoding: String,
    pub bytes: u64,
}

pub(crate) struct Report {
    pub files: Vec<SiteFile>,
    pub first_visit: Vec<Download>,
    pub hydrated_ms: u64,
    pub page_kept_alive: Percentiles,
    pub healthz_kept_alive: Percentiles,
    pub page_fresh_connection: Percentiles,
    pub page_bytes: usize,
    pub requests: usize,
}

impl Report {
    /// The wasm the first visit fetched, counted as its gzip twin (the target's measure).
    fn first_visit_wasm_gzip(&self) -> Option<u64> {
        self.first_visit
            .iter()
            .filter(|d| d.path.ends_with(".wasm"))
            .map(|d| {
                let name = d.path.rsplit('/').next().unwrap_or_default();
                self.files.iter().find(|f| f.name == name).and_then(|f| f.gzip)
            })
            .sum()
    }
}

pub(crate) async fn run(
    setup: &FrontendSetup,
    database: &Database,
    redis_url: &str,
    prefix: &str,
) -> Result<Report, String> {
    let files = site_files(&setup.site_root.join("pkg"))?;
    if !files.iter().any(|f| f.name.ends_with(".wasm")) {
        return Err(format!(
            "no wasm in {}: build the release site first (scripts/bench frontend does)",
            setup.site_root.join("pkg").display()
        ));
    }
    let db_url = database.create_for_server().await?;
    let server = Server::start(setup, &db_url, redis_url, prefix).await?;
    let measured = measure(setup, &server, files).await;
    server.stop().await;
    measured
}

/// One HTTP/1.1 client: `idle` connections kept per host (0: a fresh connection per request).
fn client(idle: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(idle)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

async fn measure(setup: &FrontendSetup, server: &Server, files: Vec<SiteFile>) -> Result<Report, String> {
    // One connection, kept alive, as a browser's.
    let kept_alive = client(1)?;
    let page_bytes = server.get(&kept_alive, PAGE).await?.1;
    eprintln!("frontend: {} requests per measure on {}", setup.requests, server.base);
    let page_kept_alive = server.timings(&kept_alive, PAGE, setup.requests).await?;
    let healthz_kept_alive = server.timings(&kept_alive, "/healthz", setup.requests).await?;
    let page_fresh_connection = server.timings(&client(0)?, PAGE, setup.requests).await?;
    eprintln!("frontend: first visit to {PAGE} in Chromium");
    let (first_visit, hydrated_ms) = first_visit(server).await?;
    Ok(Report {
        files,
        first_visit,
        hydrated_ms,
        page_kept_alive,
        healthz_kept_alive,
        page_fresh_connection,
        page_bytes,
        requests: setup.requests,
    })
}

fn site_files(pkg: &Path) -> Result<Vec<SiteFile>, String> {
    let entries = std::fs::read_dir(pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    let size = |path: PathBuf| std::fs::metadata(path).ok().map(|m| m.len());
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", pkg.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".wasm") || name.ends_with(".js") || name.ends_with(".css")) {
            continue;
        }
        files.push(SiteFile {
            raw: size(entry.path()).unwrap_or_default(),
            gzip: size(pkg.join(format!("{name}.gz"))),
            brotli: size(pkg.join(format!("{name}.br"))),
            name,
        });
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.raw));
    Ok(files)
}

struct Server {
    child: tokio::process::Child,
    base: String,
    token: String,
}

impl Server {
    async fn start(setup: &FrontendSetup, db_url: &str, redis_url: &str, prefix: &str) -> Result<Server, String> {
        if !setup.server.is_file() {
            return Err(format!("no server binary at {}", setup.server.display()));
        }
        // A free port: bound, then released for the server.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        let token = format!("bench-admin-{}", uuid::Uuid::new_v4().simple());
        let base = format!("http://127.0.0.1:{port}");
        let child = tokio::process::Command::new(&setup.server)
            .arg("serve")
            // Only this configuration: not the caller's environment, nor a `.env` (the binary
            // reads the one in its working directory).
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", db_url)
            .env("REDIS_URL", redis_url)
            .env("REDIS_KEY_PREFIX", prefix)
            .env("ADMIN_TOKEN", &token)
            .env("SECRETS_KEY", server::platform::encryption::SecretsKey::generate())
            .env("APP_ENV", "development")
            .env("RUST_LOG", "warn")
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_ENV", "PROD")
            .env("LEPTOS_OUTPUT_NAME", "hub-notify")
            .env("LEPTOS_SITE_ROOT", &setup.site_root)
            .env("LEPTOS_SITE_PKG_DIR", "pkg")
            .env("LEPTOS_HASH_FILES", "true")
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", setup.server.display()))?;
        let mut server = Server { child, base, token };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(res) = client.get(format!("{}/readyz", server.base)).send().await {
                if res.status().is_success() {
                    return Ok(server);
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("the server exited during start-up ({status})"));
            }
            if Instant::now() > deadline {
                server.stop().await;
                return Err("the server was not ready within 60 s".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// One signed-in GET, read to its end: (time to the last byte, body length).
    async fn get(&self, client: &reqwest::Client, path: &str) -> Result<(Duration, usize), String> {
        let started = Instant::now();
        let res = client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| format!("GET {path}: {e}"))?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("GET {path} answered {status}"));
        }
        Ok((started.elapsed(), body.len()))
    }

    async fn timings(&self, client: &reqwest::Client, path: &str, requests: usize) -> Result<Percentiles, String> {
        for _ in 0..requests.div_ceil(10) {
            self.get(client, path).await?;
        }
        let mut samples = Vec::with_capacity(requests);
        for _ in 0..requests {
            samples.push(self.get(client, path).await?.0);
        }
        Percentiles::of(samples).ok_or_else(|| "no requests".to_owned())
    }
}

async fn first_visit(server: &Server) -> Result<(Vec<Download>, u64), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("frontend/first-visit.mjs");
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .args([&server.base, PAGE, &server.token])
        .output()
        .await
        .map_err(|e| format!("running node {}: {e} (is Node.js installed?)", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "first visit in Chromium failed ({}); needs `scripts/setup --e2e`:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("first-visit.mjs printed no JSON: {e}"))?;
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    let downloads = report["resources"]
        .as_array()
        .ok_or("first-visit.mjs: no resources")?
        .iter()
        .map(|r| Download {
            path: url::Url::parse(&text(r, "url"))
                .map(|u| u.path().to_owned())
                .unwrap_or_else(|_| text(r, "url")),
            kind: text(r, "type"),
            encoding: text(r, "encoding"),
            bytes: r["bodyBytes"].as_u64().unwrap_or(0) + r["headerBytes"].as_u64().unwrap_or(0),
        })
        .collect();
    Ok((downloads, report["hydratedMs"].as_u64().unwrap_or(0)))
}

fn bytes(n: u64) -> String {
    format!("{} B", thousands(n as f64))
}

fn opt_bytes(n: Option<u64>) -> String {
    n.map_or_else(|| "—".to_owned(), bytes)
}

fn percentiles(p: &Percentiles) -> String {
    format!("{} / {} ms", ms(p.p50), ms(p.p99))
}

/// Prints the report and writes it as `frontend`'s section of `bench/RESULTS.md`.
pub(crate) fn print(report: &Report, machine: &str) -> Result<(), String> {
    let mut out = crate::support::heading("frontend");
    say!(out);
    say!(out, "{machine}");
    say!(out, "\nRelease site; {} requests per measure.\n", report.requests);
    say!(out, "| file | raw | gzip | brotli |");
    say!(out, "|---|---|---|---|");
    for f in &report.files {
        say!(
            out,
            "| `{}` | {} | {} | {} |",
            f.name,
            bytes(f.raw),
            opt_bytes(f.gzip),
            opt_bytes(f.brotli)
        );
    }

    let mut by_kind: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
    for d in &report.first_visit {
        let entry = by_kind.entry(d.kind.as_str()).or_default();
        entry.0 += d.bytes;
        entry.1 += 1;
    }
    let total: u64 = report.first_visit.iter().map(|d| d.bytes).sum();
    say!(out, "\nFirst visit to `{PAGE}` in Chromium (empty cache; bytes on the wire, headers included; hydrated after {} ms):\n", report.hydrated_ms);
    say!(out, "| resource | requests | bytes |");
    say!(out, "|---|---|---|");
    for (kind, (b, n)) in &by_kind {
        say!(out, "| {kind} | {n} | {} |", bytes(*b));
    }
    say!(
        out,
        "| **total** | {} | **{}** |",
        report.first_visit.len(),
        bytes(total)
    );
    for d in report.first_visit.iter().filter(|d| d.kind != "document") {
        eprintln!("  {} {} ({})", d.path, bytes(d.bytes), d.encoding);
    }

    let wasm_gzip = report.first_visit_wasm_gzip();
    let met = |ok: bool| if ok { "yes" } else { "no" };
    say!(out, "\n| measure | result | target | met |");
    say!(out, "|---|---|---|---|");
    say!(
        out,
        "| first-visit wasm, gzipped | {} | ≤ {} | {} |",
        opt_bytes(wasm_gzip),
        bytes(TARGET_FIRST_VISIT_WASM_GZIP),
        met(wasm_gzip.is_some_and(|b| b <= TARGET_FIRST_VISIT_WASM_GZIP))
    );
    say!(
        out,
        "| SSR `{PAGE}` ({} B), kept-alive connection, p50 / p99 | {} | p50 ≤ {} ms | {} |",
        thousands(report.page_bytes as f64),
        percentiles(&report.page_kept_alive),
        TARGET_SSR_P50.as_millis(),
        met(report.page_kept_alive.p50 <= TARGET_SSR_P50)
    );
    say!(
        out,
        "| `/healthz`, same connection (baseline), p50 / p99 | {} | | |",
        percentiles(&report.healthz_kept_alive)
    );
    say!(
        out,
        "| SSR `{PAGE}`, a fresh connection per request, p50 / p99 | {} | | |",
        percentiles(&report.page_fresh_connection)
    );
    crate::support::publish("frontend", &out)
}
