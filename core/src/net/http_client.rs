//! Service HTTP clients (DoH, collector, test helper).
