//! What the engine refuses before anything is measured: runs it cannot or may not make, and
//! configurations it cannot use.

use std::path::PathBuf;
use std::sync::Arc;

use kuzet_e2e::fixtures::anchors::Anchors;

use super::*;

fn suites(suites: &[Suite]) -> RunRequest {
    RunRequest {
        suites: suites.to_vec(),
        ..RunRequest::default()
    }
}

#[test]
fn runs_are_refused_before_anything_is_measured() {
    let anchors = Anchors::up();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(&dir, &anchors, |c| {
        c.consent.allowed_suites = vec![Suite::Web, Suite::Messaging]
    });
    let listener: Arc<dyn RunListener> = Arc::new(NoListener);
    let refuse = |engine: &Engine, request: RunRequest| {
        engine
            .start_run(request, listener.clone())
            .expect_err("refused")
    };

    // No suite.
    let error = refuse(&engine, RunRequest::default());
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");
    assert!(error.to_string().contains("at least one suite"), "{error}");

    // The web suite without a URL, or with one it cannot measure.
    let error = refuse(&engine, web(vec![]));
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");
    assert!(error.to_string().contains("at least one URL"), "{error}");
    let error = refuse(&engine, web(vec!["ftp://example.org/".to_string()]));
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");
    let error = refuse(&engine, web(vec!["not a url".to_string()]));
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");

    // A byte budget of nothing.
    let error = refuse(
        &engine,
        RunRequest {
            byte_budget: Some(0),
            ..web(vec![refused_url()])
        },
    );
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");

    // Suites the user has not allowed, alone or with allowed ones.
    for request in [
        suites(&[Suite::Throttling]),
        suites(&[Suite::Connectivity]),
        RunRequest {
            suites: vec![Suite::Web, Suite::Connectivity],
            ..web(vec![refused_url()])
        },
    ] {
        let error = refuse(&engine, request);
        assert!(matches!(error, EngineError::NotAllowed(_)), "{error:?}");
    }
    let error = {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with(&dir, &anchors, |c| {
            c.consent.allowed_suites = vec![Suite::Web]
        });
        refuse(&engine, suites(&[Suite::Messaging]))
    };
    assert!(matches!(error, EngineError::NotAllowed(_)), "{error:?}");
    assert!(error.to_string().contains("messaging"), "{error}");

    // Messaging with unusable endpoints.
    let error = {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with(&dir, &anchors, |c| {
            c.messaging.endpoints.signal.urls.clear()
        });
        refuse(&engine, suites(&[Suite::Messaging]))
    };
    assert!(matches!(error, EngineError::InvalidInput(_)), "{error:?}");
    assert!(error.to_string().contains("signal.urls"), "{error}");

    // Allowed, but no throughput server configured.
    let dir2 = tempfile::tempdir().unwrap();
    let everything = engine_with(&dir2, &anchors, |_| {});
    assert_eq!(everything.unavailable_reason(Suite::Web), None);
    assert_eq!(everything.unavailable_reason(Suite::Messaging), None);
    assert_eq!(everything.unavailable_reason(Suite::Connectivity), None);
    let reason = everything
        .unavailable_reason(Suite::Throttling)
        .expect("unavailable");
    assert!(
        reason.contains("needs Kuzet's throughput server"),
        "{reason}"
    );
    let error = refuse(&everything, suites(&[Suite::Throttling]));
    assert!(matches!(error, EngineError::Unavailable(_)), "{error:?}");
    assert_eq!(error.to_string(), reason);

    // The urls suite is the command line's alone.
    let reason = everything
        .unavailable_reason(Suite::Urls)
        .expect("unavailable");
    assert!(reason.contains("command line"), "{reason}");
    let error = refuse(&everything, suites(&[Suite::Urls]));
    assert!(matches!(error, EngineError::Unavailable(_)), "{error:?}");
    let error = refuse(
        &everything,
        RunRequest {
            suites: vec![Suite::Web, Suite::Urls],
            ..web(vec![refused_url()])
        },
    );
    assert!(matches!(error, EngineError::Unavailable(_)), "{error:?}");

    // Nothing ran, and nothing was recorded.
    assert_eq!(engine.active_runs(), 0);
    assert_eq!(everything.active_runs(), 0);
    assert!(engine.store().unwrap().runs(10).unwrap().is_empty());
    assert!(everything.store().unwrap().runs(10).unwrap().is_empty());
}

#[test]
fn bad_configurations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = || EngineConfig::new(dir.path().join("d"), Software::default());
    let refuse = |config: EngineConfig| Engine::new(config).expect_err("refused").to_string();

    let mut config = base();
    config.software.name = "my app".to_string();
    assert!(refuse(config).contains("software name"));
    let mut config = base();
    config.software.version = " ".to_string();
    assert!(refuse(config).contains("software version"));
    let mut config = base();
    config.data_dir = PathBuf::from("relative/dir");
    assert!(refuse(config).contains("absolute path"));
    let mut config = base();
    config.parallelism = 0;
    assert!(refuse(config).contains("parallelism"));
    let mut config = base();
    config.parallelism = crate::experiment::policy::APP_MAX_PARALLELISM + 1;
    assert!(refuse(config).contains("parallelism"));
    let mut config = base();
    config.budgets.run_bytes = 0;
    assert!(refuse(config).contains("run data budget"));
    let mut config = base();
    config.background_sample_urls = vec!["ftp://example.org/".to_string()];
    Engine::new(config).expect_err("a sample URL it cannot measure");
    let mut config = base();
    config.connectivity.anchors.clear();
    Engine::new(config).expect_err("a check without anchors");

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let config = EngineConfig::new(file.join("sub"), Software::default());
    let error = Engine::new(config).expect_err("not a directory");
    assert!(matches!(error, EngineError::Storage { .. }), "{error:?}");
    assert!(error
        .to_string()
        .starts_with("cannot create the data directory"));
}

#[test]
fn service_urls_must_be_https_except_on_loopback() {
    assert!(parse_service_url("collector", "https://collector.example/").is_ok());
    assert!(parse_service_url("collector", "http://127.0.0.1:8080/").is_ok());
    assert!(parse_service_url("collector", "http://[::1]:8080/").is_ok());
    assert!(parse_service_url("collector", "http://localhost/").is_ok());
    let error = parse_service_url("collector", "http://collector.example/").unwrap_err();
    assert!(error.to_string().contains("must be an https URL"));
    assert!(parse_service_url("collector", "not a url").is_err());
}
