//! Throttling in the lab: the access link's capacity, SNI- and address-keyed rate caps, random
//! loss and stalls after a few KB, as real kernel machinery in the censor namespace; the
//! throughput servers (`kuzet-server --throughput`) in the internet namespace; and the ground
//! truth of the throttling scenarios (`tests/lab/scenarios/throttling*.json`).
//!
//! | technique | machinery |
//! |---|---|
//! | `link` (scenario field) | an HTB root on the censor's client-facing interface (egress = the download direction) whose default class runs at the link's capacity; segmentation offloads are off on every veth ([`super::topology::wire`]) so shaping is exact |
//! | `sni_throttle` | iptables `-m string` on packets to :443 carrying the name → `CONNMARK`; nftables puts every download packet of a marked connection in an HTB class at the rate (`meta priority set`, as the `fw` classifier is missing on this kernel) |
//! | `ip_throttle` | nftables: download packets from the address → an HTB class at the rate |
//! | `random_loss` | nftables `numgen random` drops that share of forwarded packets, both directions |
//! | `stall_after` | iptables `-m string` → `CONNMARK`; then download packets of marked connections past N bytes (`-m connbytes`, reply direction) are dropped |
//!
//! Throttled classes have a short queue (a policer-like drop tail, as the Twitter throttling in
//! Russia dropped packets) so that a cap shows as a rate, not as minutes of queueing.

use std::fmt::Write;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::censor::{CensorPlan, Rule};
use super::process::{self, LabError};
use super::scenario::Scenario;
use super::topology::CENSOR_CLIENT_IF;
use super::Lab;

/// The nftables table of the shaping rules (beside the censor's own table).
pub const NFT_SHAPING_TABLE: &str = "kuzet_lab_shaping";
/// The path of the large body every lab site serves (for passive throughput measurements).
pub const LARGE_PATH: &str = "/kuzet-lab/large.bin";
/// The size of that body: 2 MiB, above any client cap (the passive method reads 512 KiB).
pub const LARGE_BYTES: usize = 2 << 20;
/// The link capacity when a scenario caps a rate without saying what the link carries.
pub const UNLIMITED_KBPS: u32 = 10_000_000;
/// The highest rate a cap or link may have (10 Gbit/s).
const MAX_KBPS: u32 = 10_000_000;
/// Packets a throttled class queues before it drops (policer-like).
const THROTTLED_QUEUE_PACKETS: u32 = 10;
/// Packets the link's default class queues (about 60 ms at 20 Mbit/s).
const LINK_QUEUE_PACKETS: u32 = 100;
/// The connection marks of the SNI-keyed rules: `MARK_BASE + rule index`.
const MARK_BASE: u32 = 0x4b00;
/// The HTB minor class numbers of the caps: `CLASS_BASE + rule index` (hex in tc syntax).
const CLASS_BASE: u32 = 0x100;
/// The link's default HTB class (minor).
const DEFAULT_CLASS: u32 = 0x10;
/// How long a throughput server may take to print its pin and listen.
const THROUGHPUT_START_TIMEOUT: Duration = Duration::from_secs(20);

/// The access link between the client and the censor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The download capacity, kbit/s (1000 bit/s units, as tc's `kbit`).
    pub capacity_kbps: u32,
}

/// A throughput server: the real `kuzet-server --throughput` in the internet namespace, with a
/// key of its own; the lab reads its pin from its standard error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputServer {
    /// How targets refer to it.
    pub name: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its port (443 where SNI-keyed rules look).
    #[serde(default = "https_port")]
    pub port: u16,
}

fn https_port() -> u16 {
    443
}

impl ThroughputServer {
    /// `IP:PORT`, the CLI's `--server`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.port))
    }
}

/// The verdicts of `kuzet run throttling` (`test_keys.x_throttling.verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottlingVerdict {
    /// Target and control run at about the same rate.
    NotThrottled,
    /// The target runs clearly slower than the control.
    Throttled,
    /// The target's transfers freeze after a few KB.
    Stalled,
    /// Some evidence, not enough.
    Suspected,
    /// Nothing can be concluded.
    Inconclusive,
}

impl ThrottlingVerdict {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottlingVerdict::NotThrottled => "not_throttled",
            ThrottlingVerdict::Throttled => "throttled",
            ThrottlingVerdict::Stalled => "stalled",
            ThrottlingVerdict::Suspected => "suspected",
            ThrottlingVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// One throttling target and what measuring it must find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottlingTruth {
    /// A server name (the paired SNI-swap method against `server`), or an `https://` URL (the
    /// passive method against `baseline`). It is the measurement's `input`.
    pub target: String,
    /// The throughput server of the paired method.
    #[serde(default)]
    pub server: Option<String>,
    /// The passive method's baseline URL, on comparable infrastructure.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Why this is the truth (for people).
    #[serde(default)]
    pub note: String,
    /// The verdict the client must reach.
    pub expect: ThrottlingVerdict,
}

impl ThrottlingTruth {
    /// True for the passive (URL) method.
    pub fn is_passive(&self) -> bool {
        self.target.starts_with("https://") || self.target.starts_with("http://")
    }
}

impl Scenario {
    /// The throughput server called `name`.
    pub fn throughput_server(&self, name: &str) -> Option<&ThroughputServer> {
        self.throughput_servers.iter().find(|t| t.name == name)
    }
}

/// Checks one of the shaping rules (other rules: `Ok`).
pub fn check_rule(rule: &Rule, scenario: &Scenario) -> Result<(), String> {
    let rate = |rate_kbps: u32| {
        if rate_kbps == 0 || rate_kbps > MAX_KBPS {
            Err(format!("{rule:?}: the rate must be 1 to {MAX_KBPS} kbit/s"))
        } else {
            Ok(())
        }
    };
    let name = |name: &str| {
        if name.is_empty() || name.contains(['"', '\'', '\\', ' ']) {
            Err(format!("{rule:?}: bad server name {name:?}"))
        } else {
            Ok(())
        }
    };
    match rule {
        Rule::SniThrottle { name: n, rate_kbps } => {
            name(n)?;
            rate(*rate_kbps)
        }
        Rule::IpThrottle { ip, rate_kbps } => {
            if !scenario.internet_addresses().contains(ip) {
                return Err(format!("ip_throttle: {ip} is no address of the scenario"));
            }
            rate(*rate_kbps)
        }
        Rule::RandomLoss { percent } => {
            if *percent == 0 || *percent > 50 {
                return Err(format!("random_loss: {percent} % is not 1 to 50"));
            }
            Ok(())
        }
        Rule::StallAfter { name: n, bytes } => {
            name(n)?;
            if *bytes == 0 {
                return Err("stall_after: 0 bytes".to_string());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks the scenario's link, throughput servers and throttling targets.
pub fn check_scenario(scenario: &Scenario) -> Result<(), String> {
    if let Some(link) = &scenario.link {
        if link.capacity_kbps == 0 || link.capacity_kbps > MAX_KBPS {
            return Err(format!("link: the capacity must be 1 to {MAX_KBPS} kbit/s"));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for server in &scenario.throughput_servers {
        if server.name.is_empty() || !names.insert(server.name.as_str()) {
            return Err(format!(
                "throughput server name {:?} is empty or repeated",
                server.name
            ));
        }
    }
    for truth in &scenario.throttling {
        if truth.is_passive() {
            let Some(baseline) = &truth.baseline else {
                return Err(format!("{}: a URL target needs a baseline", truth.target));
            };
            for url in [&truth.target, baseline] {
                let host =
                    super::scenario::host_of_url(url).ok_or_else(|| format!("{url}: no host"))?;
                if !scenario.honest_names().contains_key(&host) {
                    return Err(format!("{url}: {host} is not a site"));
                }
            }
        } else {
            let server = truth.server.as_deref().unwrap_or_default();
            if scenario.throughput_server(server).is_none() {
                return Err(format!(
                    "{}: no throughput server called {server:?}",
                    truth.target
                ));
            }
            if truth.target.is_empty() || truth.target.contains(['/', ' ', ',', '=']) {
                return Err(format!("bad target name {:?}", truth.target));
            }
        }
    }
    Ok(())
}

/// Adds the scenario's link and shaping rules to the censor's plan: tc commands, iptables
/// invocations, and a second nftables table appended to the script.
pub fn extend_plan(scenario: &Scenario, plan: &mut CensorPlan) {
    let mut classify = Vec::new();
    let mut loss = Vec::new();
    let mut classes = Vec::new();
    let mut mark_rules = Vec::new();
    let mut stall_rules = Vec::new();
    let out_if = format!("oifname \"{CENSOR_CLIENT_IF}\"");
    for (index, rule) in scenario.censor.iter().enumerate() {
        let index = index as u32;
        let mark = MARK_BASE + index;
        let class = CLASS_BASE + index;
        match rule {
            Rule::SniThrottle { name, rate_kbps } => {
                mark_rules.push(connmark_on_sni(name, mark));
                classify.push(format!(
                    "{out_if} ct mark {mark:#x} meta priority set 1:{class:x}"
                ));
                classes.push((class, *rate_kbps));
            }
            Rule::IpThrottle { ip, rate_kbps } => {
                classify.push(format!(
                    "{out_if} ip saddr {ip} meta priority set 1:{class:x}"
                ));
                classes.push((class, *rate_kbps));
            }
            Rule::RandomLoss { percent } => {
                loss.push(format!("numgen random mod 100 < {percent} drop"));
            }
            Rule::StallAfter { name, bytes } => {
                mark_rules.push(connmark_on_sni(name, mark));
                stall_rules.push(stall_after(mark, *bytes));
            }
            _ => {}
        }
    }
    if scenario.link.is_some() || !classes.is_empty() {
        let capacity = scenario
            .link
            .map_or(UNLIMITED_KBPS, |link| link.capacity_kbps);
        plan.tc.extend(htb(capacity, &classes));
    }
    plan.iptables.extend(mark_rules);
    plan.iptables.extend(stall_rules);
    if !classify.is_empty() || !loss.is_empty() {
        plan.nft.push_str(&nft_table(&classify, &loss));
    }
}

/// `tc` arguments: the HTB root at `capacity_kbps` on the client-facing interface, its default
/// class, and one class per cap, each with a short drop-tail queue.
fn htb(capacity_kbps: u32, caps: &[(u32, u32)]) -> Vec<Vec<String>> {
    let dev = CENSOR_CLIENT_IF;
    let capacity = format!("{capacity_kbps}kbit");
    let mut commands = vec![
        format!("qdisc add dev {dev} root handle 1: htb default {DEFAULT_CLASS:x}"),
        format!(
            "class add dev {dev} parent 1: classid 1:1 htb rate {capacity} ceil {capacity} \
             quantum 1514"
        ),
        format!(
            "class add dev {dev} parent 1:1 classid 1:{DEFAULT_CLASS:x} htb rate {capacity} \
             ceil {capacity} quantum 1514"
        ),
        format!("qdisc add dev {dev} parent 1:{DEFAULT_CLASS:x} pfifo limit {LINK_QUEUE_PACKETS}"),
    ];
    for (class, rate_kbps) in caps {
        let rate = format!("{}kbit", rate_kbps.min(&capacity_kbps));
        commands.push(format!(
            "class add dev {dev} parent 1:1 classid 1:{class:x} htb rate {rate} ceil {rate} \
             quantum 1514"
        ));
        commands.push(format!(
            "qdisc add dev {dev} parent 1:{class:x} pfifo limit {THROTTLED_QUEUE_PACKETS}"
        ));
    }
    commands
        .into_iter()
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// The shaping table: classification in postrouting (after every filter), loss in forward.
fn nft_table(classify: &[String], loss: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "table ip {NFT_SHAPING_TABLE} {{");
    if !loss.is_empty() {
        let _ = writeln!(s, "    chain loss {{");
        let _ = writeln!(
            s,
            "        type filter hook forward priority filter - 10; policy accept;"
        );
        for rule in loss {
            let _ = writeln!(s, "        {rule}");
        }
        let _ = writeln!(s, "    }}");
    }
    if !classify.is_empty() {
        let _ = writeln!(s, "    chain classify {{");
        let _ = writeln!(
            s,
            "        type filter hook postrouting priority mangle; policy accept;"
        );
        for rule in classify {
            let _ = writeln!(s, "        {rule}");
        }
        let _ = writeln!(s, "    }}");
    }
    let _ = writeln!(s, "}}");
    s
}

/// `iptables` arguments: packets from the client to :443 carrying `name` mark their connection.
fn connmark_on_sni(name: &str, mark: u32) -> Vec<String> {
    let mark = format!("{mark:#x}");
    [
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
        name,
        "-j",
        "CONNMARK",
        "--set-mark",
        &mark,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `iptables` arguments: download packets of connections marked `mark` are dropped once the
/// server has sent `bytes` bytes (IP headers included, as conntrack counts).
fn stall_after(mark: u32, bytes: u64) -> Vec<String> {
    let mark = format!("{mark:#x}");
    let from = format!("{bytes}:");
    [
        "-w",
        "-A",
        "FORWARD",
        "-o",
        CENSOR_CLIENT_IF,
        "-m",
        "connmark",
        "--mark",
        &mark,
        "-m",
        "connbytes",
        "--connbytes",
        &from,
        "--connbytes-dir",
        "reply",
        "--connbytes-mode",
        "bytes",
        "-j",
        "DROP",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The throughput server's command line: `kuzet-server --throughput IP:PORT --throughput-key
/// KEY --throughput-per-client-per-minute 0` (the lab's one client makes many connections).
pub fn throughput_args(addr: SocketAddr, key: &Path) -> Vec<String> {
    vec![
        "--throughput".to_string(),
        addr.to_string(),
        "--throughput-key".to_string(),
        key.display().to_string(),
        "--throughput-per-client-per-minute".to_string(),
        "0".to_string(),
    ]
}

/// The pin in a throughput server's line `kuzet-server: throughput pin sha256/...`.
pub fn pin_of_line(line: &str) -> Option<&str> {
    let pin = line
        .trim()
        .strip_prefix("kuzet-server: throughput pin ")?
        .trim();
    pin.starts_with("sha256/").then_some(pin)
}

impl Lab {
    /// The pin (`sha256/<base64>`) of the scenario's throughput server `name`, once started.
    pub fn throughput_pin(&self, name: &str) -> Option<&str> {
        self.throughput_pins.get(name).map(String::as_str)
    }

    /// The address (`IP:PORT`) of the scenario's throughput server `name`.
    pub fn throughput_addr(&self, name: &str) -> Option<SocketAddr> {
        self.scenario
            .throughput_server(name)
            .map(ThroughputServer::addr)
    }

    /// Lines `LAB_THROUGHPUT_<NAME>=IP:PORT` and `LAB_THROUGHPUT_<NAME>_PIN=sha256/...` for the
    /// started throughput servers.
    pub(super) fn describe_throughput(&self) -> String {
        let mut text = String::new();
        for server in &self.scenario.throughput_servers {
            if let Some(pin) = self.throughput_pin(&server.name) {
                let key = server.name.to_ascii_uppercase().replace('-', "_");
                let _ = writeln!(text, "LAB_THROUGHPUT_{key}={}", server.addr());
                let _ = writeln!(text, "LAB_THROUGHPUT_{key}_PIN={pin}");
            }
        }
        text
    }

    /// Starts the scenario's throughput servers in the internet namespace and waits until each
    /// has printed its pin and listens.
    pub(super) fn start_throughput_servers(&mut self, server_bin: &Path) -> Result<(), LabError> {
        let servers = self.scenario.throughput_servers.clone();
        for server in &servers {
            let pin = self.start_throughput(server_bin, server)?;
            self.throughput_pins.insert(server.name.clone(), pin);
        }
        Ok(())
    }

    fn start_throughput(
        &mut self,
        server_bin: &Path,
        server: &ThroughputServer,
    ) -> Result<String, LabError> {
        let key = self
            .dir()
            .join(format!("throughput-{}-key.pem", server.name));
        let log_name = format!("throughput-{}", server.name);
        let mut log = self.log_file(&log_name)?;
        let mut command = self.command_in(&self.namespaces.internet, server_bin);
        command
            .args(throughput_args(server.addr(), &key))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = process::spawn_bound(command)
            .map_err(|e| LabError::new(format!("cannot start {}: {e}", server_bin.display())))?;
        let stderr = child.stderr.take();
        let name = format!("throughput server {}", server.name);
        self.children.push((name.clone(), child));
        // Copies its standard error to the log, and reports the pin and the listening line.
        let (found, wait) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stderr) = stderr else { return };
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = std::io::Write::write_all(&mut log, format!("{line}\n").as_bytes());
                let _ = found.send(line);
            }
        });
        let deadline = Instant::now() + THROUGHPUT_START_TIMEOUT;
        let mut pin = None;
        let mut listening = false;
        while !(listening && pin.is_some()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match wait.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pin_of_line(&line) {
                        pin = Some(found.to_string());
                    }
                    listening |= line.contains("throughput listening on");
                }
                Err(_) => {
                    return Err(LabError::new(format!(
                        "{name} ({}) did not print its pin and listen on {} within {:?} \
                         (a kuzet-server without --throughput?)\n{}",
                        server_bin.display(),
                        server.addr(),
                        THROUGHPUT_START_TIMEOUT,
                        self.logs()
                    )))
                }
            }
        }
        pin.ok_or_else(|| LabError::new(format!("{name}: no pin")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read_from_the_servers_line() {
        assert_eq!(
            pin_of_line("kuzet-server: throughput pin sha256/AbC+/=\n"),
            Some("sha256/AbC+/=")
        );
        assert_eq!(pin_of_line("kuzet-server: throughput pin md5/x"), None);
        assert_eq!(pin_of_line("kuzet-server: throughput listening on x"), None);
    }

    #[test]
    fn htb_has_a_default_class_at_capacity_and_one_class_per_cap() {
        let commands = htb(20_000, &[(0x100, 128), (0x102, 50_000)]);
        let lines: Vec<String> = commands.iter().map(|c| c.join(" ")).collect();
        assert!(
            lines[0].contains("root handle 1: htb default 10"),
            "{lines:?}"
        );
        assert!(lines
            .iter()
            .any(|l| l.contains("classid 1:10 htb rate 20000kbit")));
        assert!(lines
            .iter()
            .any(|l| l.contains("classid 1:100 htb rate 128kbit")));
        // A cap above the link's capacity is the capacity.
        assert!(lines
            .iter()
            .any(|l| l.contains("classid 1:102 htb rate 20000kbit")));
        assert!(lines
            .iter()
            .any(|l| l.contains("parent 1:100 pfifo limit 10")));
    }
}
