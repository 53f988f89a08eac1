//! The bytes served: a ChaCha stream seeded once per connection from the OS, so filling
//! megabytes costs little and the payload is incompressible (no middlebox can shrink it).

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// A fast stream of random bytes.
pub struct RandomStream {
    rng: StdRng,
}

impl std::fmt::Debug for RandomStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RandomStream")
    }
}

impl RandomStream {
    /// A stream seeded from the operating system.
    pub fn new() -> Self {
        RandomStream {
            rng: StdRng::from_rng(&mut rand::rng()),
        }
    }

    /// Overwrites `buf` with the next random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.rng.fill_bytes(buf);
    }
}

impl Default for RandomStream {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_differ_and_look_random() {
        let mut stream = RandomStream::new();
        let mut a = vec![0u8; 4096];
        let mut b = vec![0u8; 4096];
        stream.fill(&mut a);
        stream.fill(&mut b);
        assert_ne!(a, b);
        let ones: u32 = a.iter().map(|byte| byte.count_ones()).sum();
        // 32768 bits: the count of ones stays well within 5% of half.
        assert!((15_500..17_300).contains(&ones), "{ones}");
    }
}
