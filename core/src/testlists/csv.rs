//! A small RFC 4180 reader: quoted fields, doubled quotes, commas and newlines inside quotes,
//! CRLF or LF line ends, a missing final newline. Enough for Citizen Lab's lists without a
//! dependency.

/// Splits CSV text into records of fields. Unterminated quotes are an error naming the line.
pub fn parse_records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut field_started_quoted = false;
    let mut line = 1usize;
    let mut quote_line = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !field_started_quoted => {
                in_quotes = true;
                field_started_quoted = true;
                quote_line = line;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                field_started_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                record.push(std::mem::take(&mut field));
                field_started_quoted = false;
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!(
            "unterminated quoted field starting on line {quote_line}"
        ));
    }
    if !field.is_empty() || !record.is_empty() || field_started_quoted {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quotes_commas_and_line_ends() {
        let text = "a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n2,\"multi\nline\",\n3,last,no-newline";
        let records = parse_records(text).unwrap();
        assert_eq!(records.len(), 4);
        assert_eq!(records[1], vec!["1", "x, y", "say \"hi\""]);
        assert_eq!(records[2], vec!["2", "multi\nline", ""]);
        assert_eq!(records[3], vec!["3", "last", "no-newline"]);
    }

    #[test]
    fn empty_quoted_field_at_end_counts() {
        assert_eq!(parse_records("a,\"\"").unwrap(), vec![vec!["a", ""]]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let error = parse_records("a,b\n1,\"open\n2,3\n").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
    }
}
