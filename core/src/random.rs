//! Randomness for Kuzet's own needs, from ring (already linked for TLS): the operating
//! system's generator for values a peer must not guess (DNS query ids, control names), and a
//! small generator seeded from it for jitter and sampling. No `rand` crate in the library
//! (about 16 KB of the mobile library).

use std::time::{SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};

/// Fills `bytes` from the operating system's generator. If that fails (it should not, on any
/// supported system), the bytes come from the clock mixed through SplitMix64: still different
/// on every call, only not secret.
pub fn fill(bytes: &mut [u8]) {
    if SystemRandom::new().fill(bytes).is_ok() {
        return;
    }
    let mut fallback = FastRng::seed(clock_seed());
    for chunk in bytes.chunks_mut(8) {
        let value = fallback.next_u64().to_le_bytes();
        chunk.copy_from_slice(&value[..chunk.len()]);
    }
}

/// A random `u16` from the operating system's generator.
pub fn random_u16() -> u16 {
    let mut bytes = [0u8; 2];
    fill(&mut bytes);
    u16::from_le_bytes(bytes)
}

/// A random `u64` from the operating system's generator.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// A random (version 4) UUID from the operating system's generator.
pub fn uuid_v4() -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The clock's nanoseconds and a per-process counter, for the fallback seed.
fn clock_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ CALLS.fetch_add(1, Ordering::Relaxed).rotate_left(32)
}

/// A small, fast, non-cryptographic generator (SplitMix64) for jitter and sampling.
#[derive(Debug, Clone)]
pub struct FastRng {
    state: u64,
}

impl FastRng {
    /// A generator seeded from the operating system's generator.
    pub fn from_entropy() -> FastRng {
        FastRng::seed(random_u64())
    }

    /// A generator with a fixed seed (tests, reproducible runs).
    pub fn seed(seed: u64) -> FastRng {
        FastRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform `f64` in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform index in `0..bound` (`bound` > 0; 0 gives 0).
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for sampling (bias below 2^-32 for any usize bound
        // a phone uses here).
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// Up to `amount` distinct elements of `items`, in random order.
    pub fn sample<'a, T>(&mut self, items: &'a [T], amount: usize) -> Vec<&'a T> {
        let mut indices: Vec<usize> = (0..items.len()).collect();
        let amount = amount.min(items.len());
        for position in 0..amount {
            let pick = position + self.below(items.len() - position);
            indices.swap(position, pick);
        }
        indices
            .iter()
            .take(amount)
            .filter_map(|&index| items.get(index))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_values_differ() {
        let values: Vec<u64> = (0..8).map(|_| random_u64()).collect();
        let mut distinct = values.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), values.len());
        let mut bytes = [0u8; 13];
        fill(&mut bytes);
        assert!(bytes.iter().any(|b| *b != 0));
    }

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let (a, b) = (uuid_v4(), uuid_v4());
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn fast_rng_is_reproducible_and_uniform() {
        let mut a = FastRng::seed(7);
        let mut b = FastRng::seed(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let draws: Vec<f64> = (0..20_000).map(|_| a.next_f64()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let mut counts = [0usize; 5];
        for _ in 0..20_000 {
            counts[a.below(5)] += 1;
        }
        assert!(
            counts.iter().all(|c| (3_600..4_400).contains(c)),
            "{counts:?}"
        );
        assert_eq!(a.below(0), 0);
    }

    #[test]
    fn samples_are_distinct_and_bounded() {
        let items: Vec<u32> = (0..10).collect();
        let mut rng = FastRng::seed(3);
        let picked = rng.sample(&items, 4);
        assert_eq!(picked.len(), 4);
        let mut seen: Vec<u32> = picked.iter().map(|v| **v).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 4);
        assert_eq!(rng.sample(&items, 50).len(), 10);
        assert!(rng.sample(&Vec::<u32>::new(), 3).is_empty());
    }
}
