//! What runs inside the lab's namespaces: the `kuzet-lab-node` process reads a [`NodeConfig`]
//! (JSON) and serves it: DNS resolvers with a behaviour table (honest, or the ISP's lying one),
//! HTTP and HTTPS sites, the blockpage server, the interception servers, and the censor's
//! transparent HTTP proxy that answers requests for blocked `Host`s with the blockpage.
//!
//! The harness ([`super::Lab`]) writes one config per namespace; certificates travel in the
//! config as hex-encoded DER, so nodes need no key material of their own.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::dns::{Behaviour, UdpDnsServer, Zone};
use crate::fixtures::pki::TestLeaf;
use crate::fixtures::web::{Route, Routes, WebServer};

/// What one `kuzet-lab-node` process serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// A label for logs (`internet`, `censor`).
    pub role: String,
    /// UDP DNS servers.
    #[serde(default)]
    pub dns: Vec<DnsConfig>,
    /// HTTP and HTTPS servers.
    #[serde(default)]
    pub web: Vec<WebConfig>,
    /// Transparent HTTP proxies (the censor's `Host` filter).
    #[serde(default)]
    pub proxies: Vec<ProxyConfig>,
    /// Redirectors (a captive portal or an injected redirect; see [`super::outage`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<super::outage::RedirectConfig>,
}

/// A UDP DNS server and its table. Names not in the table get NXDOMAIN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Where to listen (port 53 on a lab address).
    pub listen: SocketAddr,
    /// Name (no final dot) → answer.
    pub names: BTreeMap<String, DnsAnswer>,
}

/// How a lab resolver answers one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsAnswer {
    /// NOERROR with these A records (AAAA queries get an empty answer).
    Addresses(Vec<Ipv4Addr>),
    /// NXDOMAIN.
    Nxdomain,
    /// No answer at all: the client times out.
    Drop,
    /// SERVFAIL.
    Servfail,
    /// REFUSED.
    Refused,
}

impl DnsAnswer {
    /// The fixture behaviour that gives this answer.
    pub fn behaviour(&self) -> Behaviour {
        match self {
            DnsAnswer::Addresses(a) => Behaviour::addresses(a, &[]),
            DnsAnswer::Nxdomain => Behaviour::NxDomain,
            DnsAnswer::Drop => Behaviour::Drop,
            DnsAnswer::Servfail => Behaviour::ServFail,
            DnsAnswer::Refused => Behaviour::Refused,
        }
    }
}

/// An HTTP or HTTPS server that answers every path with one HTML page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The page's title (also its `<h1>`).
    pub title: String,
    /// The status code of the page.
    #[serde(default = "ok_status")]
    pub status: u16,
    /// The certificate for HTTPS; cleartext HTTP without one.
    #[serde(default)]
    pub tls: Option<TlsIdentity>,
    /// A site's page, or a censor's blockpage.
    #[serde(default)]
    pub style: PageStyle,
}

/// What kind of server a [`WebConfig`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageStyle {
    /// A site: the fixture web server, a page of a few KiB.
    #[default]
    Site,
    /// A censor's blockpage: over cleartext HTTP a different, minimal server (its own headers,
    /// `Connection: close`, a short page), as real blockpages come from the censor's
    /// equipment, not from the site's server.
    Blockpage,
}

fn ok_status() -> u16 {
    200
}

/// A certificate chain (leaf first) and the leaf's PKCS#8 key, DER in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsIdentity {
    /// The chain, leaf first, each certificate DER in hex.
    pub chain: Vec<String>,
    /// The leaf's private key, PKCS#8 DER in hex.
    pub key: String,
}

impl TlsIdentity {
    /// Encodes a fixture leaf.
    pub fn from_leaf(leaf: &TestLeaf) -> TlsIdentity {
        TlsIdentity {
            chain: leaf.chain.iter().map(|c| hex(c.as_ref())).collect(),
            key: hex(&leaf.key_der),
        }
    }

    /// Decodes back into a fixture leaf.
    pub fn to_leaf(&self) -> Result<TestLeaf, String> {
        let chain = self
            .chain
            .iter()
            .map(|c| unhex(c).map(rustls_pki_types::CertificateDer::from))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TestLeaf {
            chain,
            key_der: unhex(&self.key)?,
        })
    }
}

/// The censor's transparent HTTP proxy: connections to port 80 of some addresses are
/// redirected to it (nftables `redirect`); it reads the request head and, when the `Host` is
/// blocked, relays the connection to the blockpage server instead of the original destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Where to listen (the redirect target).
    pub listen: SocketAddr,
    /// Blocked host names (lowercase, no port).
    pub blocked_hosts: Vec<String>,
    /// The blockpage server's HTTP address.
    pub blockpage: SocketAddr,
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string.
pub fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("odd-length hex".to_string());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("bad hex at {i}"))
        })
        .collect()
}

/// The HTML page a lab site sends: the title, as `<title>` and `<h1>`, and about 4 KiB of
/// articles, so that, like a real site, it is much longer than a blockpage.
pub fn page_body(title: &str) -> String {
    let article = "<article><h2>Today</h2><p>Reporters from several regions describe the \
                   day's events, with interviews, photographs and the full text of official \
                   statements, followed by comments from readers.</p></article>";
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{}<footer>Served by the Kuzet censorship lab.</footer></body>\
         </html>",
        article.repeat(20)
    )
}

/// The censor's blockpage: short, in Russian and English, as Kazakh ISPs' pages are.
pub fn blockpage_body(title: &str) -> String {
    format!(
        "<html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title}</h1><p>Доступ к запрашиваемому ресурсу ограничен.</p></body></html>"
    )
}

/// Everything a node started; dropping it stops the servers.
pub struct RunningNode {
    _dns: Vec<UdpDnsServer>,
    _web: Vec<WebServer>,
    _proxies: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        for proxy in &self._proxies {
            proxy.abort();
        }
    }
}

/// Starts every server of `config` (panics, like the fixtures, when an address cannot be
/// bound). Returns once all of them listen.
pub async fn start(config: &NodeConfig) -> Result<RunningNode, String> {
    let mut dns = Vec::new();
    for server in &config.dns {
        let zone = Zone::new();
        for (name, answer) in &server.names {
            zone.set(name, answer.behaviour());
        }
        dns.push(UdpDnsServer::start_on(server.listen, zone).await);
    }
    let mut web = Vec::new();
    let mut raw = Vec::new();
    for site in &config.web {
        if site.style == PageStyle::Blockpage && site.tls.is_none() {
            let listener = TcpListener::bind(site.listen)
                .await
                .map_err(|e| format!("bind the blockpage on {}: {e}", site.listen))?;
            let response = Arc::new(blockpage_response(site.status, &site.title));
            raw.push(tokio::spawn(run_blockpage(listener, response)));
            continue;
        }
        let body = match site.style {
            PageStyle::Site => page_body(&site.title),
            PageStyle::Blockpage => blockpage_body(&site.title),
        };
        let mut routes = Routes::new().fallback(Route::Page {
            status: site.status,
            body,
        });
        if site.style == PageStyle::Site {
            // A large body, for passive throughput measurements (the throttling scenarios).
            let len = super::shaping::LARGE_BYTES;
            routes = routes.route(super::shaping::LARGE_PATH, Route::Large { len });
        }
        let server = match &site.tls {
            Some(identity) => {
                let leaf = identity
                    .to_leaf()
                    .map_err(|e| format!("certificate for {}: {e}", site.listen))?;
                WebServer::https_on(site.listen, routes, &leaf).await
            }
            None => WebServer::http_on(site.listen, routes).await,
        };
        web.push(server);
    }
    let mut proxies = raw;
    proxies.extend(super::outage::start_redirects(&config.redirects).await?);
    for proxy in &config.proxies {
        let listener = TcpListener::bind(proxy.listen)
            .await
            .map_err(|e| format!("bind the HTTP proxy on {}: {e}", proxy.listen))?;
        proxies.push(tokio::spawn(run_proxy(listener, Arc::new(proxy.clone()))));
    }
    Ok(RunningNode {
        _dns: dns,
        _web: web,
        _proxies: proxies,
    })
}

/// Runs a node until killed: starts `config`, prints `ready` on standard output, then serves.
pub async fn serve_forever(config: NodeConfig) -> Result<(), String> {
    let _node = start(&config).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    drop(out);
    eprintln!(
        "kuzet-lab-node[{}]: {} resolvers, {} web servers, {} proxies",
        config.role,
        config.dns.len(),
        config.web.len(),
        config.proxies.len()
    );
    std::future::pending::<()>().await;
    Ok(())
}

/// Tries to connect to `addr` until it works or `timeout` passes.
pub async fn wait_for_tcp(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let attempt = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr));
        if let Ok(Ok(_)) = attempt.await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The blockpage server's whole response: a fixed, minimal answer whose end is the end of the
/// connection (no `Content-Length`), as a DPI box writes it.
fn blockpage_response(status: u16, title: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} OK\r\nServer: dpi-blockpage\r\n\
         Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n\
         Connection: close\r\n\r\n{}",
        blockpage_body(title)
    )
    .into_bytes()
}

/// Answers every connection with `response` once its request head has arrived, then closes.
async fn run_blockpage(listener: TcpListener, response: Arc<Vec<u8>>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let response = response.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut chunk = [0u8; 4096];
            let read_head = async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
            };
            let _ = tokio::time::timeout(PROXY_TIMEOUT, read_head).await;
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// The largest request head the proxy reads before deciding.
const MAX_HEAD: usize = 16 * 1024;
/// How long the proxy waits for a request head or for the upstream connect.
const PROXY_TIMEOUT: Duration = Duration::from_secs(5);

async fn run_proxy(listener: TcpListener, config: Arc<ProxyConfig>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let config = config.clone();
        tokio::spawn(async move {
            if let Err(e) = proxy_one(stream, &config).await {
                eprintln!("kuzet-lab-node: proxy: {e}");
            }
        });
    }
}

async fn proxy_one(mut client: TcpStream, config: &ProxyConfig) -> Result<(), String> {
    let original = socket2::SockRef::from(&client)
        .original_dst_v4()
        .map_err(|e| format!("no original destination: {e}"))?
        .as_socket()
        .ok_or("original destination is not IPv4")?;
    if original.port() == config.listen.port() {
        // Someone connected to the proxy itself: a loop, not a redirected connection.
        return Err("direct connection to the proxy".to_string());
    }
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = client.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(PROXY_TIMEOUT, read_head)
        .await
        .map_err(|_| "request head timed out".to_string())??;
    let blocked = host_of(&head).is_some_and(|host| config.blocked_hosts.contains(&host));
    let upstream_addr = if blocked { config.blockpage } else { original };
    let mut upstream = tokio::time::timeout(PROXY_TIMEOUT, TcpStream::connect(upstream_addr))
        .await
        .map_err(|_| "upstream connect timed out".to_string())?
        .map_err(|e| format!("upstream connect: {e}"))?;
    upstream
        .write_all(&head)
        .await
        .map_err(|e| format!("upstream write: {e}"))?;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    Ok(())
}

/// The `Host` header of an HTTP/1 request head, lowercase, without a port.
fn host_of(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("host") {
            return None;
        }
        let value = value.trim();
        let host = match value.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => value,
        };
        Some(host.trim_end_matches('.').to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_is_found_without_port_and_case() {
        let head = b"GET / HTTP/1.1\r\nUser-Agent: x\r\nHOST: Blocked.Example:80\r\n\r\n";
        assert_eq!(host_of(head).as_deref(), Some("blocked.example"));
        assert_eq!(host_of(b"GET / HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(
            unhex(&hex(&[0, 1, 0xab, 0xff])).unwrap(),
            vec![0, 1, 0xab, 0xff]
        );
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
    }

    #[test]
    fn node_config_reads_its_json() {
        let text = r#"{"role": "internet",
            "dns": [{"listen": "10.77.3.53:53", "names": {"a.test": {"addresses": ["10.77.4.1"]},
                     "b.test": "nxdomain"}}],
            "web": [{"listen": "10.77.4.1:80", "title": "A"}]}"#;
        let config: NodeConfig = serde_json::from_str(text).unwrap();
        assert_eq!(config.dns[0].names["b.test"], DnsAnswer::Nxdomain);
        assert_eq!(config.web[0].status, 200);
        assert!(config.web[0].tls.is_none());
    }
}
