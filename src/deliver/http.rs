//! The only module that knows reqwest: one attempt of one request, with a
//! timeout, no redirects, and a response body read up to a cap whatever the
//! server streams. Requests whose URL merges contact data go through a
//! resolver that refuses addresses that are not on the public internet.
//! What comes back is our own [`Reply`], so nothing above this module
//! depends on the HTTP client.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use crate::request::HttpRequest;
use crate::url_template::UrlShape;

/// Response bodies are read up to this many bytes; the rest is dropped.
pub const BODY_CAP: usize = 64 * 1024;

/// One attempt, ready to send.
pub struct Outgoing<'a> {
    /// The request, as [`crate::request::build`] made it.
    pub request: &'a HttpRequest<'a>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// What the merged URL must keep of its template, when it merges
    /// contact data: checked again here on the very URL that is sent, and
    /// the request then goes through the private-address guard.
    pub shape: Option<&'a UrlShape>,
    /// Response headers to keep (header captures), by name, any case.
    pub capture_headers: &'a [&'a str],
    /// The URL already parsed, when the webhook's URL merges nothing: used
    /// if its text is the request's URL, which is then not parsed again.
    pub parsed: Option<&'a ParsedUrl>,
}

/// A URL parsed once, for the requests of a webhook whose URL is the same
/// for every contact.
#[derive(Debug, Clone)]
pub struct ParsedUrl {
    text: String,
    url: reqwest::Url,
}

impl ParsedUrl {
    /// `text` parsed, or `None` if it is not a valid URL (each request then
    /// reports that itself).
    pub fn parse(text: &str) -> Option<ParsedUrl> {
        reqwest::Url::parse(text).ok().map(|url| ParsedUrl {
            text: text.to_string(),
            url,
        })
    }
}

/// Why an attempt got no usable response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Not sent: the URL, a header or the method cannot be sent, or the
    /// private-address guard refused the address.
    Refused,
    /// No connection could be made.
    Connect,
    /// The attempt's timeout passed.
    Timeout,
    /// Sending the request failed.
    Send,
    /// The response's body could not be read to its end.
    Body,
    /// Anything else the HTTP client reported.
    Other,
}

impl FailureKind {
    /// Whether another attempt may succeed: connection errors, timeouts and
    /// failed sends or reads are worth a retry; a refusal never changes.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureKind::Connect | FailureKind::Timeout | FailureKind::Send | FailureKind::Body
        )
    }
}

/// Why an attempt got no usable response, with the message recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What happened, for the results and the journal.
    pub message: String,
}

/// What one attempt got back.
#[derive(Debug, Default)]
pub struct Reply {
    /// The status code, if a response arrived.
    pub status: Option<u16>,
    /// The headers asked for in [`Outgoing::capture_headers`] that came
    /// with the response: (name as asked, first value).
    pub headers: Vec<(String, String)>,
    /// How long a response that is not a 2xx asks to wait before another
    /// attempt (`Retry-After`, seconds or an HTTP date), if it says.
    pub retry_after: Option<Duration>,
    /// The response body, capped at [`BODY_CAP`].
    pub body: Vec<u8>,
    /// Whether `body` is not the whole body the server sent: longer than
    /// [`BODY_CAP`], or its reading failed (see `failure`) part-way.
    pub truncated: bool,
    /// Why no usable response arrived (no status), or why its body was cut.
    pub failure: Option<Failure>,
    /// Time from sending to the end of the body.
    pub elapsed: Duration,
}

impl Reply {
    fn failed(kind: FailureKind, message: String) -> Reply {
        Reply {
            failure: Some(Failure { kind, message }),
            ..Reply::default()
        }
    }

    /// The first value of a kept response header, by name, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The reason phrase of a status code (`Not Found`), or `""` for a code
/// without one.
pub fn reason_phrase(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// The HTTP client could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the HTTP client: {0}")]
pub struct ClientError(#[source] reqwest::Error);

/// Keep-alive clients: one for fixed URLs, one that refuses addresses that
/// are not public for URLs that merge contact data.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    guarded: reqwest::Client,
    allow_private: bool,
}

impl Http {
    /// Clients with a pool sized for `concurrency` connections per host.
    pub fn new(concurrency: usize, allow_private: bool) -> Result<Http, ClientError> {
        let build = |guard: bool| {
            let mut b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(concurrency.max(1))
                .pool_idle_timeout(Duration::from_secs(30))
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(10));
            if guard && !allow_private {
                b = b.dns_resolver(std::sync::Arc::new(PublicOnly));
            }
            b.build().map_err(ClientError)
        };
        Ok(Http {
            client: build(false)?,
            guarded: build(true)?,
            allow_private,
        })
    }

    /// Sends one attempt. Never panics and never returns an error: every
    /// outcome is a [`Reply`].
    pub async fn send(&self, req: &Outgoing<'_>) -> Reply {
        let started = Instant::now();
        let request = req.request;
        let parsed = req.parsed.filter(|p| p.text == request.url);
        let url =
            match parsed.map_or_else(|| reqwest::Url::parse(request.url), |p| Ok(p.url.clone())) {
                Ok(u) => u,
                Err(e) => {
                    return Reply::failed(
                        FailureKind::Refused,
                        format!("invalid URL after merging: {e}"),
                    )
                }
            };
        if let Some(shape) = req.shape {
            if let Err(violation) = shape.check_parsed(&url, None) {
                return Reply::failed(FailureKind::Refused, format!(
                    "refused: the merged URL does not keep what its template fixes: {violation}; nothing was sent"
                ));
            }
        }
        if req.shape.is_some() && !self.allow_private {
            // Names are checked by the resolver; an IP literal never
            // reaches it.
            let ip = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = ip.filter(|ip| !is_public(*ip)) {
                return Reply::failed(FailureKind::Refused, format!(
                    "refused: {ip} is not a public address (private, loopback, link-local, multicast or reserved), and this URL merges contact data (pass --allow-private to allow it)"
                ));
            }
        }
        let method = match reqwest::Method::from_bytes(request.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                return Reply::failed(
                    FailureKind::Refused,
                    format!("invalid method {}", request.method),
                )
            }
        };
        let mut headers = HeaderMap::with_capacity(request.header_count());
        for (name, value) in request.headers() {
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                return Reply::failed(
                    FailureKind::Refused,
                    format!("header {name} cannot be sent"),
                );
            };
            headers.append(n, v);
        }
        let client = if req.shape.is_some() {
            &self.guarded
        } else {
            &self.client
        };
        let mut builder = client
            .request(method, url)
            .headers(headers)
            .timeout(req.timeout);
        if let Some(body) = request.body {
            builder = builder.body(body.to_owned());
        }
        let mut reply = Reply::default();
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                reply.elapsed = started.elapsed();
                reply.failure = Some(Failure {
                    kind: kind_of(&e),
                    message: describe(&e),
                });
                return reply;
            }
        };
        let status = response.status();
        reply.status = Some(status.as_u16());
        for name in req.capture_headers {
            if let Some(value) = response.headers().get(*name).and_then(|v| v.to_str().ok()) {
                reply.headers.push((name.to_string(), value.to_string()));
            }
        }
        if !status.is_success() {
            reply.retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| super::retry::retry_after(v, SystemTime::now()));
        }
        // The request's timeout covers the body too, so a server that keeps
        // streaming past it ends here with a timeout error.
        let mut response = response;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = BODY_CAP.saturating_sub(reply.body.len());
                    reply
                        .body
                        .extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if chunk.len() > room {
                        reply.truncated = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    reply.failure = Some(Failure {
                        kind: FailureKind::Body,
                        message: format!("reading the response: {}", describe(&e)),
                    });
                    reply.truncated = true;
                    break;
                }
            }
        }
        reply.elapsed = started.elapsed();
        reply
    }
}

/// What kind of failure a request error is.
fn kind_of(e: &reqwest::Error) -> FailureKind {
    if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_connect() {
        FailureKind::Connect
    } else if e.is_request() {
        FailureKind::Send
    } else {
        FailureKind::Other
    }
}

/// A short reason without reqwest's nested "error sending request for url".
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// Whether an address is on the public internet. Refused: every range the
/// IANA IPv4 and IPv6 Special-Purpose Address Registries list as not
/// globally reachable, multicast, and (IPv6) everything outside global
/// unicast `2000::/3`. Addresses that carry an IPv4 address (IPv4-mapped and
/// -compatible, NAT64, 6to4, Teredo) are judged by that address. The table
/// is in docs/delivery.md.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 ranges that are not public: (first address, prefix length).
const V4_REFUSED: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space (CGNAT)
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local
    (0xac10_0000, 12), // 172.16.0.0/12 private
    (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments (whole /24)
    (0xc000_0200, 24), // 192.0.2.0/24 TEST-NET-1
    (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast (deprecated)
    (0xc0a8_0000, 16), // 192.168.0.0/16 private
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24), // 198.51.100.0/24 TEST-NET-2
    (0xcb00_7100, 24), // 203.0.113.0/24 TEST-NET-3
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast
];

fn is_public_v4(ip: std::net::Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !V4_REFUSED
        .iter()
        .any(|&(first, len)| bits >> (32 - len) == first >> (32 - len))
}

/// What an IPv6 range means for the guard.
#[derive(Clone, Copy)]
enum V6Rule {
    Refuse,
    Allow,
    /// Judged by the IPv4 address in its low 32 bits.
    Low32,
    /// 6to4: judged by the IPv4 address in bits 16..48.
    SixToFour,
    /// Teredo: the server's IPv4 address (bits 32..64) and the client's
    /// (the low 32 bits, inverted) must both be public.
    Teredo,
}

/// IPv6 ranges, the first that contains an address decides:
/// (first address, prefix length, rule).
const V6_RULES: &[(u128, u8, V6Rule)] = &[
    (0, 128, V6Rule::Refuse), // :: unspecified
    (1, 128, V6Rule::Refuse), // ::1 loopback
    (0x0000_0000_0000_0000_0000_ffff_0000_0000, 96, V6Rule::Low32), // ::ffff:0:0/96 IPv4-mapped
    (0, 96, V6Rule::Low32),   // ::/96 IPv4-compatible
    (0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96, V6Rule::Low32), // 64:ff9b::/96 NAT64
    (
        0x0064_ff9b_0001_0000_0000_0000_0000_0000,
        48,
        V6Rule::Refuse,
    ), // 64:ff9b:1::/48 local-use NAT64
    (
        0x0100_0000_0000_0000_0000_0000_0000_0000,
        64,
        V6Rule::Refuse,
    ), // 100::/64 discard-only
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        32,
        V6Rule::Teredo,
    ), // 2001::/32 Teredo
    (
        0x2001_0001_0000_0000_0000_0000_0000_0001,
        128,
        V6Rule::Allow,
    ), // 2001:1::1 PCP anycast
    (
        0x2001_0001_0000_0000_0000_0000_0000_0002,
        128,
        V6Rule::Allow,
    ), // 2001:1::2 TURN anycast
    (
        0x2001_0001_0000_0000_0000_0000_0000_0003,
        128,
        V6Rule::Allow,
    ), // 2001:1::3 DNS-SD SRP anycast
    (0x2001_0003_0000_0000_0000_0000_0000_0000, 32, V6Rule::Allow), // 2001:3::/32 AMT
    (0x2001_0004_0112_0000_0000_0000_0000_0000, 48, V6Rule::Allow), // 2001:4:112::/48 AS112-v6
    (0x2001_0020_0000_0000_0000_0000_0000_0000, 28, V6Rule::Allow), // 2001:20::/28 ORCHIDv2
    (0x2001_0030_0000_0000_0000_0000_0000_0000, 28, V6Rule::Allow), // 2001:30::/28 drone remote ID
    (
        0x2001_0000_0000_0000_0000_0000_0000_0000,
        23,
        V6Rule::Refuse,
    ), // 2001::/23 the rest: benchmarking, ORCHID...
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        V6Rule::Refuse,
    ), // 2001:db8::/32 documentation
    (
        0x2002_0000_0000_0000_0000_0000_0000_0000,
        16,
        V6Rule::SixToFour,
    ), // 2002::/16 6to4
    (
        0x3fff_0000_0000_0000_0000_0000_0000_0000,
        20,
        V6Rule::Refuse,
    ), // 3fff::/20 documentation
    (0x2000_0000_0000_0000_0000_0000_0000_0000, 3, V6Rule::Allow), // 2000::/3 global unicast
                              // Everything else: reserved (::/8 ...), 5f00::/16 SRv6, fc00::/7 unique
                              // local, fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast.
];

fn is_public_v6(ip: std::net::Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let v4 = |shift: u32| std::net::Ipv4Addr::from((bits >> shift) as u32);
    let rule = V6_RULES
        .iter()
        .find(|&&(first, len, _)| {
            len == 0 || bits >> (128 - u32::from(len)) == first >> (128 - u32::from(len))
        })
        .map_or(V6Rule::Refuse, |&(_, _, rule)| rule);
    match rule {
        V6Rule::Refuse => false,
        V6Rule::Allow => true,
        V6Rule::Low32 => is_public_v4(v4(0)),
        V6Rule::SixToFour => is_public_v4(v4(80)),
        V6Rule::Teredo => {
            is_public_v4(v4(64)) && is_public_v4(std::net::Ipv4Addr::from(!(bits as u32)))
        }
    }
}

/// Resolves names and keeps only public addresses, so contact data cannot
/// point a request at the local network (DNS names included, not just IPs).
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = format!(
                    "refused: {host} resolves only to addresses that are not public (private, loopback, link-local, multicast or reserved), and this URL merges contact data (pass --allow-private to allow it)"
                )
                .into();
                return Err(err);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_public;

    /// Each refused range: the address before it, its first and last
    /// address, and the address after it, with what each must be. Written
    /// out from the IANA registries, not derived from the tables above.
    #[test]
    fn every_range_boundary() {
        #[rustfmt::skip]
        let cases: &[(&str, bool)] = &[
            // 0.0.0.0/8
            ("0.0.0.0", false), ("0.255.255.255", false), ("1.0.0.0", true),
            // 10.0.0.0/8
            ("9.255.255.255", true), ("10.0.0.0", false), ("10.255.255.255", false), ("11.0.0.0", true),
            // 100.64.0.0/10
            ("100.63.255.255", true), ("100.64.0.0", false), ("100.127.255.255", false), ("100.128.0.0", true),
            // 127.0.0.0/8
            ("126.255.255.255", true), ("127.0.0.0", false), ("127.255.255.255", false), ("128.0.0.0", true),
            // 169.254.0.0/16
            ("169.253.255.255", true), ("169.254.0.0", false), ("169.254.255.255", false), ("169.255.0.0", true),
            // 172.16.0.0/12
            ("172.15.255.255", true), ("172.16.0.0", false), ("172.31.255.255", false), ("172.32.0.0", true),
            // 192.0.0.0/24 (192.0.0.9 and .10 too), 192.0.2.0/24
            ("191.255.255.255", true), ("192.0.0.0", false), ("192.0.0.9", false), ("192.0.0.255", false),
            ("192.0.1.0", true), ("192.0.1.255", true), ("192.0.2.0", false), ("192.0.2.255", false), ("192.0.3.0", true),
            // 192.88.99.0/24
            ("192.88.98.255", true), ("192.88.99.0", false), ("192.88.99.255", false), ("192.88.100.0", true),
            // 192.168.0.0/16
            ("192.167.255.255", true), ("192.168.0.0", false), ("192.168.255.255", false), ("192.169.0.0", true),
            // 198.18.0.0/15
            ("198.17.255.255", true), ("198.18.0.0", false), ("198.19.255.255", false), ("198.20.0.0", true),
            // 198.51.100.0/24
            ("198.51.99.255", true), ("198.51.100.0", false), ("198.51.100.255", false), ("198.51.101.0", true),
            // 203.0.113.0/24
            ("203.0.112.255", true), ("203.0.113.0", false), ("203.0.113.255", false), ("203.0.114.0", true),
            // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved, 255.255.255.255
            ("223.255.255.255", true), ("224.0.0.0", false), ("239.255.255.255", false),
            ("240.0.0.0", false), ("255.255.255.254", false), ("255.255.255.255", false),
            // globally reachable special-purpose ranges stay public
            ("192.31.196.1", true), ("192.52.193.1", true), ("192.175.48.1", true),
            ("93.184.216.34", true), ("1.1.1.1", true),

            // ::, ::1
            ("::", false), ("::1", false),
            // ::/96 IPv4-compatible and ::ffff:0:0/96 IPv4-mapped: by the IPv4 address
            ("::2", false), ("::127.0.0.1", false), ("::10.0.0.1", false), ("::1.1.1.1", true),
            ("::255.255.255.255", false), ("::1:0:0", false),
            ("::ffff:0.0.0.0", false), ("::ffff:127.0.0.1", false), ("::ffff:169.254.169.254", false),
            ("::ffff:1.1.1.1", true), ("::ffff:224.0.0.1", false), ("::1:0:0:0", false),
            // 64:ff9b::/96 NAT64: by the IPv4 address; 64:ff9b:1::/48 local-use: refused
            ("64:ff9b::127.0.0.1", false), ("64:ff9b::10.1.2.3", false), ("64:ff9b::1.1.1.1", true),
            ("64:ff9b::1:0:0", false), ("64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("64:ff9b:1::", false), ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", false),
            // 100::/64 discard-only
            ("100::", false), ("100::ffff:ffff:ffff:ffff", false), ("100:0:0:1::", false),
            // 2001::/32 Teredo: server (bits 32..64) and client (low 32 inverted)
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", false), // RFC 4380's: client 192.0.2.45 (TEST-NET-1)
            ("2001:0:0a00:0001::fefe:fefe", false),          // server 10.0.0.1
            ("2001:0:0101:0101::80ff:fffe", false),          // client 127.0.0.1
            ("2001:0:0101:0101::fefe:fefe", true),           // server 1.1.1.1, client 1.1.1.1
            // 2001::/23 not globally reachable, but for its global parts
            ("2001:1::", false), ("2001:1::1", true), ("2001:1::2", true), ("2001:1::3", true), ("2001:1::4", false),
            ("2001:2::", false), ("2001:2:0:ffff::", false),
            ("2001:2:ffff:ffff:ffff:ffff:ffff:ffff", false), ("2001:3::", true),
            ("2001:3:ffff:ffff:ffff:ffff:ffff:ffff", true), ("2001:4::", false),
            ("2001:4:111:ffff:ffff:ffff:ffff:ffff", false), ("2001:4:112::", true),
            ("2001:4:112:ffff:ffff:ffff:ffff:ffff", true), ("2001:4:113::", false),
            ("2001:10::", false), ("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("2001:20::", true), ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:30::", true), ("2001:3f:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:40::", false), ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("2001:200::", true),
            // 2001:db8::/32 documentation
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true), ("2001:db8::", false),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false), ("2001:db9::", true),
            // 2002::/16 6to4: by the IPv4 address in bits 16..48
            ("2002:7f00:1::", false), ("2002:a00:1::", false), ("2002:c0a8:101::1", false),
            ("2002:101:101::", true), ("2002:e000:1::", false),
            // 2000::/3 global unicast, 3fff::/20 documentation inside it
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("2000::", true),
            ("2606:4700::1111", true), ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true),
            ("3fff::", false), ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("3fff:1000::", true),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true), ("4000::", false),
            // outside global unicast: 5f00::/16 SRv6, fc00::/7, fe80::/10, fec0::/10, ff00::/8
            ("5f00::", false), ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("fc00::", false), ("fd00::1", false),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("fe80::", false), ("fe80::1", false),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("fec0::1", false),
            ("ff00::", false), ("ff02::1", false), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ];
        let mut wrong = Vec::new();
        for &(ip, public) in cases {
            if is_public(ip.parse().unwrap()) != public {
                wrong.push(ip);
            }
        }
        assert!(wrong.is_empty(), "misjudged: {wrong:?}");
    }
}
