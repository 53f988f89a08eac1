//! Admission: a global cap on open connections and a per-client-address token bucket. The
//! addresses are kept in memory only as long as their bucket is not full again, and are never
//! logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most client addresses tracked at once; beyond it new addresses are refused until old
/// buckets refill (a flood of spoofed sources cannot grow memory without bound).
pub const MAX_TRACKED_CLIENTS: usize = 65_536;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many connections open.
    Busy,
    /// This client opened too many connections recently.
    RateLimited,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The admission state, shared by every connection.
#[derive(Debug)]
pub struct Limits {
    open: Arc<Semaphore>,
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Limits {
    /// At most `max_connections` open at once and `per_minute` new connections per client
    /// address per minute (with a burst of as many); `per_minute == 0` disables the rate limit.
    pub fn new(max_connections: usize, per_minute: u32) -> Self {
        Limits {
            open: Arc::new(Semaphore::new(max_connections)),
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Admits a connection from `client` now, or says why not. The permit frees the slot when
    /// dropped.
    pub fn admit(&self, client: IpAddr) -> Result<OwnedSemaphorePermit, Refused> {
        self.admit_at(client, Instant::now())
    }

    fn admit_at(&self, client: IpAddr, now: Instant) -> Result<OwnedSemaphorePermit, Refused> {
        if self.per_minute > 0 && !self.take_token(client, now) {
            return Err(Refused::RateLimited);
        }
        self.open
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Busy)
    }

    fn take_token(&self, client: IpAddr, now: Instant) -> bool {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else {
            return false;
        };
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            // Forget the clients whose buckets are full again: they are as good as new.
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < capacity
            });
            if buckets.len() >= MAX_TRACKED_CLIENTS {
                return false;
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Connections open now.
    pub fn open_connections(&self, max_connections: usize) -> usize {
        max_connections.saturating_sub(self.open.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_connection_cap_frees_slots_on_drop() {
        let limits = Limits::new(2, 0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = limits.admit(ip).unwrap();
        let _b = limits.admit(ip).unwrap();
        assert_eq!(limits.admit(ip).unwrap_err(), Refused::Busy);
        drop(a);
        assert!(limits.admit(ip).is_ok());
    }

    #[test]
    fn each_client_has_its_own_bucket_that_refills() {
        let limits = Limits::new(1000, 60);
        let now = Instant::now();
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let two: IpAddr = "192.0.2.2".parse().unwrap();
        let mut permits = Vec::new();
        for _ in 0..60 {
            permits.push(limits.admit_at(one, now).unwrap());
        }
        assert_eq!(limits.admit_at(one, now).unwrap_err(), Refused::RateLimited);
        assert!(limits.admit_at(two, now).is_ok());
        // One token per second comes back.
        let later = now + Duration::from_millis(1500);
        assert!(limits.admit_at(one, later).is_ok());
        assert_eq!(
            limits.admit_at(one, later).unwrap_err(),
            Refused::RateLimited
        );
    }
}
