//! Reading a measurement back: [`Observations::from_test_keys`] rebuilds the analysis' input
//! from the `test_keys` of a web_connectivity measurement (Kuzet's or another engine's, v0.3
//! to v0.5), so the same rules re-analyse OONI's measurements.

use std::net::IpAddr;

use url::Url;

use super::{depth, DnsOutcome, Observations};
use crate::failure::Failure;
use crate::probe::fetch::Operation;
use crate::report::observations::{HttpTransaction, TcpConnect, TlsHandshake};
use crate::th::ThResponse;

impl Observations {
    /// Reads the observations back from a web_connectivity measurement's `test_keys` (Kuzet's
    /// or another engine's, v0.3 to v0.5), to analyse it again.
    ///
    /// When any entry carries the `classic` tag (v0.5, and Kuzet), only `classic` entries are
    /// kept: the system resolver's lookup and the flows from its addresses. Otherwise every
    /// entry is (v0.3 and v0.4 have only those). Entries that do not parse are skipped; the
    /// step that failed comes from `x_failed_operation` when present, else it is inferred from
    /// which observation carries `http_experiment_failure`.
    pub fn from_test_keys(url: &Url, keys: &serde_json::Value) -> Self {
        use serde_json::Value;
        let list = |key: &str| -> Vec<Value> {
            keys.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let has_classic = |entry: &Value| {
            entry
                .get("tags")
                .and_then(Value::as_array)
                .is_some_and(|tags| tags.iter().any(|tag| tag == "classic"))
        };
        let lists = [
            list("queries"),
            list("tcp_connect"),
            list("tls_handshakes"),
            list("requests"),
        ];
        let classic_only = lists.iter().flatten().any(has_classic);
        let keep = |entries: Vec<Value>| -> Vec<Value> {
            entries
                .into_iter()
                .filter(|entry| !classic_only || has_classic(entry))
                .collect()
        };
        fn parse<T: serde::de::DeserializeOwned>(entries: Vec<Value>) -> Vec<T> {
            entries
                .into_iter()
                .filter_map(|entry| serde_json::from_value(entry).ok())
                .collect()
        }
        let [queries, tcp_connect, tls_handshakes, requests] = lists;
        let queries: Vec<crate::report::observations::DnsQuery> = parse(keep(queries));
        let tcp_connect: Vec<TcpConnect> = parse(keep(tcp_connect));
        let tls_handshakes: Vec<TlsHandshake> = parse(keep(tls_handshakes));
        let requests: Vec<HttpTransaction> = parse(keep(requests));
        let failure_at = |key: &str| -> Option<Failure> {
            keys.get(key).and_then(Value::as_str).map(Failure::parse)
        };

        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let lookup = |queries: &[crate::report::observations::DnsQuery]| -> Option<DnsOutcome> {
            let relevant: Vec<_> = queries
                .iter()
                .filter(|q| depth(&q.tags) == 0 && q.hostname.trim_end_matches('.') == host)
                .collect();
            if relevant.is_empty() {
                return None;
            }
            let mut addresses = Vec::new();
            for query in &relevant {
                for ip in query.answers.iter().filter_map(|answer| answer.ip()) {
                    if !addresses.contains(&ip) {
                        addresses.push(ip);
                    }
                }
            }
            let failure = addresses.is_empty().then(|| {
                relevant
                    .iter()
                    .find_map(|q| q.failure.clone())
                    .unwrap_or(Failure::DnsNoAnswer)
            });
            Some(DnsOutcome { addresses, failure })
        };
        let system_queries: Vec<_> = queries
            .iter()
            .filter(|q| classic_only || matches!(q.engine.as_str(), "" | "system" | "getaddrinfo"))
            .cloned()
            .collect();
        let system_dns = if host.parse::<IpAddr>().is_ok() {
            None
        } else {
            lookup(&system_queries).or_else(|| {
                failure_at("dns_experiment_failure").map(|failure| DnsOutcome {
                    addresses: Vec::new(),
                    failure: Some(failure),
                })
            })
        };
        let doh_queries: Vec<crate::report::observations::DnsQuery> = keys
            .get("x_doh")
            .and_then(|doh| doh.get("queries"))
            .and_then(Value::as_array)
            .map(|entries| parse(entries.clone()))
            .unwrap_or_default();
        let doh_dns = lookup(&doh_queries);

        let http_experiment_failure = failure_at("http_experiment_failure");
        let http_failed_operation = match keys.get("x_failed_operation").and_then(Value::as_str) {
            Some("resolve") => Some(Operation::Resolve),
            Some("connect") => Some(Operation::Connect),
            Some("tls_handshake") => Some(Operation::TlsHandshake),
            Some("http_round_trip") => Some(Operation::HttpRoundTrip),
            _ => http_experiment_failure.as_ref().and_then(|failure| {
                let last_tls = tls_handshakes
                    .iter()
                    .filter(|h| h.failure.is_some())
                    .max_by(|a, b| a.t.total_cmp(&b.t));
                let last_tcp = tcp_connect
                    .iter()
                    .filter(|c| c.status.failure.is_some())
                    .max_by(|a, b| a.t.total_cmp(&b.t));
                if requests.first().is_some_and(|r| r.failure.is_some()) {
                    Some(Operation::HttpRoundTrip)
                } else if last_tls.is_some_and(|h| h.failure.as_ref() == Some(failure)) {
                    Some(Operation::TlsHandshake)
                } else if last_tcp.is_some_and(|c| c.status.failure.as_ref() == Some(failure)) {
                    Some(Operation::Connect)
                } else if system_dns
                    .as_ref()
                    .is_some_and(|dns| dns.failure.as_ref() == Some(failure))
                {
                    Some(Operation::Resolve)
                } else {
                    None
                }
            }),
        };
        let control = keys
            .get("control")
            .filter(|value| !value.is_null())
            .and_then(|value| serde_json::from_value::<ThResponse>(value.clone()).ok());
        Observations {
            url: url.clone(),
            system_dns,
            doh_dns,
            tcp_connect,
            tls_handshakes,
            requests,
            http_experiment_failure,
            http_failed_operation,
            control,
            control_failure: failure_at("control_failure"),
        }
    }
}
