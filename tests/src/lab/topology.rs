//! The lab's network: three namespaces joined by two veth pairs, all addresses in 10.77.0.0/16.
//!
//! ```text
//!  client ns               censor ns (router)                     internet ns
//!  eth0 10.77.1.2 ---- client0 10.77.1.1   inet0 10.77.2.1 ---- eth0 10.77.2.2
//!  default via .1.1     ISP resolver :53, HTTP proxy :3128        + every service address
//!                       nftables + iptables (string) rules        (sites, resolver, helpers…)
//! ```
//!
//! No namespace has any other interface, so nothing can leave the lab: the censor has no
//! default route (and rejects anything outside 10.77.0.0/16), the internet namespace routes only
//! 10.77.0.0/16 back to the censor. The host's own interfaces, routes and firewall are never
//! touched; every rule is installed inside a lab namespace.
//!
//! Namespace names are `kzlab-<pid>-<n>-<role>`, unique per lab instance, so parallel tests and
//! leftovers of crashed runs never collide; [`sweep_stale`] removes the leftovers of processes
//! that are gone.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::process::{run, LabError};

/// The prefix of every lab namespace and `/etc/netns` directory.
pub const PREFIX: &str = "kzlab-";
/// The lab's one address range.
pub const LAB_NET: &str = "10.77.0.0/16";
/// The client's address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
/// The censor's address on the client side: the client's gateway and resolver.
pub const CENSOR_CLIENT_SIDE: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
/// The censor's address on the internet side.
pub const CENSOR_INTERNET_SIDE: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 1);
/// The internet namespace's router address.
pub const INTERNET_ROUTER: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);
/// The ISP resolver (in the censor namespace; the client's system resolver).
pub const ISP_RESOLVER: Ipv4Addr = CENSOR_CLIENT_SIDE;
/// The honest resolver (in the internet namespace; the test helpers' resolver).
pub const HONEST_RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 77, 3, 53);
/// The port of the censor's transparent HTTP proxy.
pub const PROXY_PORT: u16 = 3128;
/// The censor's interface towards the client.
pub const CENSOR_CLIENT_IF: &str = "client0";
/// The censor's interface towards the internet.
pub const CENSOR_INTERNET_IF: &str = "inet0";
/// The interface of the client and internet namespaces.
pub const EDGE_IF: &str = "eth0";
/// Where service addresses (sites, helpers, resolvers, blockpage…) may be, for messages.
pub const SERVICE_RANGE_TEXT: &str = "10.77.3.0 to 10.77.255.254";

/// True for addresses the internet namespace may own: 10.77.3.0 – 10.77.255.254, not a
/// network or broadcast-looking .0/.255 last byte.
pub fn is_service_address(ip: Ipv4Addr) -> bool {
    let [a, b, c, d] = ip.octets();
    a == 10 && b == 77 && c >= 3 && d != 0 && d != 255
}

/// True for any address inside 10.77.0.0/16.
pub fn in_lab(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    a == 10 && b == 77
}

/// The three namespaces of one lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    /// The measuring phone.
    pub client: String,
    /// The ISP's router, resolver and DPI box.
    pub censor: String,
    /// Everything else: sites, resolvers, helpers.
    pub internet: String,
}

impl Namespaces {
    /// Fresh names for a new lab in this process.
    pub fn fresh() -> Namespaces {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("{PREFIX}{}-{n}", std::process::id());
        Namespaces {
            client: format!("{base}-client"),
            censor: format!("{base}-censor"),
            internet: format!("{base}-internet"),
        }
    }

    /// All three, client first.
    pub fn all(&self) -> [&str; 3] {
        [&self.client, &self.censor, &self.internet]
    }
}

/// `/etc/netns/NAME`: `ip netns exec NAME` bind-mounts the files in it over `/etc`.
pub fn etc_dir(namespace: &str) -> PathBuf {
    Path::new("/etc/netns").join(namespace)
}

/// Creates one namespace with its loopback up.
pub fn add_namespace(name: &str) -> Result<(), LabError> {
    run("ip", &["netns", "add", name])?;
    run("ip", &["-n", name, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Wires the three (already created) namespaces: veths, addresses, routes, forwarding, no
/// segmentation offloads, and the internet namespace's service addresses.
pub fn wire(ns: &Namespaces, service_addresses: &[Ipv4Addr]) -> Result<(), LabError> {
    let ip = |namespace: &str, args: &[&str]| -> Result<(), LabError> {
        let mut all = vec!["-n", namespace];
        all.extend_from_slice(args);
        run("ip", &all).map(drop)
    };
    // Both veth pairs are created inside the censor namespace, with the far end placed
    // directly in its own namespace: no interface ever appears in the host's namespace.
    ip(
        &ns.censor,
        &[
            "link",
            "add",
            CENSOR_CLIENT_IF,
            "type",
            "veth",
            "peer",
            "name",
            EDGE_IF,
            "netns",
            &ns.client,
        ],
    )?;
    ip(
        &ns.censor,
        &[
            "link",
            "add",
            CENSOR_INTERNET_IF,
            "type",
            "veth",
            "peer",
            "name",
            EDGE_IF,
            "netns",
            &ns.internet,
        ],
    )?;

    let client_addr = format!("{CLIENT_ADDR}/24");
    let censor_client = format!("{CENSOR_CLIENT_SIDE}/24");
    let censor_internet = format!("{CENSOR_INTERNET_SIDE}/24");
    let internet_router = format!("{INTERNET_ROUTER}/24");
    let gateway_client = CENSOR_CLIENT_SIDE.to_string();
    let gateway_internet = CENSOR_INTERNET_SIDE.to_string();
    let internet_next_hop = INTERNET_ROUTER.to_string();

    ip(&ns.client, &["addr", "add", &client_addr, "dev", EDGE_IF])?;
    ip(&ns.client, &["link", "set", EDGE_IF, "up"])?;
    // The phone's default route: to the censor, which is the only way anywhere.
    ip(
        &ns.client,
        &["route", "add", "default", "via", &gateway_client],
    )?;

    ip(
        &ns.censor,
        &["addr", "add", &censor_client, "dev", CENSOR_CLIENT_IF],
    )?;
    ip(
        &ns.censor,
        &["addr", "add", &censor_internet, "dev", CENSOR_INTERNET_IF],
    )?;
    ip(&ns.censor, &["link", "set", CENSOR_CLIENT_IF, "up"])?;
    ip(&ns.censor, &["link", "set", CENSOR_INTERNET_IF, "up"])?;
    ip(
        &ns.censor,
        &["route", "add", LAB_NET, "via", &internet_next_hop],
    )?;
    run(
        "ip",
        &[
            "netns",
            "exec",
            &ns.censor,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    )?;

    ip(
        &ns.internet,
        &["addr", "add", &internet_router, "dev", EDGE_IF],
    )?;
    ip(&ns.internet, &["link", "set", EDGE_IF, "up"])?;
    ip(
        &ns.internet,
        &["route", "add", LAB_NET, "via", &gateway_internet],
    )?;
    for address in service_addresses {
        let cidr = format!("{address}/32");
        ip(&ns.internet, &["addr", "add", &cidr, "dev", EDGE_IF])?;
    }

    // Offloads off on every veth end: with TSO/GSO/GRO, HTB shaping (the throttling scenarios)
    // stalls, and packets are not the size the wire would carry.
    for (namespace, interface) in [
        (&ns.client, EDGE_IF),
        (&ns.censor, CENSOR_CLIENT_IF),
        (&ns.censor, CENSOR_INTERNET_IF),
        (&ns.internet, EDGE_IF),
    ] {
        run(
            "ip",
            &[
                "netns", "exec", namespace, "ethtool", "-K", interface, "tso", "off", "gso", "off",
                "gro", "off",
            ],
        )?;
    }
    Ok(())
}

/// Writes the client's `/etc/resolv.conf` (through `/etc/netns/CLIENT/`): the ISP resolver only,
/// with glibc's default timeouts (5 s, 2 attempts), so that for a dropped query the measuring
/// client's own DNS timeout fires first, as on a phone.
pub fn write_client_resolv_conf(client: &str) -> Result<(), LabError> {
    let dir = etc_dir(client);
    std::fs::create_dir_all(&dir)
        .map_err(|e| LabError::new(format!("cannot create {}: {e}", dir.display())))?;
    let text = format!("nameserver {ISP_RESOLVER}\n");
    let path = dir.join("resolv.conf");
    std::fs::write(&path, text)
        .map_err(|e| LabError::new(format!("cannot write {}: {e}", path.display())))
}

/// The lab namespaces that exist now.
pub fn list_lab_namespaces() -> Result<Vec<String>, LabError> {
    let out = run("ip", &["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(PREFIX))
        .map(str::to_string)
        .collect())
}

/// Kills every process in `namespace`, deletes it and its `/etc/netns` directory. Best effort:
/// returns the first problem but tries everything.
pub fn remove_namespace(namespace: &str) -> Result<(), LabError> {
    let mut first_error = None;
    if let Ok(pids) = run("ip", &["netns", "pids", namespace]) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            if pid > 1 && pid != std::process::id() as i32 {
                // SAFETY: kill(2) with a pid read from `ip netns pids`; no memory involved.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
    if let Err(e) = run("ip", &["netns", "del", namespace]) {
        first_error.get_or_insert(e);
    }
    let dir = etc_dir(namespace);
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            first_error.get_or_insert(LabError::new(format!(
                "cannot remove {}: {e}",
                dir.display()
            )));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The pid in a lab namespace or directory name (`kzlab-<pid>-...`).
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// True when `pid` is a running process (not gone, not a zombie: in a container whose init
/// does not reap, a killed test process stays a zombie).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) STATE ...`; comm may contain spaces and parentheses.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X") | Some("x"))
}

/// Holds off every sweep in this process while the guard lives: for a test that plants
/// leftovers and sweeps them itself ([`sweep_held`]), while other tests start labs (each start
/// sweeps) in parallel.
pub fn hold_sweeps() -> MutexGuard<'static, ()> {
    static SWEEPING: Mutex<()> = Mutex::new(());
    // A test that panicked while holding it poisons it; sweeping is still safe.
    SWEEPING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes the namespaces and `/etc/netns` directories of labs whose process is gone (a
/// crashed or killed run); with `everything`, those of live processes too. Returns what it
/// removed.
pub fn sweep(everything: bool) -> Vec<String> {
    let held = hold_sweeps();
    sweep_held(&held, everything)
}

/// [`sweep`], for a caller that already holds off other sweeps ([`hold_sweeps`]).
pub fn sweep_held(_held: &MutexGuard<'static, ()>, everything: bool) -> Vec<String> {
    let stale = |name: &str| {
        everything
            || owner_pid(name).is_none_or(|pid| pid != std::process::id() && !process_alive(pid))
    };
    let mut removed = Vec::new();
    for namespace in list_lab_namespaces().unwrap_or_default() {
        if stale(&namespace) && remove_namespace(&namespace).is_ok() {
            removed.push(namespace);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(PREFIX)
                && stale(&name)
                && std::fs::remove_dir_all(entry.path()).is_ok()
            {
                removed.push(format!("/etc/netns/{name}"));
            }
        }
    }
    removed
}

/// Removes the leftovers of crashed runs (see [`sweep`]).
pub fn sweep_stale() -> Vec<String> {
    sweep(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_carry_the_pid() {
        let a = Namespaces::fresh();
        let b = Namespaces::fresh();
        assert_ne!(a, b);
        assert_eq!(owner_pid(&a.client), Some(std::process::id()));
        assert!(a.all().iter().all(|n| n.starts_with(PREFIX)));
        assert_eq!(owner_pid("kzlab-x-1-client"), None);
        assert_eq!(owner_pid("other-1-client"), None);
    }

    #[test]
    fn service_addresses_stay_in_the_lab() {
        assert!(is_service_address(Ipv4Addr::new(10, 77, 4, 10)));
        assert!(!is_service_address(Ipv4Addr::new(10, 77, 1, 5)));
        assert!(!is_service_address(Ipv4Addr::new(10, 78, 4, 10)));
        assert!(!is_service_address(Ipv4Addr::new(192, 168, 1, 1)));
        assert!(in_lab(CLIENT_ADDR) && in_lab(HONEST_RESOLVER));
    }
}
