//! Internationalised domain names to their ASCII form (Punycode, RFC 3492, `xn--` labels)
//! without Unicode tables: the idna crate's UTS #46 data (mapping and normalisation) would add
//! about 125 KB to the mobile library, so Kuzet links the idna crate with its table-free back
//! end (`idna_adapter` 1.0: ASCII and `xn--` names only) and converts other names here.
//!
//! Each label is lowercased (Rust's own case tables) and must hold only letters, digits and
//! hyphens, not at its ends. Characters UTS #46 would map or normalise are refused rather than
//! guessed: combining marks (text not in NFC), fullwidth and halfwidth forms. The ideographic
//! full stops are label separators, as in UTS #46. Kazakh and Russian names, the ones this
//! project meets (`.қаз`, `.рф`), come out exactly as UTS #46 makes them.

/// Why a name has no ASCII form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a usable domain name: {0}")]
pub struct IdnError(&'static str);

/// The ASCII form of `domain`: ASCII labels lowercased, other labels as `xn--` Punycode. A final
/// dot is kept.
pub fn domain_to_ascii(domain: &str) -> Result<String, IdnError> {
    let unified: String = domain
        .chars()
        .map(|c| match c {
            '\u{3002}' | '\u{FF0E}' | '\u{FF61}' => '.',
            other => other,
        })
        .collect();
    let (relative, final_dot) = match unified.strip_suffix('.') {
        Some(relative) => (relative, true),
        None => (unified.as_str(), false),
    };
    let mut labels = Vec::new();
    for label in relative.split('.') {
        labels.push(label_to_ascii(label)?);
    }
    let mut ascii = labels.join(".");
    if final_dot {
        ascii.push('.');
    }
    Ok(ascii)
}

/// One label in ASCII form.
fn label_to_ascii(label: &str) -> Result<String, IdnError> {
    if label.is_empty() {
        return Err(IdnError("empty label"));
    }
    if label.is_ascii() {
        return Ok(label.to_ascii_lowercase());
    }
    let lower: String = label.chars().flat_map(char::to_lowercase).collect();
    if lower.starts_with('-') || lower.ends_with('-') {
        return Err(IdnError("a label starts or ends with a hyphen"));
    }
    if let Some(bad) = lower.chars().find(|c| !is_label_char(*c)) {
        return Err(if is_mapped_by_uts46(bad) {
            IdnError("a character that needs Unicode normalisation")
        } else {
            IdnError("a character a host name cannot hold")
        });
    }
    let encoded = idna::punycode::encode_str(&lower).ok_or(IdnError("too long to encode"))?;
    let ascii = format!("xn--{encoded}");
    if ascii.len() > 63 {
        return Err(IdnError("a label longer than 63 bytes"));
    }
    Ok(ascii)
}

/// A character an IDN label may hold here.
fn is_label_char(c: char) -> bool {
    c == '-' || (c.is_alphanumeric() && !is_mapped_by_uts46(c))
}

/// Characters UTS #46 maps or NFC composes, which this table-free conversion refuses.
fn is_mapped_by_uts46(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'   // combining diacritical marks
        | '\u{1AB0}'..='\u{1AFF}' // combining diacritical marks extended
        | '\u{1DC0}'..='\u{1DFF}' // combining diacritical marks supplement
        | '\u{20D0}'..='\u{20FF}' // combining marks for symbols
        | '\u{FE20}'..='\u{FE2F}' // combining half marks
        | '\u{FF00}'..='\u{FFEF}' // halfwidth and fullwidth forms
    )
}

/// `text` (a URL) with a non-ASCII host replaced by its ASCII form, so the URL parser (which
/// has no Unicode tables either) accepts it. Anything else, and a host that has no ASCII form,
/// comes back unchanged for the parser to judge.
pub fn url_with_ascii_host(text: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let Some(scheme_end) = text.find("://") else {
        return Cow::Borrowed(text);
    };
    let authority_start = scheme_end + 3;
    let rest = &text[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_and_port = &authority[host_start..];
    let host_len = match host_and_port.rfind(':') {
        Some(colon) if !host_and_port.starts_with('[') => colon,
        _ => host_and_port.len(),
    };
    let host = &host_and_port[..host_len];
    if host.is_ascii() {
        return Cow::Borrowed(text);
    }
    match domain_to_ascii(host) {
        Ok(ascii) => {
            let begin = authority_start + host_start;
            let end = begin + host_len;
            Cow::Owned(format!("{}{}{}", &text[..begin], ascii, &text[end..]))
        }
        Err(_) => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kazakh_and_russian_names_match_uts46() {
        // The values UTS #46 (idna's full back end) gives.
        assert_eq!(
            domain_to_ascii("президент.қаз").unwrap(),
            "xn--d1abbgf6aiiy.xn--80ao21a"
        );
        assert_eq!(
            domain_to_ascii("ПРЕЗИДЕНТ.ҚАЗ.").unwrap(),
            "xn--d1abbgf6aiiy.xn--80ao21a."
        );
        assert_eq!(
            domain_to_ascii("пример.рф").unwrap(),
            "xn--e1afmkfd.xn--p1ai"
        );
        assert_eq!(
            domain_to_ascii("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(domain_to_ascii("Example.ORG").unwrap(), "example.org");
        assert_eq!(
            domain_to_ascii("пример。рф").unwrap(),
            "xn--e1afmkfd.xn--p1ai"
        );
    }

    #[test]
    fn names_that_need_tables_or_cannot_be_hosts_are_refused() {
        // "й" as и + combining breve (not NFC), fullwidth letters, symbols, empty labels.
        assert!(domain_to_ascii("и\u{0306}.kz").is_err());
        assert!(domain_to_ascii("ｅｘａｍｐｌｅ.com").is_err());
        assert!(domain_to_ascii("привет!.kz").is_err());
        assert!(domain_to_ascii("-привет.kz").is_err());
        assert!(domain_to_ascii("привет..kz").is_err());
        assert!(domain_to_ascii(&"ж".repeat(60)).is_err());
    }

    #[test]
    fn urls_get_an_ascii_host_and_keep_the_rest() {
        assert_eq!(
            url_with_ascii_host("https://президент.қаз/ru/новости?q=ә#x"),
            "https://xn--d1abbgf6aiiy.xn--80ao21a/ru/новости?q=ә#x"
        );
        assert_eq!(
            url_with_ascii_host("http://user@пример.рф:8080"),
            "http://user@xn--e1afmkfd.xn--p1ai:8080"
        );
        assert_eq!(
            url_with_ascii_host("https://example.org/путь"),
            "https://example.org/путь"
        );
        assert_eq!(
            url_with_ascii_host("https://[::1]:80/ж"),
            "https://[::1]:80/ж"
        );
        assert_eq!(url_with_ascii_host("not a url ж"), "not a url ж");
        assert_eq!(
            url_with_ascii_host("https://и\u{0306}.kz/"),
            "https://и\u{0306}.kz/"
        );
    }
}
