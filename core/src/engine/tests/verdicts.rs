//! Every verdict the web, throttling and messaging suites give, with the word and the group
//! the engine reports it under (what the old verdict and blocking-method mapping was), and
//! whether it is a claim the network guard holds for a check.

use super::*;
use crate::experiment::connectivity::ConnectivityStatus;
use crate::experiment::messaging::{BlockedStep, MessagingVerdict};
use crate::experiment::throttling::ThrottlingVerdict as T;
use crate::experiment::web_connectivity::{DnsTamper, TcpBlock, TlsBlock, Verdict as Web};

use VerdictGroup as G;

fn check(verdict: Verdict, word: &str, group: VerdictGroup, claim: bool) {
    assert_eq!(verdict.word(), word, "{verdict:?}");
    assert_eq!(verdict.group(), group, "{verdict:?}");
    assert_eq!(verdict.needs_network(), claim, "{verdict:?}");
    assert_eq!(G::from_word(group.word()), Some(group));
    // Every claim has an unreachable form in its own suite, which is not a claim.
    if claim {
        let unreachable = verdict
            .unreachable(ConnectivityStatus::DataBlackout)
            .expect("an unreachable form");
        assert_eq!(unreachable.suite(), verdict.suite());
        assert_eq!(
            (unreachable.word(), unreachable.group()),
            ("unreachable", G::Unreachable)
        );
        assert!(!unreachable.needs_network());
    }
}

#[test]
fn every_web_connectivity_verdict_has_a_word_and_a_group() {
    let cases = [
        (Web::Ok, "ok", G::Ok, false),
        (Web::SiteDown, "site_down", G::Down, true),
        (
            Web::DnsTampered {
                how: DnsTamper::Bogon,
            },
            "dns_tampered",
            G::Blocked,
            true,
        ),
        (
            Web::TcpBlocked {
                how: TcpBlock::Timeout,
            },
            "tcp_blocked",
            G::Blocked,
            true,
        ),
        (
            Web::TlsBlocked {
                how: TlsBlock::Reset,
                sni: "a.test".to_string(),
            },
            "tls_blocked",
            G::Blocked,
            true,
        ),
        (
            Web::TlsMitm {
                issuer: "C=KZ".to_string(),
                known_kz_root: true,
                sni: "a.test".to_string(),
            },
            "tls_mitm",
            G::Blocked,
            true,
        ),
        (Web::HttpBlockpage, "http_blockpage", G::Blocked, true),
        (
            Web::HttpFailure {
                failure: crate::Failure::ConnectionReset,
            },
            "http_failure",
            G::Blocked,
            true,
        ),
        // A failure nothing could compare: unclear, and a claim.
        (
            Web::Undetermined {
                why: "x".into(),
                failed: true,
            },
            "undetermined",
            G::Unclear,
            true,
        ),
        // A page that loaded without proof it was genuine: it proves the network worked.
        (
            Web::Undetermined {
                why: "x".into(),
                failed: false,
            },
            "undetermined",
            G::Unverified,
            false,
        ),
        (
            Web::Unreachable {
                network: ConnectivityStatus::LocalLink,
            },
            "unreachable",
            G::Unreachable,
            false,
        ),
    ];
    for (web, word, group, claim) in cases {
        check(Verdict::Web(web), word, group, claim);
    }
}

#[test]
fn every_throttling_verdict_has_a_word_and_a_group() {
    let cases = [
        (
            T::NotThrottled { median_ratio: 1.0 },
            "not_throttled",
            G::Ok,
            false,
        ),
        (
            T::Throttled {
                median_ratio: 0.1,
                target_kbps: 128,
                control_kbps: 8000,
                fixed_rate: true,
            },
            "throttled",
            G::Throttled,
            true,
        ),
        (
            T::Stalled { after_bytes: 1000 },
            "stalled",
            G::Throttled,
            true,
        ),
        (
            T::Suspected { median_ratio: 0.6 },
            "suspected",
            G::Unclear,
            true,
        ),
        (
            T::Inconclusive { why: "x".into() },
            "inconclusive",
            G::Unverified,
            true,
        ),
        // Blocked and intercepted are verdicts of their own (they were inconclusive with
        // flags, mapped to a blocking method).
        (
            T::Blocked {
                step: "tls_handshake".into(),
                failure: "connection_reset".into(),
            },
            "blocked",
            G::Blocked,
            true,
        ),
        (T::Intercepted, "intercepted", G::Blocked, true),
        (
            T::Unreachable {
                network: ConnectivityStatus::DataBlackout,
            },
            "unreachable",
            G::Unreachable,
            false,
        ),
    ];
    for (throttling, word, group, claim) in cases {
        check(Verdict::Throttling(throttling), word, group, claim);
    }
}

#[test]
fn every_messaging_verdict_has_a_word_and_a_group() {
    let cases = [
        (MessagingVerdict::Ok { checked: 4 }, "ok", G::Ok, false),
        (
            MessagingVerdict::Blocked {
                step: Some(BlockedStep::Tcp),
                failure: Some("connection_refused".into()),
                failing: 4,
                checked: 4,
            },
            "blocked",
            G::Blocked,
            true,
        ),
        (
            MessagingVerdict::PartiallyBlocked {
                step: Some(BlockedStep::Tls),
                failure: None,
                failing: 1,
                checked: 4,
            },
            "partially_blocked",
            G::Unclear,
            true,
        ),
        (
            MessagingVerdict::Unreachable {
                network: ConnectivityStatus::InternationalCut,
            },
            "unreachable",
            G::Unreachable,
            false,
        ),
    ];
    for (messaging, word, group, claim) in cases {
        check(Verdict::Messaging(messaging), word, group, claim);
    }
}
