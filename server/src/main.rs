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
    let router = Router::new(Vec::new());
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
    eprintln!("kuzet-server: listening");
    router.serve(listener).await;
    ExitCode::SUCCESS
}
