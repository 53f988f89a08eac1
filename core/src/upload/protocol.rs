//! The OONI collector protocol (bk-003), client side: report templates, request bodies and
//! URLs, and the parsing of the collector's answers.
//!
//! 1. Open a report: `POST /report` with a [`ReportTemplate`]; the answer carries a
//!    `report_id`, which is opaque to us, and the formats the collector accepts (must include
//!    `json`).
//! 2. Submit: `POST /report/{report_id}` with `{"format": "json", "content": <measurement>}`,
//!    where `content.report_id` is that report id. The answer carries a `measurement_uid`
//!    (older collectors: `measurement_id`).
//! 3. Close: a no-op in today's backend; never needed.
//!
//! A report is reused for every measurement with the same template (ASN, country, software,
//! test name and version, test start time). Measurements with ASN `AS0` or country `ZZ` are
//! never submitted: collectors silently drop them.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::report::measurement::{Measurement, UNKNOWN_ASN};
use crate::store::outbox::MeasurementHeader;

/// OONI's collector (probe services).
pub const DEFAULT_COLLECTOR: &str = "https://api.ooni.io/";

/// The longest report id accepted from a collector.
pub const MAX_REPORT_ID_LEN: usize = 512;

/// The metadata that opens a report; measurements with equal templates share a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReportTemplate {
    /// `0.2.0`.
    pub data_format_version: String,
    /// Always `json`.
    pub format: String,
    /// `AS1234`.
    pub probe_asn: String,
    /// Country code.
    pub probe_cc: String,
    /// The software that measured.
    pub software_name: String,
    /// Its version.
    pub software_version: String,
    /// The experiment.
    pub test_name: String,
    /// When the run started (`YYYY-MM-DD hh:mm:ss`).
    pub test_start_time: String,
    /// The experiment's version.
    pub test_version: String,
}

impl ReportTemplate {
    /// The template of a measurement.
    pub fn from_measurement(measurement: &Measurement) -> ReportTemplate {
        ReportTemplate {
            data_format_version: measurement.data_format_version.clone(),
            format: "json".to_string(),
            probe_asn: measurement.probe_asn.clone(),
            probe_cc: measurement.probe_cc.clone(),
            software_name: measurement.software_name.clone(),
            software_version: measurement.software_version.clone(),
            test_name: measurement.test_name.clone(),
            test_start_time: measurement.test_start_time.clone(),
            test_version: measurement.test_version.clone(),
        }
    }

    /// The template of a stored measurement, from the header fields the store keeps.
    pub fn from_header(header: &MeasurementHeader) -> ReportTemplate {
        ReportTemplate {
            data_format_version: header.data_format_version.clone(),
            format: "json".to_string(),
            probe_asn: header.probe_asn.clone(),
            probe_cc: header.probe_cc.clone(),
            software_name: header.software_name.clone(),
            software_version: header.software_version.clone(),
            test_name: header.test_name.clone(),
            test_start_time: header.test_start_time.clone(),
            test_version: header.test_version.clone(),
        }
    }

    /// A canonical text for the template (reports are looked up by it).
    pub fn key(&self) -> String {
        // Field order is fixed by the struct, so equal templates give equal keys.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// True when the ASN or the country is unknown: such measurements must not be submitted.
    pub fn network_unknown(&self) -> bool {
        self.probe_asn == UNKNOWN_ASN || self.probe_cc == "ZZ"
    }

    /// The open-report request body.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// What is wrong with a collector's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

#[derive(Deserialize)]
struct OpenReportResponse {
    report_id: Option<serde_json::Value>,
    supported_formats: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct SubmitResponse {
    measurement_uid: Option<String>,
    measurement_id: Option<String>,
}

/// Parses the answer to an open-report request and returns the report id.
pub fn parse_open_response(body: &[u8]) -> Result<String, ProtocolError> {
    let answer: OpenReportResponse = serde_json::from_slice(body)
        .map_err(|e| ProtocolError(format!("the open-report answer is not JSON: {e}")))?;
    if let Some(formats) = &answer.supported_formats {
        if !formats.iter().any(|f| f == "json") {
            return Err(ProtocolError(
                "the collector does not accept the json format".to_string(),
            ));
        }
    }
    let report_id = match answer.report_id {
        Some(serde_json::Value::String(id)) => id,
        _ => {
            return Err(ProtocolError(
                "the open-report answer has no report_id".to_string(),
            ))
        }
    };
    if report_id.is_empty()
        || report_id.len() > MAX_REPORT_ID_LEN
        || !report_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ProtocolError(
            "the collector gave an unusable report_id".to_string(),
        ));
    }
    Ok(report_id)
}

/// Parses the answer to a submission: the collector's id for the measurement, if it gave one.
pub fn parse_submit_response(body: &[u8]) -> Result<Option<String>, ProtocolError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let answer: SubmitResponse = serde_json::from_slice(body)
        .map_err(|e| ProtocolError(format!("the submission answer is not JSON: {e}")))?;
    Ok(answer
        .measurement_uid
        .or(answer.measurement_id)
        .filter(|uid| !uid.is_empty()))
}

/// The submission body for a stored measurement: `{"format": "json", "content": ...}` with
/// `content.report_id` set to `report_id`.
pub fn submission_body(measurement_json: &[u8], report_id: &str) -> Result<Vec<u8>, ProtocolError> {
    let mut content: serde_json::Value = serde_json::from_slice(measurement_json)
        .map_err(|e| ProtocolError(format!("the stored measurement is not JSON: {e}")))?;
    let Some(object) = content.as_object_mut() else {
        return Err(ProtocolError(
            "the stored measurement is not a JSON object".to_string(),
        ));
    };
    object.insert("report_id".to_string(), report_id.into());
    serde_json::to_vec(&serde_json::json!({ "format": "json", "content": content }))
        .map_err(|e| ProtocolError(e.to_string()))
}

/// Checks and normalises a collector's base URL: `http` or `https`, a host, no query, no
/// fragment, no credentials; the path ends with `/`.
pub fn collector_base(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".to_string());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a collector URL has no query or fragment".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a collector URL carries no credentials".to_string());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `POST` here to open a report.
pub fn open_report_url(base: &Url) -> String {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push("report");
    }
    url.to_string()
}

/// `POST` here to submit a measurement to `report_id` (percent-encoded as a path segment).
pub fn submit_url(base: &Url, report_id: &str) -> String {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push("report").push(report_id);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_answers() {
        let sample = br#"{"backend_version":"2.0.0-alpha","report_id":"20190313T131942Z_AS30722_dU70","supported_formats":["json"]}"#;
        assert_eq!(
            parse_open_response(sample).unwrap(),
            "20190313T131942Z_AS30722_dU70"
        );
        assert!(parse_open_response(br#"{"report_id":"x","supported_formats":["yaml"]}"#).is_err());
        assert!(parse_open_response(br#"{"supported_formats":["json"]}"#).is_err());
        assert!(parse_open_response(br#"{"report_id":""}"#).is_err());
        assert!(parse_open_response(br#"{"report_id":"a b"}"#).is_err());
        assert!(parse_open_response(b"<html>").is_err());
        assert_eq!(parse_open_response(br#"{"report_id":"r1"}"#).unwrap(), "r1");
    }

    #[test]
    fn submit_answers() {
        assert_eq!(
            parse_submit_response(
                br#"{"measurement_uid":"20210208220710.181572_MA_ndt_7888edc7748936bf"}"#
            )
            .unwrap()
            .as_deref(),
            Some("20210208220710.181572_MA_ndt_7888edc7748936bf")
        );
        assert_eq!(
            parse_submit_response(br#"{"measurement_id":"e00c584e6e9e5326"}"#)
                .unwrap()
                .as_deref(),
            Some("e00c584e6e9e5326")
        );
        assert_eq!(parse_submit_response(b"{}").unwrap(), None);
        assert_eq!(parse_submit_response(b"").unwrap(), None);
        assert!(parse_submit_response(b"oops").is_err());
    }

    #[test]
    fn bodies_and_urls() {
        let body = submission_body(br#"{"id":"x","report_id":"","test_keys":{}}"#, "R1").unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["format"], "json");
        assert_eq!(value["content"]["report_id"], "R1");
        assert_eq!(value["content"]["id"], "x");
        assert!(submission_body(b"[1]", "R").is_err());

        let base = collector_base("https://api.ooni.io").unwrap();
        assert_eq!(open_report_url(&base), "https://api.ooni.io/report");
        assert_eq!(submit_url(&base, "a_b"), "https://api.ooni.io/report/a_b");
        assert_eq!(
            submit_url(&base, "a/b c"),
            "https://api.ooni.io/report/a%2Fb%20c"
        );
        let base = collector_base("http://127.0.0.1:8080/collector").unwrap();
        assert_eq!(
            open_report_url(&base),
            "http://127.0.0.1:8080/collector/report"
        );
        for bad in ["ftp://x/", "https://x/?a=1", "https://u:p@x/", "not a url"] {
            assert!(collector_base(bad).is_err(), "{bad}");
        }
    }
}
