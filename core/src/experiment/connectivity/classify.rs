//! The decision procedure: observation → status, with the evidence behind it (the rules and
//! their background: `docs/detection.md`, "Connectivity and shutdown statuses").

use serde::{Deserialize, Serialize};

use crate::experiment::connectivity::observation::{
    AnchorGroup, AnchorResult, CaptiveCheck, ConnectivityObservation, Transport,
};
use crate::failure::Failure;

/// What this device observed about its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(all(feature = "uniffi", not(test)), derive(uniffi::Enum))]
pub enum ConnectivityStatus {
    /// Everything reachable.
    Ok,
    /// The device itself is offline: airplane mode, no service, data switched off.
    LocalDevice,
    /// The device's own link is down (no route, interface down): not the network's doing.
    LocalLink,
    /// A captive portal or an injected redirect answers instead of the internet.
    CaptiveOrInjection,
    /// In service, but nothing answers: local resolver, domestic and international all fail.
    DataBlackout,
    /// Domestic hosts answer, international ones do not.
    InternationalCut,
    /// Domestic hosts answer and only a small set of foreign services do.
    WhitelistMode,
    /// Anchors answer, but some key services fail.
    ServiceBlock,
}

impl ConnectivityStatus {
    /// True for statuses that point beyond the device (and so need a re-check first).
    pub fn is_beyond_local(self) -> bool {
        !matches!(
            self,
            ConnectivityStatus::Ok
                | ConnectivityStatus::LocalDevice
                | ConnectivityStatus::LocalLink
        )
    }

    /// True when this device had no way out at all: offline by itself, its link down, or no
    /// host answering. A failure measured then is the network's, never the target's.
    pub fn has_no_path(self) -> bool {
        matches!(
            self,
            ConnectivityStatus::LocalDevice
                | ConnectivityStatus::LocalLink
                | ConnectivityStatus::DataBlackout
        )
    }

    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectivityStatus::Ok => "ok",
            ConnectivityStatus::LocalDevice => "local_device",
            ConnectivityStatus::LocalLink => "local_link",
            ConnectivityStatus::CaptiveOrInjection => "captive_or_injection",
            ConnectivityStatus::DataBlackout => "data_blackout",
            ConnectivityStatus::InternationalCut => "international_cut",
            ConnectivityStatus::WhitelistMode => "whitelist_mode",
            ConnectivityStatus::ServiceBlock => "service_block",
        }
    }

    /// Parses the snake_case name ([`ConnectivityStatus::as_str`]).
    pub fn parse(text: &str) -> Option<ConnectivityStatus> {
        Some(match text {
            "ok" => ConnectivityStatus::Ok,
            "local_device" => ConnectivityStatus::LocalDevice,
            "local_link" => ConnectivityStatus::LocalLink,
            "captive_or_injection" => ConnectivityStatus::CaptiveOrInjection,
            "data_blackout" => ConnectivityStatus::DataBlackout,
            "international_cut" => ConnectivityStatus::InternationalCut,
            "whitelist_mode" => ConnectivityStatus::WhitelistMode,
            "service_block" => ConnectivityStatus::ServiceBlock,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ConnectivityStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds of the decision, as one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifyRules {
    /// Domestic anchors count as "up" when at least this share is reachable.
    pub domestic_up_share: f64,
    /// In whitelist mode at most this share of international anchors and services answers.
    pub whitelist_max_share: f64,
}

impl Default for ClassifyRules {
    fn default() -> Self {
        ClassifyRules {
            domestic_up_share: 0.5,
            whitelist_max_share: 0.34,
        }
    }
}

/// A status with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The status.
    pub status: ConnectivityStatus,
    /// Plain-language facts that led to it, e.g. "0 of 5 international anchors reachable".
    pub evidence: Vec<String>,
}

/// Maps an observation to a status.
pub fn classify(observation: &ConnectivityObservation, rules: &ClassifyRules) -> Classification {
    let mut evidence = Vec::new();
    let platform = &observation.platform;

    // 1. The device itself.
    if platform.airplane_mode {
        evidence.push("airplane mode is on".to_string());
        return done(ConnectivityStatus::LocalDevice, evidence);
    }
    if platform.transport == Transport::Cellular && platform.data_enabled == Some(false) {
        evidence.push("mobile data is switched off".to_string());
        return done(ConnectivityStatus::LocalDevice, evidence);
    }
    if platform.transport == Transport::Cellular && platform.in_service == Some(false) {
        evidence.push("the modem is out of service".to_string());
        return done(ConnectivityStatus::LocalDevice, evidence);
    }

    let all: Vec<&AnchorResult> = observation.anchors.iter().collect();
    let reachable = all.iter().filter(|a| a.reachable()).count();

    // 2. The device's own link: nothing reachable and the failures say "no route here".
    let local_failures = all
        .iter()
        .filter(|a| !a.reachable())
        .filter(|a| a.failure.as_ref().is_some_and(is_local_link_failure))
        .count();
    if platform.transport == Transport::None
        || (!all.is_empty() && reachable == 0 && local_failures * 2 > all.len())
    {
        evidence.push(format!(
            "no anchor reachable; {local_failures} of {} failed before leaving the device \
             (no route or network down)",
            all.len()
        ));
        return done(ConnectivityStatus::LocalLink, evidence);
    }

    let share = |group: AnchorGroup| -> (usize, usize) {
        let members: Vec<_> = observation.group(group).collect();
        (
            members.iter().filter(|a| a.reachable()).count(),
            members.len(),
        )
    };
    let (dom_ok, dom_n) = share(AnchorGroup::Domestic);
    let (int_ok, int_n) = share(AnchorGroup::International);
    let (svc_ok, svc_n) = share(AnchorGroup::Service);
    let (res_ok, res_n) = share(AnchorGroup::LocalResolver);
    evidence.push(format!("{dom_ok} of {dom_n} domestic anchors reachable"));
    evidence.push(format!(
        "{int_ok} of {int_n} international anchors reachable"
    ));
    if svc_n > 0 {
        evidence.push(format!("{svc_ok} of {svc_n} key services reachable"));
    }
    if res_n > 0 {
        evidence.push(format!("local resolver answered: {}", res_ok > 0));
    }

    // 3. Captive portal or injected redirect: every check answered, none as expected.
    let redirects: Vec<&CaptiveCheck> = observation
        .captive
        .iter()
        .filter(|c| {
            matches!(
                c,
                CaptiveCheck::Redirected { .. } | CaptiveCheck::UnexpectedContent { .. }
            )
        })
        .collect();
    if !observation.captive.is_empty() && redirects.len() == observation.captive.len() {
        for check in &redirects {
            if let CaptiveCheck::Redirected { host } = check {
                evidence.push(format!("captive check redirected to {host}"));
            } else {
                evidence.push("captive check got unexpected content".to_string());
            }
        }
        return done(ConnectivityStatus::CaptiveOrInjection, evidence);
    }

    // 4. Nothing answers although the device is on a network. A resolver that still answers
    //    (operators often keep DNS up during a cut) does not make the hosts reachable.
    let hosts_reachable = dom_ok + int_ok + svc_ok;
    if reachable == 0 || (hosts_reachable == 0 && dom_n + int_n + svc_n > 0) {
        if res_ok > 0 {
            evidence.push("the local resolver still answered, but no host did".to_string());
        }
        return done(ConnectivityStatus::DataBlackout, evidence);
    }

    let share_of = |ok: usize, n: usize| if n == 0 { 1.0 } else { ok as f64 / n as f64 };
    let domestic_up = dom_n > 0 && share_of(dom_ok, dom_n) >= rules.domestic_up_share;
    let foreign_ok = int_ok + svc_ok;
    let foreign_n = int_n + svc_n;

    // 5. Domestic up, foreign down: cut, or a whitelist when a few foreign services answer.
    if domestic_up && int_n > 0 && int_ok == 0 && svc_ok == 0 {
        return done(ConnectivityStatus::InternationalCut, evidence);
    }
    if domestic_up
        && foreign_ok > 0
        && foreign_n > 0
        && share_of(foreign_ok, foreign_n) <= rules.whitelist_max_share
        && int_ok < int_n
    {
        let names: Vec<&str> = observation
            .anchors
            .iter()
            .filter(|a| a.group != AnchorGroup::Domestic && a.group != AnchorGroup::LocalResolver)
            .filter(|a| a.reachable())
            .map(|a| a.name.as_str())
            .collect();
        evidence.push(format!(
            "only these foreign hosts answered: {}",
            names.join(", ")
        ));
        return done(ConnectivityStatus::WhitelistMode, evidence);
    }

    // 5b. Only a handful of hosts answer, domestic ones included: a whitelist that also
    //     covers the domestic network (only approved services reachable).
    let hosts_n = dom_n + int_n + svc_n;
    if !domestic_up
        && hosts_reachable > 0
        && share_of(hosts_reachable, hosts_n) <= rules.whitelist_max_share
    {
        let names: Vec<&str> = observation
            .anchors
            .iter()
            .filter(|a| a.group != AnchorGroup::LocalResolver && a.reachable())
            .map(|a| a.name.as_str())
            .collect();
        evidence.push(format!("only these hosts answered: {}", names.join(", ")));
        return done(ConnectivityStatus::WhitelistMode, evidence);
    }

    // 6. Anchors fine, some services failing.
    if svc_n > 0 && svc_ok < svc_n && (int_n == 0 || int_ok * 2 >= int_n) {
        let failing: Vec<String> = observation
            .group(AnchorGroup::Service)
            .filter(|a| !a.reachable())
            .map(|a| match &a.failure {
                Some(failure) => format!("{} ({failure})", a.name),
                None => a.name.clone(),
            })
            .collect();
        evidence.push(format!("failing services: {}", failing.join(", ")));
        return done(ConnectivityStatus::ServiceBlock, evidence);
    }

    done(ConnectivityStatus::Ok, evidence)
}

/// Failures that happen before a packet leaves the device.
fn is_local_link_failure(failure: &Failure) -> bool {
    matches!(
        failure,
        Failure::NetworkUnreachable
            | Failure::NetworkDown
            | Failure::HostUnreachable
            | Failure::AddressNotAvailable
    )
}

fn done(status: ConnectivityStatus, evidence: Vec<String>) -> Classification {
    Classification { status, evidence }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::connectivity::observation::PlatformState;

    fn anchor(name: &str, group: AnchorGroup, ok: bool, failure: Option<Failure>) -> AnchorResult {
        AnchorResult {
            name: name.to_string(),
            group,
            operator: format!("op-{name}"),
            by_name: Some(ok),
            by_ip: Some(ok),
            failure: if ok { None } else { failure },
        }
    }

    /// 4 domestic, 5 international, 3 services, a resolver; `up` decides which answer.
    fn observation(
        up: impl Fn(AnchorGroup, usize) -> bool,
        failure: Failure,
    ) -> ConnectivityObservation {
        let mut anchors = vec![anchor(
            "resolver",
            AnchorGroup::LocalResolver,
            up(AnchorGroup::LocalResolver, 0),
            Some(failure.clone()),
        )];
        for (group, n) in [
            (AnchorGroup::Domestic, 4),
            (AnchorGroup::International, 5),
            (AnchorGroup::Service, 3),
        ] {
            for i in 0..n {
                anchors.push(anchor(
                    &format!("{group:?}-{i}"),
                    group,
                    up(group, i),
                    Some(failure.clone()),
                ));
            }
        }
        ConnectivityObservation {
            platform: PlatformState {
                transport: Transport::Cellular,
                in_service: Some(true),
                data_enabled: Some(true),
                ..PlatformState::default()
            },
            captive: vec![CaptiveCheck::Expected],
            anchors,
        }
    }

    fn status(observation: &ConnectivityObservation) -> ConnectivityStatus {
        classify(observation, &ClassifyRules::default()).status
    }

    #[test]
    fn everything_up_is_ok() {
        assert_eq!(
            status(&observation(|_, _| true, Failure::GenericTimeout)),
            ConnectivityStatus::Ok
        );
    }

    #[test]
    fn device_states_are_local_device() {
        let mut o = observation(|_, _| false, Failure::GenericTimeout);
        o.platform.airplane_mode = true;
        assert_eq!(status(&o), ConnectivityStatus::LocalDevice);
        let mut o = observation(|_, _| false, Failure::GenericTimeout);
        o.platform.data_enabled = Some(false);
        assert_eq!(status(&o), ConnectivityStatus::LocalDevice);
    }

    #[test]
    fn no_route_everywhere_is_the_local_link_not_a_shutdown() {
        let o = observation(|_, _| false, Failure::NetworkUnreachable);
        assert_eq!(status(&o), ConnectivityStatus::LocalLink);
    }

    #[test]
    fn timeouts_everywhere_in_service_is_a_data_blackout() {
        let o = observation(|_, _| false, Failure::GenericTimeout);
        let c = classify(&o, &ClassifyRules::default());
        assert_eq!(c.status, ConnectivityStatus::DataBlackout);
        assert!(c
            .evidence
            .iter()
            .any(|e| e.contains("0 of 5 international")));
    }

    #[test]
    fn domestic_only_is_an_international_cut() {
        let o = observation(
            |g, _| matches!(g, AnchorGroup::Domestic | AnchorGroup::LocalResolver),
            Failure::GenericTimeout,
        );
        assert_eq!(status(&o), ConnectivityStatus::InternationalCut);
    }

    #[test]
    fn domestic_plus_a_few_named_services_is_whitelist_mode() {
        let o = observation(
            |g, i| match g {
                AnchorGroup::Domestic | AnchorGroup::LocalResolver => true,
                AnchorGroup::Service => i == 0,
                AnchorGroup::International => false,
            },
            Failure::ConnectionReset,
        );
        let c = classify(&o, &ClassifyRules::default());
        assert_eq!(c.status, ConnectivityStatus::WhitelistMode);
        assert!(c.evidence.iter().any(|e| e.contains("Service-0")));
    }

    #[test]
    fn redirected_captive_checks_are_captive_or_injection() {
        let mut o = observation(|_, _| true, Failure::GenericTimeout);
        o.captive = vec![CaptiveCheck::Redirected {
            host: "install-cert.example".to_string(),
        }];
        assert_eq!(status(&o), ConnectivityStatus::CaptiveOrInjection);
    }

    #[test]
    fn anchors_up_but_services_down_is_a_service_block() {
        let o = observation(
            |g, i| g != AnchorGroup::Service || i > 0,
            Failure::ConnectionReset,
        );
        let c = classify(&o, &ClassifyRules::default());
        assert_eq!(c.status, ConnectivityStatus::ServiceBlock);
        assert!(c.evidence.iter().any(|e| e.contains("connection_reset")));
    }

    #[test]
    fn a_resolver_that_still_answers_does_not_hide_a_blackout() {
        let o = observation(
            |g, _| g == AnchorGroup::LocalResolver,
            Failure::GenericTimeout,
        );
        let c = classify(&o, &ClassifyRules::default());
        assert_eq!(c.status, ConnectivityStatus::DataBlackout);
        assert!(c
            .evidence
            .iter()
            .any(|e| e.contains("resolver still answered")));
    }

    #[test]
    fn a_few_hosts_answering_with_domestic_mostly_down_is_whitelist_mode() {
        let o = observation(
            |g, i| match g {
                AnchorGroup::LocalResolver => true,
                AnchorGroup::Domestic => i == 0,
                AnchorGroup::Service => i == 1,
                AnchorGroup::International => false,
            },
            Failure::GenericTimeout,
        );
        let c = classify(&o, &ClassifyRules::default());
        assert_eq!(c.status, ConnectivityStatus::WhitelistMode);
        assert!(c.evidence.iter().any(|e| e.contains("Domestic-0")), "{c:?}");
    }

    #[test]
    fn no_platform_path_is_the_local_link() {
        let mut o = observation(|_, _| true, Failure::GenericTimeout);
        o.platform.transport = Transport::None;
        assert_eq!(status(&o), ConnectivityStatus::LocalLink);
    }

    #[test]
    fn names_round_trip() {
        for status in [
            ConnectivityStatus::Ok,
            ConnectivityStatus::LocalDevice,
            ConnectivityStatus::LocalLink,
            ConnectivityStatus::CaptiveOrInjection,
            ConnectivityStatus::DataBlackout,
            ConnectivityStatus::InternationalCut,
            ConnectivityStatus::WhitelistMode,
            ConnectivityStatus::ServiceBlock,
        ] {
            assert_eq!(ConnectivityStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
        }
        assert_eq!(ConnectivityStatus::parse("online"), None);
    }

    #[test]
    fn local_statuses_need_no_recheck() {
        assert!(!ConnectivityStatus::LocalLink.is_beyond_local());
        assert!(ConnectivityStatus::DataBlackout.is_beyond_local());
    }
}
