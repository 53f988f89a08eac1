//! The throughput endpoint on loopback: any SNI is served, the printed pin is the key's, the
//! byte cap, the connection cap, and requests it must refuse. Clients are Kuzet's own pinned
//! TLS client and the throttling experiment.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kuzet_core::experiment::throttling::pin::{pinned_client_config, PinnedVerifier};
use kuzet_core::experiment::throttling::ThrottlingVerdict;
use kuzet_core::experiment::throttling::{run_throttling, SpkiPin, ThrottlingConfig};
use kuzet_server::throughput::{spki_pin, ThroughputConfig, ThroughputServer};
use rcgen::PublicKeyData;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Running {
    addr: SocketAddr,
    pin: SpkiPin,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(config: ThroughputConfig) -> Running {
    let server = ThroughputServer::new(config, None).expect("server");
    let pin = server.pin().parse().expect("the server's pin parses");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(server.serve(listener));
    Running { addr, pin, task }
}

/// A pinned TLS connection with `sni`, one request, and everything the server sent.
async fn exchange(running: &Running, sni: &str, request: &[u8]) -> Vec<u8> {
    let tcp = TcpStream::connect(running.addr).await.expect("connect");
    let verifier = Arc::new(PinnedVerifier::new(running.pin));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(pinned_client_config(verifier)));
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(request).await.expect("request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut answer)).await;
    answer
}

fn status(answer: &[u8]) -> String {
    String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_sni_is_served_and_the_experiment_runs_against_it() {
    let running = start(ThroughputConfig::default()).await;
    for sni in [
        "www.azattyq.org",
        "x.kuzet-control.invalid",
        "a-b.c.d.example",
    ] {
        let answer = exchange(
            &running,
            sni,
            b"GET /bytes?n=100000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status(&answer), "HTTP/1.1 200", "{sni}");
        let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(answer.len() - end, 100_000, "{sni}");
    }
    let mut config = ThrottlingConfig::new(
        running.addr,
        running.pin,
        vec!["www.azattyq.org".to_string()],
    );
    config.trial_timeout = Duration::from_secs(3);
    let report = run_throttling(&config, &CancellationToken::new(), &|_| {})
        .await
        .expect("the experiment runs against the real endpoint");
    assert_eq!(report.results.len(), 1);
    assert!(
        !matches!(
            report.results[0].verdict,
            ThrottlingVerdict::Inconclusive { .. } | ThrottlingVerdict::Stalled { .. }
        ),
        "{:?}",
        report.results[0].verdict
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_cap_is_enforced() {
    let running = start(ThroughputConfig {
        max_bytes: 50_000,
        ..ThroughputConfig::default()
    })
    .await;
    let ok = exchange(
        &running,
        "a.example",
        b"GET /bytes?n=50000 HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&ok), "HTTP/1.1 200");
    let refused = exchange(
        &running,
        "a.example",
        b"GET /bytes?n=50001 HTTP/1.1\r\n\r\n",
    )
    .await;
    assert_eq!(status(&refused), "HTTP/1.1 400");
    assert!(refused.len() < 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_requests_are_refused_and_closed() {
    let running = start(ThroughputConfig::default()).await;
    for (request, expected) in [
        (&b"HELLO\r\n\r\n"[..], "HTTP/1.1 400"),
        (b"GET /other HTTP/1.1\r\n\r\n", "HTTP/1.1 404"),
        (b"POST /bytes?n=5 HTTP/1.1\r\n\r\n", "HTTP/1.1 405"),
        (b"GET /bytes?n=abc HTTP/1.1\r\n\r\n", "HTTP/1.1 400"),
    ] {
        let answer = exchange(&running, "a.example", request).await;
        assert_eq!(status(&answer), expected, "{request:?}");
    }
    // A head that never ends is cut at 8 KiB.
    let endless = vec![b'a'; 9000];
    let answer = exchange(&running, "a.example", &endless).await;
    assert_eq!(status(&answer), "HTTP/1.1 400");
    // Two requests on one connection are both served.
    let answer = exchange(
        &running,
        "a.example",
        b"GET /bytes?n=10 HTTP/1.1\r\n\r\nGET /bytes?n=20 HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&answer)
            .matches("HTTP/1.1 200")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_closed_at_once() {
    let running = start(ThroughputConfig {
        max_connections: 2,
        ..ThroughputConfig::default()
    })
    .await;
    let _a = TcpStream::connect(running.addr).await.unwrap();
    let _b = TcpStream::connect(running.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(running.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .expect("closed at once, not left waiting");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_closes_a_client_that_opens_too_many() {
    let running = start(ThroughputConfig {
        per_client_per_minute: 3,
        ..ThroughputConfig::default()
    })
    .await;
    for _ in 0..3 {
        let answer = exchange(
            &running,
            "a.example",
            b"GET /bytes?n=1 HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status(&answer), "HTTP/1.1 200");
    }
    let tcp = TcpStream::connect(running.addr).await.unwrap();
    let verifier = Arc::new(PinnedVerifier::new(running.pin));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(pinned_client_config(verifier)));
    let name = rustls::pki_types::ServerName::try_from("a.example").unwrap();
    assert!(connector.connect(name, tcp).await.is_err());
}

#[test]
fn the_binary_prints_the_pin_of_its_key_and_keeps_it() {
    let bin = kuzet_e2e::build::workspace_bin("kuzet-server", "kuzet-server", "KUZET_SERVER_BIN")
        .expect("kuzet-server binary");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("throughput.pem");
    let mut pins = Vec::new();
    for _ in 0..2 {
        let mut child = Command::new(&bin)
            .args(["--throughput", "127.0.0.1:0", "--throughput-key"])
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kuzet-server");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let pin_line = lines.next().unwrap().unwrap();
        let listen_line = lines.next().unwrap().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let pin = pin_line
            .strip_prefix("kuzet-server: throughput pin ")
            .unwrap_or_else(|| panic!("{pin_line}"))
            .to_string();
        assert!(
            listen_line.starts_with("kuzet-server: throughput listening on 127.0.0.1:"),
            "{listen_line}"
        );
        pins.push(pin);
    }
    assert_eq!(pins[0], pins[1], "the key file keeps the pin");
    let pem = std::fs::read_to_string(&key).unwrap();
    let keypair = rcgen::KeyPair::from_pem(&pem).unwrap();
    assert_eq!(pins[0], spki_pin(&keypair.subject_public_key_info()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
