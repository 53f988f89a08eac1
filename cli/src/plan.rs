//! From flags to the run plan every front end builds: the experiments' settings, the targets,
//! the budgets, the host's network and the store. Everything is checked here, before anything
//! is measured; errors name the flag.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kuzet_core::experiment::connectivity::{ConnectivityConfig, PlatformState, Transport};
use kuzet_core::experiment::messaging::{App, MessagingConfig, MessagingEndpoints, MessagingError};
use kuzet_core::experiment::policy;
use kuzet_core::experiment::throttling::{
    PassiveOptions, PassiveTarget, SpkiPin, ThrottlingConfig, DEFAULT_TARGETS,
};
use kuzet_core::experiment::urlgetter::UrlGetterConfig;
use kuzet_core::experiment::web_connectivity::{self as wc, TargetUrl, WebConnectivityConfig};
use kuzet_core::probe::dns::DnsTransport;
use kuzet_core::session::{NetworkContext, RunLimits, RunPlan, Setup, Targets};
use kuzet_core::testlists::TestList;
use kuzet_core::th::{BogonPolicy, IpNet};
use url::Url;

use crate::args::{
    BudgetArgs, CheckArgs, MessagingTargetArgs, OutputArgs, SettingsArgs, ThrottlingTargetArgs,
    WebTargetArgs,
};
use crate::commands::store_open::open;
use crate::error::CliError;
use crate::input::read_bounded;
use crate::settings;

/// A plan being built: its setup, targets and budgets, before the store is opened.
pub struct Draft {
    /// How every target is measured.
    pub setup: Setup,
    /// What to measure.
    pub targets: Targets,
    /// Budgets.
    pub limits: RunLimits,
    /// The host's network.
    pub network: NetworkContext,
    /// `--timeout`, when given: also each throughput trial's connect and handshake, whose
    /// configuration is built with the throttling targets.
    pub step_timeout: Option<Duration>,
}

impl Draft {
    /// The setup every suite starts from, from the shared flags and the network check's.
    pub fn new(settings_args: &SettingsArgs, check: &CheckArgs) -> Result<Draft, CliError> {
        let resolver_spec = settings_args.resolver.as_deref().unwrap_or("system");
        let resolver = settings::resolver("--resolver", resolver_spec)?;
        let trust = settings::trust(settings_args.ca_file.as_ref())?;
        let timeouts = settings::timeouts(settings_args.timeout, settings_args.dns_timeout);
        let mut connectivity = connectivity(check, settings_args.resolver.as_deref())?;
        connectivity.trust = trust.clone();
        let mut messaging = MessagingConfig {
            resolver: resolver.clone(),
            trust: trust.clone(),
            ..MessagingConfig::default()
        };
        if let Some(timeout) = settings_args.timeout {
            messaging.timeouts.connect = timeout;
            messaging.timeouts.tls = timeout;
            messaging.timeouts.http = timeout;
        }
        if let Some(dns) = settings_args.dns_timeout {
            messaging.timeouts.dns = dns;
        }
        let setup = Setup {
            software: settings::software(),
            probe_network: settings::network(&settings_args.probe_cc, &settings_args.probe_asn),
            urls: UrlGetterConfig {
                resolver: resolver.clone(),
                timeouts: timeouts.clone(),
                trust: trust.clone(),
                ..UrlGetterConfig::default()
            },
            web: WebConnectivityConfig {
                resolver,
                timeouts: wc::Timeouts::from_steps(timeouts),
                trust,
                ..WebConnectivityConfig::default()
            },
            test_helpers: Vec::new(),
            messaging,
            throttling: None,
            connectivity,
            record_checks: true,
        };
        Ok(Draft {
            setup,
            targets: Targets::default(),
            limits: RunLimits {
                byte_budget: policy::RUN_BYTES,
                time_budget: None,
                parallelism: policy::PARALLELISM,
            },
            network: NetworkContext::of_transport(
                check
                    .transport
                    .0
                    .unwrap_or_else(|| host_platform().transport),
            ),
            step_timeout: settings_args.timeout,
        })
    }

    /// Applies the budget flags; `parallel` is the command's default parallelism.
    pub fn budget(&mut self, budget: &BudgetArgs) {
        self.limits.parallelism = budget.parallel.unwrap_or(policy::PARALLELISM);
        self.limits.time_budget = budget.max_time;
        if let Some(mib) = budget.max_mib {
            self.limits.byte_budget = mib.saturating_mul(1 << 20);
        }
    }

    /// Adds websites: the list, its filters and the test helpers.
    pub fn websites(&mut self, web: &WebTargetArgs) -> Result<String, CliError> {
        let list = load_list(&web.list)?.filter_categories(&web.categories);
        let list = match web.limit {
            Some(limit) => list.truncate(limit),
            None => list,
        };
        if list.entries.is_empty() {
            return Err(CliError::Usage(format!(
                "no URL to measure in {} with the categories given",
                list.source
            )));
        }
        self.setup.test_helpers = web
            .th
            .iter()
            .map(|text| {
                Url::parse(text)
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
                    .ok_or_else(|| CliError::Usage(format!("--th: {text:?} is not an http(s) URL")))
            })
            .collect::<Result<_, _>>()?;
        let public_networks = web
            .public_networks
            .iter()
            .map(|text| {
                text.parse::<IpNet>()
                    .map_err(|e| CliError::Usage(format!("--public-network {text:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.setup.web.bogons = BogonPolicy {
            public_networks,
            ..BogonPolicy::default()
        };
        self.setup.web.udp_resolver = web
            .udp_resolver
            .as_deref()
            .map(|spec| settings::resolver("--udp-resolver", spec))
            .transpose()?;
        self.setup.web.doh_resolver = web
            .doh_resolver
            .as_deref()
            .map(|spec| settings::resolver("--doh-resolver", spec))
            .transpose()?;
        self.targets.web = list
            .entries
            .into_iter()
            .map(|entry| TargetUrl {
                url: entry.url,
                category_code: (!entry.category_code.is_empty()).then_some(entry.category_code),
            })
            .collect();
        Ok(list.source)
    }

    /// Adds messaging apps (all by default) and their endpoints.
    pub fn apps(&mut self, messaging: &MessagingTargetArgs) -> Result<(), CliError> {
        let mut apps: Vec<App> = Vec::new();
        for name in &messaging.apps {
            let app: App = name
                .parse()
                .map_err(|e: MessagingError| CliError::Usage(format!("--apps: {e}")))?;
            if !apps.contains(&app) {
                apps.push(app);
            }
        }
        if apps.is_empty() {
            apps = App::ALL.to_vec();
        }
        if let Some(path) = &messaging.endpoints {
            let text = read_bounded(path, "--endpoints")?;
            self.setup.messaging.endpoints = MessagingEndpoints::from_json(&text)
                .map_err(|e| CliError::Usage(format!("--endpoints {}: {e}", path.display())))?;
        }
        self.setup.messaging.apps = apps.clone();
        self.setup
            .messaging
            .validate()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        self.targets.apps = apps;
        Ok(())
    }

    /// Adds throttling targets and the server; `required` when the command is `run
    /// throttling` (without it, no server and no passive target means no throttling suite).
    pub async fn throttling(
        &mut self,
        args: &ThrottlingTargetArgs,
        required: bool,
    ) -> Result<(), CliError> {
        let passive = args
            .passive
            .iter()
            .map(|text| {
                PassiveTarget::parse(text).map_err(|e| CliError::Usage(format!("--passive: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<String> = if !args.targets.is_empty() {
            args.targets
                .iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .collect()
        } else if passive.is_empty() && (args.server.is_some() || required) {
            DEFAULT_TARGETS.iter().map(|t| t.to_string()).collect()
        } else {
            Vec::new()
        };
        let (server, pin) =
            match (&args.server, &args.pin) {
                (Some(server), Some(pin)) => (Some(server), Some(pin)),
                (None, None) if names.is_empty() => (None, None),
                (None, None) => return Err(CliError::Usage(
                    "no Kuzet throughput server is configured (there is no public one yet): pass \
                     --server HOST:PORT and --pin sha256/KEY (kuzet-server prints its pin at \
                     start), or measure only --passive URL=BASELINE_URL"
                        .to_string(),
                )),
                (Some(_), None) => {
                    return Err(CliError::Usage(
                        "--server needs --pin sha256/KEY".to_string(),
                    ))
                }
                (None, Some(_)) => {
                    return Err(CliError::Usage(
                        "--pin needs --server HOST:PORT".to_string(),
                    ))
                }
            };
        if names.is_empty() && passive.is_empty() {
            return Ok(());
        }
        let pin: SpkiPin = match pin {
            Some(text) => text
                .parse()
                .map_err(|e| CliError::Usage(format!("--pin: {e}")))?,
            // Passive only: the pin is never used.
            None => SpkiPin::of_spki(&[]),
        };
        let server: SocketAddr = match server {
            Some(text) => resolve_server(text).await?,
            None => SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let mut config = ThrottlingConfig::new(server, pin, Vec::new());
        if let Some(control) = &args.control {
            config.control_sni = control.trim().to_ascii_lowercase();
        }
        config.passive_options = PassiveOptions {
            resolver: self.setup.web.resolver.clone(),
            trust: self.setup.web.trust.clone(),
            ..PassiveOptions::default()
        };
        if let Some(timeout) = self.step_timeout {
            // A trial's transfer keeps its own cap: it is the measurement, not a step.
            config.connect_timeout = timeout;
            config.handshake_timeout = timeout;
            config.passive_options.step_timeout = timeout;
        }
        config.run_budget = match args.budget_mb {
            Some(mb) => (mb * 1e6) as u64,
            None => policy::THROTTLING_RUN_BUDGET,
        };
        for name in &names {
            kuzet_core::session::check_site_name(name)
                .map_err(|e| CliError::Usage(format!("--targets: {e}")))?;
        }
        self.setup.throttling = Some(config);
        self.targets.throttling = names;
        self.targets.passive = passive;
        Ok(())
    }

    /// The plan, with the store opened (first: a damaged store stops the run before any
    /// traffic) unless `--no-store`.
    pub async fn plan(self, output: &OutputArgs) -> Result<RunPlan, CliError> {
        let store = if output.no_store {
            None
        } else {
            Some(open(output.store.dir()?).await?)
        };
        let plan = RunPlan {
            run_id: kuzet_core::random::uuid_v4().to_string(),
            targets: self.targets,
            setup: self.setup,
            limits: self.limits,
            network: self.network,
            store,
        };
        plan.check().map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(plan)
    }
}

/// The connectivity check's configuration from its flags: the anchors file (or the built-in
/// Kazakhstan set), re-checks, and the resolver when one was given.
pub fn connectivity(
    check: &CheckArgs,
    resolver: Option<&str>,
) -> Result<ConnectivityConfig, CliError> {
    let mut config = match &check.anchors {
        Some(path) => {
            let text = read_bounded(path, "--anchors")?;
            ConnectivityConfig::from_json(&text)
                .map_err(|e| CliError::Usage(format!("--anchors {}: {e}", path.display())))?
        }
        None => ConnectivityConfig::kazakhstan(),
    };
    if let Some(count) = check.rechecks {
        config.rechecks.count = count;
    }
    if let Some(delay) = check.recheck_delay {
        config.rechecks.delay = delay;
    }
    if let Some(resolver) = resolver {
        DnsTransport::parse(resolver).map_err(|e| CliError::Usage(format!("--resolver: {e}")))?;
        config.resolver = resolver.to_string();
    }
    config.software = settings::software();
    config
        .validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(config)
}

fn load_list(name: &str) -> Result<TestList, CliError> {
    let loaded = match name {
        "kz" | "global" => TestList::bundled(name),
        path => TestList::from_file(Path::new(path)),
    };
    loaded.map_err(|e| CliError::Usage(format!("--list: {e}")))
}

/// `HOST:PORT` to one address, looked up once before anything is timed.
async fn resolve_server(text: &str) -> Result<SocketAddr, CliError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err(CliError::Usage(format!(
            "--server: {text:?} is not HOST:PORT"
        )));
    }
    let lookup = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::lookup_host(text.to_string()),
    )
    .await
    .map_err(|_| CliError::Run(format!("--server: looking up {text:?} timed out")))?
    .map_err(|e| CliError::Usage(format!("--server: cannot resolve {text:?}: {e}")))?;
    let addresses: Vec<SocketAddr> = lookup.collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| CliError::Usage(format!("--server: {text:?} has no address")))
}

/// What the CLI can tell from the host: a non-loopback interface that is up and carries a
/// default route means a link is present (Wi-Fi when the kernel says it is wireless, wired
/// otherwise); no such route means no network path. Nothing here is recorded but the
/// transport: no interface name, address or identifier.
pub fn host_platform() -> PlatformState {
    let v4 = std::fs::read_to_string("/proc/net/route").ok();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").ok();
    if v4.is_none() && v6.is_none() {
        return PlatformState::default();
    }
    let mut interfaces = default_route_interfaces_v4(v4.as_deref().unwrap_or(""));
    interfaces.extend(default_route_interfaces_v6(v6.as_deref().unwrap_or("")));
    let up: Vec<&String> = interfaces
        .iter()
        .filter(|name| interface_is_up(name))
        .collect();
    let transport = match up.first() {
        None => Transport::None,
        Some(name) if Path::new(&format!("/sys/class/net/{name}/wireless")).exists() => {
            Transport::Wifi
        }
        Some(name) if name.starts_with("ww") || name.starts_with("rmnet") => Transport::Cellular,
        Some(_) => Transport::Ethernet,
    };
    PlatformState {
        transport,
        ..PlatformState::default()
    }
}

/// Interfaces with an IPv4 default route that is up (`/proc/net/route`).
pub fn default_route_interfaces_v4(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (iface, destination, flags, mask) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(3)?,
                fields.get(7)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            (*destination == "00000000" && *mask == "00000000" && flags & 1 == 1 && *iface != "lo")
                .then(|| iface.to_string())
        })
        .collect()
}

/// Interfaces with an IPv6 default route that is up (`/proc/net/ipv6_route`).
pub fn default_route_interfaces_v6(table: &str) -> Vec<String> {
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (destination, prefix, flags, iface) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(8)?,
                fields.get(9)?,
            );
            let flags = u32::from_str_radix(flags, 16).ok()?;
            // RTF_UP set, RTF_REJECT (0x200) not: unreachable defaults do not count.
            (destination.bytes().all(|b| b == b'0')
                && *prefix == "00"
                && flags & 1 == 1
                && flags & 0x200 == 0
                && *iface != "lo")
                .then(|| iface.to_string())
        })
        .collect()
}

fn interface_is_up(name: &str) -> bool {
    if name.contains('/') || name.starts_with('.') {
        return false;
    }
    let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
        .ok()
        .and_then(|text| u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok());
    // IFF_UP, and a carrier: the operational state is `up` (or `unknown`, as for tunnels).
    let operstate =
        std::fs::read_to_string(format!("/sys/class/net/{name}/operstate")).unwrap_or_default();
    flags.is_some_and(|f| f & 0x1 == 0x1) && matches!(operstate.trim(), "up" | "unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command, Suite as SuiteArgs};
    use clap::Parser;

    fn throttling_draft(extra: &[&str]) -> Draft {
        let pin = format!("sha256/{}", "A".repeat(43) + "=");
        let mut args = vec![
            "kuzet",
            "run",
            "throttling",
            "--server",
            "127.0.0.1:9",
            "--pin",
            &pin,
            "--passive",
            "https://a.example/=https://b.example/",
        ];
        args.extend_from_slice(extra);
        let Command::Run(run) = Cli::try_parse_from(args).expect("parses").command else {
            panic!("not `run`");
        };
        let Some(SuiteArgs::Throttling(args)) = run.suite else {
            panic!("not `run throttling`");
        };
        let mut draft = Draft::new(&args.settings, &args.check).expect("valid");
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(draft.throttling(&args.throttling, true))
            .expect("valid");
        draft
    }

    #[test]
    fn the_step_timeout_bounds_throughput_connects_and_handshakes() {
        let defaults = ThrottlingConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 9)),
            SpkiPin::of_spki(&[]),
            Vec::new(),
        );
        let draft = throttling_draft(&[]);
        let config = draft.setup.throttling.expect("a throttling setup");
        assert_eq!(config.connect_timeout, defaults.connect_timeout);
        assert_eq!(config.handshake_timeout, defaults.handshake_timeout);

        let draft = throttling_draft(&["--timeout", "2"]);
        let config = draft.setup.throttling.expect("a throttling setup");
        assert_eq!(config.connect_timeout, Duration::from_secs(2));
        assert_eq!(config.handshake_timeout, Duration::from_secs(2));
        assert_eq!(config.passive_options.step_timeout, Duration::from_secs(2));
        // The transfer is the measurement: its cap stays.
        assert_eq!(config.trial_timeout, defaults.trial_timeout);
    }

    #[test]
    fn default_routes_are_found_and_unreachable_ones_ignored() {
        let v4 =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t01014D0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  eth0\t00014D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_route_interfaces_v4(v4), vec!["eth0".to_string()]);
        let no_default = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
                          eth0\t00014D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
        assert!(default_route_interfaces_v4(no_default).is_empty());
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                  fe800000000000000000000000000001 00000400 00000001 00000000 00000003 wlan0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                  00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n";
        assert_eq!(default_route_interfaces_v6(v6), vec!["wlan0".to_string()]);
    }
}
