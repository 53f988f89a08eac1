//! Unit tests of the analysis: every verdict, the classic keys, and the rules that keep a down
//! site or an unreachable helper from being called blocked. One module per layer, as the
//! analysis; this one holds the fixtures they share.

mod dns;
mod http;
mod reread;
mod tcp;
mod tls;

use std::net::SocketAddr;

use rcgen::{CertificateParams, DistinguishedName as RcgenDn, DnType, KeyPair};

use super::*;
use crate::experiment::web_connectivity::verdict::{DnsTamper, TcpBlock, TlsBlock};
use crate::report::observations::{
    BinaryData, HttpBody, HttpRequest, HttpResponse, TcpConnectStatus,
};
use crate::th::{
    ThDns, ThHttpRequest, ThIpInfo, ThTcpConnect, ThTlsHandshake, IP_FLAG_VALID_FOR_DOMAIN,
};

const HOST: &str = "site.test";
const GOOD: &str = "93.184.216.34";
const OTHER: &str = "203.0.114.9";
const PAGE: &str =
    "<html><head><title>Kuzet Example Website</title></head><body>hello</body></html>";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn tags(depth: usize) -> Vec<String> {
    vec!["classic".to_string(), format!("depth={depth}")]
}

/// Observations of `url` with the system resolver answering `addrs` and nothing else yet.
fn observations(url: &str, addrs: &[&str]) -> Observations {
    Observations {
        url: Url::parse(url).unwrap(),
        system_dns: Some(DnsOutcome {
            addresses: addrs.iter().map(|a| ip(a)).collect(),
            failure: None,
        }),
        doh_dns: None,
        tcp_connect: Vec::new(),
        tls_handshakes: Vec::new(),
        requests: Vec::new(),
        http_experiment_failure: None,
        http_failed_operation: None,
        control: None,
        control_failure: Some(Failure::Unknown("no test helper configured".into())),
    }
}

fn dns_failed(mut obs: Observations, failure: Failure) -> Observations {
    obs.system_dns = Some(DnsOutcome {
        addresses: Vec::new(),
        failure: Some(failure.clone()),
    });
    obs.http_experiment_failure = Some(failure);
    obs.http_failed_operation = Some(Operation::Resolve);
    obs
}

fn connect(ip: &str, port: u16, failure: Option<Failure>) -> TcpConnect {
    TcpConnect {
        ip: ip.to_string(),
        port,
        status: TcpConnectStatus {
            success: failure.is_none(),
            failure,
            blocked: None,
        },
        tags: tags(0),
        ..TcpConnect::default()
    }
}

fn handshake(
    address: &str,
    sni: &str,
    failure: Option<Failure>,
    chain: &[Vec<u8>],
    depth: usize,
) -> TlsHandshake {
    TlsHandshake {
        network: "tcp".into(),
        address: address.to_string(),
        failure,
        server_name: sni.to_string(),
        peer_certificates: chain.iter().map(|c| BinaryData::from_bytes(c)).collect(),
        tags: tags(depth),
        ..TlsHandshake::default()
    }
}

fn response(url: &str, code: i64, body: &str, headers: &[(&str, &str)]) -> HttpTransaction {
    HttpTransaction {
        failure: None,
        request: HttpRequest {
            method: "GET".into(),
            url: url.to_string(),
            ..HttpRequest::default()
        },
        response: HttpResponse {
            body: HttpBody::Text(body.to_string()),
            code,
            headers_list: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body_is_truncated: false,
        },
        tags: tags(0),
        ..HttpTransaction::default()
    }
}

fn failed_request(url: &str, failure: Failure) -> HttpTransaction {
    HttpTransaction {
        failure: Some(failure),
        request: HttpRequest {
            method: "GET".into(),
            url: url.to_string(),
            ..HttpRequest::default()
        },
        tags: tags(0),
        ..HttpTransaction::default()
    }
}

/// A helper answer that resolved `addrs`, reached them on `port`, handshook when `tls`, and
/// fetched [`PAGE`].
fn control(addrs: &[&str], port: u16, tls: bool) -> ThResponse {
    let mut answer = ThResponse {
        dns: ThDns {
            failure: None,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
        },
        http_request: ThHttpRequest {
            body_length: PAGE.len() as i64,
            discovered_h3_endpoint: String::new(),
            failure: None,
            title: "Kuzet Example Website".into(),
            headers: [
                ("Content-Type", "text/html"),
                ("Date", "now"),
                ("X-Kuzet-Fixture", "1"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
            status_code: 200,
        },
        ..ThResponse::default()
    };
    for addr in addrs {
        let key = SocketAddr::new(ip(addr), port).to_string();
        answer.tcp_connect.insert(
            key.clone(),
            ThTcpConnect {
                status: true,
                failure: None,
            },
        );
        if tls {
            answer.tls_handshake.insert(
                key,
                ThTlsHandshake {
                    server_name: HOST.into(),
                    status: true,
                    failure: None,
                },
            );
        }
        answer.ip_info.insert(
            addr.to_string(),
            ThIpInfo {
                asn: 0,
                flags: crate::th::IP_FLAG_RESOLVED_BY_TH
                    | if tls { IP_FLAG_VALID_FOR_DOMAIN } else { 0 },
            },
        );
    }
    answer
}

fn with_control(mut obs: Observations, answer: ThResponse) -> Observations {
    obs.control = Some(answer);
    obs.control_failure = None;
    obs
}

fn run(obs: &Observations) -> Analysis {
    analyze(obs, &BogonPolicy::default())
}

fn self_signed(dn: &[(DnType, &str)]) -> Vec<u8> {
    let mut params = CertificateParams::default();
    let mut name = RcgenDn::new();
    for (kind, value) in dn {
        name.push(kind.clone(), *value);
    }
    params.distinguished_name = name;
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A self-signed certificate with this DN naming `names` (a forgery when it names the SNI).
fn forged(dn: &[(DnType, &str)], names: &[&str]) -> Vec<u8> {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let mut name = RcgenDn::new();
    for (kind, value) in dn {
        name.push(kind.clone(), *value);
    }
    params.distinguished_name = name;
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A successful cleartext fetch of PAGE from GOOD.
fn cleartext_ok() -> Observations {
    let mut obs = observations("http://site.test/", &[GOOD]);
    obs.tcp_connect = vec![connect(GOOD, 80, None)];
    obs.requests = vec![response(
        "http://site.test/",
        200,
        PAGE,
        &[("Content-Type", "text/html"), ("X-Kuzet-Fixture", "1")],
    )];
    obs
}

/// An https fetch that succeeded.
fn https_ok() -> Observations {
    let mut obs = observations("https://site.test/", &[GOOD]);
    obs.tcp_connect = vec![connect(GOOD, 443, None)];
    obs.tls_handshakes = vec![handshake(&format!("{GOOD}:443"), HOST, None, &[], 0)];
    obs.requests = vec![response("https://site.test/", 200, PAGE, &[])];
    obs
}
