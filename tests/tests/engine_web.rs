//! The engine's web suite against local sites and the real test helper (`kuzet-server`'s
//! oohelperd endpoint, served in process on 127.0.0.1): web_connectivity verdicts, their plain
//! words, and moving on to the next test helper when one does not answer.

use std::sync::Arc;

use kuzet_core::engine::{
    parse_service_url, Engine, EngineConfig, NetworkContext, NetworkContextProvider, NetworkKind,
    NoListener, RunRequest, RunStatus, Suite, Verdict,
};
use kuzet_core::probe::dns::DnsTransport;
use kuzet_core::report::Software;
use kuzet_e2e::fixtures::tcp::closed_port;
use kuzet_e2e::fixtures::web::{Routes, WebServer};
use kuzet_server::router::Router;
use kuzet_server::th::{TestHelper, TestHelperConfig};

/// The real test helper on an ephemeral loopback port, allowed to connect to loopback sites.
struct Helper {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_helper() -> Helper {
    let helper = TestHelper::new(TestHelperConfig {
        resolver: DnsTransport::System,
        allow_private_targets: true,
        ..TestHelperConfig::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new(vec![Arc::new(helper)]);
    Helper {
        url: format!("http://{addr}/"),
        task: tokio::spawn(router.serve(listener)),
    }
}

fn engine(dir: &tempfile::TempDir, helpers: &[String], parallelism: usize) -> Engine {
    let mut config = EngineConfig::new(
        dir.path().join("kuzet"),
        Software {
            name: "kuzet-tests".to_string(),
            version: "1.0".to_string(),
        },
    );
    config.test_helper_urls = helpers
        .iter()
        .map(|url| parse_service_url("test helper URL", url).unwrap())
        .collect();
    config.parallelism = parallelism;
    Engine::new(config).unwrap()
}

fn web(urls: Vec<String>) -> RunRequest {
    RunRequest {
        suites: vec![Suite::Web],
        web_urls: urls,
        byte_budget: None,
        throttling_targets: Vec::new(),
    }
}

struct Beeline;
impl NetworkContextProvider for Beeline {
    fn current_network(&self) -> NetworkContext {
        NetworkContext {
            kind: NetworkKind::Cellular,
            mcc_mnc: Some("40101".to_string()),
            ..NetworkContext::default()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_test_helper_pages_are_accessible_and_a_dead_site_is_down() {
    let helper = start_helper().await;
    let site = WebServer::http(
        Routes::new()
            .page("/", 200, "home")
            .page("/missing", 404, "gone"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, std::slice::from_ref(&helper.url), 1);
    engine.set_network_provider(Some(Arc::new(Beeline)));
    let dead = format!("http://127.0.0.1:{}/", closed_port());
    let urls = vec![site.url("http", "/"), site.url("http", "/missing"), dead];
    let summary = engine
        .run(web(urls.clone()), Arc::new(NoListener))
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 3);

    let page = &summary.results[0];
    assert_eq!(page.verdict, Verdict::Accessible, "{page:?}");
    assert_eq!(page.verdict_detail, "ok");
    assert_eq!(page.blocking, None);
    assert!(
        page.explanation
            .starts_with("127.0.0.1 loaded normally (HTTP 200) in "),
        "{}",
        page.explanation
    );
    let measurement: serde_json::Value = serde_json::from_str(&page.measurement_json).unwrap();
    assert_eq!(measurement["test_name"], "web_connectivity");
    assert_eq!(measurement["test_keys"]["x_verdict"]["kind"], "ok");
    assert_eq!(
        measurement["test_keys"]["control_failure"],
        serde_json::Value::Null
    );
    assert_eq!(
        measurement["test_helpers"]["backend"]["address"],
        helper.url.as_str()
    );
    assert_eq!(measurement["probe_asn"], "AS21299");
    assert_eq!(measurement["probe_cc"], "KZ");

    // The same 404 from the helper's network: the site answers, it is not blocked.
    let missing = &summary.results[1];
    assert_eq!(missing.verdict, Verdict::Accessible, "{missing:?}");
    assert_eq!(missing.status_code, Some(404));
    assert!(
        missing.explanation.contains("HTTP 404"),
        "{}",
        missing.explanation
    );

    let down = &summary.results[2];
    assert_eq!(down.verdict, Verdict::Down, "{down:?}");
    assert_eq!(down.verdict_detail, "site down");
    assert_eq!(down.failure.as_deref(), Some("connection_refused"));
    assert!(
        down.explanation
            .contains("the site seems down for everyone"),
        "{}",
        down.explanation
    );

    // The history keeps the engine's verdict.
    let history = engine.results_history_async(0, 10).await.unwrap();
    let verdicts: Vec<Verdict> = history
        .items
        .iter()
        .map(kuzet_core::engine::result_verdict)
        .collect();
    assert_eq!(
        verdicts,
        vec![Verdict::Down, Verdict::Accessible, Verdict::Accessible]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_test_helper_does_not_answer_the_next_urls_use_the_next_one() {
    let helper = start_helper().await;
    let site = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let gone = format!("http://127.0.0.1:{}/", closed_port());
    let engine = engine(&dir, &[gone.clone(), helper.url.clone()], 1);
    let urls = vec![
        site.url("http", "/"),
        site.url("http", "/"),
        site.url("http", "/"),
    ];
    let summary = engine.run(web(urls), Arc::new(NoListener)).await.unwrap();
    assert_eq!(summary.results.len(), 3);

    // The first URL went to the helper that is not there: it loaded, but nothing proves the
    // page genuine.
    let first = &summary.results[0];
    assert_eq!(first.verdict, Verdict::Undetermined, "{first:?}");
    assert!(
        first
            .explanation
            .contains("Kuzet could not reach its test helper"),
        "{}",
        first.explanation
    );
    let measurement: serde_json::Value = serde_json::from_str(&first.measurement_json).unwrap();
    assert_eq!(
        measurement["test_helpers"]["backend"]["address"],
        gone.as_str()
    );
    for later in &summary.results[1..] {
        assert_eq!(later.verdict, Verdict::Accessible, "{later:?}");
        let measurement: serde_json::Value = serde_json::from_str(&later.measurement_json).unwrap();
        assert_eq!(
            measurement["test_helpers"]["backend"]["address"],
            helper.url.as_str()
        );
    }
}
