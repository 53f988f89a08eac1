//! `kuzet-server`: not yet implemented. It will serve the web-connectivity test helper, the
//! collector and the throughput endpoint (see the README's status section).

fn main() {
    eprintln!(
        "kuzet-server {}: no services yet; see README.md",
        kuzet_core::VERSION
    );
    std::process::exit(2);
}
