//! URL test lists in Citizen Lab's CSV format (`url,category_code,category_description,
//! date_added,source,notes`): the bundled Kazakhstan and global lists, or the user's own file,
//! filtered by category.

mod csv;

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, Result};
use crate::experiment::urlgetter::parse_target_url;

/// The largest test-list file read, in bytes.
pub const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;
/// The most entries kept from one list.
pub const MAX_LIST_ENTRIES: usize = 100_000;

/// One URL of a test list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestListEntry {
    /// The URL to measure.
    pub url: String,
    /// Citizen Lab's category code, e.g. `NEWS`, `HUMR`, `ANON`.
    pub category_code: String,
}

/// A parsed test list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestList {
    /// Where the list came from (`bundled:kz`, a file name).
    pub source: String,
    /// Its entries, in file order, without duplicate URLs.
    pub entries: Vec<TestListEntry>,
}

/// The lists compiled into the library (CC BY-NC-SA 4.0, Citizen Lab and Others; see
/// `data/test-lists/README.md`). A fallback for when no fresh list can be fetched.
#[cfg(feature = "bundled-test-lists")]
pub mod bundled {
    /// Citizen Lab's Kazakhstan list.
    pub const KZ: &str = include_str!("../../../data/test-lists/kz.csv");
    /// Citizen Lab's global list.
    pub const GLOBAL: &str = include_str!("../../../data/test-lists/global.csv");
    /// The attribution to show wherever the bundled lists are used.
    pub const ATTRIBUTION: &str =
        "Test lists: Citizen Lab and Others, https://github.com/citizenlab/test-lists, CC BY-NC-SA 4.0";
}

impl TestList {
    /// A bundled list by name: `kz` or `global`.
    #[cfg(feature = "bundled-test-lists")]
    pub fn bundled(name: &str) -> Result<TestList> {
        let text = match name {
            "kz" => bundled::KZ,
            "global" => bundled::GLOBAL,
            other => {
                return Err(Error::InvalidTestList {
                    source_name: other.to_string(),
                    reason: "no bundled list by that name (kz, global)".to_string(),
                })
            }
        };
        TestList::parse(&format!("bundled:{name}"), text)
    }

    /// Reads a list from a CSV file (Citizen Lab's columns, header required), or a plain file
    /// with one URL per line (no header; `#` comments and blank lines ignored).
    pub fn from_file(path: &Path) -> Result<TestList> {
        let read_error = |source| Error::ReadFile {
            path: path.to_path_buf(),
            source,
        };
        let metadata = std::fs::metadata(path).map_err(read_error)?;
        if metadata.len() > MAX_LIST_BYTES {
            return Err(Error::InvalidTestList {
                source_name: path.display().to_string(),
                reason: format!("larger than {MAX_LIST_BYTES} bytes"),
            });
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::InvalidTestList {
            source_name: path.display().to_string(),
            reason: "not UTF-8 text".to_string(),
        })?;
        TestList::parse(&path.display().to_string(), &text)
    }

    /// Parses list text. A first line starting with `url,` means Citizen Lab's CSV; anything
    /// else is read as one URL per line. Every URL is checked; the first bad one is an error
    /// naming its line.
    pub fn parse(source: &str, text: &str) -> Result<TestList> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let invalid = |reason: String| Error::InvalidTestList {
            source_name: source.to_string(),
            reason,
        };
        let mut rows: Vec<(usize, String, String)> = Vec::new();
        if text.trim_start().to_ascii_lowercase().starts_with("url,") {
            let records = csv::parse_records(text).map_err(invalid)?;
            let mut records = records.into_iter().enumerate();
            let header = records.next().map(|(_, r)| r).unwrap_or_default();
            let column = |name: &str| header.iter().position(|h| h.trim() == name);
            let url_column = column("url").ok_or_else(|| invalid("no url column".to_string()))?;
            let category_column = column("category_code");
            for (index, record) in records {
                let url = record.get(url_column).map(|u| u.trim()).unwrap_or_default();
                if url.is_empty() {
                    continue;
                }
                let category = category_column
                    .and_then(|c| record.get(c))
                    .map(|c| c.trim().to_string())
                    .unwrap_or_default();
                rows.push((index + 1, url.to_string(), category));
            }
        } else {
            for (index, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                rows.push((index + 1, line.to_string(), String::new()));
            }
        }
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        for (row, url, category_code) in rows {
            parse_target_url(&url).map_err(|e| invalid(format!("row {row}: {e}")))?;
            if !seen.insert(url.clone()) {
                continue;
            }
            if entries.len() == MAX_LIST_ENTRIES {
                return Err(invalid(format!("more than {MAX_LIST_ENTRIES} URLs")));
            }
            entries.push(TestListEntry { url, category_code });
        }
        Ok(TestList {
            source: source.to_string(),
            entries,
        })
    }

    /// Keeps only entries whose category is one of `categories` (case-insensitive). An empty
    /// filter keeps everything.
    pub fn filter_categories(mut self, categories: &[String]) -> TestList {
        if categories.is_empty() {
            return self;
        }
        self.entries.retain(|entry| {
            categories
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&entry.category_code))
        });
        self
    }

    /// Keeps at most the first `limit` entries.
    pub fn truncate(mut self, limit: usize) -> TestList {
        self.entries.truncate(limit);
        self
    }

    /// Appends another list's entries, skipping URLs already present.
    pub fn merge(mut self, other: TestList) -> TestList {
        let mut seen: BTreeSet<String> = self.entries.iter().map(|e| e.url.clone()).collect();
        for entry in other.entries {
            if seen.insert(entry.url.clone()) {
                self.entries.push(entry);
            }
        }
        self.source = format!("{}+{}", self.source, other.source);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "bundled-test-lists")]
    #[test]
    fn bundled_lists_load_whole() {
        let kz = TestList::bundled("kz").unwrap();
        assert_eq!(kz.entries.len(), 553);
        assert!(kz.entries.iter().all(|e| !e.category_code.is_empty()));
        let global = TestList::bundled("global").unwrap();
        assert_eq!(global.entries.len(), 1722);
        assert!(TestList::bundled("mars").is_err());
    }

    #[cfg(feature = "bundled-test-lists")]
    #[test]
    fn categories_filter_case_insensitively() {
        let news = TestList::bundled("kz")
            .unwrap()
            .filter_categories(&["news".to_string(), "HUMR".to_string()]);
        assert!(!news.entries.is_empty());
        assert!(news
            .entries
            .iter()
            .all(|e| e.category_code == "NEWS" || e.category_code == "HUMR"));
    }

    #[test]
    fn plain_lists_and_csv_lists_parse() {
        let plain = TestList::parse("t", "# mine\nhttps://a.test/\n\nhttp://b.test/x\n").unwrap();
        assert_eq!(plain.entries.len(), 2);
        let csv = TestList::parse(
            "t",
            "url,category_code,category_description,date_added,source,notes\n\
             https://a.test/,NEWS,News,2020-01-01,me,\"a, b\"\nhttps://a.test/,NEWS,News,,,\n",
        )
        .unwrap();
        assert_eq!(csv.entries.len(), 1, "duplicates dropped");
        assert_eq!(csv.entries[0].category_code, "NEWS");
    }

    #[test]
    fn a_bad_url_names_its_row() {
        let error = TestList::parse("mine.txt", "https://ok.test/\nftp://bad/\n").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("mine.txt") && text.contains("row 2"),
            "{text}"
        );
    }

    #[test]
    fn merge_and_truncate() {
        let a = TestList::parse("a", "https://1.test/\nhttps://2.test/\n").unwrap();
        let b = TestList::parse("b", "https://2.test/\nhttps://3.test/\n").unwrap();
        let merged = a.merge(b);
        assert_eq!(merged.entries.len(), 3);
        assert_eq!(merged.truncate(2).entries.len(), 2);
    }
}
