//! DNS lookups through the system resolver (getaddrinfo), DNS over UDP, DoH and DoT.
