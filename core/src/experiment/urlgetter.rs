//! `urlgetter`: measure one URL (DNS, TCP, TLS, HTTP with redirects) and emit one measurement.
