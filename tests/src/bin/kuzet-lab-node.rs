//! Runs inside one of the censorship lab's network namespaces (`ip netns exec NS ...`).
//!
//! - `kuzet-lab-node serve CONFIG.json`: serves what the node config says (resolvers, sites,
//!   blockpage, interception servers, the censor's proxy; see `kuzet_e2e::lab::servers`),
//!   prints `ready` once everything listens, and serves until killed.
//! - `kuzet-lab-node wait-tcp IP:PORT MILLIS`: exits 0 as soon as a TCP connect to IP:PORT
//!   works, 1 if it still does not after MILLIS.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use kuzet_e2e::lab::servers::{self, NodeConfig};

const USAGE: &str = "usage: kuzet-lab-node serve CONFIG.json | wait-tcp IP:PORT MILLIS";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", config] => {
            let config: NodeConfig = match std::fs::read_to_string(config)
                .map_err(|e| e.to_string())
                .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
            {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("kuzet-lab-node: bad config {config}: {e}");
                    return ExitCode::from(2);
                }
            };
            match servers::serve_forever(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("kuzet-lab-node: {e}");
                    ExitCode::from(1)
                }
            }
        }
        ["wait-tcp", addr, millis] => {
            let (Ok(addr), Ok(millis)) = (addr.parse::<SocketAddr>(), millis.parse::<u64>()) else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            if servers::wait_for_tcp(addr, Duration::from_millis(millis)).await {
                ExitCode::SUCCESS
            } else {
                eprintln!("kuzet-lab-node: nothing listens on {addr}");
                ExitCode::from(1)
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
