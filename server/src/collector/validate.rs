//! What the collector accepts (bk-003, as OONI's backend checks it): report templates, report
//! ids, submissions; and the ids it makes (report ids, measurement uids).

use base64::Engine as _;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha512};
use time::OffsetDateTime;

/// The longest text field accepted in a template.
const MAX_FIELD: usize = 128;

/// A checked report template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The experiment, e.g. `web_connectivity`.
    pub test_name: String,
    /// Two upper-case letters.
    pub probe_cc: String,
    /// The AS number (without `AS`).
    pub probe_asn: u32,
}

/// The fields encoded in one of our report ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportIdParts {
    /// The test name without underscores.
    pub test_name: String,
    /// The country.
    pub probe_cc: String,
    /// The AS number.
    pub probe_asn: u32,
}

impl ReportIdParts {
    /// True for OONI's "unknown network" values, whose measurements are not stored.
    pub fn network_unknown(&self) -> bool {
        self.probe_asn == 0 || self.probe_cc == "ZZ"
    }
}

fn is_software_text(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_FIELD
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
}

fn field<'a>(value: &'a Value, name: &str) -> Result<&'a str, String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing or non-string field {name:?}"))
}

/// Checks a country code: two upper-case ASCII letters.
pub fn is_country(text: &str) -> bool {
    text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase())
}

/// Parses `AS<digits>` into the number.
pub fn parse_asn(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("AS")?;
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Checks a test name: letters, digits and underscores, 2 to 29 of them once the underscores
/// are removed.
pub fn is_test_name(text: &str) -> bool {
    let bare = text.replace('_', "");
    text.len() <= 64
        && (2..=29).contains(&bare.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks an open-report request body.
pub fn validate_template(value: &Value) -> Result<Template, String> {
    if !value.is_object() {
        return Err("the template is not a JSON object".to_string());
    }
    let format = field(value, "format")?;
    if format != "json" {
        return Err(format!(
            "unsupported format {format:?}: only json is accepted"
        ));
    }
    let version = field(value, "data_format_version")?;
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("invalid data_format_version {version:?}"));
    }
    let probe_cc = field(value, "probe_cc")?;
    if !is_country(probe_cc) {
        return Err("probe_cc must be two upper-case letters".to_string());
    }
    let probe_asn = parse_asn(field(value, "probe_asn")?)
        .ok_or_else(|| "probe_asn must be AS followed by a number".to_string())?;
    for name in ["software_name", "software_version", "test_version"] {
        if !is_software_text(field(value, name)?) {
            return Err(format!("{name} must match ^[0-9A-Za-z_.+-]+$"));
        }
    }
    let test_name = field(value, "test_name")?;
    if !is_test_name(test_name) {
        return Err("test_name must be 2 to 29 letters or digits (and underscores)".to_string());
    }
    if let Some(start) = value.get("test_start_time") {
        let ok = start.as_str().is_some_and(|s| s.len() <= 32);
        if !ok {
            return Err("test_start_time must be a short string".to_string());
        }
    }
    Ok(Template {
        test_name: test_name.to_string(),
        probe_cc: probe_cc.to_string(),
        probe_asn,
    })
}

/// A new report id in OONI's backend format:
/// `{YYYYMMDDThhmmssZ}_{test name without underscores}_{CC}_{ASN}_n1_{16 random characters}`
/// (the tail is base64 of 12 random bytes, with `o` for both non-alphanumeric characters).
pub fn generate_report_id(now: OffsetDateTime, template: &Template) -> String {
    let mut random = [0u8; 12];
    rand::rng().fill_bytes(&mut random);
    let tail: String = base64::engine::general_purpose::STANDARD
        .encode(random)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { 'o' })
        .collect();
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z_{}_{}_{}_n1_{tail}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        template.test_name.replace('_', ""),
        template.probe_cc,
        template.probe_asn,
    )
}

/// Parses one of our report ids.
pub fn parse_report_id(id: &str) -> Result<ReportIdParts, String> {
    let fields: Vec<&str> = id.split('_').collect();
    let invalid = || "invalid report_id".to_string();
    if fields.len() != 6 {
        return Err(invalid());
    }
    let stamp = fields[0].as_bytes();
    let stamp_ok = stamp.len() == 16
        && stamp[8] == b'T'
        && stamp[15] == b'Z'
        && stamp[..8]
            .iter()
            .chain(&stamp[9..15])
            .all(u8::is_ascii_digit);
    let test_ok =
        (2..=29).contains(&fields[1].len()) && fields[1].bytes().all(|b| b.is_ascii_alphanumeric());
    let asn = fields[3].parse::<u32>().ok().filter(|_| {
        !fields[3].is_empty()
            && fields[3].len() <= 10
            && fields[3].bytes().all(|b| b.is_ascii_digit())
    });
    let collector_ok = fields[4]
        .strip_prefix('n')
        .is_some_and(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()));
    let tail_ok = fields[5].len() == 16 && fields[5].bytes().all(|b| b.is_ascii_alphanumeric());
    match asn {
        Some(asn) if stamp_ok && test_ok && is_country(fields[2]) && collector_ok && tail_ok => {
            Ok(ReportIdParts {
                test_name: fields[1].to_string(),
                probe_cc: fields[2].to_string(),
                probe_asn: asn,
            })
        }
        _ => Err(invalid()),
    }
}

/// A checked submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedSubmission {
    /// `content.id`, the client's idempotency key, if given.
    pub measurement_id: Option<String>,
    /// `content.test_name`.
    pub test_name: String,
}

/// Checks a submission body against the report it is submitted to.
pub fn validate_submission(
    report_id: &str,
    parts: &ReportIdParts,
    body: &Value,
) -> Result<CheckedSubmission, String> {
    if body.get("format").and_then(Value::as_str) != Some("json") {
        return Err("format must be \"json\"".to_string());
    }
    let Some(content) = body.get("content").filter(|c| c.is_object()) else {
        return Err("content must be a JSON object".to_string());
    };
    if content.get("report_id").and_then(Value::as_str) != Some(report_id) {
        return Err("content.report_id does not match the report in the URL".to_string());
    }
    if content.get("probe_cc").and_then(Value::as_str) != Some(parts.probe_cc.as_str()) {
        return Err("content.probe_cc does not match the report".to_string());
    }
    if content
        .get("probe_asn")
        .and_then(Value::as_str)
        .and_then(parse_asn)
        != Some(parts.probe_asn)
    {
        return Err("content.probe_asn does not match the report".to_string());
    }
    let test_name = content
        .get("test_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if test_name.replace('_', "") != parts.test_name {
        return Err("content.test_name does not match the report".to_string());
    }
    let measurement_id = match content.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id))
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(id.clone())
        }
        Some(_) => {
            return Err("content.id must be a short id (letters, digits, - and _)".to_string())
        }
    };
    Ok(CheckedSubmission {
        measurement_id,
        test_name: test_name.to_string(),
    })
}

/// A measurement uid as OONI's backend makes them:
/// `{YYYYmmddHHMMSS.ffffff}_{CC}_{test_name}_{16 hex digits of sha512(body)}`.
pub fn measurement_uid(now: OffsetDateTime, cc: &str, test_name: &str, body: &[u8]) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    let digest = Sha512::digest(body);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}.{:06}_{cc}_{test_name}_{hex}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({"data_format_version":"0.2.0","format":"json","probe_asn":"AS30722","probe_cc":"IT",
               "software_name":"mkcollector","software_version":"0.0.1","test_name":"web_connectivity",
               "test_version":"0.0.1"})
    }

    #[test]
    fn templates() {
        let t = validate_template(&template()).unwrap();
        assert_eq!(
            (t.test_name.as_str(), t.probe_cc.as_str(), t.probe_asn),
            ("web_connectivity", "IT", 30722)
        );
        for (field, bad) in [
            ("format", json!("yaml")),
            ("data_format_version", json!("0.2")),
            ("probe_cc", json!("ita")),
            ("probe_cc", json!("it")),
            ("probe_asn", json!("30722")),
            ("probe_asn", json!("ASx")),
            ("software_name", json!("mk collector")),
            ("software_version", json!("")),
            ("test_name", json!("x")),
            ("test_name", json!("web-connectivity")),
            ("test_version", json!(7)),
        ] {
            let mut t = template();
            t[field] = bad.clone();
            assert!(validate_template(&t).is_err(), "{field}={bad}");
        }
        assert!(validate_template(&json!([1])).is_err());
    }

    #[test]
    fn report_ids_round_trip() {
        let t = validate_template(&template()).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_707_901_577).unwrap();
        let id = generate_report_id(now, &t);
        assert!(
            id.starts_with("20240214T090617Z_webconnectivity_IT_30722_n1_"),
            "{id}"
        );
        let parts = parse_report_id(&id).unwrap();
        assert_eq!(
            parts,
            ReportIdParts {
                test_name: "webconnectivity".into(),
                probe_cc: "IT".into(),
                probe_asn: 30722
            }
        );
        assert!(
            parse_report_id("20240214T090617Z_webconnectivity_IT_30722_n1_1IvUiXNWHooB5rmD")
                .is_ok()
        );
        for bad in [
            "",
            "20190313T131942Z_AS30722_dU70oZPs80d5E21z8Ef6GXel6CwsdLoXvDk44Fsajv1LDLOIeI",
            "20240214T090617Z_webconnectivity_it_30722_n1_1IvUiXNWHooB5rmD",
            "20240214T090617Z_webconnectivity_IT_AS30722_n1_1IvUiXNWHooB5rmD",
            "20240214T090617Z_webconnectivity_IT_30722_n1_short",
            "20240214X090617Z_webconnectivity_IT_30722_n1_1IvUiXNWHooB5rmD",
            "20240214T090617Z_web/connectivity_IT_30722_n1_1IvUiXNWHooB5rmD",
        ] {
            assert!(parse_report_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn submissions() {
        let id = "20240214T090617Z_webconnectivity_IT_30722_n1_1IvUiXNWHooB5rmD";
        let parts = parse_report_id(id).unwrap();
        let good = json!({"format":"json","content":{"report_id":id,"probe_cc":"IT","probe_asn":"AS30722",
                          "test_name":"web_connectivity","id":"bdd20d7a-bba5-40dd-a111-9863d7908572"}});
        let checked = validate_submission(id, &parts, &good).unwrap();
        assert_eq!(
            checked.measurement_id.as_deref(),
            Some("bdd20d7a-bba5-40dd-a111-9863d7908572")
        );
        for (pointer, bad) in [
            ("/format", json!("yaml")),
            ("/content/report_id", json!("other")),
            ("/content/probe_cc", json!("KZ")),
            ("/content/probe_asn", json!("AS1")),
            ("/content/test_name", json!("dnscheck")),
            ("/content/id", json!("../x")),
        ] {
            let mut body = good.clone();
            *body.pointer_mut(pointer).unwrap() = bad.clone();
            assert!(
                validate_submission(id, &parts, &body).is_err(),
                "{pointer}={bad}"
            );
        }
    }

    #[test]
    fn uids_look_like_the_backend_s() {
        let now = OffsetDateTime::from_unix_timestamp(1_612_821_990).unwrap();
        let uid = measurement_uid(now, "MA", "ndt", b"{}");
        assert!(uid.starts_with("20210208220630.000000_MA_ndt_"), "{uid}");
        assert_eq!(uid.rsplit('_').next().unwrap().len(), 16);
    }
}
