//! gzip for stored measurement bodies and upload bodies (flate2's pure-Rust backend: no C, a
//! small footprint, and the encoding every collector must accept).

use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// The hard ceiling of a decompressed body, whatever the policy says: a corrupt or hostile
/// stored body can never make the store allocate more.
pub(crate) const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// Compresses `data` with gzip at the default level.
pub(crate) fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        Compression::default(),
    );
    encoder.write_all(data)?;
    encoder.finish()
}

/// Decompresses gzip `data`, refusing output larger than `cap` bytes.
pub(crate) fn gunzip(data: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    let cap = cap.min(MAX_DECOMPRESSED);
    let mut out = Vec::new();
    GzDecoder::new(data)
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() > cap {
        return Err(format!("larger than {cap} bytes once decompressed"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_cap() {
        let data = b"{\"hello\": \"world\"}".repeat(100);
        let packed = gzip(&data).unwrap();
        assert!(packed.len() < data.len());
        assert_eq!(gunzip(&packed, data.len()).unwrap(), data);
        assert!(gunzip(&packed, data.len() - 1).is_err());
        assert!(gunzip(b"not gzip", 100).is_err());
    }
}
