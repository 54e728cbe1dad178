//! SSRF guard for outbound webhook calls: a configured URL may only reach public HTTP(S)
//! services, unless an administrator allowlisted a private target on purpose.
//!
//! Checks happen twice. `check_url`/`check` run on save, on "test connection" and before every
//! delivery; `GuardedResolver` runs again when reqwest connects, so a name that resolved to a
//! public address during the check cannot be rebound to an internal one for the connection.
//! Clients must be built with `SsrfGuard::client_builder` (or the same three settings), since a
//! proxy or an unchecked redirect would bypass the resolver.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Ports of internal services that are classic SSRF targets (shells, mail, databases, caches,
/// queues, cluster control planes); no real webhook listens there. Sorted.
pub const DANGEROUS_PORTS: &[u16] = &[
    21,    // FTP
    22,    // SSH
    23,    // Telnet
    25,    // SMTP
    110,   // POP3
    111,   // rpcbind
    135,   // MS RPC
    139,   // NetBIOS
    143,   // IMAP
    445,   // SMB
    465,   // SMTPS
    587,   // SMTP submission
    993,   // IMAPS
    995,   // POP3S
    1433,  // SQL Server
    1521,  // Oracle
    2049,  // NFS
    2375,  // Docker API
    2376,  // Docker API (TLS)
    2379,  // etcd
    2380,  // etcd peers
    3306,  // MySQL
    3389,  // RDP
    4369,  // Erlang port mapper
    5432,  // PostgreSQL
    5672,  // AMQP
    5984,  // CouchDB
    6379,  // Redis
    6443,  // Kubernetes API
    9042,  // Cassandra
    9200,  // Elasticsearch
    9300,  // Elasticsearch transport
    10250, // kubelet
    11211, // memcached
    15672, // RabbitMQ management
    27017, // MongoDB
    61616, // ActiveMQ
];

/// A resolver that never answers must not hold a delivery worker forever.
const DNS_TIMEOUT: Duration = Duration::from_secs(10);
/// Same limit as reqwest's default policy.
const MAX_REDIRECTS: usize = 10;

/// Why an address is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Loopback,
    Private,
    LinkLocal,
    Unspecified,
    /// Carrier-grade NAT shared space, 100.64.0.0/10.
    Cgnat,
    UniqueLocal,
    Multicast,
    Broadcast,
    /// Documentation, benchmarking, protocol-assignment and unallocated ranges.
    Reserved,
}

impl AddressKind {
    /// Stable machine id, also used as [`Refusal::rule`].
    pub fn rule(self) -> &'static str {
        match self {
            AddressKind::Loopback => "loopback",
            AddressKind::Private => "private",
            AddressKind::LinkLocal => "link_local",
            AddressKind::Unspecified => "unspecified",
            AddressKind::Cgnat => "cgnat",
            AddressKind::UniqueLocal => "unique_local",
            AddressKind::Multicast => "multicast",
            AddressKind::Broadcast => "broadcast",
            AddressKind::Reserved => "reserved",
        }
    }
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressKind::Loopback => "a loopback address",
            AddressKind::Private => "a private-network address",
            AddressKind::LinkLocal => "a link-local address",
            AddressKind::Unspecified => "an unspecified address",
            AddressKind::Cgnat => "a carrier-grade NAT (shared) address",
            AddressKind::UniqueLocal => "a unique-local IPv6 address",
            AddressKind::Multicast => "a multicast address",
            AddressKind::Broadcast => "the broadcast address",
            AddressKind::Reserved => "in a reserved or documentation range",
        })
    }
}

/// Why a webhook URL or address was refused. `rule()` is the stable id the UI maps to its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the URL is invalid: {reason}")]
    InvalidUrl { reason: String },
    #[error("scheme {scheme:?} is not allowed; use http or https")]
    Scheme { scheme: String },
    /// Credentials are deliberately not echoed back.
    #[error("URLs with a user name or password are not allowed")]
    Userinfo,
    #[error("the URL has no host")]
    NoHost,
    #[error("{host} is a localhost name")]
    Localhost { host: String },
    #[error("port {port} belongs to a shell, mail, database or cluster service")]
    DangerousPort { port: u16 },
    /// `ip` is the address as written or resolved, even when the verdict came from an IPv4
    /// address embedded in it.
    #[error("{ip} is {kind}")]
    Address { ip: IpAddr, kind: AddressKind },
    #[error("{host} could not be resolved: {reason}")]
    Dns { host: String, reason: String },
}

impl Refusal {
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::InvalidUrl { .. } => "invalid_url",
            Refusal::Scheme { .. } => "scheme",
            Refusal::Userinfo => "userinfo",
            Refusal::NoHost => "no_host",
            Refusal::Localhost { .. } => "localhost",
            Refusal::DangerousPort { .. } => "dangerous_port",
            Refusal::Address { kind, .. } => kind.rule(),
            Refusal::Dns { .. } => "dns",
        }
    }
}

/// Finds the refusal inside an error chain, e.g. a `reqwest::Error` raised by
/// [`GuardedResolver`] or by [`SsrfGuard::redirect_policy`].
pub fn refusal_of<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(refusal) = error.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        current = error.source();
    }
    None
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

/// Only the leading segments of these networks are non-zero, which keeps the tables readable.
const fn v6(head: [u16; 3], prefix: u8) -> Ipv6Net {
    let [a, b, c] = head;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0), prefix)
}

/// First match wins, so the broadcast address precedes 240.0.0.0/4.
const V4_RANGES: &[(Ipv4Net, AddressKind)] = &[
    (v4(255, 255, 255, 255, 32), AddressKind::Broadcast),
    (v4(0, 0, 0, 0, 8), AddressKind::Unspecified),
    (v4(10, 0, 0, 0, 8), AddressKind::Private),
    (v4(100, 64, 0, 0, 10), AddressKind::Cgnat),
    (v4(127, 0, 0, 0, 8), AddressKind::Loopback),
    (v4(169, 254, 0, 0, 16), AddressKind::LinkLocal),
    (v4(172, 16, 0, 0, 12), AddressKind::Private),
    (v4(192, 0, 0, 0, 24), AddressKind::Reserved),
    (v4(192, 0, 2, 0, 24), AddressKind::Reserved),
    (v4(192, 88, 99, 0, 24), AddressKind::Reserved),
    (v4(192, 168, 0, 0, 16), AddressKind::Private),
    (v4(198, 18, 0, 0, 15), AddressKind::Reserved),
    (v4(198, 51, 100, 0, 24), AddressKind::Reserved),
    (v4(203, 0, 113, 0, 24), AddressKind::Reserved),
    (v4(224, 0, 0, 0, 4), AddressKind::Multicast),
    (v4(240, 0, 0, 0, 4), AddressKind::Reserved),
];

/// Special ranges inside or next to global unicast; embedded IPv4 forms are handled separately.
const V6_RANGES: &[(Ipv6Net, AddressKind)] = &[
    // Local-use NAT64: translates into whatever IPv4 space the operator chose.
    (v6([0x64, 0xff9b, 1], 48), AddressKind::Private),
    (v6([0x100, 0, 0], 64), AddressKind::Reserved),
    (v6([0x2001, 0, 0], 23), AddressKind::Reserved),
    (v6([0x2001, 0xdb8, 0], 32), AddressKind::Reserved),
    (v6([0x3fff, 0, 0], 20), AddressKind::Reserved),
    (v6([0xfc00, 0, 0], 7), AddressKind::UniqueLocal),
    (v6([0xfe80, 0, 0], 10), AddressKind::LinkLocal),
    // Deprecated site-local: the old IPv6 private space.
    (v6([0xfec0, 0, 0], 10), AddressKind::Private),
    (v6([0xff00, 0, 0], 8), AddressKind::Multicast),
];

const V6_GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0], 3);
const V6_IPV4_MAPPED: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);
const V6_IPV4_COMPATIBLE: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::UNSPECIFIED, 96);
const V6_NAT64: Ipv6Net = v6([0x64, 0xff9b, 0], 96);
const V6_6TO4: Ipv6Net = v6([0x2002, 0, 0], 16);

/// Classifies an address on its own (no allowlist): `None` if it is public.
pub fn classify_ip(ip: IpAddr) -> Option<Refusal> {
    let kind = match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }?;
    Some(Refusal::Address { ip, kind })
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    V4_RANGES
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|&(_, kind)| kind)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    if ip.is_unspecified() {
        return Some(AddressKind::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressKind::Loopback);
    }
    // These forms reach the embedded IPv4 host (dual-stack sockets, NAT64, 6to4 relays), so
    // they get exactly its verdict.
    if let Some(embedded) = embedded_v4(ip) {
        return classify_v4(embedded);
    }
    if let Some(&(_, kind)) = V6_RANGES.iter().find(|(net, _)| net.contains(&ip)) {
        return Some(kind);
    }
    // Outside 2000::/3 nothing is allocated as public unicast.
    (!V6_GLOBAL_UNICAST.contains(&ip)).then_some(AddressKind::Reserved)
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = ip.to_bits();
    if V6_IPV4_MAPPED.contains(&ip) || V6_IPV4_COMPATIBLE.contains(&ip) || V6_NAT64.contains(&ip) {
        return Some(Ipv4Addr::from_bits((bits & 0xffff_ffff) as u32)); // the low 32 bits, masked
    }
    if V6_6TO4.contains(&ip) {
        // 2002:AABB:CCDD::/48 carries the IPv4 address in bits 16..48.
        return Some(Ipv4Addr::from_bits(((bits >> 80) & 0xffff_ffff) as u32)); // bits 80–111, masked
    }
    None
}

/// Host names compare case-insensitively and with or without the root's trailing dot.
fn normalize_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// RFC 6761: every name under `localhost` is loopback, whatever DNS says.
fn is_localhost_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Invalid `WEBHOOK_ALLOWLIST` entry.
#[derive(Debug, thiserror::Error)]
#[error("WEBHOOK_ALLOWLIST entry {entry:?} is invalid: {reason}")]
pub struct AllowlistError {
    pub entry: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    /// A normalized host name; without a port it opens every non-dangerous port.
    Host {
        name: String,
        port: Option<u16>,
    },
    /// IPv4-mapped addresses are stored as IPv4 so both spellings match.
    Ip {
        ip: IpAddr,
        port: Option<u16>,
    },
    Net(IpNet),
}

/// Targets an administrator opened on purpose. Empty by default.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

impl Allowlist {
    /// Parses comma-separated entries: `host`, `host:port`, `ip`, `ip:port`, `[v6]`,
    /// `[v6]:port` or a CIDR such as `10.0.0.0/8`. Blank entries are ignored.
    pub fn parse(spec: &str) -> Result<Self, AllowlistError> {
        let entries = spec
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_entry)
            .collect::<Result<_, _>>()?;
        Ok(Allowlist { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `port` is `None` when it is unknown (the reqwest resolver); `check_url` has then already
    /// enforced port-specific entries.
    fn opens_name(&self, name: &str, port: Option<u16>) -> bool {
        self.entries.iter().any(|entry| match entry {
            Entry::Host { name: n, port: p } => n == name && port_matches(*p, port),
            _ => false,
        })
    }

    fn opens_ip(&self, ip: IpAddr, port: Option<u16>) -> bool {
        let ip = ip.to_canonical();
        self.entries.iter().any(|entry| match entry {
            Entry::Ip { ip: i, port: p } => *i == ip && port_matches(*p, port),
            Entry::Net(net) => net.contains(&ip),
            Entry::Host { .. } => false,
        })
    }

    /// Whether an entry for this target spells out exactly this port.
    fn names_port(&self, name: Option<&str>, ip: Option<IpAddr>, port: u16) -> bool {
        let ip = ip.map(|ip| ip.to_canonical());
        self.entries.iter().any(|entry| match entry {
            Entry::Host { name: n, port: p } => Some(n.as_str()) == name && *p == Some(port),
            Entry::Ip { ip: i, port: p } => Some(*i) == ip && *p == Some(port),
            Entry::Net(_) => false,
        })
    }
}

fn port_matches(entry: Option<u16>, wanted: Option<u16>) -> bool {
    match (entry, wanted) {
        (Some(entry), Some(wanted)) => entry == wanted,
        _ => true,
    }
}

fn parse_entry(entry: &str) -> Result<Entry, AllowlistError> {
    let invalid = |reason: String| AllowlistError {
        entry: entry.to_owned(),
        reason,
    };
    if entry.contains('/') {
        let net = IpNet::from_str(entry).map_err(|e| invalid(format!("not a CIDR range such as 10.0.0.0/8 ({e})")))?;
        return Ok(Entry::Net(net.trunc()));
    }
    // A bare IPv6 address is full of colons; only the bracketed form may carry a port.
    if let Ok(ip) = IpAddr::from_str(entry) {
        return Ok(Entry::Ip {
            ip: ip.to_canonical(),
            port: None,
        });
    }
    let (host, port) = split_port(entry).map_err(invalid)?;
    // The URL parser's own host parsing, so entries compare equal to what `check_url` sees
    // (IDNA, case, numeric IPv4 spellings).
    match Host::parse(host).map_err(|e| invalid(e.to_string()))? {
        Host::Ipv4(ip) => Ok(Entry::Ip {
            ip: IpAddr::V4(ip),
            port,
        }),
        Host::Ipv6(ip) => Ok(Entry::Ip {
            ip: IpAddr::V6(ip).to_canonical(),
            port,
        }),
        Host::Domain(name) => {
            let name = normalize_name(&name);
            if name.contains('*') {
                return Err(invalid("wildcards are not supported; list each host".into()));
            }
            let valid_chars = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
            if !valid_chars || name.split('.').any(str::is_empty) {
                return Err(invalid("not a valid host name".into()));
            }
            Ok(Entry::Host { name, port })
        }
    }
}

fn split_port(entry: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if entry.starts_with('[') {
        let end = entry.find(']').ok_or("missing \"]\"")?;
        let (host, rest) = entry.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => {
                let port = rest.strip_prefix(':').ok_or("expected \":port\" after \"]\"")?;
                (host, Some(port))
            }
        }
    } else {
        match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    let port = port
        .map(|port| match port.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{port:?} is not a port (1-65535)")),
            Ok(port) => Ok(port),
        })
        .transpose()?;
    Ok((host, port))
}

/// The SSRF policy for webhook URLs. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct SsrfGuard {
    allowlist: Arc<Allowlist>,
}

impl SsrfGuard {
    pub fn new(allowlist: Allowlist) -> Self {
        SsrfGuard {
            allowlist: Arc::new(allowlist),
        }
    }

    /// Static checks: scheme, userinfo, host presence, localhost names, port, and IP-literal
    /// hosts. Names are only resolved by [`SsrfGuard::check`] and the resolver.
    pub fn check_url(&self, url: &str) -> Result<Url, Refusal> {
        let url = Url::parse(url).map_err(|e| Refusal::InvalidUrl { reason: e.to_string() })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme {
                scheme: url.scheme().to_owned(),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Userinfo);
        }
        let port = effective_port(&url);
        match url.host() {
            None => return Err(Refusal::NoHost),
            Some(Host::Domain(host)) => {
                let name = normalize_name(host);
                if is_localhost_name(&name) && !self.allowlist.opens_name(&name, Some(port)) {
                    return Err(Refusal::Localhost { host: host.to_owned() });
                }
                self.check_port(Some(&name), None, port)?;
            }
            Some(Host::Ipv4(ip)) => self.check_ip_target(None, IpAddr::V4(ip), port)?,
            Some(Host::Ipv6(ip)) => self.check_ip_target(None, IpAddr::V6(ip), port)?,
        }
        Ok(url)
    }

    /// The verdict when a URL is saved: its form and literal address now, and the addresses
    /// its name resolves to if DNS answers within `dns_timeout`. A name that does not resolve
    /// yet is left to delivery, which refuses it there (a DNS failure never passes).
    pub async fn check_before_saving(&self, url: &str, dns_timeout: std::time::Duration) -> Result<(), Refusal> {
        self.check_url(url)?;
        match tokio::time::timeout(dns_timeout, self.check(url)).await {
            Ok(Err(refusal)) if refusal.rule() != "dns" => Err(refusal),
            _ => Ok(()),
        }
    }

    /// `check_url`, then resolution of host names with every address checked. Returns the
    /// checked addresses; any refused address refuses the URL.
    pub async fn check(&self, url: &str) -> Result<Vec<SocketAddr>, Refusal> {
        let url = self.check_url(url)?;
        let port = effective_port(&url);
        match url.host() {
            None => Err(Refusal::NoHost),
            Some(Host::Domain(host)) => self.resolve_checked(host, Some(port)).await,
            Some(Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]),
            Some(Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
        }
    }

    /// A target reached through a proxy: the same rules, but a name that does not resolve here
    /// passes (the proxy resolves it; teams behind one often cannot resolve outside names).
    pub async fn check_via_proxy(&self, url: &str) -> Result<(), Refusal> {
        match self.check(url).await {
            Err(Refusal::Dns { .. }) => Ok(()),
            other => other.map(drop),
        }
    }

    /// An outbound proxy: `http`, `https`, `socks5` or `socks5h` with a port, its user name and
    /// password allowed; its host under the same address and port rules as a target (a proxy on
    /// a private address must be on the allowlist, like any private target). `dns_timeout`:
    /// when saving, a name that does not resolve within it yet is left to delivery, which
    /// refuses it (`None`: resolve and judge now).
    pub async fn check_proxy(&self, proxy: &str, dns_timeout: Option<std::time::Duration>) -> Result<(), Refusal> {
        let url = Url::parse(proxy).map_err(|e| Refusal::InvalidUrl { reason: e.to_string() })?;
        if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
            return Err(Refusal::Scheme {
                scheme: url.scheme().to_owned(),
            });
        }
        let port = url.port_or_known_default().ok_or_else(|| Refusal::InvalidUrl {
            reason: "a proxy needs a port".into(),
        })?;
        match url.host() {
            None => Err(Refusal::NoHost),
            Some(Host::Ipv4(ip)) => self.check_ip_target(None, IpAddr::V4(ip), port),
            Some(Host::Ipv6(ip)) => self.check_ip_target(None, IpAddr::V6(ip), port),
            Some(Host::Domain(host)) => {
                let name = normalize_name(host);
                if is_localhost_name(&name) && !self.allowlist.opens_name(&name, Some(port)) {
                    return Err(Refusal::Localhost { host: host.to_owned() });
                }
                self.check_port(Some(&name), None, port)?;
                let resolved = self.resolve_checked(host, Some(port));
                match dns_timeout {
                    None => resolved.await.map(drop),
                    Some(limit) => match tokio::time::timeout(limit, resolved).await {
                        Ok(Err(refusal)) if refusal.rule() != "dns" => Err(refusal),
                        _ => Ok(()),
                    },
                }
            }
        }
    }

    /// Whether one resolved address may be contacted for this host; `addr` carries the URL's
    /// port.
    pub fn check_addr(&self, host: &str, addr: SocketAddr) -> Result<(), Refusal> {
        let name = normalize_name(host);
        self.check_ip_target(Some(&name), addr.ip(), addr.port())
    }

    /// A reqwest DNS resolver enforcing the address rules at connect time.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { guard: self.clone() })
    }

    /// Re-checks every redirect hop; IP-literal hops never reach the resolver.
    pub fn redirect_policy(&self) -> reqwest::redirect::Policy {
        let guard = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match guard.check_url(attempt.url().as_str()) {
                Ok(_) => attempt.follow(),
                Err(refusal) => attempt.error(refusal),
            }
        })
    }

    /// A client builder with the guarded resolver and redirect policy, and without proxies
    /// (a proxy would resolve the target itself, out of the guard's sight).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(self.resolver())
            .redirect(self.redirect_policy())
            .no_proxy()
    }

    /// Address rules, then port rules, for an IP target (literal or resolved from `name`).
    fn check_ip_target(&self, name: Option<&str>, ip: IpAddr, port: u16) -> Result<(), Refusal> {
        self.check_address(name, ip, Some(port))?;
        self.check_port(name, Some(ip), port)
    }

    /// An allowlisted host name skips the address rules for everything it resolves to: the
    /// administrator vouched for the name, not for particular addresses.
    fn check_address(&self, name: Option<&str>, ip: IpAddr, port: Option<u16>) -> Result<(), Refusal> {
        let opened =
            name.is_some_and(|name| self.allowlist.opens_name(name, port)) || self.allowlist.opens_ip(ip, port);
        match classify_ip(ip) {
            Some(refusal) if !opened => Err(refusal),
            _ => Ok(()),
        }
    }

    fn check_port(&self, name: Option<&str>, ip: Option<IpAddr>, port: u16) -> Result<(), Refusal> {
        if DANGEROUS_PORTS.contains(&port) && !self.allowlist.names_port(name, ip, port) {
            return Err(Refusal::DangerousPort { port });
        }
        Ok(())
    }

    /// Resolves `host` and checks every address. `port` is `None` for the reqwest resolver,
    /// which does not know it; the addresses then carry port 0 and reqwest fills in the URL's.
    async fn resolve_checked(&self, host: &str, port: Option<u16>) -> Result<Vec<SocketAddr>, Refusal> {
        let dns_error = |reason: String| Refusal::Dns {
            host: host.to_owned(),
            reason,
        };
        let lookup = tokio::net::lookup_host((host, port.unwrap_or(0)));
        let addrs: Vec<SocketAddr> = tokio::time::timeout(DNS_TIMEOUT, lookup)
            .await
            .map_err(|_| dns_error(format!("no answer within {}s", DNS_TIMEOUT.as_secs())))?
            .map_err(|e| dns_error(e.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(dns_error("no addresses".into()));
        }
        let name = normalize_name(host);
        for addr in &addrs {
            self.check_address(Some(&name), addr.ip(), port)?;
        }
        Ok(addrs)
    }
}

fn effective_port(url: &Url) -> u16 {
    // Only http and https get this far, and the parser knows both defaults.
    url.port_or_known_default()
        .unwrap_or(if url.scheme() == "https" { 443 } else { 80 })
}

/// reqwest DNS resolver that returns only addresses the guard accepted, so the connection goes
/// exactly where the check said it could. It never sees the port, so port-specific allowlist
/// entries count here for any port; `SsrfGuard::check` enforces them and must pass first.
#[derive(Debug)]
pub struct GuardedResolver {
    guard: SsrfGuard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            match guard.resolve_checked(name.as_str(), None).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(refusal) => {
                    // After a passing `check`, this usually means the name was rebound.
                    tracing::warn!(
                        host = name.as_str(),
                        rule = refusal.rule(),
                        "webhook connection refused: {refusal}"
                    );
                    Err(refusal.into())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(guard: &SsrfGuard, url: &str) -> Result<(), &'static str> {
        guard.check_url(url).map(|_| ()).map_err(|r| r.rule())
    }

    #[test]
    fn static_url_table() {
        const OK: Result<(), &str> = Ok(());
        let cases: &[(&str, Result<(), &str>)] = &[
            // Public targets.
            ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x", OK),
            ("http://93.184.216.34/", OK),
            ("http://[2606:4700::1111]/", OK),
            ("https://example.com:8443/hook", OK),
            ("http://8.8.8.8:80/", OK),
            ("http://[::ffff:8.8.8.8]/", OK),
            ("http://[64:ff9b::808:808]/", OK),
            ("http://172.32.0.1/", OK),
            ("http://100.128.0.1/", OK),
            ("http://192.169.0.1/", OK),
            ("http://localhost.example.com/", OK),
            // Localhost names.
            ("http://localhost/", Err("localhost")),
            ("http://LOCALHOST/", Err("localhost")),
            ("http://localhost./", Err("localhost")),
            ("http://foo.localhost./", Err("localhost")),
            ("http://a.b.LocalHost:8080/", Err("localhost")),
            // Loopback, in every spelling the URL parser normalises.
            ("http://127.0.0.1/", Err("loopback")),
            ("http://127.255.255.254:8080/", Err("loopback")),
            ("http://2130706433/", Err("loopback")),
            ("http://0x7f.1/", Err("loopback")),
            ("http://0177.0.0.1/", Err("loopback")),
            ("http://127.1/", Err("loopback")),
            ("http://[::1]/", Err("loopback")),
            ("http://[::ffff:127.0.0.1]/", Err("loopback")),
            ("http://[::ffff:7f00:1]/", Err("loopback")),
            ("http://[::127.0.0.1]/", Err("loopback")),
            // Private.
            ("http://10.1.2.3/", Err("private")),
            ("http://172.16.0.1/", Err("private")),
            ("http://172.31.255.255/", Err("private")),
            ("http://192.168.1.1/", Err("private")),
            ("http://[64:ff9b::a00:1]/", Err("private")),
            ("http://[2002:a00:1::]/", Err("private")),
            ("http://[fec0::1]/", Err("private")),
            // Link-local, including cloud metadata.
            ("http://169.254.169.254/latest/meta-data/", Err("link_local")),
            ("http://[::ffff:169.254.169.254]/", Err("link_local")),
            ("http://[fe80::1]/", Err("link_local")),
            // Unspecified.
            ("http://0.0.0.0/", Err("unspecified")),
            ("http://0/", Err("unspecified")),
            ("http://[::]/", Err("unspecified")),
            // CGNAT.
            ("http://100.64.0.1/", Err("cgnat")),
            ("http://100.127.255.255/", Err("cgnat")),
            // Unique local.
            ("http://[fc00::1]/", Err("unique_local")),
            ("http://[fd12::1]/", Err("unique_local")),
            // Multicast and broadcast.
            ("http://224.0.0.1/", Err("multicast")),
            ("http://239.255.255.250/", Err("multicast")),
            ("http://[ff02::1]/", Err("multicast")),
            ("http://255.255.255.255/", Err("broadcast")),
            // Reserved, documentation and benchmarking.
            ("http://240.0.0.1/", Err("reserved")),
            ("http://192.0.0.8/", Err("reserved")),
            ("http://192.0.2.1/", Err("reserved")),
            ("http://198.18.0.1/", Err("reserved")),
            ("http://198.19.255.1/", Err("reserved")),
            ("http://198.51.100.7/", Err("reserved")),
            ("http://203.0.113.9/", Err("reserved")),
            ("http://[2001:db8::1]/", Err("reserved")),
            ("http://[100::1]/", Err("reserved")),
            ("http://[3fff::1]/", Err("reserved")),
            ("http://[5f00::1]/", Err("reserved")),
            // Dangerous ports on public hosts.
            ("http://8.8.8.8:6379/", Err("dangerous_port")),
            ("https://example.com:22/", Err("dangerous_port")),
            ("http://example.com:23/", Err("dangerous_port")),
            ("http://example.com:25/", Err("dangerous_port")),
            ("http://example.com:3306/", Err("dangerous_port")),
            ("http://example.com:5432/", Err("dangerous_port")),
            ("http://example.com:11211/", Err("dangerous_port")),
            ("http://[2606:4700::1111]:27017/", Err("dangerous_port")),
            // Userinfo.
            ("http://user:pw@example.com/", Err("userinfo")),
            ("http://user@example.com/", Err("userinfo")),
            ("http://:pw@example.com/", Err("userinfo")),
            // Schemes.
            ("ftp://example.com/", Err("scheme")),
            ("file:///etc/passwd", Err("scheme")),
            ("gopher://example.com:6379/_INFO", Err("scheme")),
            ("javascript:alert(1)", Err("scheme")),
            // Not URLs at all, or without a host.
            ("example.com/hook", Err("invalid_url")),
            ("http://", Err("invalid_url")),
            ("http://exa mple.com/", Err("invalid_url")),
        ];
        assert!(cases.len() >= 40);
        let guard = SsrfGuard::default();
        let failures: Vec<String> = cases
            .iter()
            .filter(|(url, expected)| verdict(&guard, url) != *expected)
            .map(|(url, expected)| format!("{url}: expected {expected:?}, got {:?}", verdict(&guard, url)))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn refusals_name_their_target() {
        let guard = SsrfGuard::default();
        let refusal = guard.check_url("http://127.0.0.1/").unwrap_err();
        assert_eq!(refusal.to_string(), "127.0.0.1 is a loopback address");
        let refusal = guard.check_url("http://2130706433/").unwrap_err();
        assert_eq!(
            refusal,
            Refusal::Address {
                ip: "127.0.0.1".parse().unwrap(),
                kind: AddressKind::Loopback
            }
        );
        let refusal = guard.check_url("http://8.8.8.8:6379/").unwrap_err();
        assert_eq!(refusal, Refusal::DangerousPort { port: 6379 });
        let refusal = guard.check_url("http://user:hunter2@example.com/").unwrap_err();
        assert!(!refusal.to_string().contains("hunter2"));
    }

    #[test]
    fn classify_ip_on_its_own() {
        let rule = |ip: &str| classify_ip(ip.parse().unwrap()).map(|r| r.rule());
        assert_eq!(rule("1.1.1.1"), None);
        assert_eq!(rule("2606:4700::1111"), None);
        assert_eq!(rule("10.0.0.1"), Some("private"));
        assert_eq!(rule("::ffff:10.0.0.1"), Some("private"));
        assert_eq!(rule("::ffff:0:a00:1"), Some("reserved"));
        assert_eq!(rule("2002:7f00:1::"), Some("loopback"));
        assert_eq!(rule("2002:808:808::"), None);
        assert_eq!(rule("2001::1"), Some("reserved"));
    }

    #[test]
    fn allowlisted_ip_and_port_opens_exactly_that_target() {
        let guard = SsrfGuard::new(Allowlist::parse("127.0.0.1:18080").unwrap());
        assert_eq!(verdict(&guard, "http://127.0.0.1:18080/hook"), Ok(()));
        assert_eq!(verdict(&guard, "https://127.0.0.1:18080/"), Ok(()));
        assert_eq!(verdict(&guard, "http://[::ffff:127.0.0.1]:18080/"), Ok(()));
        assert_eq!(verdict(&guard, "http://127.0.0.1:18081/"), Err("loopback"));
        assert_eq!(verdict(&guard, "http://127.0.0.1/"), Err("loopback"));
        assert_eq!(verdict(&guard, "http://127.0.0.2:18080/"), Err("loopback"));
        assert_eq!(verdict(&guard, "http://user@127.0.0.1:18080/"), Err("userinfo"));
        assert_eq!(verdict(&guard, "ftp://127.0.0.1:18080/"), Err("scheme"));
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(guard.check_addr("any.example", addr("127.0.0.1:18080")).is_ok());
        assert!(guard.check_addr("any.example", addr("127.0.0.1:18081")).is_err());
    }

    #[test]
    fn allowlisted_cidr_opens_its_addresses() {
        let guard = SsrfGuard::new(Allowlist::parse("10.0.0.0/8, fd00::/8").unwrap());
        assert_eq!(verdict(&guard, "http://10.2.3.4/"), Ok(()));
        assert_eq!(verdict(&guard, "http://10.2.3.4:8080/"), Ok(()));
        assert_eq!(verdict(&guard, "http://[fd12::1]/"), Ok(()));
        assert_eq!(verdict(&guard, "http://[fc00::1]/"), Err("unique_local"));
        assert_eq!(verdict(&guard, "http://192.168.0.1/"), Err("private"));
        assert_eq!(verdict(&guard, "http://10.2.3.4:6379/"), Err("dangerous_port"));
        let addr = "10.9.9.9:443".parse().unwrap();
        assert!(guard.check_addr("hooks.internal", addr).is_ok());
    }

    #[test]
    fn allowlisted_host_name_skips_address_rules_for_that_name() {
        let guard = SsrfGuard::new(Allowlist::parse("Hooks.Internal.").unwrap());
        let private: SocketAddr = "10.0.0.5:9000".parse().unwrap();
        assert_eq!(verdict(&guard, "http://hooks.internal:9000/"), Ok(()));
        assert!(guard.check_addr("hooks.internal", private).is_ok());
        assert!(guard.check_addr("HOOKS.internal.", private).is_ok());
        assert_eq!(
            guard.check_addr("other.internal", private).map_err(|r| r.rule()),
            Err("private")
        );
        assert_eq!(verdict(&guard, "http://hooks.internal:22/"), Err("dangerous_port"));
        assert_eq!(verdict(&guard, "ftp://hooks.internal/"), Err("scheme"));
        assert_eq!(verdict(&guard, "http://a:b@hooks.internal/"), Err("userinfo"));

        let guard = SsrfGuard::new(Allowlist::parse("localhost").unwrap());
        assert_eq!(verdict(&guard, "http://localhost:8080/"), Ok(()));
        assert_eq!(verdict(&guard, "http://LOCALHOST.:8080/"), Ok(()));
        assert_eq!(verdict(&guard, "http://foo.localhost/"), Err("localhost"));
        assert_eq!(verdict(&guard, "http://127.0.0.1:8080/"), Err("loopback"));
    }

    #[test]
    fn dangerous_port_needs_an_entry_naming_it() {
        let guard = SsrfGuard::new(Allowlist::parse("db.internal:5432,10.0.0.9:6379,[fd00::9]:6379").unwrap());
        assert_eq!(verdict(&guard, "http://db.internal:5432/"), Ok(()));
        assert!(guard
            .check_addr("db.internal", "10.0.0.3:5432".parse().unwrap())
            .is_ok());
        assert_eq!(
            guard
                .check_addr("db.internal", "10.0.0.3:5433".parse().unwrap())
                .map_err(|r| r.rule()),
            Err("private")
        );
        assert_eq!(verdict(&guard, "http://db.internal:3306/"), Err("dangerous_port"));
        assert_eq!(verdict(&guard, "http://10.0.0.9:6379/"), Ok(()));
        assert_eq!(verdict(&guard, "http://10.0.0.9:6380/"), Err("private"));
        assert_eq!(verdict(&guard, "http://[fd00::9]:6379/"), Ok(()));
        assert_eq!(verdict(&guard, "http://8.8.8.8:6379/"), Err("dangerous_port"));
    }

    #[test]
    fn allowlist_parsing() {
        assert!(Allowlist::parse("").unwrap().is_empty());
        assert!(Allowlist::parse(" , ").unwrap().is_empty());
        let list = Allowlist::parse(" a.example , ,10.0.0.1/8,::1,[::1]:8080,127.1:80 ").unwrap();
        assert_eq!(
            list.entries,
            vec![
                Entry::Host {
                    name: "a.example".into(),
                    port: None
                },
                Entry::Net("10.0.0.0/8".parse().unwrap()),
                Entry::Ip {
                    ip: "::1".parse().unwrap(),
                    port: None
                },
                Entry::Ip {
                    ip: "::1".parse().unwrap(),
                    port: Some(8080)
                },
                Entry::Ip {
                    ip: "127.0.0.1".parse().unwrap(),
                    port: Some(80)
                },
            ]
        );
        for bad in [
            "10.0.0.0/33",
            "http://example.com",
            "example.com:0",
            "example.com:99999",
            "example.com:http",
            "*.example.com",
            "[::1",
            "[::1]8080",
            "exa mple.com",
            "a..example",
            ":8080",
        ] {
            let err = Allowlist::parse(&format!("ok.example, {bad}")).unwrap_err();
            assert_eq!(err.entry, bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn refusal_of_finds_nested_refusals() {
        let refusal = Refusal::DangerousPort { port: 22 };
        let boxed: Box<dyn std::error::Error + Send + Sync> = refusal.clone().into();
        assert_eq!(refusal_of(boxed.as_ref()), Some(&refusal));
        let io = std::io::Error::other("unrelated");
        assert_eq!(refusal_of(&io), None);
    }

    #[tokio::test]
    async fn check_refuses_localhost_names_without_dns() {
        let guard = SsrfGuard::default();
        let refusal = guard.check("http://localhost.:80/").await.unwrap_err();
        assert_eq!(refusal.rule(), "localhost");
    }

    #[tokio::test]
    async fn check_treats_resolution_failure_as_refusal() {
        let guard = SsrfGuard::default();
        let refusal = guard.check("http://does-not-exist.invalid/").await.unwrap_err();
        assert_eq!(refusal.rule(), "dns");
    }

    #[tokio::test]
    async fn check_returns_checked_addresses() {
        let guard = SsrfGuard::new(Allowlist::parse("127.0.0.1:18080, localhost").unwrap());
        let addrs = guard.check("http://127.0.0.1:18080/").await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:18080".parse().unwrap()]);
        let addrs = guard.check("http://93.184.216.34:8080/").await.unwrap();
        assert_eq!(addrs, vec!["93.184.216.34:8080".parse().unwrap()]);
        let addrs = guard.check("http://localhost:18081/").await.unwrap();
        assert!(addrs.contains(&"127.0.0.1:18081".parse().unwrap()), "{addrs:?}");
        let refusal = guard.check("http://127.0.0.1:18081/").await.unwrap_err();
        assert_eq!(refusal.rule(), "loopback");
    }

    /// Answers every connection with `response` once the request head has arrived. Uses the
    /// readiness API so the tests need nothing beyond tokio's `net` feature.
    async fn serve(response: &'static str) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    stream.readable().await.unwrap();
                    match stream.try_read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                let mut pending = response.as_bytes();
                while !pending.is_empty() {
                    stream.writable().await.unwrap();
                    match stream.try_write(pending) {
                        Ok(n) => pending = &pending[n..],
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        port
    }

    const OK_RESPONSE: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

    #[tokio::test]
    async fn resolver_checks_addresses_at_connect_time() {
        let port = serve(OK_RESPONSE).await;
        let url = format!("http://localhost:{port}/");

        let guard = SsrfGuard::default();
        let error = guard
            .resolver()
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .err()
            .expect("loopback must be refused");
        assert_eq!(refusal_of(error.as_ref()).map(Refusal::rule), Some("loopback"));
        let client = reqwest::Client::builder()
            .dns_resolver(guard.resolver())
            .no_proxy()
            .build()
            .unwrap();
        let error = client.get(&url).send().await.unwrap_err();
        assert_eq!(refusal_of(&error).map(Refusal::rule), Some("loopback"), "{error:?}");

        let guard = SsrfGuard::new(Allowlist::parse("localhost").unwrap());
        let addrs: Vec<SocketAddr> = guard
            .resolver()
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.contains(&"127.0.0.1:0".parse().unwrap()), "{addrs:?}");
        let client = reqwest::Client::builder()
            .dns_resolver(guard.resolver())
            .no_proxy()
            .build()
            .unwrap();
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
    }

    #[tokio::test]
    async fn redirects_are_checked() {
        let port = serve(
            "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await;
        let guard = SsrfGuard::new(Allowlist::parse("localhost").unwrap());
        let client = guard.client_builder().build().unwrap();
        let error = client
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal_of(&error).map(Refusal::rule), Some("link_local"), "{error:?}");
    }
}
