//! The only module that knows reqwest: one attempt of one request, with a
//! timeout, no redirects, and a response body read up to a cap whatever the
//! server streams. Requests whose host came from contact data go through a
//! resolver that refuses private addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Response bodies are read up to this many bytes; the rest is dropped.
pub const BODY_CAP: usize = 64 * 1024;

/// One request, ready to send.
pub struct Outgoing<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The merged, validated URL.
    pub url: &'a str,
    /// Every header, in order.
    pub headers: &'a [(String, String)],
    /// The body, if the webhook has one.
    pub body: Option<&'a str>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Whether the host came from contact data.
    pub dynamic_host: bool,
    /// Keep the response headers even on success (header captures); they
    /// are always kept on failure, for `Retry-After`.
    pub want_headers: bool,
}

/// What one attempt got back.
#[derive(Debug, Default)]
pub struct Reply {
    /// The status code, if a response arrived.
    pub status: Option<u16>,
    /// Why no usable response arrived (connect error, timeout, ...).
    pub error: Option<String>,
    /// Whether the failure is worth retrying (connect errors, timeouts).
    pub transient: bool,
    /// The response body, capped at [`BODY_CAP`].
    pub body: Vec<u8>,
    /// Whether `body` is not the whole body the server sent: longer than
    /// [`BODY_CAP`], or its reading failed (see `error`) part-way.
    pub truncated: bool,
    /// Response headers.
    pub headers: HeaderMap,
    /// Time from sending to the end of the body.
    pub elapsed: Duration,
}

/// Keep-alive clients: one for fixed hosts, one that refuses private
/// addresses for hosts chosen by contact data.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    guarded: reqwest::Client,
    allow_private: bool,
}

impl Http {
    /// Clients with a pool sized for `concurrency` connections per host.
    pub fn new(concurrency: usize, allow_private: bool) -> Result<Http, String> {
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
            b.build()
                .map_err(|e| format!("cannot start the HTTP client: {e}"))
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
        let mut reply = Reply::default();
        let url = match reqwest::Url::parse(req.url) {
            Ok(u) => u,
            Err(e) => {
                reply.error = Some(format!("invalid URL after merging: {e}"));
                return reply;
            }
        };
        if req.dynamic_host && !self.allow_private {
            if let Some(ip) = url
                .host_str()
                .and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            {
                if !is_public(ip) {
                    reply.error = Some(format!(
                        "refused: the contact's host {ip} is a private, loopback or link-local address (pass --allow-private to allow it)"
                    ));
                    return reply;
                }
            }
        }
        let method = match reqwest::Method::from_bytes(req.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                reply.error = Some(format!("invalid method {}", req.method));
                return reply;
            }
        };
        let mut headers = HeaderMap::with_capacity(req.headers.len());
        for (name, value) in req.headers {
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                reply.error = Some(format!("header {name} cannot be sent"));
                return reply;
            };
            headers.append(n, v);
        }
        let client = if req.dynamic_host {
            &self.guarded
        } else {
            &self.client
        };
        let mut builder = client
            .request(method, url)
            .headers(headers)
            .timeout(req.timeout);
        if let Some(body) = req.body {
            builder = builder.body(body.to_owned());
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                reply.elapsed = started.elapsed();
                reply.transient = e.is_timeout() || e.is_connect() || e.is_request();
                reply.error = Some(describe(&e));
                return reply;
            }
        };
        reply.status = Some(response.status().as_u16());
        if req.want_headers || !response.status().is_success() {
            reply.headers = response.headers().clone();
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
                    reply.error = Some(format!("reading the response: {}", describe(&e)));
                    reply.transient = true;
                    reply.truncated = true;
                    break;
                }
            }
        }
        reply.elapsed = started.elapsed();
        reply
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

/// Whether an address is on the public internet: not private, loopback,
/// link-local, unspecified, shared (CGNAT), broadcast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
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
                    "refused: {host} resolves only to private, loopback or link-local addresses (pass --allow-private to allow it)"
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

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
