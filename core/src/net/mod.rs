//! The one place that decides how Kuzet trusts servers and builds clients.

pub mod connection;
pub mod http_client;
pub mod idn;
pub mod trust;
