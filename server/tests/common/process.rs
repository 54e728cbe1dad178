//! Real processes for fault tests: a Redis server of our own (so it can be killed and restarted
//! without disturbing other tests) and `server` processes built from this crate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{eventually, TestApp, ADMIN_TOKEN, SECRETS_KEY};

/// A port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn accepts(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
}

/// `redis-server` on its own port, keeping nothing on disk (as the deployment's Redis here).
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let mut redis = RedisServer {
            port: free_port(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it again on the same port (empty: it kept nothing).
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
        let port = self.port;
        eventually(Duration::from_secs(10), "redis-server to listen", || async move {
            accepts(port).await.then_some(())
        })
        .await;
    }

    /// SIGKILL: gone at once, with everything it held.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}

/// A directory of a test's own, removed with everything in it when dropped: where a `server`
/// process runs, so that it reads no `.env` but the one a test puts there (the binary reads
/// `.env` from its working directory, and a checkout's own `.env` is a user's configuration).
pub struct WorkDir(PathBuf);

impl WorkDir {
    pub fn new() -> WorkDir {
        let dir = std::env::temp_dir().join(format!("hn-server-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).unwrap();
        WorkDir(dir)
    }

    /// A directory inside this one.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let dir = self.0.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `server` process sharing a test app's database and Redis key prefix.
pub struct ServerProcess {
    pub base: String,
    pub log: PathBuf,
    child: Child,
    _dir: WorkDir,
}

impl ServerProcess {
    /// The `server` command for `app`'s database and Redis key prefix, serving on `port` in `dir`
    /// and logging to `log`, with nothing of the test's own environment but `PATH`; `vars` are
    /// set last, so they may replace any variable.
    fn command(app: &TestApp, redis_url: &str, vars: &[(&str, &str)], port: u16, dir: &Path, log: &Path) -> Command {
        let log_file = std::fs::File::create(log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", app.state.config.database.url.expose())
            .env("DATABASE_MAX_CONNECTIONS", "4")
            .env("REDIS_URL", redis_url)
            .env("REDIS_KEY_PREFIX", &app.key_prefix)
            .env("REDIS_POOL_SIZE", "2")
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SECRETS_KEY", SECRETS_KEY)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_OUTPUT_NAME", "hub-notify")
            .env("LEPTOS_SITE_ROOT", "target/site")
            .env("RUST_LOG", "info")
            // Tests send bursts to one local receiver; the limit has a test of its own.
            .env("WEBHOOK_RATE_LIMIT", "off")
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .kill_on_drop(true);
        for (k, v) in vars {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        command
    }

    /// Runs a server that must not start (a refused configuration): its exit status and what it
    /// printed.
    pub async fn refused(app: &TestApp, redis_url: &str, vars: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
        Self::refused_in(WorkDir::new().path(), app, redis_url, vars).await
    }

    /// As [`ServerProcess::refused`], run in `dir`.
    pub async fn refused_in(
        dir: &Path,
        app: &TestApp,
        redis_url: &str,
        vars: &[(&str, &str)],
    ) -> (std::process::ExitStatus, String) {
        let logs = WorkDir::new();
        let log = logs.path().join("server.log");
        let mut child = Self::command(app, redis_url, vars, free_port(), dir, &log)
            .spawn()
            .expect("start the server binary");
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("a refused server exits within 30 s")
            .unwrap();
        (status, std::fs::read_to_string(&log).unwrap_or_default())
    }

    /// `redis_url` and `vars` complete the configuration of `app` (database, prefix, token); an
    /// empty value removes the variable.
    pub async fn start(app: &TestApp, redis_url: &str, vars: &[(&str, &str)]) -> ServerProcess {
        Self::start_in(WorkDir::new(), app, redis_url, vars).await
    }

    /// As [`ServerProcess::start`], run in `dir` (kept until the process is dropped).
    pub async fn start_in(dir: WorkDir, app: &TestApp, redis_url: &str, vars: &[(&str, &str)]) -> ServerProcess {
        let port = free_port();
        let log = dir.subdir("log").join("server.log");
        let child = Self::command(app, redis_url, vars, port, dir.path(), &log)
            .spawn()
            .expect("start the server binary");
        let mut process = ServerProcess {
            base: format!("http://127.0.0.1:{port}"),
            log,
            child,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !accepts(port).await {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("server exited during start-up ({status}):\n{}", process.log_text());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server did not listen within 30 s:\n{}",
                process.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no graceful shutdown, no cleanup.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running");
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("server stops within 30 s of SIGTERM")
            .unwrap()
    }

    /// A counter or gauge of this process's `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{series} missing from /metrics"))
    }
}

/// A real outbound proxy on its own port: Debian's `tinyproxy` (HTTP: absolute-form requests
/// and CONNECT), `microsocks` (SOCKS5, optionally with a user name and password) or `stunnel`
/// taking TLS in front of a tinyproxy (an HTTPS proxy).
pub struct ProxyServer {
    pub port: u16,
    args: Vec<String>,
    program: &'static str,
    child: Option<Child>,
    _config: Option<tempfile_path::TempPath>,
    /// The certificate a TLS proxy shows, PEM, for `WEBHOOK_CA_FILE`.
    pub ca_file: Option<std::path::PathBuf>,
    _files: Vec<tempfile_path::TempPath>,
}

mod tempfile_path {
    /// A file removed when dropped.
    pub struct TempPath(pub std::path::PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl ProxyServer {
    /// `tinyproxy` in the foreground, taking only local clients, logging each request line
    /// (`CONNECT host:port` for a tunnel) to [`ProxyServer::log_text`].
    pub async fn http() -> ProxyServer {
        let port = free_port();
        let config = std::env::temp_dir().join(format!("hn-tinyproxy-{}.conf", uuid::Uuid::new_v4().simple()));
        let log = config.with_extension("log");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Connect\nLogFile \"{}\"\n",
                log.display()
            ),
        )
        .unwrap();
        let mut proxy = ProxyServer {
            port,
            args: vec!["-d".into(), "-c".into(), config.display().to_string()],
            program: "tinyproxy",
            child: None,
            _config: Some(tempfile_path::TempPath(config)),
            ca_file: None,
            _files: Vec::new(),
        };
        proxy.restart().await;
        proxy
    }

    /// `microsocks` with a user name and password.
    pub async fn socks5(user: &str, password: &str) -> ProxyServer {
        let port = free_port();
        let mut proxy = ProxyServer {
            port,
            args: ["-i", "127.0.0.1", "-p", &port.to_string(), "-u", user, "-P", password]
                .map(str::to_owned)
                .to_vec(),
            program: "microsocks",
            child: None,
            _config: None,
            ca_file: None,
            _files: Vec::new(),
        };
        proxy.restart().await;
        proxy
    }

    /// `stunnel` in the foreground taking TLS on a port of its own and passing the stream to
    /// `inner` (a tinyproxy): an HTTPS proxy whose certificate (for 127.0.0.1) only
    /// [`ProxyServer::ca_file`] vouches for.
    pub async fn tls_in_front_of(inner: &ProxyServer) -> ProxyServer {
        let port = free_port();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let base = std::env::temp_dir().join(format!("hn-stunnel-{}", uuid::Uuid::new_v4().simple()));
        let (config, pem, ca) = (
            base.with_extension("conf"),
            base.with_extension("pem"),
            base.with_extension("ca.pem"),
        );
        std::fs::write(&pem, format!("{}{}", cert.cert.pem(), cert.key_pair.serialize_pem())).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\n[proxy]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{}\ncert = {}\n",
                inner.port,
                pem.display()
            ),
        )
        .unwrap();
        let mut proxy = ProxyServer {
            port,
            args: vec![config.display().to_string()],
            program: "stunnel4",
            child: None,
            _config: None,
            ca_file: Some(ca.clone()),
            _files: Vec::from([config, pem, ca].map(tempfile_path::TempPath)),
        };
        proxy.restart().await;
        proxy
    }

    pub async fn restart(&mut self) {
        let child = Command::new(self.program)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{} on PATH (scripts/setup installs it): {e}", self.program));
        self.child = Some(child);
        let port = self.port;
        eventually(Duration::from_secs(10), "the proxy to listen", || async move {
            accepts(port).await.then_some(())
        })
        .await;
    }

    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    pub fn allowlist_entry(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What tinyproxy logged.
    pub fn log_text(&self) -> String {
        self._config
            .as_ref()
            .map(|c| std::fs::read_to_string(c.0.with_extension("log")).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// An HTTPS receiver with a certificate for 127.0.0.1 signed by nobody but itself (the test
/// trusts it through `WEBHOOK_CA_FILE`): answers every POST `200 ok`, as Slack does, and
/// counts them. HTTP/1.1 by hand: one request per connection is all a sender makes here.
pub struct TlsReceiver {
    pub port: u16,
    /// The certificate, PEM, for `WEBHOOK_CA_FILE`.
    pub ca_file: std::path::PathBuf,
    pub received: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TlsReceiver {
    pub async fn start() -> TlsReceiver {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_rustls::rustls;
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let ca_file = std::env::temp_dir().join(format!("hn-ca-{}.pem", uuid::Uuid::new_v4().simple()));
        std::fs::write(&ca_file, cert.cert.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = received.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, count) = (acceptor.clone(), count.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Headers, then as much body as Content-Length says.
                    let complete = |r: &[u8]| {
                        let text = String::from_utf8_lossy(r);
                        let Some(end) = text.find("\r\n\r\n") else { return false };
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                            })
                            .unwrap_or(0);
                        r.len() >= end + 4 + length
                    };
                    while !complete(&request) {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&chunk[..n]),
                        }
                    }
                    if request.starts_with(b"POST ") {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsReceiver {
            port,
            ca_file,
            received,
        }
    }

    pub fn count(&self) -> usize {
        self.received.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}
