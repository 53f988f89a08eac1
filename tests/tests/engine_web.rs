//! The engine's web suite against local sites and the real test helper (`kuzet-server`'s
//! oohelperd endpoint, served in process on 127.0.0.1): web_connectivity verdicts, their plain
//! words (the same live and in the history), and moving on to the next test helper when one
//! does not answer.

use std::sync::Arc;

use kuzet_core::engine::{
    parse_service_url, Engine, EngineConfig, NetworkContext, NetworkContextProvider, NetworkKind,
    RunRequest, RunStatus, Suite, Verdict, VerdictGroup,
};
use kuzet_core::experiment::web_connectivity::Verdict as WebVerdict;
use kuzet_core::probe::dns::DnsTransport;
use kuzet_core::report::Software;
use kuzet_e2e::fixtures::anchors::Anchors;
use kuzet_e2e::fixtures::listener::Heard;
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

fn engine(
    dir: &tempfile::TempDir,
    anchors: &Anchors,
    helpers: &[String],
    parallelism: usize,
) -> Engine {
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
    config.connectivity = anchors.config();
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
    let anchors = Anchors::up();
    let engine = engine(&dir, &anchors, std::slice::from_ref(&helper.url), 1);
    engine.set_network_provider(Some(Arc::new(Beeline)));
    let dead = format!("http://127.0.0.1:{}/", closed_port());
    let urls = vec![
        site.url("http", "/"),
        site.url("http", "/missing"),
        dead.clone(),
    ];
    let heard = Arc::new(Heard::default());
    let summary = engine.run(web(urls.clone()), heard.clone()).await.unwrap();
    assert_eq!(summary.status, RunStatus::Completed);
    assert_eq!(summary.results.len(), 3);
    assert_eq!(
        summary.network,
        Some(kuzet_core::experiment::connectivity::ConnectivityStatus::Ok)
    );

    let (page, measurement) = heard.result(&urls[0]);
    assert_eq!(page.verdict, Verdict::Web(WebVerdict::Ok), "{page:?}");
    assert_eq!(page.word, "ok");
    assert_eq!(page.group, VerdictGroup::Ok);
    assert!(
        page.explanation
            .starts_with("127.0.0.1 loaded normally (HTTP 200) in "),
        "{}",
        page.explanation
    );
    let measurement = serde_json::to_value(&measurement).unwrap();
    assert_eq!(measurement["test_name"], "web_connectivity");
    assert_eq!(
        measurement["test_keys"]["x_network"]["before"]["status"],
        "ok"
    );
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
    let (missing, _) = heard.result(&urls[1]);
    assert_eq!(missing.word, "ok", "{missing:?}");
    assert_eq!(missing.status_code, Some(404));
    assert!(
        missing.explanation.contains("HTTP 404"),
        "{}",
        missing.explanation
    );

    let (down, measurement) = heard.result(&dead);
    assert_eq!(down.verdict, Verdict::Web(WebVerdict::SiteDown), "{down:?}");
    assert_eq!(down.word, "site_down");
    assert_eq!(down.group, VerdictGroup::Down);
    assert_eq!(down.failure.as_deref(), Some("connection_refused"));
    // A claim: held until a check after it confirmed the network worked.
    assert_eq!(measurement.test_keys["x_network"]["after"]["status"], "ok");
    assert_eq!(
        measurement.test_keys["x_verdict"]["kind"],
        down.word.as_str()
    );
    assert!(
        down.explanation
            .contains("the site seems down for everyone"),
        "{}",
        down.explanation
    );

    // The history keeps the run's own words and explanations.
    let history = engine.results_history(0, 10).await.unwrap();
    let mut stored: Vec<(String, String, String)> = history
        .items
        .iter()
        .map(|item| {
            let r = &item.result;
            (r.target.clone(), r.word.clone(), r.explanation.clone())
        })
        .collect();
    stored.sort();
    let mut live: Vec<(String, String, String)> = heard
        .results()
        .into_iter()
        .map(|(r, _)| (r.target, r.word, r.explanation))
        .collect();
    live.sort();
    assert_eq!(stored, live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_test_helper_does_not_answer_the_next_urls_use_the_next_one() {
    let helper = start_helper().await;
    let site = WebServer::http(Routes::new().page("/", 200, "home")).await;
    let dir = tempfile::tempdir().unwrap();
    let anchors = Anchors::up();
    let gone = format!("http://127.0.0.1:{}/", closed_port());
    let engine = engine(&dir, &anchors, &[gone.clone(), helper.url.clone()], 1);
    let urls = vec![
        site.url("http", "/"),
        site.url("http", "/"),
        site.url("http", "/"),
    ];
    let heard = Arc::new(Heard::default());
    let summary = engine.run(web(urls.clone()), heard.clone()).await.unwrap();
    assert_eq!(summary.results.len(), 3);

    // The first URL went to the helper that is not there: it loaded, but nothing proves the
    // page genuine. A page that loaded claims nothing about the network, so it is reported
    // at once, labelled only by the check before it.
    let mut results = heard.results();
    let first_measured = results
        .iter()
        .position(|(_, m)| m.test_keys["x_verdict"]["kind"] == "undetermined")
        .expect("the URL measured through the missing helper");
    assert_eq!(first_measured, 0, "held for a check it does not need");
    let (first, measurement) = results.remove(first_measured);
    assert_eq!(first.word, "undetermined", "{first:?}");
    assert_eq!(first.group, VerdictGroup::Unverified, "{first:?}");
    assert_eq!(measurement.test_keys["x_network"]["before"]["status"], "ok");
    assert!(measurement.test_keys["x_network"]["after"].is_null());
    assert!(
        first
            .explanation
            .contains("Kuzet could not reach its test helper"),
        "{}",
        first.explanation
    );
    let measurement = serde_json::to_value(&measurement).unwrap();
    assert_eq!(
        measurement["test_helpers"]["backend"]["address"],
        gone.as_str()
    );
    for (later, measurement) in &results {
        assert_eq!(later.word, "ok", "{later:?}");
        let measurement = serde_json::to_value(measurement).unwrap();
        assert_eq!(
            measurement["test_helpers"]["backend"]["address"],
            helper.url.as_str()
        );
    }
}
