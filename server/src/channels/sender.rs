//! The webhook sender: the one code path for test messages and real deliveries, whatever the
//! channel. The [`Channel`] builds the body and judges a 2xx answer; everything else is here.
//!
//! Every call passes the SSRF guard first, and the HTTP client resolves names only through the
//! guard, so a name cannot be re-pointed at an internal address between the check and the
//! connection. Redirects are not followed and no proxy is taken from the environment; a target's
//! own proxy is judged by the guard like a target, and the target behind it still is. Errors
//! never contain the URL (webhook keys live in it), and what a receiver says back is masked by
//! its channel.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::channels::error::SendError;
use crate::channels::message::Message;
use crate::channels::ssrf::{refusal_of, SsrfGuard};
use crate::channels::targets::{display_target, Destination};
use crate::channels::{Channel, Envelope, Outgoing};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies beyond this are not read: a webhook's answer is small.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What a platform said besides taking the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// How long the target must rest before its next message (Discord's `X-RateLimit-*`).
    pub rest: Option<Duration>,
}

/// Proxied clients kept at most (one per proxy URL); a fuller cache starts again.
const MAX_PROXIED_CLIENTS: usize = 64;

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    /// One client per proxy URL, built when first needed.
    proxied: Arc<Mutex<HashMap<String, reqwest::Client>>>,
    guard: SsrfGuard,
    timeout: Duration,
    /// Trusted besides the public roots (`WEBHOOK_CA_FILE`).
    roots: Arc<Vec<reqwest::Certificate>>,
}

impl WebhookSender {
    pub fn new(guard: SsrfGuard, timeout: Duration) -> Result<Self, reqwest::Error> {
        Self::with_roots(guard, timeout, Vec::new())
    }

    /// A sender that also trusts `roots` (a private CA's certificates).
    pub fn with_roots(
        guard: SsrfGuard,
        timeout: Duration,
        roots: Vec<reqwest::Certificate>,
    ) -> Result<Self, reqwest::Error> {
        let roots = Arc::new(roots);
        let client = Self::builder(&guard, timeout, &roots).build()?;
        Ok(WebhookSender {
            client,
            proxied: Arc::default(),
            guard,
            timeout,
            roots,
        })
    }

    fn builder(guard: &SsrfGuard, timeout: Duration, roots: &[reqwest::Certificate]) -> reqwest::ClientBuilder {
        // The guard's builder resolves only through the guard and takes no proxy from the
        // environment; on top of that redirects are not followed at all: a webhook answers
        // where it was asked.
        roots.iter().fold(
            guard
                .client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .user_agent(concat!("hub-notify/", env!("CARGO_PKG_VERSION"))),
            |builder, root| builder.add_root_certificate(root.clone()),
        )
    }

    pub fn guard(&self) -> &SsrfGuard {
        &self.guard
    }

    /// The client going through `proxy` (its host already judged by the guard).
    fn proxied_client(&self, proxy: &str) -> Result<reqwest::Client, SendError> {
        let mut clients = self.proxied.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(proxy) {
            return Ok(client.clone());
        }
        let client = reqwest::Proxy::all(proxy)
            .and_then(|p| Self::builder(&self.guard, self.timeout, &self.roots).proxy(p).build())
            .map_err(|e| SendError::Request(format!("the proxy cannot be used: {}", root_cause(&e.without_url()))))?;
        if clients.len() >= MAX_PROXIED_CLIENTS {
            clients.clear();
        }
        clients.insert(proxy.to_owned(), client.clone());
        Ok(client)
    }

    /// Sends `message` to the target `to` in `channel`'s format and judges the answer as the
    /// platform does. With an idempotency key (a delivery's), an `Idempotency-Key` header lets
    /// a receiver that honours it drop the rare repeated delivery, and the message keeps one id
    /// across retries. A target with a proxy is reached through it (and directly when the
    /// proxy cannot be reached, if the target allows).
    pub async fn send(
        &self,
        channel: &dyn Channel,
        to: &Destination,
        message: &Message,
        idempotency_key: Option<&str>,
    ) -> Result<Sent, SendError> {
        let envelope = Envelope::for_key(idempotency_key, chrono::Utc::now());
        let outgoing = channel.outgoing(to, message, &envelope)?;
        let Some(proxy) = to.proxy() else {
            self.guard.check(&outgoing.url).await.map_err(SendError::Refused)?;
            return self.post(&self.client, channel, to, &outgoing, idempotency_key).await;
        };
        let via_proxy = async {
            self.guard
                .check_proxy(proxy, None)
                .await
                .map_err(|r| SendError::Proxy(r.to_string()))?;
            self.guard
                .check_via_proxy(&outgoing.url)
                .await
                .map_err(SendError::Refused)?;
            let client = self.proxied_client(proxy)?;
            self.post(&client, channel, to, &outgoing, idempotency_key).await
        };
        match via_proxy.await {
            Err(e @ (SendError::Proxy(_) | SendError::Connect(_))) if to.proxy_fallback_direct => {
                tracing::warn!(proxy = %display_target(proxy), error = %e, "proxy unreachable; sending directly");
                self.guard.check(&outgoing.url).await.map_err(SendError::Refused)?;
                self.post(&self.client, channel, to, &outgoing, idempotency_key).await
            }
            Err(SendError::Connect(e)) => Err(SendError::Connect(format!("through the proxy: {e}"))),
            other => other,
        }
    }

    async fn post(
        &self,
        client: &reqwest::Client,
        channel: &dyn Channel,
        to: &Destination,
        outgoing: &Outgoing,
        idempotency_key: Option<&str>,
    ) -> Result<Sent, SendError> {
        let mut request = client
            .post(&outgoing.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(outgoing.body_bytes());
        for (name, value) in &outgoing.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(SendError::Redirect {
                status: status.as_u16(),
            });
        }
        let asked = retry_after(response.headers());
        let rest = channel.rest_after(response.headers());
        let bytes = read_limited(response).await.map_err(|e| self.classify(e))?;
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(SendError::Throttled {
                retry_after: asked.or_else(|| channel.retry_after(&bytes)),
            });
        }
        if !status.is_success() {
            return Err(SendError::HttpStatus {
                status: status.as_u16(),
                body: channel.mask_secrets(snippet(&bytes), to),
            });
        }
        channel.judge(&bytes).map_err(|e| match e {
            SendError::ErrCode { errcode, errmsg } => SendError::ErrCode {
                errcode,
                errmsg: channel.mask_secrets(errmsg, to),
            },
            other => other,
        })?;
        Ok(Sent { rest })
    }

    fn classify(&self, e: reqwest::Error) -> SendError {
        // The guarded resolver's refusal travels as the source of a connect error.
        if let Some(refusal) = refusal_of(&e) {
            return SendError::Refused(refusal.clone());
        }
        let e = e.without_url();
        if e.is_timeout() {
            SendError::Timeout(self.timeout)
        } else if e.is_connect() {
            SendError::Connect(root_cause(&e))
        } else {
            SendError::Request(root_cause(&e))
        }
    }
}

/// `Retry-After` in seconds (the form platforms answer 429 with), at most an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_RESPONSE_BYTES {
            break;
        }
    }
    Ok(body)
}

fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().chars().take(200).collect()
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
