//! URLs to measure: from the command line and from files, checked before anything is measured.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use kuzet_core::experiment::urlgetter::parse_target_url;

use crate::error::CliError;

/// Where a URL came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line argument.
    Argument,
    /// A line (counted from 1) of a file; `-` is standard input.
    Line {
        /// The file as given on the command line.
        file: PathBuf,
        /// The line number, from 1.
        line: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Argument => f.write_str("argument"),
            Origin::Line { file, line } if file.as_os_str() == "-" => {
                write!(f, "standard input, line {line}")
            }
            Origin::Line { file, line } => write!(f, "{}:{line}", file.display()),
        }
    }
}

/// One URL to measure, as the user wrote it (surrounding white space removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputUrl {
    /// The URL text.
    pub text: String,
    /// Where it came from.
    pub origin: Origin,
}

/// The non-empty, non-comment lines of a URL list with their line numbers (from 1). A line is
/// a comment when its first non-blank character is `#`; surrounding white space is removed.
pub fn url_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// The most bytes read from a file given on the command line (a URL list, anchors, endpoints):
/// a device or a FIFO (`/dev/zero`) is refused at this size instead of filling memory.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads a text file given to `flag`, at most [`MAX_INPUT_BYTES`] (`-` is standard input).
pub fn read_bounded(path: &Path, flag: &str) -> Result<String, CliError> {
    let what = if path.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| CliError::Usage(format!("{flag}: cannot read {what}: {e}")))?,
        )
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Usage(format!("{flag}: cannot read {what}: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::Usage(format!(
            "{flag}: {what} is larger than {} MiB",
            MAX_INPUT_BYTES >> 20
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| CliError::Usage(format!("{flag}: {what} is not UTF-8 text")))
}

/// Reads a URL list from `path` (`-` is standard input) and returns its URLs, unchecked.
pub fn read_url_file(path: &Path) -> Result<Vec<InputUrl>, CliError> {
    let text = read_bounded(path, "--file")?;
    Ok(url_lines(&text)
        .into_iter()
        .map(|(line, url)| InputUrl {
            text: url.to_string(),
            origin: Origin::Line {
                file: path.to_path_buf(),
                line,
            },
        })
        .collect())
}

/// Gathers the URLs of the command line, then those of each file in order, and checks every one
/// (http or https, with a host). The first bad URL or unreadable file rejects the whole list.
pub fn gather_urls(arguments: &[String], files: &[PathBuf]) -> Result<Vec<InputUrl>, CliError> {
    let mut urls: Vec<InputUrl> = arguments
        .iter()
        .map(|text| InputUrl {
            text: text.trim().to_string(),
            origin: Origin::Argument,
        })
        .collect();
    for file in files {
        urls.extend(read_url_file(file)?);
    }
    for url in &urls {
        check_url(url)?;
    }
    if urls.is_empty() {
        return Err(CliError::Usage(if files.is_empty() {
            "no URL to measure: give URLs as arguments or with --file".to_string()
        } else {
            "no URL to measure: the URL files hold only blank lines and comments".to_string()
        }));
    }
    Ok(urls)
}

/// Checks one URL as `urlgetter` will; the error names the URL and where it came from.
pub fn check_url(url: &InputUrl) -> Result<(), CliError> {
    match parse_target_url(&url.text) {
        Ok(_) => Ok(()),
        Err(e) => Err(CliError::Usage(match url.origin {
            Origin::Argument => e.to_string(),
            _ => format!("{}: {e}", url.origin),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = "# test list\n\nhttps://a.example/\n   \n  # indented comment\n\thttp://b.example/x  \r\nhttps://c.example/#frag\n";
        assert_eq!(
            url_lines(text),
            [
                (3, "https://a.example/"),
                (6, "http://b.example/x"),
                (7, "https://c.example/#frag"),
            ]
        );
        assert!(url_lines("").is_empty());
        assert!(url_lines("# only\n\n#comments").is_empty());
    }

    #[test]
    fn arguments_come_first_then_files_in_order() {
        let mut first = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(first, "# first\nhttp://b.example/\n\nhttp://c.example/").expect("write");
        let mut second = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(second, "https://d.example/").expect("write");
        let urls = gather_urls(
            &["http://a.example/".to_string()],
            &[first.path().to_path_buf(), second.path().to_path_buf()],
        )
        .expect("valid");
        let texts: Vec<_> = urls.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "http://a.example/",
                "http://b.example/",
                "http://c.example/",
                "https://d.example/"
            ]
        );
        assert_eq!(urls[0].origin, Origin::Argument);
        assert_eq!(
            urls[2].origin,
            Origin::Line {
                file: first.path().to_path_buf(),
                line: 4
            }
        );
    }

    #[test]
    fn one_bad_url_rejects_the_list_and_names_its_line() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "http://ok.example/\n# comment\nftp://x").expect("write");
        let err = gather_urls(&[], &[file.path().to_path_buf()]).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CliError::Usage(_)));
        assert!(
            message.contains(&format!("{}:3", file.path().display())),
            "{message}"
        );
        assert!(message.contains("ftp://x"), "{message}");
        assert!(message.contains("not http or https"), "{message}");
    }

    #[test]
    fn bad_arguments_are_named() {
        for (bad, expected) in [
            ("ftp://x", "not http or https"),
            ("not a url", "not a url"),
            ("http://", "http://"),
            ("https://exa mple.org/", "exa mple"),
        ] {
            let err = gather_urls(&["http://fine.example/".to_string(), bad.to_string()], &[])
                .unwrap_err();
            assert!(matches!(err, CliError::Usage(_)));
            assert!(err.to_string().contains(expected), "{bad}: {err}");
            assert!(!err.to_string().contains('\n'), "{bad}: {err}");
        }
    }

    #[test]
    fn unreadable_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing-urls.txt");
        let err = gather_urls(
            &["http://a.example/".to_string()],
            std::slice::from_ref(&missing),
        )
        .unwrap_err();
        assert!(matches!(err, CliError::Usage(_)));
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
        // A directory is not a URL file either.
        let err = gather_urls(&[], &[dir.path().to_path_buf()]).unwrap_err();
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn nothing_to_measure_is_an_error() {
        assert!(matches!(gather_urls(&[], &[]), Err(CliError::Usage(_))));
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(file, "# nothing here\n\n").expect("write");
        let err = gather_urls(&[], &[file.path().to_path_buf()]).unwrap_err();
        assert!(
            err.to_string().contains("only blank lines and comments"),
            "{err}"
        );
    }
}
