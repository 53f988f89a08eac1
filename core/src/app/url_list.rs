//! The websites the user tests, as typed in settings: one per line.

use crate::experiment::urlgetter::parse_target_url;

/// The starting list: a few sites from Citizen Lab's Kazakhstan list (news, human rights).
pub const DEFAULT_URLS: [&str; 5] = [
    "https://adilsoz.kz/",
    "https://medianet.ngo/",
    "https://www.minber.kz/",
    "https://www.dialog.kz/",
    "http://ajur.kz/",
];

/// The most URLs [`parse`] returns (one "test now" run takes no more).
pub const MAX_URLS: usize = 100;

/// Whether `c` ends a line: `\n`, `\r` (so `\r\n` too) and Unicode's other line breaks.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// The URLs in `text`, one per line, in order, at most [`MAX_URLS`]:
/// - surrounding white space is trimmed; blank lines and lines starting with `#` are skipped;
/// - a line without `://` is a bare host (or host and path) and gets `https://`;
/// - a line with white space inside, or that the engine would refuse (not http or https, no
///   host, not a URL), is dropped, so a run is never refused for one bad line;
/// - a URL already listed (the same once parsed: `HTTPS://Example.kz` is
///   `https://example.kz/`) is dropped.
///
/// Each URL is returned as written (with `https://` added to a bare host).
pub fn parse(text: &str) -> Vec<String> {
    // The parsed form of each URL kept (at most MAX_URLS: a linear search is enough).
    let mut seen: Vec<String> = Vec::new();
    let mut urls = Vec::new();
    for line in text.split(is_line_break) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.contains(char::is_whitespace) {
            continue;
        }
        let url = if line.contains("://") {
            line.to_string()
        } else {
            format!("https://{line}")
        };
        let Ok(parsed) = parse_target_url(&url) else {
            continue;
        };
        let key = parsed.to_string();
        if !seen.contains(&key) {
            seen.push(key);
            urls.push(url);
            if urls.len() == MAX_URLS {
                break;
            }
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_per_line_with_comments_and_bare_hosts() {
        let text =
            "# news\nhttps://adilsoz.kz/\n\n   medianet.ngo/  \r\n\tHTTP://Minber.kz/a?b=1\n";
        assert_eq!(
            parse(text),
            vec![
                "https://adilsoz.kz/",
                "https://medianet.ngo/",
                "HTTP://Minber.kz/a?b=1"
            ]
        );
    }

    #[test]
    fn what_the_engine_would_refuse_is_dropped() {
        let text = "ftp://files.example/\nhttp://\nhttps://bad host/\nhttps://[::1\n\
                    javascript://x\nhttps://ok.kz:99999/\nhttps://ok.kz/";
        assert_eq!(parse(text), vec!["https://ok.kz/"]);
    }

    #[test]
    fn duplicates_are_dropped_once_parsed() {
        let text = "https://adilsoz.kz/\nadilsoz.kz\nHTTPS://ADILSOZ.KZ\nhttps://adilsoz.kz/\n\
                    http://adilsoz.kz/\nhttps://adilsoz.kz/other";
        assert_eq!(
            parse(text),
            vec![
                "https://adilsoz.kz/",
                "http://adilsoz.kz/",
                "https://adilsoz.kz/other"
            ]
        );
    }

    #[test]
    fn every_line_break_separates() {
        let text = "a.kz\rb.kz\u{2028}c.kz\u{85}d.kz";
        assert_eq!(parse(text).len(), 4);
    }

    #[test]
    fn non_ascii_hosts_are_kept_as_written() {
        assert_eq!(
            parse("https://президент.kz/"),
            vec!["https://президент.kz/"]
        );
        assert_eq!(parse("сайт.kz"), vec!["https://сайт.kz"]);
    }

    #[test]
    fn at_most_max_urls() {
        let text: String = (0..500)
            .map(|i| format!("https://s{i}.example/\n"))
            .collect();
        let urls = parse(&text);
        assert_eq!(urls.len(), MAX_URLS);
        assert_eq!(
            urls[MAX_URLS - 1],
            format!("https://s{}.example/", MAX_URLS - 1)
        );
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert!(parse("").is_empty());
        assert!(parse("\n  \n# only a comment\n").is_empty());
    }

    #[test]
    fn the_defaults_parse_as_they_are() {
        assert_eq!(parse(&DEFAULT_URLS.join("\n")), DEFAULT_URLS);
    }
}
