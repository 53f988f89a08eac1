//! Censorship techniques as data, and how each becomes real machinery in the censor namespace.
//!
//! | technique | machinery |
//! |---|---|
//! | `dns_answer`, `dns_nxdomain`, `dns_drop` | the ISP resolver's table (it is the client's system resolver) |
//! | `tcp_reset` | nftables `reject with tcp reset` on everything to the address |
//! | `syn_drop` | nftables: drop SYNs to the address |
//! | `sni_reset`, `sni_drop` | iptables `-m string` (nftables `xt match string`) on packets to :443 carrying the name → `REJECT --reject-with tcp-reset` or `DROP` |
//! | `http_blockpage` | nftables `redirect` of :80 for the host's addresses to the transparent proxy, which reads `Host` and relays blocked requests to the blockpage server |
//! | `tls_intercept` | nftables `dnat` of :443 for the address to an interception server presenting a rogue-CA certificate for the name |
//!
//! | `drop_all`, `drop_except`, `drop_range`, `http_redirect` | nftables in a table of their own, and a redirector in the censor namespace: see [`super::outage`] |
//! | `sni_throttle`, `ip_throttle`, `random_loss`, `stall_after` | tc HTB classes, connection marks, nftables `numgen`, iptables `connbytes`: see [`super::shaping`] |
//!
//! Blocking the test helper is `tcp_reset` (or `syn_drop`) on the helper's address.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::scenario::Scenario;
use super::servers::{DnsAnswer, ProxyConfig};
use super::topology::{self, CENSOR_CLIENT_IF, PROXY_PORT};

/// One censorship rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "technique", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// The ISP resolver answers `name` with these addresses (e.g. the blockpage's).
    DnsAnswer {
        /// The name.
        name: String,
        /// The lying answer.
        answer: Vec<Ipv4Addr>,
    },
    /// The ISP resolver answers NXDOMAIN for `name`.
    DnsNxdomain {
        /// The name.
        name: String,
    },
    /// The ISP resolver never answers queries for `name`.
    DnsDrop {
        /// The name.
        name: String,
    },
    /// TCP to `ip` is answered with a RST (a connect is refused).
    TcpReset {
        /// The address.
        ip: Ipv4Addr,
    },
    /// SYNs to `ip` are dropped (a connect times out).
    SynDrop {
        /// The address.
        ip: Ipv4Addr,
    },
    /// A packet to :443 carrying `sni` (a TLS ClientHello) is answered with a RST.
    SniReset {
        /// The server name.
        sni: String,
    },
    /// A packet to :443 carrying `sni` is dropped (the handshake times out).
    SniDrop {
        /// The server name.
        sni: String,
    },
    /// Cleartext HTTP requests with `Host: host` get the blockpage.
    HttpBlockpage {
        /// The host name.
        host: String,
    },
    /// HTTPS to `ip` is redirected to the interception server `interceptor`.
    TlsIntercept {
        /// The site's address.
        ip: Ipv4Addr,
        /// The interceptor's name.
        interceptor: String,
    },
    /// Connections whose ClientHello carries `name` are capped at `rate_kbps` (download).
    SniThrottle {
        /// The server name.
        name: String,
        /// The cap, kbit/s.
        rate_kbps: u32,
    },
    /// Everything from `ip` to the client is capped at `rate_kbps`.
    IpThrottle {
        /// The server's address.
        ip: Ipv4Addr,
        /// The cap, kbit/s.
        rate_kbps: u32,
    },
    /// This share of forwarded packets, both directions, is dropped at random.
    RandomLoss {
        /// Percent, 1 to 50.
        percent: u8,
    },
    /// Connections whose ClientHello carries `name` freeze after the server sent `bytes`.
    StallAfter {
        /// The server name.
        name: String,
        /// Bytes (IP headers included) before the freeze.
        bytes: u64,
    },
    /// Everything from the client is dropped, the censor's own services included; only the
    /// link to the gateway stays up (a shutdown). See [`super::outage`].
    DropAll,
    /// Everything from the client through the censor is dropped except to these addresses
    /// (a whitelist).
    DropExcept {
        /// The addresses still reachable.
        ips: Vec<Ipv4Addr>,
    },
    /// Everything from the client to this range is dropped (e.g. every foreign address).
    DropRange {
        /// The range, `IP/LEN`, inside the lab.
        cidr: String,
    },
    /// Cleartext HTTP to `ip` is answered by the censor with a redirect to `location` (a
    /// captive portal or an injected redirect).
    HttpRedirect {
        /// The address whose port 80 is redirected.
        ip: Ipv4Addr,
        /// Where the redirect points.
        location: String,
    },
}

impl Rule {
    /// Checks the rule against the scenario.
    pub fn check(&self, scenario: &Scenario) -> Result<(), String> {
        let known_ip =
            |ip: &Ipv4Addr| scenario.internet_addresses().contains(ip) || topology::in_lab(*ip);
        match self {
            Rule::DnsAnswer { name, answer } => {
                if let Some(ip) = answer.iter().find(|ip| !topology::in_lab(**ip)) {
                    return Err(format!("dns_answer for {name}: {ip} is outside the lab"));
                }
            }
            Rule::TcpReset { ip } | Rule::SynDrop { ip } => {
                if !known_ip(ip) {
                    return Err(format!("{self:?}: {ip} is outside the lab"));
                }
            }
            Rule::SniReset { sni } | Rule::SniDrop { sni } => {
                if sni.is_empty() || sni.contains(['"', '\'', '\\', ' ']) {
                    return Err(format!("bad SNI {sni:?}"));
                }
            }
            Rule::HttpBlockpage { host } => {
                if scenario.blockpage.is_none() {
                    return Err(format!("http_blockpage for {host} needs a blockpage"));
                }
                if !scenario
                    .honest_names()
                    .contains_key(&host.to_ascii_lowercase())
                {
                    return Err(format!("http_blockpage: {host} is not a site"));
                }
            }
            Rule::TlsIntercept { ip, interceptor } => {
                if scenario.interceptor(interceptor).is_none() {
                    return Err(format!("tls_intercept: no interceptor {interceptor:?}"));
                }
                if !scenario.sites.iter().any(|s| s.ip == *ip) {
                    return Err(format!("tls_intercept: {ip} is not a site's address"));
                }
            }
            Rule::DnsNxdomain { .. } | Rule::DnsDrop { .. } => {}
            Rule::SniThrottle { .. }
            | Rule::IpThrottle { .. }
            | Rule::RandomLoss { .. }
            | Rule::StallAfter { .. } => super::shaping::check_rule(self, scenario)?,
            Rule::DropAll
            | Rule::DropExcept { .. }
            | Rule::DropRange { .. }
            | Rule::HttpRedirect { .. } => super::outage::check_rule(self, scenario)?,
        }
        Ok(())
    }
}

/// The censor's configuration, compiled from a scenario's rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CensorPlan {
    /// The ISP resolver's table (honest answers with the lies on top).
    pub isp_names: BTreeMap<String, DnsAnswer>,
    /// The nftables script (`nft -f`).
    pub nft: String,
    /// iptables invocations (arguments after `iptables`), for string matching.
    pub iptables: Vec<Vec<String>>,
    /// The transparent HTTP proxy, if any `http_blockpage` rule needs it.
    pub proxy: Option<ProxyConfig>,
    /// Interceptor name → the site names whose HTTPS is redirected to it.
    pub intercepted_names: BTreeMap<String, BTreeSet<String>>,
    /// tc invocations (arguments after `tc`): the link and the throttling classes.
    pub tc: Vec<Vec<String>>,
}

/// The nftables table the lab installs in the censor namespace.
pub const NFT_TABLE: &str = "kuzet_lab";

/// Compiles the scenario's rules (assumed checked).
pub fn plan(scenario: &Scenario) -> CensorPlan {
    let honest = scenario.honest_names();
    let mut plan = CensorPlan {
        isp_names: honest
            .iter()
            .map(|(name, ip)| (name.clone(), DnsAnswer::Addresses(vec![*ip])))
            .collect(),
        ..CensorPlan::default()
    };
    let mut nat = Vec::new();
    let mut filter = Vec::new();
    let mut blocked_hosts = BTreeSet::new();
    let mut proxied_ips = BTreeSet::new();
    let client_if = format!("iifname \"{CENSOR_CLIENT_IF}\"");
    for rule in &scenario.censor {
        match rule {
            Rule::DnsAnswer { name, answer } => {
                plan.isp_names.insert(
                    name.to_ascii_lowercase(),
                    DnsAnswer::Addresses(answer.clone()),
                );
            }
            Rule::DnsNxdomain { name } => {
                plan.isp_names
                    .insert(name.to_ascii_lowercase(), DnsAnswer::Nxdomain);
            }
            Rule::DnsDrop { name } => {
                plan.isp_names
                    .insert(name.to_ascii_lowercase(), DnsAnswer::Drop);
            }
            Rule::TcpReset { ip } => filter.push(format!(
                "{client_if} ip daddr {ip} meta l4proto tcp reject with tcp reset"
            )),
            Rule::SynDrop { ip } => filter.push(format!(
                "{client_if} ip daddr {ip} tcp flags & (syn | ack) == syn drop"
            )),
            Rule::SniReset { sni } => plan
                .iptables
                .push(string_match(sni, &["REJECT", "--reject-with", "tcp-reset"])),
            Rule::SniDrop { sni } => plan.iptables.push(string_match(sni, &["DROP"])),
            Rule::HttpBlockpage { host } => {
                let host = host.to_ascii_lowercase();
                if let Some(ip) = honest.get(&host) {
                    proxied_ips.insert(*ip);
                }
                blocked_hosts.insert(host);
            }
            Rule::TlsIntercept { ip, interceptor } => {
                if let Some(target) = scenario.interceptor(interceptor) {
                    nat.push(format!(
                        "{client_if} ip daddr {ip} tcp dport 443 dnat to {}:443",
                        target.ip
                    ));
                    let names = plan
                        .intercepted_names
                        .entry(interceptor.clone())
                        .or_default();
                    for site in scenario.sites.iter().filter(|s| s.ip == *ip) {
                        names.extend(site.names().map(str::to_ascii_lowercase));
                    }
                }
            }
            // Compiled by `shaping::extend_plan` below.
            Rule::SniThrottle { .. }
            | Rule::IpThrottle { .. }
            | Rule::RandomLoss { .. }
            | Rule::StallAfter { .. } => {}
            // Compiled into their own table by `outage::nft_table` below.
            Rule::DropAll
            | Rule::DropExcept { .. }
            | Rule::DropRange { .. }
            | Rule::HttpRedirect { .. } => {}
        }
    }
    if let (false, Some(blockpage)) = (blocked_hosts.is_empty(), &scenario.blockpage) {
        let ips: Vec<String> = proxied_ips.iter().map(Ipv4Addr::to_string).collect();
        nat.push(format!(
            "{client_if} ip daddr {{ {} }} tcp dport 80 redirect to :{PROXY_PORT}",
            ips.join(", ")
        ));
        plan.proxy = Some(ProxyConfig {
            listen: SocketAddr::from((topology::CENSOR_CLIENT_SIDE, PROXY_PORT)),
            blocked_hosts: blocked_hosts.into_iter().collect(),
            blockpage: SocketAddr::from((blockpage.ip, 80)),
        });
    }
    // Belt and braces: nothing outside the lab's range is ever forwarded.
    filter.push(format!(
        "ip daddr != {} reject with icmp type net-unreachable",
        topology::LAB_NET
    ));
    plan.nft = nft_script(&nat, &filter);
    plan.nft.push_str(&super::outage::nft_table(
        super::outage::STATIC_TABLE,
        &scenario.censor,
        scenario,
    ));
    super::shaping::extend_plan(scenario, &mut plan);
    plan
}

fn nft_script(nat: &[String], filter: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "table ip {NFT_TABLE} {{");
    let _ = writeln!(s, "    chain prerouting {{");
    let _ = writeln!(
        s,
        "        type nat hook prerouting priority dstnat; policy accept;"
    );
    for rule in nat {
        let _ = writeln!(s, "        {rule}");
    }
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "    chain forward {{");
    let _ = writeln!(
        s,
        "        type filter hook forward priority filter; policy accept;"
    );
    for rule in filter {
        let _ = writeln!(s, "        {rule}");
    }
    let _ = writeln!(s, "    }}");
    let _ = writeln!(s, "}}");
    s
}

/// `iptables` arguments: packets from the client to :443 that carry `needle` → `target`.
fn string_match(needle: &str, target: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "-w",
        "-A",
        "FORWARD",
        "-i",
        CENSOR_CLIENT_IF,
        "-p",
        "tcp",
        "--dport",
        "443",
        "-m",
        "string",
        "--algo",
        "bm",
        "--icase",
        "--string",
        needle,
        "-j",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(target.iter().map(|s| s.to_string()));
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_scenario_compiles_to_every_kind_of_machinery() {
        let scenario = Scenario::load("web").unwrap();
        let plan = plan(&scenario);
        assert!(plan.nft.contains("reject with tcp reset"), "{}", plan.nft);
        assert!(plan.nft.contains("tcp flags & (syn | ack) == syn drop"));
        assert!(plan.nft.contains("dnat to"));
        assert!(plan.nft.contains(&format!("redirect to :{PROXY_PORT}")));
        assert!(plan
            .iptables
            .iter()
            .any(|a| a.contains(&"DROP".to_string())));
        assert!(plan
            .iptables
            .iter()
            .any(|a| a.contains(&"tcp-reset".to_string())));
        assert!(plan.proxy.is_some());
        assert!(plan.isp_names.values().any(|a| *a == DnsAnswer::Drop));
        assert!(plan.isp_names.values().any(|a| *a == DnsAnswer::Nxdomain));
        assert!(!plan.intercepted_names.is_empty());
    }
}
