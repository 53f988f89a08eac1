//! The endpoint's tiny HTTP/1.1 dialect: `GET /bytes?n=N` and nothing else. Request heads are
//! parsed by hand (bounded, no allocation beyond the head itself).

/// The largest request head accepted.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// A request the endpoint understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BytesRequest {
    /// Bytes asked for.
    pub n: u64,
    /// True when the client asked to close after this response (`Connection: close`).
    pub close: bool,
}

/// Why a request is refused, with the status it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400: malformed, or `n` missing or above the cap.
    BadRequest(&'static str),
    /// 404: another path.
    NotFound,
    /// 405: another method.
    MethodNotAllowed,
}

impl Refusal {
    /// The status line's code and reason.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Refusal::BadRequest(_) => (400, "Bad Request"),
            Refusal::NotFound => (404, "Not Found"),
            Refusal::MethodNotAllowed => (405, "Method Not Allowed"),
        }
    }

    /// The short text body.
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::BadRequest(why) => why,
            Refusal::NotFound => "not found",
            Refusal::MethodNotAllowed => "only GET",
        }
    }
}

/// Where the head ends (the index just past `\r\n\r\n`), if it has.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete request head (through the blank line). `max_bytes` is the cap on `n`.
pub fn parse_head(head: &[u8], max_bytes: u64) -> Result<BytesRequest, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest("not text"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest("malformed request line"));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(Refusal::BadRequest("unsupported HTTP version"));
    }
    let mut close = version == "HTTP/1.0";
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refusal::BadRequest("malformed header"));
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close") {
            close = true;
        }
        if name.eq_ignore_ascii_case("content-length") && value.trim() != "0" {
            return Err(Refusal::BadRequest("requests have no body"));
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::BadRequest("requests have no body"));
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/bytes" {
        return Err(Refusal::NotFound);
    }
    if method != "GET" {
        return Err(Refusal::MethodNotAllowed);
    }
    let n = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("n="))
        .ok_or(Refusal::BadRequest("n is missing"))?;
    if n.is_empty() || n.len() > 20 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::BadRequest("n must be a whole number"));
    }
    let n: u64 = n
        .parse()
        .map_err(|_| Refusal::BadRequest("n must be a whole number"))?;
    if n > max_bytes {
        return Err(Refusal::BadRequest("n is above this server's cap"));
    }
    Ok(BytesRequest { n, close })
}

/// The head of a successful response.
pub fn ok_head(n: u64, close: bool) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\n\
         Cache-Control: no-store\r\nConnection: {}\r\n\r\n",
        if close { "close" } else { "keep-alive" }
    )
}

/// A whole refusal response (the connection is closed after it).
pub fn refusal_response(refusal: &Refusal) -> String {
    let (code, reason) = refusal.status();
    let body = format!("{}\n", refusal.message());
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: u64 = 4 << 20;

    #[test]
    fn a_bytes_request_parses() {
        let head = b"GET /bytes?n=262144 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            parse_head(head, CAP),
            Ok(BytesRequest {
                n: 262_144,
                close: false
            })
        );
        let head = b"GET /bytes?x=1&n=5 HTTP/1.1\r\nConnection: Close\r\n\r\n";
        assert_eq!(
            parse_head(head, CAP),
            Ok(BytesRequest { n: 5, close: true })
        );
        assert_eq!(head_end(head), Some(head.len()));
    }

    #[test]
    fn everything_else_is_refused() {
        for (head, expected) in [
            (&b"GET /bytes?n=99999999 HTTP/1.1\r\n\r\n"[..], 400),
            (b"GET /bytes HTTP/1.1\r\n\r\n", 400),
            (b"GET /bytes?n=-1 HTTP/1.1\r\n\r\n", 400),
            (
                b"GET /bytes?n=99999999999999999999999 HTTP/1.1\r\n\r\n",
                400,
            ),
            (b"GET /other HTTP/1.1\r\n\r\n", 404),
            (b"POST /bytes?n=1 HTTP/1.1\r\n\r\n", 405),
            (b"GARBAGE\r\n\r\n", 400),
            (b"GET /bytes?n=1 HTTP/2\r\n\r\n", 400),
            (b"GET /bytes?n=1 HTTP/1.1\r\nno colon\r\n\r\n", 400),
            (b"GET /bytes?n=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400),
            (b"\xff\xfe\r\n\r\n", 400),
        ] {
            let refusal = parse_head(head, CAP).unwrap_err();
            assert_eq!(refusal.status().0, expected, "{head:?}");
            assert!(refusal_response(&refusal).starts_with(&format!("HTTP/1.1 {expected} ")));
        }
    }

    #[test]
    fn the_ok_head_carries_the_length() {
        let head = ok_head(42, false);
        assert!(head.contains("Content-Length: 42\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }
}
