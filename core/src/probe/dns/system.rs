//! The system resolver: libc `getaddrinfo`, run on a blocking thread and abandoned (never
//! awaited) when the timeout passes. One `queries` entry with `query_type` `ANY`.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{new_query, DnsLookup, DnsOptions, DnsTransport, LateReplies};
use crate::failure::Failure;
use crate::probe::flow::Flow;
use crate::report::observations::DnsAnswer;

/// What getaddrinfo returned.
#[derive(Debug, Default)]
struct Resolved {
    /// Addresses in getaddrinfo's order (already sorted by RFC 6724 preference).
    addresses: Vec<IpAddr>,
    /// The canonical name (`AI_CANONNAME`), if any.
    canonical_name: Option<String>,
}

/// Looks `domain` up with getaddrinfo.
pub(super) async fn lookup(flow: &Flow, domain: &str, options: &DnsOptions) -> DnsLookup {
    let t0 = flow.clock.now();
    let mut query = new_query(flow, &DnsTransport::System, domain, "ANY", t0);
    let name = domain.to_string();
    let blocking = tokio::task::spawn_blocking(move || getaddrinfo(&name));
    // On timeout the blocking thread finishes on its own and frees its result; we stop waiting.
    let result = match tokio::time::timeout(options.timeout, blocking).await {
        Ok(Ok(result)) => result,
        Ok(Err(join_error)) => Err(Failure::Unknown(format!("getaddrinfo task: {join_error}"))),
        Err(_) => Err(Failure::GenericTimeout),
    };
    query.t = flow.clock.now();
    let mut addresses = Vec::new();
    match result {
        Ok(resolved) => {
            if let Some(canonical) = resolved.canonical_name.as_deref() {
                let same = canonical
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(domain.trim_end_matches('.'));
                if !same && !canonical.is_empty() {
                    query.answers.push(DnsAnswer {
                        answer_type: "CNAME".to_string(),
                        hostname: Some(canonical.to_string()),
                        ..DnsAnswer::default()
                    });
                }
            }
            for address in &resolved.addresses {
                query.answers.push(address_answer(*address));
            }
            // The lookup's contract: IPv4 first, then IPv6, each in getaddrinfo's order.
            addresses.extend(resolved.addresses.iter().filter(|ip| ip.is_ipv4()));
            addresses.extend(resolved.addresses.iter().filter(|ip| ip.is_ipv6()));
            if addresses.is_empty() {
                query.failure = Some(Failure::DnsNoAnswer);
            }
        }
        Err(failure) => query.failure = Some(failure),
    }
    DnsLookup {
        failure: query.failure.clone(),
        addresses,
        queries: vec![query],
        late_replies: LateReplies::none(),
    }
}

/// An `A` or `AAAA` answer without TTL (getaddrinfo does not expose it).
fn address_answer(address: IpAddr) -> DnsAnswer {
    match address {
        IpAddr::V4(v4) => DnsAnswer {
            answer_type: "A".to_string(),
            ipv4: Some(v4.to_string()),
            ..DnsAnswer::default()
        },
        IpAddr::V6(v6) => DnsAnswer {
            answer_type: "AAAA".to_string(),
            ipv6: Some(v6.to_string()),
            ..DnsAnswer::default()
        },
    }
}

/// Owns a getaddrinfo result list and frees it with `freeaddrinfo`.
struct AddrInfoList(*mut libc::addrinfo);

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a successful getaddrinfo call and is freed once.
            unsafe { libc::freeaddrinfo(self.0) };
        }
    }
}

/// Calls getaddrinfo (AF_UNSPEC, SOCK_STREAM, AI_CANONNAME) and copies the result out.
/// Blocking.
fn getaddrinfo(domain: &str) -> Result<Resolved, Failure> {
    // A name with a NUL byte cannot be passed to C; nothing was looked up.
    let node = CString::new(domain).map_err(|_| Failure::InvalidArgument)?;
    // SAFETY: an all-zero addrinfo is a valid "no hints" value; we then set the fields we use.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_flags = libc::AI_CANONNAME;
    let mut head: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `node` is a valid C string, `hints` a valid addrinfo, `head` a valid out pointer;
    // no service is given.
    let code = unsafe { libc::getaddrinfo(node.as_ptr(), std::ptr::null(), &hints, &mut head) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let list = AddrInfoList(head);
    if code != 0 {
        return Err(Failure::from_getaddrinfo(code, errno));
    }
    let mut resolved = Resolved::default();
    let mut cursor = list.0;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a non-null node of the list getaddrinfo returned, alive until
        // `list` is dropped at the end of this function.
        let entry = unsafe { &*cursor };
        if resolved.canonical_name.is_none() && !entry.ai_canonname.is_null() {
            // SAFETY: ai_canonname, when set, is a NUL-terminated string owned by the list.
            let canonical = unsafe { CStr::from_ptr(entry.ai_canonname) };
            resolved.canonical_name = Some(canonical.to_string_lossy().into_owned());
        }
        if let Some(address) = socket_address(entry) {
            if !resolved.addresses.contains(&address) {
                resolved.addresses.push(address);
            }
        }
        cursor = entry.ai_next;
    }
    Ok(resolved)
}

/// The IP address of one getaddrinfo entry, if it is IPv4 or IPv6 and well-formed.
fn socket_address(entry: &libc::addrinfo) -> Option<IpAddr> {
    if entry.ai_addr.is_null() {
        return None;
    }
    let length = entry.ai_addrlen as usize;
    match entry.ai_family {
        libc::AF_INET if length >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family and length say ai_addr points to a sockaddr_in; read_unaligned
            // makes no alignment assumption.
            let sin =
                unsafe { std::ptr::read_unaligned(entry.ai_addr as *const libc::sockaddr_in) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 if length >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { std::ptr::read_unaligned(entry.ai_addr as *const libc::sockaddr_in6) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_byte_is_invalid_argument() {
        assert_eq!(getaddrinfo("a\0b").err(), Some(Failure::InvalidArgument));
    }

    #[test]
    fn ip_literals_come_back_as_is() {
        let resolved = getaddrinfo("127.0.0.1").expect("a literal resolves without the network");
        assert_eq!(resolved.addresses, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let resolved = getaddrinfo("::1").expect("a literal resolves without the network");
        assert_eq!(resolved.addresses, vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }
}
