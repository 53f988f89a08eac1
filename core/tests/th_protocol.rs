//! The test helper protocol against a real oohelperd exchange (cut from a web_connectivity
//! 0.5.26 measurement, `shared/data/ooni-samples/protocols/`): Kuzet's types read both messages
//! and write them back with every value unchanged. Plus the client's failure modes.

use std::path::{Path, PathBuf};

use kuzet_core::th::{ThRequest, ThResponse, IP_FLAG_VALID_FOR_DOMAIN};
use kuzet_core::Failure;
use serde_json::Value;

fn protocols_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ooni-samples/protocols")
}

/// Reads a sample; a missing sample fails the test (it must not pass vacuously).
fn sample(name: &str) -> Value {
    let path = protocols_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("sample {} is missing: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn request_round_trips() {
    let original = sample("oohelperd-request-real-IT-nexa.polito.it.json");
    let request: ThRequest = serde_json::from_value(original.clone()).unwrap();
    assert_eq!(request.http_request, "https://nexa.polito.it/");
    assert_eq!(
        request.tcp_connect,
        vec!["130.192.16.171:443", "130.192.16.171:80"]
    );
    assert_eq!(
        request.http_request_headers["Accept-Language"],
        vec!["en-US,en;q=0.9"]
    );
    assert!(!request.x_quic_enabled);
    assert_eq!(serde_json::to_value(&request).unwrap(), original);
}

#[test]
fn response_round_trips() {
    let original = sample("oohelperd-response-real-IT-nexa.polito.it.json");
    let response: ThResponse = serde_json::from_value(original.clone()).unwrap();
    assert_eq!(serde_json::to_value(&response).unwrap(), original);

    assert!(response.tcp_connect["130.192.16.171:443"].status);
    let tls = &response.tls_handshake["130.192.16.171:443"];
    assert_eq!(tls.server_name, "nexa.polito.it");
    assert!(tls.status);
    assert!(response.quic_handshake.is_empty());
    assert!(response.http3_request.is_none());
    let http = &response.http_request;
    assert_eq!(http.status_code, 200);
    assert_eq!(http.body_length, 36546);
    assert!(http.title.starts_with("Nexa Center for Internet & Society"));
    assert_eq!(http.headers["Server"], "Apache");
    assert!(http.succeeded());
    assert_eq!(response.dns.failure, None);
    assert_eq!(response.dns.addrs, vec!["130.192.16.171"]);
    let info = response.ip_info["130.192.16.171"];
    assert_eq!(info.asn, 137);
    // 11 = resolved by the probe (1) and the helper (2), valid for the domain (8).
    assert_eq!(info.flags, 11);
    assert_ne!(info.flags & IP_FLAG_VALID_FOR_DOMAIN, 0);
}

#[test]
fn failure_strings_of_the_helper_are_kept() {
    let mut value = sample("oohelperd-response-real-IT-nexa.polito.it.json");
    value["dns"] = serde_json::json!({"failure": "dns_name_error", "addrs": []});
    value["http_request"]["failure"] = Value::from("unknown_error");
    let response: ThResponse = serde_json::from_value(value.clone()).unwrap();
    assert!(response.dns.is_name_error());
    assert_eq!(
        response.http_request.failure,
        Some(Failure::Other("unknown_error".into()))
    );
    assert!(!response.http_request.succeeded());
    assert_eq!(serde_json::to_value(&response).unwrap(), value);
}

mod client {
    use std::net::SocketAddr;
    use std::time::Duration;

    use kuzet_core::net::http_client::service_client;
    use kuzet_core::net::trust::TrustAnchors;
    use kuzet_core::th::{call_test_helper, call_test_helper_counted, ThRequest};
    use kuzet_core::Failure;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use url::Url;

    /// A one-shot HTTP server: reads the request, then writes `answer` (or nothing, for
    /// `None`, holding the connection open).
    async fn canned(answer: Option<Vec<u8>>) -> (Url, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read the head and the announced body.
            loop {
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            match answer {
                Some(answer) => {
                    let _ = stream.write_all(&answer).await;
                    let _ = stream.shutdown().await;
                }
                None => tokio::time::sleep(Duration::from_secs(30)).await,
            }
            request
        });
        (Url::parse(&format!("http://{addr}/")).unwrap(), task)
    }

    fn http(status: &str, body: &str) -> Option<Vec<u8>> {
        Some(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    fn request() -> ThRequest {
        ThRequest {
            http_request: "https://example.org/".into(),
            http_request_headers: Default::default(),
            tcp_connect: vec!["93.184.216.34:443".into()],
            x_quic_enabled: false,
        }
    }

    fn client() -> kuzet_core::net::http_client::ServiceClient {
        service_client(&TrustAnchors::bundled(), Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn a_good_answer_is_parsed_and_the_request_is_json() {
        let body = r#"{"dns":{"failure":null,"addrs":["93.184.216.34"]},"http_request":{"status_code":200,"body_length":10}}"#;
        let (url, server) = canned(http("200 OK", body)).await;
        let (result, bytes) =
            call_test_helper_counted(&client(), &url, &request(), Duration::from_secs(5), 1024)
                .await;
        let response = result.unwrap();
        assert_eq!(response.dns.addrs, vec!["93.184.216.34"]);
        assert_eq!(bytes, body.len() as u64);
        let sent = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(sent.starts_with("POST / HTTP/1.1"), "{sent}");
        assert!(sent
            .to_ascii_lowercase()
            .contains("content-type: application/json"));
        let (_, json) = sent.split_once("\r\n\r\n").unwrap();
        let echoed: ThRequest = serde_json::from_str(json).unwrap();
        assert_eq!(echoed, request());
    }

    #[tokio::test]
    async fn failures_are_ooni_strings() {
        let cases = [
            (
                http("503 Service Unavailable", "{}"),
                Failure::Unknown("test helper answered HTTP 503".into()),
            ),
            (http("200 OK", "<html>not json</html>"), Failure::JsonParse),
            (
                http("200 OK", &format!("{{\"pad\":\"{}\"}}", "x".repeat(2048))),
                Failure::Unknown("test helper answer larger than 1024 bytes".into()),
            ),
        ];
        for (answer, expected) in cases {
            let (url, _server) = canned(answer).await;
            let result =
                call_test_helper(&client(), &url, &request(), Duration::from_secs(5), 1024).await;
            assert_eq!(result.unwrap_err(), expected);
        }

        // Silence: the timeout.
        let (url, _server) = canned(None).await;
        let result = call_test_helper(
            &client(),
            &url,
            &request(),
            Duration::from_millis(300),
            1024,
        )
        .await;
        assert_eq!(result.unwrap_err(), Failure::GenericTimeout);

        // Nobody listening.
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let url = Url::parse(&format!("http://{closed}/")).unwrap();
        let result =
            call_test_helper(&client(), &url, &request(), Duration::from_secs(5), 1024).await;
        assert_eq!(result.unwrap_err(), Failure::ConnectionRefused);
    }
}
