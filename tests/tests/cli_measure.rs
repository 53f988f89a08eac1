//! End-to-end tests of `kuzet measure`: the real binary against loopback HTTP and HTTPS servers.
//!
//! URLs use 127.0.0.1 literals, so `--resolver system` never needs a DNS server. The lab CA is
//! handed to the binary with `--ca-file`; a second, rogue CA is never trusted.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;

use kuzet_e2e::cli::{run_kuzet, run_kuzet_with, run_kuzet_with_stdin, KuzetOutput};
use kuzet_e2e::fixtures::pki::TestCa;
use kuzet_e2e::fixtures::tcp::closed_port;
use kuzet_e2e::fixtures::web::{Route, Routes, WebServer};
use serde_json::Value;
use tempfile::NamedTempFile;

/// Loopback servers for one test, and the URLs to measure on them.
struct Lab {
    /// The lab CA's certificate, as a PEM file.
    ca_file: NamedTempFile,
    /// A page over HTTP.
    http_page: String,
    /// A page over HTTPS, certificate from the lab CA.
    https_page: String,
    /// HTTP 302 (relative) then HTTP 307 to the HTTPS page.
    redirect_chain: String,
    /// A port where nothing listens.
    refused: String,
    /// HTTPS with a certificate from a CA nobody trusts.
    untrusted: String,
    _servers: Vec<WebServer>,
}

impl Lab {
    async fn start() -> Lab {
        let ca = TestCa::new("Kuzet Lab CA", "Kuzet e2e");
        let https = WebServer::https(
            Routes::new().page("/", 200, "Secure home"),
            &ca.leaf(&["127.0.0.1"]),
        )
        .await;
        let https_page = https.url("https", "/");
        let http = WebServer::http(
            Routes::new()
                .page("/", 200, "Home")
                .redirect("/redirect/1", 302, "/redirect/2")
                .redirect("/redirect/2", 307, &https_page),
        )
        .await;
        let rogue_ca = TestCa::new("Rogue CA", "Nobody trusts this");
        let rogue = WebServer::https(
            Routes::new().page("/", 200, "Rogue"),
            &rogue_ca.leaf(&["127.0.0.1"]),
        )
        .await;
        let mut ca_file = NamedTempFile::new().expect("CA file");
        ca_file.write_all(ca.cert_pem.as_bytes()).expect("write CA");
        Lab {
            ca_file,
            http_page: http.url("http", "/"),
            https_page,
            redirect_chain: http.url("http", "/redirect/1"),
            refused: format!("http://127.0.0.1:{}/", closed_port()),
            untrusted: rogue.url("https", "/"),
            _servers: vec![http, https, rogue],
        }
    }

    fn ca_path(&self) -> &Path {
        self.ca_file.path()
    }

    /// Every URL, in a fixed order, with the expected row: result, failed step, failure, status.
    fn expectations(&self) -> Vec<(String, Expected)> {
        vec![
            (self.http_page.clone(), Expected::ok(200)),
            (self.https_page.clone(), Expected::ok(200)),
            (self.redirect_chain.clone(), Expected::ok(200)),
            (
                self.refused.clone(),
                Expected::failed("connect", "connection_refused"),
            ),
            (
                self.untrusted.clone(),
                Expected::failed("tls_handshake", "ssl_unknown_authority"),
            ),
        ]
    }
}

/// What one table row must say.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    result: &'static str,
    step: &'static str,
    failure: &'static str,
    status: String,
}

impl Expected {
    fn ok(status: u16) -> Expected {
        Expected {
            result: "ok",
            step: "-",
            failure: "-",
            status: status.to_string(),
        }
    }

    fn failed(step: &'static str, failure: &'static str) -> Expected {
        Expected {
            result: "failed",
            step,
            failure,
            status: "-".to_string(),
        }
    }
}

/// Runs the binary off the runtime's worker threads, so the fixtures keep serving.
async fn kuzet(args: Vec<String>) -> KuzetOutput {
    tokio::task::spawn_blocking(move || run_kuzet(args))
        .await
        .expect("kuzet runner")
}

fn args(fixed: &[&str], urls: &[String]) -> Vec<String> {
    fixed
        .iter()
        .map(|a| a.to_string())
        .chain(urls.iter().cloned())
        .collect()
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("UTF-8 temp path").to_string()
}

/// The table's rows, split into cells: URL, VERDICT, FAILED STEP, FAILURE, STATUS, TIME.
fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    let mut lines = stdout.lines();
    let header = lines.next().expect("a header line");
    assert!(header.starts_with("URL "), "header: {header}");
    lines
        .filter(|line| !line.contains(" measured, "))
        .map(|line| {
            let cells: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            assert_eq!(
                cells.len(),
                7,
                "row {line:?}: URL VERDICT STEP FAILURE STATUS N ms"
            );
            assert_eq!(cells[6], "ms", "row {line:?}");
            cells
        })
        .collect()
}

fn assert_row(cells: &[String], url: &str, expected: &Expected, output: &KuzetOutput) {
    let actual = (
        cells[1].as_str(),
        cells[2].as_str(),
        cells[3].as_str(),
        cells[4].as_str(),
    );
    assert_eq!(cells[0], url, "{output:#?}");
    assert_eq!(
        actual,
        (
            expected.result,
            expected.step,
            expected.failure,
            expected.status.as_str()
        ),
        "row for {url}\n{output:#?}"
    );
    assert!(
        cells[5].parse::<u64>().is_ok(),
        "time of {url}: {:?}",
        cells[5]
    );
}

fn summary_line(stdout: &str) -> &str {
    stdout.lines().last().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn table_lists_every_url_in_input_order() {
    let lab = Lab::start().await;
    let expectations = lab.expectations();
    let urls: Vec<String> = expectations.iter().map(|(url, _)| url.clone()).collect();
    let ca = path_arg(lab.ca_path());
    let output = kuzet(args(
        &[
            "measure",
            "--ca-file",
            &ca,
            "--resolver",
            "system",
            "--timeout",
            "5",
        ],
        &urls,
    ))
    .await;

    assert_eq!(
        output.code(),
        Some(0),
        "failed URLs are results, not errors\n{output:#?}"
    );
    let rows = table_rows(&output.stdout);
    assert_eq!(rows.len(), expectations.len(), "{output:#?}");
    for (cells, (url, expected)) in rows.iter().zip(&expectations) {
        assert_row(cells, url, expected, &output);
    }
    let summary = summary_line(&output.stdout);
    assert!(
        summary.starts_with("5 measured, 3 ok, 2 failed, "),
        "{summary}"
    );
    assert!(summary.ends_with(" received"), "{summary}");
    assert!(!output.stderr.contains("error"), "{output:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_at_a_time_and_from_a_file_keeps_the_order() {
    let lab = Lab::start().await;
    let expectations = lab.expectations();
    // The first URL on the command line, the rest from a file with comments and blank lines.
    let mut list = NamedTempFile::new().expect("URL file");
    writeln!(list, "# lab URLs\n").expect("write");
    for (url, _) in &expectations[1..] {
        writeln!(list, "  {url}  \n# between\n").expect("write");
    }
    let ca = path_arg(lab.ca_path());
    let file = path_arg(list.path());
    let output = kuzet(args(
        &["measure", "--parallel", "1", "--ca-file", &ca, "-f", &file],
        &[expectations[0].0.clone()],
    ))
    .await;

    assert_eq!(output.code(), Some(0), "{output:#?}");
    let rows = table_rows(&output.stdout);
    assert_eq!(rows.len(), expectations.len(), "{output:#?}");
    for (cells, (url, expected)) in rows.iter().zip(&expectations) {
        assert_row(cells, url, expected, &output);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn untrusted_ca_without_ca_file_fails_the_tls_handshake() {
    let lab = Lab::start().await;
    let output = kuzet(args(
        &["measure", "--resolver", "system"],
        &[lab.https_page.clone(), lab.http_page.clone()],
    ))
    .await;

    assert_eq!(output.code(), Some(0), "{output:#?}");
    let rows = table_rows(&output.stdout);
    assert_eq!(rows.len(), 2, "{output:#?}");
    assert_row(
        &rows[0],
        &lab.https_page,
        &Expected::failed("tls_handshake", "ssl_unknown_authority"),
        &output,
    );
    assert_row(&rows[1], &lab.http_page, &Expected::ok(200), &output);
    assert!(summary_line(&output.stdout).starts_with("2 measured, 1 ok, 1 failed, "));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_are_ooni_measurements_in_input_order() {
    let lab = Lab::start().await;
    let expectations = lab.expectations();
    let urls: Vec<String> = expectations.iter().map(|(url, _)| url.clone()).collect();
    let ca = path_arg(lab.ca_path());
    let output = kuzet(args(
        &[
            "measure",
            "--json",
            "--ca-file",
            &ca,
            "--resolver",
            "system",
            "--probe-cc",
            "kz",
            "--probe-asn",
            "AS9198",
        ],
        &urls,
    ))
    .await;

    assert_eq!(output.code(), Some(0), "{output:#?}");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        urls.len(),
        "one line per URL and nothing else\n{output:#?}"
    );
    for (line, (url, expected)) in lines.iter().zip(&expectations) {
        let m: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(m["data_format_version"], "0.2.0", "{line}");
        assert_eq!(m["test_name"], "urlgetter", "{line}");
        assert_eq!(m["input"], url.as_str(), "{line}");
        assert_eq!(m["software_name"], "kuzet-cli", "{line}");
        assert_eq!(m["probe_ip"], "127.0.0.1", "{line}");
        assert_eq!(m["probe_cc"], "KZ", "{line}");
        assert_eq!(m["probe_asn"], "AS9198", "{line}");
        let keys = &m["test_keys"];
        if expected.result == "ok" {
            assert!(keys["failure"].is_null(), "{url}: {keys}");
            let requests = keys["requests"].as_array().expect("test_keys.requests");
            assert!(!requests.is_empty(), "{url}: no requests");
        } else {
            assert_eq!(keys["failure"], expected.failure, "{url}: {keys}");
            assert_eq!(keys["failed_operation"], expected.step, "{url}: {keys}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_never_carry_ip_addresses() {
    let lab = Lab::start().await;
    let urls: Vec<String> = lab.expectations().into_iter().map(|(url, _)| url).collect();
    let ca = path_arg(lab.ca_path());
    let args = args(&["measure", "--ca-file", &ca], &urls);
    let output =
        tokio::task::spawn_blocking(move || run_kuzet_with(args, None, &[("RUST_LOG", "trace")]))
            .await
            .expect("kuzet runner");

    assert_eq!(output.code(), Some(0), "{output:#?}");
    assert!(
        output.stderr.contains("run started") && output.stderr.contains("run finished"),
        "logging is on\n{}",
        output.stderr
    );
    for ip in ["127.0.0.1", "127, 0, 0, 1", "Ipv4Addr", "Ipv6Addr"] {
        assert!(
            !output.stderr.contains(ip),
            "{ip} in the logs:\n{}",
            output.stderr
        );
    }
}

/// Ctrl-C (SIGINT) while a URL hangs: the run stops at once, keeps the URL that finished, and
/// the table lists the others as `not measured`; exit 130. The history has the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_run_keeps_what_finished_and_lists_the_rest_as_not_measured() {
    let web = WebServer::http(
        Routes::new()
            .page("/", 200, "Home")
            .page("/after", 200, "After")
            .route(
                "/hangs",
                Route::Slow {
                    delay: std::time::Duration::from_secs(60),
                },
            ),
    )
    .await;
    let urls = [
        web.url("http", "/"),
        web.url("http", "/hangs"),
        web.url("http", "/after"),
    ];
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = path_arg(data.path());
    let mut args = vec![
        "measure".to_string(),
        "--parallel".to_string(),
        "1".to_string(),
        "--timeout".to_string(),
        "30".to_string(),
        "--data-dir".to_string(),
        data_dir.clone(),
    ];
    args.extend(urls.iter().cloned());
    let output = tokio::task::spawn_blocking(move || {
        let child = std::process::Command::new(kuzet_e2e::cli::kuzet_bin())
            .args(&args)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start kuzet");
        // The first URL takes milliseconds; the second hangs for a minute.
        std::thread::sleep(std::time::Duration::from_secs(2));
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        kuzet_e2e::wait::wait_with_output(child, std::time::Duration::from_secs(30))
            .expect("kuzet stops after SIGINT")
    })
    .await
    .expect("kuzet runner");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("URL "), "{stdout}");
    // URL, VERDICT, FAILED STEP, FAILURE, STATUS, TIME; `not measured` has a space.
    let row = |url: &str| -> Vec<&str> {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(url))
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| panic!("no row for {url}: {stdout}"))
    };
    assert_eq!(row(&urls[0])[1], "ok", "{stdout}");
    for url in &urls[1..] {
        assert_eq!(
            row(url)[1..],
            ["not measured", "-", "-", "-", "-"],
            "{stdout}"
        );
    }
    assert!(
        lines[1].starts_with(urls[0].as_str()),
        "input order: {stdout}"
    );
    assert!(stdout.contains("1 measured, 1 ok, 0 failed"), "{stdout}");
    assert!(
        stderr.contains("kuzet: stopped: 1 finished result(s) kept, 2 target(s) not measured"),
        "{stderr}"
    );

    let results = kuzet(vec![
        "results".to_string(),
        "--data-dir".to_string(),
        data_dir,
        "--run".to_string(),
        "1".to_string(),
    ])
    .await;
    assert_eq!(results.code(), Some(0), "{results:#?}");
    assert!(results.stdout.contains("cancelled"), "{}", results.stdout);
    assert!(
        results
            .stdout
            .contains(&format!("not measured (2): {}, {}", urls[1], urls[2])),
        "{}",
        results.stdout
    );
}

/// A listener that records whether anything connected to it.
struct Tripwire {
    listener: TcpListener,
    url: String,
}

impl Tripwire {
    fn new() -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        Tripwire { listener, url }
    }

    /// True if a connection is waiting to be accepted (the kernel completes the handshake
    /// without an accept).
    fn was_touched(&self) -> bool {
        self.listener.accept().is_ok()
    }
}

/// Runs a command that must be refused before measuring: exit 2, nothing on stdout, one line
/// `kuzet: error: ...` on stderr that contains every `culprits` text.
fn assert_rejected(output: &KuzetOutput, culprits: &[&str]) {
    assert_eq!(output.code(), Some(2), "{output:#?}");
    assert_eq!(output.stdout, "", "nothing on stdout\n{output:#?}");
    let stderr = output.stderr.trim_end();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr\n{output:#?}");
    assert!(stderr.starts_with("kuzet: error: "), "{stderr}");
    for culprit in culprits {
        assert!(
            stderr.contains(culprit),
            "{stderr:?} does not name {culprit:?}"
        );
    }
}

#[test]
fn malformed_url_is_rejected_before_anything_is_measured() {
    let good = Tripwire::new();
    let output = run_kuzet(["measure", good.url.as_str(), "http://exa mple.org/"]);
    assert_rejected(&output, &["http://exa mple.org/"]);
    assert!(
        !good.was_touched(),
        "a valid URL was measured before the run was rejected"
    );
}

#[test]
fn non_http_scheme_is_rejected() {
    let good = Tripwire::new();
    let output = run_kuzet(["measure", good.url.as_str(), "ftp://x"]);
    assert_rejected(&output, &["ftp://x", "not http or https"]);
    assert!(!good.was_touched());
}

#[test]
fn bad_url_in_a_file_names_file_and_line() {
    let good = Tripwire::new();
    let mut list = NamedTempFile::new().expect("URL file");
    writeln!(list, "# header\n{}\nnot a url", good.url).expect("write");
    let file = path_arg(list.path());
    let output = run_kuzet(["measure", "-f", &file]);
    assert_rejected(&output, &[&format!("{file}:3"), "not a url"]);
    assert!(!good.was_touched());
}

#[test]
fn unreadable_file_is_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = path_arg(&dir.path().join("no-such-list.txt"));
    let output = run_kuzet(["measure", "http://127.0.0.1:9/", "--file", &missing]);
    assert_rejected(&output, &[&missing]);
}

#[test]
fn bad_resolver_is_rejected() {
    let good = Tripwire::new();
    let output = run_kuzet(["measure", "--resolver", "pigeon://coop", good.url.as_str()]);
    assert_rejected(&output, &["--resolver", "pigeon://coop"]);
    assert!(!good.was_touched());
    let output = run_kuzet([
        "measure",
        "--resolver",
        "udp://dns.example",
        good.url.as_str(),
    ]);
    assert_rejected(&output, &["--resolver", "udp://dns.example"]);
}

#[test]
fn bad_ca_file_is_rejected() {
    let good = Tripwire::new();
    let mut garbage = NamedTempFile::new().expect("CA file");
    writeln!(garbage, "not a certificate").expect("write");
    let ca = path_arg(garbage.path());
    let output = run_kuzet(["measure", "--ca-file", &ca, good.url.as_str()]);
    assert_rejected(&output, &["--ca-file", &ca]);

    let dir = tempfile::tempdir().expect("temp dir");
    let missing = path_arg(&dir.path().join("missing.pem"));
    let output = run_kuzet(["measure", "--ca-file", &missing, good.url.as_str()]);
    assert_rejected(&output, &["--ca-file", &missing]);
    assert!(!good.was_touched());
}

#[test]
fn bad_options_are_rejected_on_one_line() {
    let url = "http://127.0.0.1:9/";
    for (flag, value) in [
        ("--probe-cc", "KAZ"),
        ("--probe-asn", "9198"),
        ("--parallel", "0"),
        ("--timeout", "-3"),
        ("--dns-timeout", "soon"),
    ] {
        // `--flag=value`, so that `-3` is not taken for an option.
        let output = run_kuzet(["measure", &format!("{flag}={value}"), url]);
        assert_rejected(&output, &[flag, value]);
    }
    let output = run_kuzet(["measure", "--no-such-option", url]);
    assert_rejected(&output, &["--no-such-option"]);
}

#[test]
fn nothing_to_measure_is_rejected() {
    let output = run_kuzet(["measure"]);
    assert_rejected(&output, &["no URL"]);
    let output = run_kuzet_with_stdin(["measure", "-f", "-"], Some("# only a comment\n\n"));
    assert_rejected(&output, &["no URL"]);
}

#[test]
fn help_describes_measure() {
    let output = run_kuzet(["measure", "--help"]);
    assert_eq!(output.code(), Some(0), "{output:#?}");
    for option in [
        "--file",
        "--json",
        "--resolver",
        "--timeout",
        "--dns-timeout",
        "--ca-file",
    ] {
        assert!(output.stdout.contains(option), "{option} missing from help");
    }
    for option in ["--probe-cc", "--probe-asn", "--parallel"] {
        assert!(output.stdout.contains(option), "{option} missing from help");
    }
}
