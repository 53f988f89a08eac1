//! `kuzet-server`: Kuzet's self-hostable services behind one HTTP listener. Each service is an
//! [`endpoint::Endpoint`] that claims the requests it serves; the [`router`] bounds request
//! sizes and in-flight requests for all of them.

pub mod collector;
pub mod endpoint;
pub mod router;
pub mod th;
pub mod throughput;
