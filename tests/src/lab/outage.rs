//! Outages in the lab: shutdowns, international cuts, whitelists and captive portals, as
//! censor rules, and named rule sets switched on and off while the lab runs (up → cut →
//! restored), for the connectivity scenarios (`tests/lab/scenarios/connectivity.json`).
//!
//! | technique | machinery in the censor namespace |
//! |---|---|
//! | `drop_all` | nftables: everything from the client dropped, forwarded or to the censor itself (resolver, proxy); ARP and ICMP to the gateway still answer, so the link looks up |
//! | `drop_except` | nftables: everything the client sends through the censor dropped unless it goes to one of the listed addresses (the ISP resolver still answers) |
//! | `drop_range` | nftables: everything from the client to the range dropped (e.g. "abroad") |
//! | `http_redirect` | nftables `redirect` of :80 for the address to a redirector in the censor namespace that answers every request with `302 Location: <location>` |
//!
//! A scenario's `outage` section holds the anchors configuration handed to `kuzet run
//! connectivity --anchors` and the named rule sets with the status each must give. Rule sets
//! are installed as their own nftables table ([`RUNTIME_TABLE`]), so applying and clearing one
//! never touches the scenario's static rules; a rule set may also take the client's own link
//! down (`"client": "link_down"`), which is the device's trouble, not the network's.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::censor::Rule;
use super::process::{self, LabError};
use super::scenario::Scenario;
use super::topology::{self, CENSOR_CLIENT_IF, EDGE_IF};
use super::Lab;

/// The nftables table of a scenario's static outage rules.
pub const STATIC_TABLE: &str = "kuzet_outage_static";
/// The nftables table of the rule set applied at runtime.
pub const RUNTIME_TABLE: &str = "kuzet_outage";
/// The first port of the redirectors (on the censor's client-side address).
pub const REDIRECT_BASE_PORT: u16 = 8180;

/// A scenario's outage section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutagePlan {
    /// The connectivity configuration (anchors, captive check, timeouts, re-checks) the client
    /// uses, as `kuzet run connectivity --anchors` reads it.
    pub anchors: serde_json::Value,
    /// The named rule sets.
    #[serde(default)]
    pub rule_sets: Vec<RuleSet>,
}

/// Rules switched on together, and the status the client must then see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// How tests refer to it.
    pub name: String,
    /// What it shows (for people).
    #[serde(default)]
    pub description: String,
    /// The censor's rules (any technique).
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Something done to the client itself.
    #[serde(default)]
    pub client: Option<ClientAction>,
    /// The connectivity status the client must report (`ok`, `data_blackout`...).
    pub expect: String,
}

/// Something done to the client's own network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAction {
    /// The client's interface goes down (and with it its routes).
    LinkDown,
}

/// One redirector: connections to `ip`:80 are answered with a redirect to `location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// Where it listens (the censor's client-side address).
    pub listen: SocketAddr,
    /// The `Location` it sends.
    pub location: String,
}

/// True for the techniques this module compiles.
pub fn is_outage_rule(rule: &Rule) -> bool {
    matches!(
        rule,
        Rule::DropAll
            | Rule::DropExcept { .. }
            | Rule::DropRange { .. }
            | Rule::HttpRedirect { .. }
    )
}

/// Checks an outage rule against the scenario.
pub fn check_rule(rule: &Rule, scenario: &Scenario) -> Result<(), String> {
    match rule {
        Rule::DropExcept { ips } => {
            if ips.is_empty() {
                return Err("drop_except needs at least one address".to_string());
            }
            if let Some(ip) = ips.iter().find(|ip| !topology::in_lab(**ip)) {
                return Err(format!("drop_except: {ip} is outside the lab"));
            }
        }
        Rule::DropRange { cidr } => {
            let (ip, len) = parse_cidr(cidr)?;
            if !topology::in_lab(ip) || len < 16 {
                return Err(format!("drop_range: {cidr} is not inside 10.77.0.0/16"));
            }
        }
        Rule::HttpRedirect { ip, location } => {
            if !scenario.internet_addresses().contains(ip) {
                return Err(format!("http_redirect: {ip} is not a lab service address"));
            }
            if !location.starts_with("http://") && !location.starts_with("https://") {
                return Err(format!("http_redirect: {location:?} is not an http(s) URL"));
            }
            if location.contains(['\r', '\n']) {
                return Err("http_redirect: the location has a line break".to_string());
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks a scenario's outage section: rule sets with unique names and valid rules, known
/// expected statuses, and an anchors configuration Kuzet accepts.
pub fn check_plan(plan: &OutagePlan, scenario: &Scenario) -> Result<(), String> {
    let text = plan.anchors.to_string();
    kuzet_core::experiment::connectivity::ConnectivityConfig::from_json(&text)
        .map_err(|e| format!("outage anchors: {e}"))?;
    let mut names = std::collections::BTreeSet::new();
    for set in &plan.rule_sets {
        if !names.insert(set.name.as_str()) {
            return Err(format!("rule set {} appears twice", set.name));
        }
        if kuzet_core::experiment::connectivity::ConnectivityStatus::parse(&set.expect).is_none() {
            return Err(format!(
                "rule set {}: {:?} is not a status",
                set.name, set.expect
            ));
        }
        for rule in &set.rules {
            rule.check(scenario)
                .map_err(|e| format!("rule set {}: {e}", set.name))?;
        }
    }
    Ok(())
}

/// Every redirector the scenario may need (static rules and every rule set), one port each.
pub fn redirectors(scenario: &Scenario) -> Vec<(Ipv4Addr, RedirectConfig)> {
    let mut all: Vec<(Ipv4Addr, RedirectConfig)> = Vec::new();
    let sets = scenario
        .outage
        .iter()
        .flat_map(|plan| plan.rule_sets.iter().flat_map(|set| set.rules.iter()));
    for rule in scenario.censor.iter().chain(sets) {
        if let Rule::HttpRedirect { ip, location } = rule {
            if all.iter().any(|(i, r)| i == ip && r.location == *location) {
                continue;
            }
            let port = REDIRECT_BASE_PORT + all.len() as u16;
            all.push((
                *ip,
                RedirectConfig {
                    listen: SocketAddr::from((topology::CENSOR_CLIENT_SIDE, port)),
                    location: location.clone(),
                },
            ));
        }
    }
    all
}

/// The redirectors for the censor's node config.
pub fn redirect_configs(scenario: &Scenario) -> Vec<RedirectConfig> {
    redirectors(scenario).into_iter().map(|(_, r)| r).collect()
}

/// An nftables script creating `table` with the outage rules among `rules` (nothing to do
/// when there are none: an empty string).
pub fn nft_table(table: &str, rules: &[Rule], scenario: &Scenario) -> String {
    let client_if = format!("iifname \"{CENSOR_CLIENT_IF}\"");
    let redirects = redirectors(scenario);
    let (mut nat, mut forward, mut input) = (Vec::new(), Vec::new(), Vec::new());
    for rule in rules {
        match rule {
            Rule::DropAll => {
                forward.push(format!("{client_if} drop"));
                input.push(format!("{client_if} meta l4proto {{ tcp, udp }} drop"));
            }
            Rule::DropExcept { ips } => {
                let list: Vec<String> = ips.iter().map(Ipv4Addr::to_string).collect();
                forward.push(format!(
                    "{client_if} ip daddr != {{ {} }} drop",
                    list.join(", ")
                ));
            }
            Rule::DropRange { cidr } => forward.push(format!("{client_if} ip daddr {cidr} drop")),
            Rule::HttpRedirect { ip, location } => {
                if let Some((_, redirect)) = redirects
                    .iter()
                    .find(|(i, r)| i == ip && r.location == *location)
                {
                    nat.push(format!(
                        "{client_if} ip daddr {ip} tcp dport 80 redirect to :{}",
                        redirect.listen.port()
                    ));
                }
            }
            _ => {}
        }
    }
    if nat.is_empty() && forward.is_empty() && input.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    let _ = writeln!(s, "table ip {table} {{");
    for (chain, hook, priority, rules) in [
        (
            "prerouting",
            "type nat hook prerouting",
            "dstnat - 10",
            &nat,
        ),
        (
            "forward",
            "type filter hook forward",
            "filter - 10",
            &forward,
        ),
        ("input", "type filter hook input", "filter - 10", &input),
    ] {
        let _ = writeln!(s, "    chain {chain} {{");
        let _ = writeln!(s, "        {hook} priority {priority}; policy accept;");
        for rule in rules {
            let _ = writeln!(s, "        {rule}");
        }
        let _ = writeln!(s, "    }}");
    }
    let _ = writeln!(s, "}}");
    s
}

fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, len) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not IP/LEN"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| format!("{text:?}: bad address"))?;
    let len: u8 = len.parse().map_err(|_| format!("{text:?}: bad length"))?;
    if len > 32 {
        return Err(format!("{text:?}: length above 32"));
    }
    Ok((ip, len))
}

/// Starts the redirectors of a node (in the censor namespace).
pub async fn start_redirects(
    configs: &[RedirectConfig],
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    for config in configs {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("bind the redirector on {}: {e}", config.listen))?;
        let response = format!(
            "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            config.location
        )
        .into_bytes();
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let response = response.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 2048];
                    let read_head = async {
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => head.extend_from_slice(&chunk[..n]),
                            }
                        }
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(5), read_head).await;
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        }));
    }
    Ok(tasks)
}

/// The most anchors [`site_anchors`] picks.
const MAX_SITE_ANCHORS: usize = 4;

/// A connectivity configuration for a scenario without an outage section (web, throttling):
/// TCP-connect anchors on the scenario's sites that no censor rule aims at (by name or by
/// address), the first half domestic and the rest international (one site serves both), so
/// that the check every `kuzet run` makes first finds the network up and conditions nothing.
/// `None` when every site is censored or serves nothing.
pub fn site_anchors(scenario: &Scenario) -> Option<serde_json::Value> {
    let aimed_at = |site: &super::scenario::Site, rule: &Rule| match rule {
        Rule::DnsAnswer { name, .. }
        | Rule::DnsNxdomain { name }
        | Rule::DnsDrop { name }
        | Rule::SniThrottle { name, .. }
        | Rule::StallAfter { name, .. }
        | Rule::SniReset { sni: name }
        | Rule::SniDrop { sni: name }
        | Rule::HttpBlockpage { host: name } => site.names().any(|n| n.eq_ignore_ascii_case(name)),
        Rule::TcpReset { ip }
        | Rule::SynDrop { ip }
        | Rule::TlsIntercept { ip, .. }
        | Rule::IpThrottle { ip, .. }
        | Rule::HttpRedirect { ip, .. } => site.ip == *ip,
        // Network-wide (loss) or switched at runtime (outages): aimed at no site.
        Rule::RandomLoss { .. }
        | Rule::DropAll
        | Rule::DropExcept { .. }
        | Rule::DropRange { .. } => false,
    };
    let open: Vec<&super::scenario::Site> = scenario
        .sites
        .iter()
        .filter(|site| site.http || site.https)
        .filter(|site| !scenario.censor.iter().any(|rule| aimed_at(site, rule)))
        .take(MAX_SITE_ANCHORS)
        .collect();
    let anchor = |site: &super::scenario::Site, group: &str| {
        serde_json::json!({
            "name": site.name,
            "group": group,
            "operator": format!("{} (lab)", site.title()),
            "pinned_ips": [site.ip.to_string()],
            "port": if site.https { 443 } else { 80 },
            "probe": "tcp_connect",
        })
    };
    let half = open.len().div_ceil(2);
    let mut anchors: Vec<serde_json::Value> = open[..half]
        .iter()
        .map(|site| anchor(site, "domestic"))
        .collect();
    let international = if open.len() > 1 {
        &open[half..]
    } else {
        &open[..]
    };
    anchors.extend(
        international
            .iter()
            .map(|site| anchor(site, "international")),
    );
    if anchors.is_empty() {
        return None;
    }
    Some(serde_json::json!({
        "anchors": anchors,
        "timeouts": { "dns": 2000, "probe": 3000 },
        "rechecks": { "count": 1, "delay": 200 },
        "resolver": "system",
    }))
}

/// How long a collector may take to start listening.
const COLLECTOR_START: Duration = Duration::from_secs(30);

impl Lab {
    /// The scenario's outage section.
    pub fn outage(&self) -> Option<&OutagePlan> {
        self.scenario.outage.as_ref()
    }

    /// The rule set called `name`.
    pub fn rule_set(&self, name: &str) -> Option<&RuleSet> {
        self.outage()?.rule_sets.iter().find(|s| s.name == name)
    }

    /// Writes the connectivity configuration the client uses into the lab's directory and
    /// returns its path (for `--anchors` of `kuzet run` and `kuzet watch`): the outage
    /// section's anchors, else [`site_anchors`].
    pub fn anchors_file(&self) -> Result<PathBuf, LabError> {
        let anchors = match self.outage() {
            Some(plan) => plan.anchors.clone(),
            None => site_anchors(&self.scenario)
                .ok_or_else(|| LabError::new("the scenario has no site for anchors"))?,
        };
        let path = self.dir.path().join("anchors.json");
        let text = serde_json::to_string_pretty(&anchors)
            .map_err(|e| LabError::new(format!("anchors: {e}")))?;
        std::fs::write(&path, text)
            .map_err(|e| LabError::new(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }

    /// Switches the rule set `name` on, replacing any rule set switched on before.
    pub fn apply_rule_set(&self, name: &str) -> Result<(), LabError> {
        let set = self
            .rule_set(name)
            .ok_or_else(|| LabError::new(format!("no rule set called {name:?}")))?
            .clone();
        self.clear_rule_set()?;
        let script = nft_table(RUNTIME_TABLE, &set.rules, &self.scenario);
        if !script.is_empty() {
            process::run_with_stdin(
                "ip",
                &["netns", "exec", &self.namespaces.censor, "nft", "-f", "-"],
                Some(&script),
            )?;
        }
        if set.client == Some(ClientAction::LinkDown) {
            self.set_client_link(false)?;
        }
        Ok(())
    }

    /// Switches the runtime rule set off (and brings the client's link back): the network as
    /// the scenario's static rules make it. Doing it twice is harmless.
    pub fn clear_rule_set(&self) -> Result<(), LabError> {
        let censor = self.namespaces.censor.as_str();
        let tables = process::run("ip", &["netns", "exec", censor, "nft", "list", "tables"])?;
        if tables.contains(RUNTIME_TABLE) {
            process::run(
                "ip",
                &[
                    "netns",
                    "exec",
                    censor,
                    "nft",
                    "delete",
                    "table",
                    "ip",
                    RUNTIME_TABLE,
                ],
            )?;
        }
        self.set_client_link(true)
    }

    /// Takes the client's interface down (its routes go with it), or brings it back up with
    /// its default route.
    pub fn set_client_link(&self, up: bool) -> Result<(), LabError> {
        let client = self.namespaces.client.as_str();
        let state = if up { "up" } else { "down" };
        process::run("ip", &["-n", client, "link", "set", EDGE_IF, state])?;
        if up {
            // The route can be added once the link carries traffic again.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let link = process::run("ip", &["-n", client, "-o", "link", "show", EDGE_IF])?;
                if link.contains("state UP") {
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    return Err(LabError::new(format!(
                        "the client's link stays down: {link}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let gateway = topology::CENSOR_CLIENT_SIDE.to_string();
            process::run(
                "ip",
                &["-n", client, "route", "replace", "default", "via", &gateway],
            )?;
        }
        Ok(())
    }

    /// Starts `kuzet-server --collector` in the internet namespace on `listen` (an address
    /// the scenario gives the internet namespace), storing into `data_dir`; stopped with the
    /// lab. Returns its URL.
    pub fn start_collector(
        &mut self,
        server_bin: &Path,
        listen: SocketAddr,
        data_dir: &Path,
    ) -> Result<String, LabError> {
        let mut command = self.command_in(&self.namespaces.internet, server_bin);
        command
            .args(["--listen", &listen.to_string(), "--collector", "--data-dir"])
            .arg(data_dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = process::spawn_bound(command)
            .map_err(|e| LabError::new(format!("cannot start {}: {e}", server_bin.display())))?;
        let stderr = child.stderr.take();
        self.children.push(("collector".to_string(), child));
        let (ready, wait) = mpsc::channel();
        let log = self.dir.path().join("collector.log");
        std::thread::spawn(move || {
            let mut log = std::fs::File::create(log).ok();
            let mut sent = false;
            for line in stderr
                .into_iter()
                .flat_map(|s| BufReader::new(s).lines().map_while(Result::ok))
            {
                if !sent && line.starts_with("kuzet-server: listening on ") {
                    sent = ready.send(()).is_ok();
                }
                if let Some(log) = log.as_mut() {
                    let _ = std::io::Write::write_all(log, format!("{line}\n").as_bytes());
                }
            }
        });
        match wait.recv_timeout(COLLECTOR_START) {
            Ok(()) => Ok(format!("http://{listen}/")),
            Err(_) => Err(LabError::new(format!(
                "the collector did not start on {listen}\n{}",
                self.logs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connectivity_scenario_compiles_every_outage_technique() {
        let scenario = Scenario::load("connectivity").unwrap();
        let plan = scenario.outage.as_ref().expect("an outage section");
        let set = |name: &str| {
            plan.rule_sets
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("no rule set {name}"))
        };
        let blackout = nft_table(RUNTIME_TABLE, &set("blackout").rules, &scenario);
        assert!(blackout.contains("iifname \"client0\" drop"), "{blackout}");
        assert!(blackout.contains("chain input"), "{blackout}");
        let cut = nft_table(RUNTIME_TABLE, &set("international_cut").rules, &scenario);
        assert!(cut.contains("ip daddr 10.77.6.0/24 drop"), "{cut}");
        let whitelist = nft_table(RUNTIME_TABLE, &set("whitelist").rules, &scenario);
        assert!(whitelist.contains("ip daddr != {"), "{whitelist}");
        let captive = nft_table(RUNTIME_TABLE, &set("captive").rules, &scenario);
        assert!(
            captive.contains(&format!("redirect to :{REDIRECT_BASE_PORT}")),
            "{captive}"
        );
        assert_eq!(redirect_configs(&scenario).len(), 1);
        assert!(nft_table(RUNTIME_TABLE, &[], &scenario).is_empty());
        assert_eq!(set("local_link").client, Some(ClientAction::LinkDown));
    }

    #[test]
    fn outage_rules_stay_in_the_lab() {
        let scenario = Scenario::load("connectivity").unwrap();
        for (rule, needle) in [
            (
                Rule::DropRange {
                    cidr: "8.8.8.0/24".to_string(),
                },
                "not inside",
            ),
            (
                Rule::DropExcept {
                    ips: vec![Ipv4Addr::new(1, 1, 1, 1)],
                },
                "outside the lab",
            ),
            (
                Rule::HttpRedirect {
                    ip: Ipv4Addr::new(10, 77, 99, 1),
                    location: "http://x/".to_string(),
                },
                "not a lab service",
            ),
        ] {
            let error = check_rule(&rule, &scenario).unwrap_err();
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn scenarios_without_an_outage_section_get_anchors_on_their_open_sites() {
        let names = |scenario: &str| -> Vec<(String, String)> {
            let scenario = Scenario::load(scenario).unwrap();
            let anchors = site_anchors(&scenario).expect("anchors");
            kuzet_core::experiment::connectivity::ConnectivityConfig::from_json(
                &anchors.to_string(),
            )
            .expect("a configuration Kuzet accepts");
            anchors["anchors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["name"].as_str().unwrap().to_string(),
                        a["group"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        let pair = |name: &str, group: &str| (name.to_string(), group.to_string());
        // Every other site of the web scenario is censored or down.
        assert_eq!(
            names("web"),
            [
                pair("open.kuzet.test", "domestic"),
                pair("open.kuzet.test", "international")
            ]
        );
        // news-by-ip is throttled by address.
        assert_eq!(
            names("throttling"),
            [
                pair("cdn-baseline.kuzet.test", "domestic"),
                pair("open-site.kuzet.test", "international")
            ]
        );
        assert_eq!(names("throttling-loss"), names("throttling"));
    }
}
