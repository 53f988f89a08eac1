//! Reading a measurement's test keys back as observations.

use super::*;

#[test]
fn analysis_reads_back_its_own_keys() {
    // Observations survive the round trip through test keys (what re-analysis relies on).
    let obs = with_control(cleartext_ok(), control(&[GOOD], 80, false));
    let keys = serde_json::json!({
        "queries": [{
            "answers": [{"answer_type": "A", "ipv4": GOOD}],
            "engine": "getaddrinfo", "failure": null, "hostname": HOST,
            "query_type": "ANY", "tags": ["classic", "depth=0"]
        }],
        "tcp_connect": obs.tcp_connect,
        "tls_handshakes": obs.tls_handshakes,
        "requests": obs.requests,
        "control": obs.control,
        "control_failure": null,
        "http_experiment_failure": null,
    });
    let back = Observations::from_test_keys(&obs.url, &keys);
    assert_eq!(back.system_dns, obs.system_dns);
    assert_eq!(run(&back), run(&obs));
}
