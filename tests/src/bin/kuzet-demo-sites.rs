//! Local sites for `scripts/measure-demo.sh` (these machines have no internet): an HTTP and an
//! HTTPS server on 127.0.0.1 with a fresh CA, plus a port where nothing listens.
//!
//! Usage: `kuzet-demo-sites CA_PEM_OUT`. Writes the CA certificate to `CA_PEM_OUT`, then prints
//! `HTTP_BASE=http://127.0.0.1:PORT`, `HTTPS_BASE=https://127.0.0.1:PORT` and
//! `CLOSED_BASE=http://127.0.0.1:PORT` (one per line, in that order), and serves until killed.
//!
//! Routes: `/` on both; on HTTP `/go-secure` redirects (301) to the HTTPS `/`, and `/missing`
//! answers 404.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::ClosedPort;
use kuzet_e2e::fixtures::web::{Routes, WebServer};

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(ca_out), None) = (args.next().map(PathBuf::from), args.next()) else {
        eprintln!("usage: kuzet-demo-sites CA_PEM_OUT");
        return ExitCode::from(2);
    };

    let ca = TestCa::new("Kuzet Demo CA", "Kuzet demo");
    let https = WebServer::https(
        Routes::new().page("/", 200, "Kuzet demo site (HTTPS)"),
        &ca.leaf(&["127.0.0.1"]),
    )
    .await;
    let http = WebServer::http(
        Routes::new()
            .page("/", 200, "Kuzet demo site (HTTP)")
            .redirect("/go-secure", 301, &https.url("https", "/"))
            .page("/missing", 404, "Not here"),
    )
    .await;
    // Held until exit, so that no other server can take the port.
    let closed = match ClosedPort::reserve() {
        Ok(closed) => closed,
        Err(e) => {
            eprintln!("kuzet-demo-sites: cannot reserve a closed port: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = std::fs::write(&ca_out, &ca.cert_pem) {
        eprintln!("kuzet-demo-sites: cannot write {}: {e}", ca_out.display());
        return ExitCode::from(1);
    }

    let mut out = std::io::stdout().lock();
    let printed = writeln!(
        out,
        "HTTP_BASE=http://{}\nHTTPS_BASE=https://{}\nCLOSED_BASE=http://{}",
        http.addr, https.addr, closed.addr
    )
    .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = printed {
        eprintln!("kuzet-demo-sites: cannot print the URLs: {e}");
        return ExitCode::from(1);
    }

    // Serve until killed; the servers stop with the process.
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
