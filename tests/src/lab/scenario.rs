//! Scenarios as data: the sites of a small internet, the censor's rules, and the ground truth
//! for every URL measured in it. Scenarios live in `tests/lab/scenarios/NAME.json`.
//!
//! One scenario is one lab bring-up; several censorship techniques share it, each aimed at its
//! own site (its own name and address), so that a single run measures all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::censor::Rule;
use super::topology;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (the file's stem).
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The sites, in the `internet` namespace.
    pub sites: Vec<Site>,
    /// The blockpage server, if the censor uses one.
    #[serde(default)]
    pub blockpage: Option<Blockpage>,
    /// Interception servers (each with its own rogue CA).
    #[serde(default)]
    pub interceptors: Vec<Interceptor>,
    /// Test helpers (`kuzet-server --th`) in the `internet` namespace.
    #[serde(default)]
    pub helpers: Vec<Helper>,
    /// What the censor does.
    #[serde(default)]
    pub censor: Vec<Rule>,
    /// The URLs to measure and what measuring them must find.
    #[serde(default)]
    pub urls: Vec<GroundTruth>,
    /// The client's access link (its capacity), for the throttling scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<super::shaping::Link>,
    /// Throughput servers (`kuzet-server --throughput`) in the `internet` namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throughput_servers: Vec<super::shaping::ThroughputServer>,
    /// The throttling targets to measure and what measuring them must find.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttling: Vec<super::shaping::ThrottlingTruth>,
    /// Outages (shutdowns, cuts, whitelists, portals) as named rule sets switched at runtime,
    /// and the connectivity configuration the client uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outage: Option<super::outage::OutagePlan>,
}

/// A site: names that resolve (at the honest resolver) to one address, and what it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The site's main name (its certificate's first name, its page's default title).
    pub name: String,
    /// More names with the same address and certificate.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Serves HTTP on port 80.
    #[serde(default)]
    pub http: bool,
    /// Serves HTTPS on port 443 (certificate from the lab CA).
    #[serde(default)]
    pub https: bool,
    /// The page's title (every path answers the same page); the name when absent.
    #[serde(default)]
    pub title: Option<String>,
}

impl Site {
    /// The main name, then the aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The page's title.
    pub fn title(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.name)
    }
}

/// The censor's blockpage server: HTTP on 80, and HTTPS on 443 with a certificate for its own
/// name (so a client sent there for another name sees a wrong-name certificate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blockpage {
    /// Its address.
    pub ip: Ipv4Addr,
    /// The page's title.
    pub title: String,
    /// The name on its certificate.
    pub name: String,
}

/// An HTTPS interception server: presents, for the names of the sites redirected to it, a
/// certificate issued by its own rogue CA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interceptor {
    /// How rules refer to it.
    pub name: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The rogue CA's subject.
    pub ca: CaSubject,
}

/// The subject of a CA certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSubject {
    /// `CN`.
    pub common_name: String,
    /// `O`.
    pub organisation: String,
    /// `C`, if any.
    #[serde(default)]
    pub country: Option<String>,
}

/// A web-connectivity test helper: the real `kuzet-server` binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helper {
    /// How URLs refer to it.
    pub name: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its port.
    pub port: u16,
}

impl Helper {
    /// `http://IP:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}:{}/", self.ip, self.port)
    }
}

/// One URL and what measuring it from the client must find.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroundTruth {
    /// The URL.
    pub url: String,
    /// The test helper the web-connectivity run uses for it.
    #[serde(default = "default_helper")]
    pub helper: String,
    /// Why this is the truth (for people).
    #[serde(default)]
    pub note: String,
    /// The verdict web connectivity must reach.
    pub expect: Expect,
    /// What a plain fetch (`kuzet measure`, urlgetter) must see, if checked.
    #[serde(default)]
    pub measure: Option<MeasureExpect>,
}

fn default_helper() -> String {
    "th".to_string()
}

/// The expected verdict (`test_keys.x_verdict`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The verdict's kind.
    pub kind: VerdictKind,
    /// The blocking method, when the ground truth pins it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub how: Option<String>,
    /// Whether the interception certificate comes from a known Kazakh root, when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_kz_root: Option<bool>,
}

/// The kinds of verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// The site works.
    Ok,
    /// The site is down for everyone, not blocked.
    SiteDown,
    /// The probe's DNS answer was tampered with.
    DnsTampered,
    /// TCP connections to the site's addresses are blocked.
    TcpBlocked,
    /// The TLS handshake is blocked.
    TlsBlocked,
    /// The TLS connection is intercepted.
    TlsMitm,
    /// A blockpage was served instead of the site.
    HttpBlockpage,
    /// Nothing can be concluded (e.g. the test helper is unreachable).
    Undetermined,
}

impl VerdictKind {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Ok => "ok",
            VerdictKind::SiteDown => "site_down",
            VerdictKind::DnsTampered => "dns_tampered",
            VerdictKind::TcpBlocked => "tcp_blocked",
            VerdictKind::TlsBlocked => "tls_blocked",
            VerdictKind::TlsMitm => "tls_mitm",
            VerdictKind::HttpBlockpage => "http_blockpage",
            VerdictKind::Undetermined => "undetermined",
        }
    }
}

/// What a plain fetch must see: success (no `failure`) with a status and a page title, or a
/// failure at a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureExpect {
    /// The step that failed (`resolve`, `connect`, `tls_handshake`, `http_request`).
    #[serde(default)]
    pub failed_operation: Option<String>,
    /// The OONI failure string; `null` for success.
    #[serde(default)]
    pub failure: Option<String>,
    /// The final status code, on success.
    #[serde(default)]
    pub status: Option<u16>,
    /// A title the final body must carry, on success.
    #[serde(default)]
    pub title: Option<String>,
}

/// The directory of the scenario files (`tests/lab/scenarios`).
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lab")
        .join("scenarios")
}

impl Scenario {
    /// Loads `tests/lab/scenarios/NAME.json`, or the file at `name` when it is a path to a
    /// `.json` file, and checks it.
    pub fn load(name: &str) -> Result<Scenario, String> {
        let path = if name.ends_with(".json") {
            PathBuf::from(name)
        } else {
            scenarios_dir().join(format!("{name}.json"))
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read scenario {}: {e}", path.display()))?;
        let scenario: Scenario =
            serde_json::from_str(&text).map_err(|e| format!("scenario {}: {e}", path.display()))?;
        scenario
            .check()
            .map_err(|e| format!("scenario {}: {e}", path.display()))?;
        Ok(scenario)
    }

    /// The names of the scenario files.
    pub fn list() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(scenarios_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json").map(str::to_string)
            })
            .collect();
        names.sort();
        names
    }

    /// The helper called `name`.
    pub fn helper(&self, name: &str) -> Option<&Helper> {
        self.helpers.iter().find(|h| h.name == name)
    }

    /// The interceptor called `name`.
    pub fn interceptor(&self, name: &str) -> Option<&Interceptor> {
        self.interceptors.iter().find(|i| i.name == name)
    }

    /// The honest DNS table: every site name → its address.
    pub fn honest_names(&self) -> BTreeMap<String, Ipv4Addr> {
        self.sites
            .iter()
            .flat_map(|site| {
                site.names()
                    .map(move |name| (name.to_ascii_lowercase(), site.ip))
            })
            .collect()
    }

    /// The ground truth of the URLs measured with helper `helper`, in file order.
    pub fn urls_for_helper(&self, helper: &str) -> Vec<&GroundTruth> {
        self.urls.iter().filter(|u| u.helper == helper).collect()
    }

    /// Every address the `internet` namespace must own: sites, blockpage, interceptors,
    /// helpers and the honest resolver.
    pub fn internet_addresses(&self) -> BTreeSet<Ipv4Addr> {
        let mut all: BTreeSet<Ipv4Addr> = self.sites.iter().map(|s| s.ip).collect();
        all.extend(self.blockpage.iter().map(|b| b.ip));
        all.extend(self.interceptors.iter().map(|i| i.ip));
        all.extend(self.helpers.iter().map(|h| h.ip));
        all.extend(self.throughput_servers.iter().map(|t| t.ip));
        all.insert(topology::HONEST_RESOLVER);
        all
    }

    /// A benchmark scenario from a list of URLs (e.g. a Citizen Lab test list): every host is
    /// spread over `site_count` site addresses (10.77.5.1, .2, …) that serve any path over
    /// HTTP and HTTPS, one test helper (`th`, 10.77.3.80:8080), no censorship. Every URL's
    /// ground truth is `ok`.
    pub fn bench(name: &str, urls: &[String], site_count: u8) -> Result<Scenario, String> {
        let site_count = site_count.clamp(1, 250);
        let mut hosts: Vec<String> = Vec::new();
        for url in urls {
            let host = host_of_url(url).ok_or_else(|| format!("no host in {url:?}"))?;
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        let mut sites: Vec<Site> = (1..=site_count)
            .map(|i| Site {
                name: String::new(),
                aliases: Vec::new(),
                ip: Ipv4Addr::new(10, 77, 5, i),
                http: true,
                https: true,
                title: Some(format!("Kuzet lab bench site {i}")),
            })
            .collect();
        for (i, host) in hosts.into_iter().enumerate() {
            let site = &mut sites[i % usize::from(site_count)];
            if site.name.is_empty() {
                site.name = host;
            } else {
                site.aliases.push(host);
            }
        }
        sites.retain(|s| !s.name.is_empty());
        let scenario = Scenario {
            name: name.to_string(),
            description: format!(
                "{} URLs on {} site addresses, no censorship",
                urls.len(),
                sites.len()
            ),
            sites,
            blockpage: None,
            interceptors: Vec::new(),
            helpers: vec![Helper {
                name: "th".to_string(),
                ip: Ipv4Addr::new(10, 77, 3, 80),
                port: 8080,
            }],
            censor: Vec::new(),
            urls: urls
                .iter()
                .map(|url| GroundTruth {
                    url: url.clone(),
                    helper: default_helper(),
                    note: String::new(),
                    expect: Expect {
                        kind: VerdictKind::Ok,
                        how: None,
                        known_kz_root: None,
                    },
                    measure: None,
                })
                .collect(),
            link: None,
            throughput_servers: Vec::new(),
            throttling: Vec::new(),
            outage: None,
        };
        scenario.check()?;
        Ok(scenario)
    }

    /// Checks that the scenario is consistent and stays inside the lab's address range.
    pub fn check(&self) -> Result<(), String> {
        let mut owners: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        let mut claim = |ip: Ipv4Addr, owner: String| -> Result<(), String> {
            if !topology::is_service_address(ip) {
                return Err(format!(
                    "{owner}: {ip} is not a lab service address ({})",
                    topology::SERVICE_RANGE_TEXT
                ));
            }
            if let Some(other) = owners.insert(ip, owner.clone()) {
                return Err(format!("{ip} is used by both {other} and {owner}"));
            }
            Ok(())
        };
        claim(topology::HONEST_RESOLVER, "the honest resolver".to_string())?;
        for site in &self.sites {
            claim(site.ip, format!("site {}", site.name))?;
        }
        if let Some(blockpage) = &self.blockpage {
            claim(blockpage.ip, "the blockpage".to_string())?;
        }
        for interceptor in &self.interceptors {
            claim(interceptor.ip, format!("interceptor {}", interceptor.name))?;
        }
        for helper in &self.helpers {
            claim(helper.ip, format!("helper {}", helper.name))?;
        }
        for server in &self.throughput_servers {
            claim(server.ip, format!("throughput server {}", server.name))?;
        }
        let mut names = BTreeSet::new();
        for name in self.sites.iter().flat_map(Site::names) {
            if name.is_empty() || name.parse::<Ipv4Addr>().is_ok() {
                return Err(format!("bad site name {name:?}"));
            }
            if !names.insert(name.to_ascii_lowercase()) {
                return Err(format!("site name {name} appears twice"));
            }
        }
        for rule in &self.censor {
            rule.check(self)?;
        }
        super::shaping::check_scenario(self)?;
        if let Some(outage) = &self.outage {
            super::outage::check_plan(outage, self)?;
        }
        for truth in &self.urls {
            if self.helper(&truth.helper).is_none() {
                return Err(format!(
                    "{}: no helper called {:?}",
                    truth.url, truth.helper
                ));
            }
            let known_root = truth.expect.known_kz_root.is_some();
            if known_root && truth.expect.kind != VerdictKind::TlsMitm {
                return Err(format!("{}: known_kz_root without tls_mitm", truth.url));
            }
            if let Some(measure) = &truth.measure {
                if measure.failure.is_some() != measure.failed_operation.is_some() {
                    return Err(format!(
                        "{}: failure and failed_operation go together",
                        truth.url
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The host of an `http://` or `https://` URL, lowercase, without port or trailing dot.
pub fn host_of_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let host = authority.split(':').next()?.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The URLs of a test-list CSV (first column, header `url` skipped).
pub fn urls_of_csv(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.split(',').next())
        .map(str::trim)
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_scenarios_spread_hosts_over_sites() {
        let urls: Vec<String> = [
            "http://a.kz/",
            "https://b.kz/x",
            "http://A.kz:80/y",
            "https://c.kz",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let scenario = Scenario::bench("bench", &urls, 2).unwrap();
        assert_eq!(scenario.sites.len(), 2);
        assert_eq!(scenario.honest_names().len(), 3);
        assert_eq!(scenario.urls.len(), 4);
        assert_eq!(
            host_of_url("https://user@Host.KZ.:8443/p").as_deref(),
            Some("host.kz")
        );
        assert_eq!(host_of_url("ftp://x"), None);
        let csv = "url,category_code\nhttp://www.akorda.kz/,CULTR\nhttps://x.kz/,NEWS\n";
        assert_eq!(
            urls_of_csv(csv),
            vec!["http://www.akorda.kz/", "https://x.kz/"]
        );
    }

    #[test]
    fn every_scenario_file_loads_and_checks() {
        let names = Scenario::list();
        assert!(names.contains(&"web".to_string()), "{names:?}");
        for name in names {
            let scenario = Scenario::load(&name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(scenario.name, name);
        }
    }

    #[test]
    fn addresses_outside_the_lab_are_refused() {
        let mut scenario = Scenario::load("web").unwrap();
        scenario.sites[0].ip = Ipv4Addr::new(8, 8, 8, 8);
        let error = scenario.check().unwrap_err();
        assert!(error.contains("8.8.8.8"), "{error}");
        let mut scenario = Scenario::load("web").unwrap();
        scenario.sites[0].ip = topology::CLIENT_ADDR;
        assert!(scenario.check().is_err());
    }
}
