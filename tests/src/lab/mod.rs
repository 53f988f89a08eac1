//! The censorship lab: a small internet in network namespaces on this machine, with a censor
//! that uses real kernel machinery (nftables, iptables string matching, a lying resolver, a
//! transparent proxy, DNAT to an interception server), scenarios as data with the ground truth
//! for every URL, and helpers to run the `kuzet` CLI from the client's namespace.
//!
//! ```no_run
//! use kuzet_e2e::lab::{self, Lab, Scenario};
//!
//! lab::require(); // fails loudly without root, ip netns, nft, iptables, tc, ethtool
//! let scenario = Scenario::load("web").unwrap();
//! let lab = Lab::up(&scenario).unwrap();
//! let output = lab.run_kuzet(["measure", "http://plain.kuzet.test/"]);
//! println!("{}", output.stdout);
//! // Dropping the lab kills its processes and deletes its namespaces, also on panic.
//! ```
//!
//! Layout: [`topology`] (namespaces, addresses, routes), [`censor`] (techniques → rules),
//! [`servers`] (what `kuzet-lab-node` serves inside a namespace), [`scenario`] (the data
//! format). For people: `scripts/lab.sh up|down|status|exec SCENARIO`.

pub mod censor;
pub mod outage;
pub mod process;
pub mod scenario;
pub mod servers;
pub mod shaping;
pub mod suites;
pub mod topology;

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use tempfile::TempDir;

pub use process::LabError;
pub use scenario::{Expect, GroundTruth, MeasureExpect, Scenario, VerdictKind};
pub use shaping::{ThrottlingTruth, ThrottlingVerdict};
pub use topology::Namespaces;

use crate::cli::KuzetOutput;
use crate::fixtures::pki::TestCa;
use censor::CensorPlan;
use servers::{DnsConfig, NodeConfig, PageStyle, TlsIdentity, WebConfig};

/// How long a node or test helper may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one client command may run before it is killed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

/// What to bring up besides the network, the resolvers and the sites.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// Start the scenario's test helpers and throughput servers (the `kuzet-server` binary).
    pub test_helpers: bool,
    /// The `kuzet-lab-node` binary; found or built when `None` (`KUZET_LAB_NODE` overrides).
    pub node_bin: Option<PathBuf>,
    /// The `kuzet-server` binary; found or built when `None` (`KUZET_SERVER_BIN` overrides).
    pub server_bin: Option<PathBuf>,
}

/// A running lab. Dropping it tears everything down (processes, namespaces, `/etc/netns`
/// directories, temporary files), also when a test panics.
pub struct Lab {
    scenario: Scenario,
    namespaces: Namespaces,
    created: Vec<String>,
    dir: TempDir,
    ca_file: PathBuf,
    children: Vec<(String, Child)>,
    helpers_started: bool,
    throughput_pins: std::collections::BTreeMap<String, String>,
}

impl Lab {
    /// Brings up `scenario` without test helpers.
    pub fn up(scenario: &Scenario) -> Result<Lab, LabError> {
        Lab::up_with(scenario, &LabOptions::default())
    }

    /// Brings up `scenario`: checks the machine ([`preflight`]), removes leftovers of crashed
    /// runs, creates and wires the namespaces, installs the censor's rules, starts the nodes
    /// (and the test helpers if asked) and waits until all of them listen.
    pub fn up_with(scenario: &Scenario, options: &LabOptions) -> Result<Lab, LabError> {
        preflight().map_err(LabError::new)?;
        scenario.check().map_err(LabError::new)?;
        topology::sweep_stale();
        let node_bin = match &options.node_bin {
            Some(path) => path.clone(),
            None => process::workspace_bin("kuzet-e2e", "kuzet-lab-node", "KUZET_LAB_NODE")?,
        };
        let server_bin = match (&options.server_bin, options.test_helpers) {
            (Some(path), true) => Some(path.clone()),
            (None, true) => Some(process::workspace_bin(
                "kuzet-server",
                "kuzet-server",
                "KUZET_SERVER_BIN",
            )?),
            (_, false) => None,
        };
        let dir = tempfile::Builder::new()
            .prefix("kuzet-lab-")
            .tempdir()
            .map_err(|e| LabError::new(format!("cannot create a temporary directory: {e}")))?;
        let mut lab = Lab {
            scenario: scenario.clone(),
            namespaces: Namespaces::fresh(),
            created: Vec::new(),
            ca_file: dir.path().join("lab-ca.pem"),
            dir,
            children: Vec::new(),
            helpers_started: false,
            throughput_pins: Default::default(),
        };
        // From here on, an early return drops `lab`, which removes what was made so far.
        for namespace in lab.namespaces.all() {
            let namespace = namespace.to_string();
            topology::add_namespace(&namespace)?;
            lab.created.push(namespace);
        }
        let addresses: Vec<_> = scenario.internet_addresses().into_iter().collect();
        topology::wire(&lab.namespaces, &addresses)?;
        topology::write_client_resolv_conf(&lab.namespaces.client)?;

        let plan = censor::plan(scenario);
        lab.install_censor(&plan)?;

        let ca = TestCa::new("Kuzet Lab CA", "Kuzet censorship lab");
        std::fs::write(&lab.ca_file, &ca.cert_pem)
            .map_err(|e| LabError::new(format!("cannot write the lab CA: {e}")))?;
        let internet = internet_config(scenario, &plan, &ca);
        let censor_config = NodeConfig {
            role: "censor".to_string(),
            dns: vec![DnsConfig {
                listen: SocketAddr::from((topology::ISP_RESOLVER, 53)),
                names: plan.isp_names.clone(),
            }],
            web: Vec::new(),
            proxies: plan.proxy.iter().cloned().collect(),
            redirects: outage::redirect_configs(scenario),
        };
        let internet_ns = lab.namespaces.internet.clone();
        let censor_ns = lab.namespaces.censor.clone();
        lab.start_node(&node_bin, &internet_ns, &internet)?;
        lab.start_node(&node_bin, &censor_ns, &censor_config)?;
        if let Some(server_bin) = server_bin {
            for helper in &scenario.helpers {
                lab.start_helper(&server_bin, &node_bin, helper)?;
            }
            lab.start_throughput_servers(&server_bin)?;
            lab.helpers_started = true;
        }
        Ok(lab)
    }

    /// The scenario this lab runs.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The namespaces' names.
    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    /// The lab CA's certificate (PEM file): give it to the client as `--ca-file`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The lab's temporary directory (configs, logs, the CA file); removed on teardown.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of the scenario's test helper `name`.
    pub fn helper_url(&self, name: &str) -> Option<String> {
        self.scenario.helper(name).map(scenario::Helper::url)
    }

    /// A command that runs `program` in the client's namespace (`ip netns exec CLIENT ...`).
    pub fn client_command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = self.command_in(&self.namespaces.client, program);
        // The CLI stores what it measures: keep that out of the user's own store.
        command.env("KUZET_DATA_DIR", crate::cli::test_data_dir());
        command
    }

    /// A command that runs `program` in `namespace`.
    pub fn command_in(&self, namespace: &str, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec"]).arg(namespace).arg(program);
        command
    }

    /// Runs `program ARGS` in the client's namespace and waits at most `timeout`.
    pub fn run_in_client<I, S>(
        &self,
        program: impl AsRef<OsStr>,
        args: I,
        timeout: Duration,
    ) -> Result<std::process::Output, LabError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.client_command(program);
        command.args(args);
        process::output_within(command, timeout)
    }

    /// Runs the `kuzet` CLI (see [`crate::cli::kuzet_bin`]) in the client's namespace with
    /// `RUST_LOG` unset, at most [`CLIENT_TIMEOUT`]. Panics when it cannot run or times out
    /// (with the lab's logs).
    pub fn run_kuzet<I, S>(&self, args: I) -> KuzetOutput
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.client_command(crate::cli::kuzet_bin());
        command.args(args).env_remove("RUST_LOG");
        match process::output_within(command, CLIENT_TIMEOUT) {
            Ok(output) => KuzetOutput {
                status: output.status,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            },
            Err(e) => panic!("kuzet in the lab: {e}\n{}", self.logs()),
        }
    }

    /// The logs of the lab's processes (nodes, helpers), for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let mut entries: Vec<_> = std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        entries.sort();
        for path in entries {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            text.push_str(&format!("--- {}\n{log}\n", path.display()));
        }
        text
    }

    /// Lines `KEY=VALUE` describing the lab, for people and scripts.
    pub fn describe(&self) -> String {
        let ns = &self.namespaces;
        let mut text = format!(
            "LAB_SCENARIO={}\nLAB_CLIENT_NS={}\nLAB_CENSOR_NS={}\nLAB_INTERNET_NS={}\n\
             LAB_CA_FILE={}\nLAB_DIR={}\nLAB_ISP_RESOLVER={}\nLAB_HONEST_RESOLVER={}\n",
            self.scenario.name,
            ns.client,
            ns.censor,
            ns.internet,
            self.ca_file.display(),
            self.dir.path().display(),
            topology::ISP_RESOLVER,
            topology::HONEST_RESOLVER,
        );
        let helpers = if self.helpers_started {
            self.scenario.helpers.as_slice()
        } else {
            &[]
        };
        for helper in helpers {
            let key = helper.name.to_ascii_uppercase().replace('-', "_");
            text.push_str(&format!("LAB_HELPER_{key}={}\n", helper.url()));
        }
        text.push_str(&self.describe_throughput());
        // The connectivity check every `kuzet run` makes first needs anchors that answer.
        if let Ok(path) = self.anchors_file() {
            text.push_str(&format!("LAB_ANCHORS={}\n", path.display()));
        }
        text
    }

    /// Tears the lab down now (the same as dropping it).
    pub fn down(self) {}

    fn install_censor(&self, plan: &CensorPlan) -> Result<(), LabError> {
        let censor = self.namespaces.censor.as_str();
        process::run_with_stdin(
            "ip",
            &["netns", "exec", censor, "nft", "-f", "-"],
            Some(&plan.nft),
        )?;
        for args in &plan.iptables {
            let mut all = vec!["netns", "exec", censor, "iptables"];
            all.extend(args.iter().map(String::as_str));
            process::run("ip", &all)?;
        }
        for args in &plan.tc {
            let mut all = vec!["netns", "exec", censor, "tc"];
            all.extend(args.iter().map(String::as_str));
            process::run("ip", &all)?;
        }
        Ok(())
    }

    fn log_file(&self, name: &str) -> Result<File, LabError> {
        let path = self.dir.path().join(format!("{name}.log"));
        File::create(&path)
            .map_err(|e| LabError::new(format!("cannot create {}: {e}", path.display())))
    }

    fn start_node(
        &mut self,
        node_bin: &Path,
        namespace: &str,
        config: &NodeConfig,
    ) -> Result<(), LabError> {
        let config_path = self.dir.path().join(format!("{}.json", config.role));
        let text = serde_json::to_string_pretty(config)
            .map_err(|e| LabError::new(format!("node config: {e}")))?;
        std::fs::write(&config_path, text)
            .map_err(|e| LabError::new(format!("cannot write {}: {e}", config_path.display())))?;
        let mut command = self.command_in(namespace, node_bin);
        command
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(self.log_file(&config.role)?);
        let mut child = process::spawn_bound(command)
            .map_err(|e| LabError::new(format!("cannot start {}: {e}", node_bin.display())))?;
        let stdout = child.stdout.take();
        let name = format!("node {}", config.role);
        self.children.push((name.clone(), child));
        let (ready, wait) = mpsc::channel();
        std::thread::spawn(move || {
            let line = stdout.and_then(|out| BufReader::new(out).lines().next()?.ok());
            let _ = ready.send(line);
        });
        match wait.recv_timeout(START_TIMEOUT) {
            Ok(Some(line)) if line.trim() == "ready" => Ok(()),
            other => Err(LabError::new(format!(
                "{name} did not start ({other:?})\n{}",
                self.logs()
            ))),
        }
    }

    fn start_helper(
        &mut self,
        server_bin: &Path,
        node_bin: &Path,
        helper: &scenario::Helper,
    ) -> Result<(), LabError> {
        let listen = SocketAddr::from((helper.ip, helper.port));
        let mut command = self.command_in(&self.namespaces.internet, server_bin);
        command
            .args(helper_args(listen, &self.ca_file))
            .stdin(Stdio::null())
            .stdout(self.log_file(&format!("helper-{}", helper.name))?)
            .stderr(self.log_file(&format!("helper-{}.err", helper.name))?);
        let child = process::spawn_bound(command)
            .map_err(|e| LabError::new(format!("cannot start {}: {e}", server_bin.display())))?;
        let name = format!("helper {}", helper.name);
        self.children.push((name.clone(), child));
        // Wait from inside the internet namespace: the client may be blocked from it.
        let mut wait = self.command_in(&self.namespaces.internet, node_bin);
        wait.arg("wait-tcp")
            .arg(listen.to_string())
            .arg(START_TIMEOUT.as_millis().to_string());
        wait.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut waiter = process::spawn_bound(wait)
            .map_err(|e| LabError::new(format!("cannot start {}: {e}", node_bin.display())))?;
        // Whichever comes first: the helper listens, or it exits (e.g. a bad option).
        let listening = loop {
            if let Ok(Some(status)) = waiter.try_wait() {
                break status.success();
            }
            let helper_exited = self
                .children
                .last_mut()
                .is_some_and(|(_, child)| matches!(child.try_wait(), Ok(Some(_))));
            if helper_exited {
                let _ = waiter.kill();
                let _ = waiter.wait();
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if listening {
            Ok(())
        } else {
            Err(LabError::new(format!(
                "{name} ({}) did not listen on {listen}\n{}",
                server_bin.display(),
                self.logs()
            )))
        }
    }

    fn teardown(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
        for namespace in self.created.drain(..) {
            if let Err(e) = topology::remove_namespace(&namespace) {
                eprintln!("kuzet lab: teardown of {namespace}: {e}");
            }
        }
        // The client's /etc/netns directory exists even if its namespace was never created.
        let dir = topology::etc_dir(&self.namespaces.client);
        if dir.exists() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The test helper's command line: `kuzet-server --listen ADDR --th --th-resolver
/// udp://HONEST:53 --th-allow-private --th-ca-file CA`.
pub fn helper_args(listen: SocketAddr, ca_file: &Path) -> Vec<String> {
    vec![
        "--listen".to_string(),
        listen.to_string(),
        "--th".to_string(),
        "--th-resolver".to_string(),
        format!("udp://{}:53", topology::HONEST_RESOLVER),
        "--th-allow-private".to_string(),
        "--th-ca-file".to_string(),
        ca_file.display().to_string(),
    ]
}

/// The internet namespace's node: the honest resolver, the sites, the blockpage server and the
/// interception servers.
fn internet_config(scenario: &Scenario, plan: &CensorPlan, ca: &TestCa) -> NodeConfig {
    let honest = scenario
        .honest_names()
        .into_iter()
        .map(|(name, ip)| (name, servers::DnsAnswer::Addresses(vec![ip])))
        .collect();
    let mut web = Vec::new();
    for site in &scenario.sites {
        if site.http {
            web.push(WebConfig {
                listen: SocketAddr::from((site.ip, 80)),
                title: site.title().to_string(),
                status: 200,
                tls: None,
                style: PageStyle::Site,
            });
        }
        if site.https {
            let names: Vec<&str> = site.names().collect();
            web.push(WebConfig {
                listen: SocketAddr::from((site.ip, 443)),
                title: site.title().to_string(),
                status: 200,
                tls: Some(TlsIdentity::from_leaf(&ca.leaf(&names))),
                style: PageStyle::Site,
            });
        }
    }
    if let Some(blockpage) = &scenario.blockpage {
        web.push(WebConfig {
            listen: SocketAddr::from((blockpage.ip, 80)),
            title: blockpage.title.clone(),
            status: 200,
            tls: None,
            style: PageStyle::Blockpage,
        });
        web.push(WebConfig {
            listen: SocketAddr::from((blockpage.ip, 443)),
            title: blockpage.title.clone(),
            status: 200,
            tls: Some(TlsIdentity::from_leaf(&ca.leaf(&[blockpage.name.as_str()]))),
            style: PageStyle::Blockpage,
        });
    }
    for interceptor in &scenario.interceptors {
        let rogue = TestCa::with_country(
            &interceptor.ca.common_name,
            &interceptor.ca.organisation,
            interceptor.ca.country.as_deref(),
        );
        let mut names: Vec<String> = plan
            .intercepted_names
            .get(&interceptor.name)
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        if names.is_empty() {
            names.push(format!("{}.interceptor.invalid", interceptor.name));
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        web.push(WebConfig {
            listen: SocketAddr::from((interceptor.ip, 443)),
            title: format!("Intercepted by {}", interceptor.name),
            status: 200,
            tls: Some(TlsIdentity::from_leaf(&rogue.leaf(&names))),
            style: PageStyle::Site,
        });
    }
    NodeConfig {
        role: "internet".to_string(),
        dns: vec![DnsConfig {
            listen: SocketAddr::from((topology::HONEST_RESOLVER, 53)),
            names: honest,
        }],
        web,
        proxies: Vec::new(),
        redirects: Vec::new(),
    }
}

/// Checks that this machine can run the lab: root, `ip netns`, nftables (with reject, DNAT,
/// redirect), iptables string matching, tc with HTB and ethtool, by trying them in a scratch namespace.
/// The result is computed once per process.
pub fn preflight() -> Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT.get_or_init(check_machine).clone()
}

/// Fails loudly (panics) when the lab cannot run here; never skips. In CI (`CI=true`) the
/// message says that the CI machine is misconfigured.
pub fn require() {
    if let Err(problem) = preflight() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let context = if ci {
            "CI=true: this CI machine cannot run the censorship lab, and the lab tests are required"
        } else {
            "the censorship lab tests cannot run on this machine (they are never skipped)"
        };
        panic!(
            "\n\n==== CENSORSHIP LAB UNAVAILABLE ====\n{context}.\nProblem: {problem}\n\
             The lab needs root, iproute2 (`ip netns`, `tc` with HTB), nftables, iptables \
             (nf_tables, with the `string` match) and ethtool; `scripts/test.sh` installs them on Debian.\n\
             ====================================\n"
        );
    }
}

fn check_machine() -> Result<(), String> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root (network namespaces need CAP_SYS_ADMIN)".to_string());
    }
    for (tool, args) in [
        ("ip", &["-V"][..]),
        ("nft", &["--version"][..]),
        ("iptables", &["--version"][..]),
        ("ethtool", &["--version"][..]),
        ("tc", &["-V"][..]),
    ] {
        process::run(tool, args).map_err(|e| format!("{tool} is missing or broken: {e}"))?;
    }
    static SCRATCH: AtomicUsize = AtomicUsize::new(0);
    let scratch = format!(
        "{}{}-preflight{}",
        topology::PREFIX,
        std::process::id(),
        SCRATCH.fetch_add(1, Ordering::SeqCst)
    );
    topology::add_namespace(&scratch).map_err(|e| format!("`ip netns add` fails: {e}"))?;
    let result = (|| {
        let script = "table ip kuzet_preflight {\n\
             chain prerouting {\n type nat hook prerouting priority dstnat;\n\
             ip daddr 10.77.9.9 tcp dport 443 dnat to 10.77.9.10:443\n\
             ip daddr 10.77.9.9 tcp dport 80 redirect to :3128\n}\n\
             chain forward {\n type filter hook forward priority filter;\n\
             ip daddr 10.77.9.9 meta l4proto tcp reject with tcp reset\n\
             ip daddr 10.77.9.9 tcp flags & (syn | ack) == syn drop\n}\n}\n";
        process::run_with_stdin(
            "ip",
            &["netns", "exec", &scratch, "nft", "-f", "-"],
            Some(script),
        )
        .map_err(|e| format!("nftables does not work: {e}"))?;
        process::run(
            "ip",
            &[
                "netns", "exec", &scratch, "iptables", "-w", "-A", "FORWARD", "-p", "tcp",
                "--dport", "443", "-m", "string", "--algo", "bm", "--string", "example", "-j",
                "DROP",
            ],
        )
        .map_err(|e| format!("iptables string matching does not work: {e}"))?;
        process::run(
            "ip",
            &[
                "netns", "exec", &scratch, "tc", "qdisc", "add", "dev", "lo", "root", "handle",
                "1:", "htb", "default", "10",
            ],
        )
        .map_err(|e| format!("tc with HTB does not work (the throttling scenarios): {e}"))?;
        Ok(())
    })();
    let _ = topology::remove_namespace(&scratch);
    result
}
