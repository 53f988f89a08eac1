//! `kuzet-server`: serves Kuzet's endpoints (web-connectivity test helper, collector) on one
//! HTTP listener, for self-hosting and for the censorship lab.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use kuzet_server::router::Router;

/// Kuzet's self-hostable services.
#[derive(Debug, Parser)]
#[command(name = "kuzet-server", version, about)]
struct Args {
    /// Where to listen, e.g. 127.0.0.1:8080.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve the web-connectivity test helper (oohelperd protocol) on `/`.
    #[arg(long)]
    th: bool,
    /// The test helper's resolver: udp://IP[:port], https://DoH-URL, dot://IP[:port] or system.
    #[arg(long, value_name = "SPEC", default_value = kuzet_server::th::DEFAULT_RESOLVER)]
    th_resolver: String,
    /// Let the test helper connect to private and other bogon addresses. Labs only: on a public
    /// server this lets anyone make it connect inside its network.
    #[arg(long)]
    th_allow_private: bool,
    /// Also trust the CA certificates in this PEM file when the test helper fetches sites.
    #[arg(long, value_name = "PEM")]
    th_ca_file: Option<std::path::PathBuf>,
    /// Serve the OONI collector protocol (`POST /report`, `/report/{id}`), storing what it
    /// receives in `--data-dir`.
    #[arg(long, requires = "data_dir")]
    collector: bool,
    /// Where the collector stores measurements (an SQLite database is created there).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Serve the throughput endpoint (TLS accepting any SNI, pinned key, `GET /bytes?n=N`) on
    /// this address, e.g. 0.0.0.0:443. Without --th or --collector, `--listen` is not bound.
    #[arg(long, value_name = "ADDR")]
    throughput: Option<SocketAddr>,
    /// The throughput endpoint's private key (PEM): created (mode 0600) if missing, reused if
    /// present, so its pin stays the same. Without it a fresh key is made at each start.
    #[arg(long, value_name = "PATH", requires = "throughput")]
    throughput_key: Option<std::path::PathBuf>,
    /// The most bytes one throughput request may ask for.
    #[arg(long, value_name = "N", default_value_t = kuzet_server::throughput::DEFAULT_MAX_BYTES)]
    throughput_max_bytes: u64,
    /// The most throughput connections open at once (more are closed at once).
    #[arg(long, value_name = "N", default_value_t = kuzet_server::throughput::DEFAULT_MAX_CONNECTIONS)]
    throughput_max_conns: usize,
    /// New throughput connections allowed per client address per minute (0: no limit, labs).
    #[arg(long, value_name = "N", default_value_t = kuzet_server::throughput::DEFAULT_PER_CLIENT_PER_MINUTE)]
    throughput_per_client_per_minute: u32,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let mut endpoints: Vec<std::sync::Arc<dyn kuzet_server::endpoint::Endpoint>> = Vec::new();
    if args.th {
        match test_helper(&args) {
            Ok(helper) => endpoints.push(std::sync::Arc::new(helper)),
            Err(message) => {
                eprintln!("kuzet-server: error: {message}");
                return ExitCode::from(2);
            }
        }
    }
    if let (true, Some(dir)) = (args.collector, &args.data_dir) {
        let config = kuzet_server::collector::CollectorConfig::default();
        match kuzet_server::collector::Collector::open(dir, config) {
            Ok(collector) => endpoints.push(std::sync::Arc::new(collector)),
            Err(error) => {
                eprintln!("kuzet-server: error: {error}");
                return ExitCode::from(1);
            }
        }
    }
    // The throughput task serves on its own; dropping its handle does not stop it.
    let throughput = match args.throughput {
        Some(addr) => match start_throughput(&args, addr).await {
            Ok(task) => Some(task),
            Err(code) => return code,
        },
        None => None,
    };
    if let (Some(task), true) = (throughput, endpoints.is_empty()) {
        // Only the throughput endpoint: `--listen` is not bound.
        let _ = task.await;
        return ExitCode::SUCCESS;
    }
    let router = Router::new(endpoints);
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "kuzet-server: error: cannot listen on {}: {error}",
                args.listen
            );
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => eprintln!("kuzet-server: listening on {addr}"),
        Err(_) => eprintln!("kuzet-server: listening"),
    }
    router.serve(listener).await;
    ExitCode::SUCCESS
}

/// Starts the throughput endpoint from the `--throughput*` flags: prints its pin and address on
/// standard error and serves it in a task.
async fn start_throughput(
    args: &Args,
    addr: SocketAddr,
) -> Result<tokio::task::JoinHandle<()>, ExitCode> {
    use kuzet_server::throughput::{ThroughputConfig, ThroughputServer};
    let config = ThroughputConfig {
        max_bytes: args.throughput_max_bytes,
        max_connections: args.throughput_max_conns,
        per_client_per_minute: args.throughput_per_client_per_minute,
        ..ThroughputConfig::default()
    };
    let server = ThroughputServer::new(config, args.throughput_key.as_deref()).map_err(|e| {
        eprintln!("kuzet-server: error: {e}");
        ExitCode::from(1)
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("kuzet-server: error: cannot listen on {addr} (throughput): {e}");
        ExitCode::from(1)
    })?;
    eprintln!("kuzet-server: throughput pin {}", server.pin());
    match listener.local_addr() {
        Ok(local) => eprintln!("kuzet-server: throughput listening on {local}"),
        Err(_) => eprintln!("kuzet-server: throughput listening"),
    }
    Ok(tokio::spawn(server.serve(listener)))
}

/// The test helper configured from the `--th-*` flags.
fn test_helper(args: &Args) -> Result<kuzet_server::th::TestHelper, String> {
    use kuzet_core::net::trust::TrustAnchors;
    use kuzet_core::probe::dns::DnsTransport;
    let resolver = DnsTransport::parse(&args.th_resolver).map_err(|e| e.to_string())?;
    let trust = match &args.th_ca_file {
        Some(path) => TrustAnchors::bundled_with_ca_file(path).map_err(|e| e.to_string())?,
        None => TrustAnchors::bundled(),
    };
    Ok(kuzet_server::th::TestHelper::new(
        kuzet_server::th::TestHelperConfig {
            resolver,
            trust,
            allow_private_targets: args.th_allow_private,
            ..kuzet_server::th::TestHelperConfig::default()
        },
    ))
}
