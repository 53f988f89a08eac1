//! gzip (RFC 1952) for stored measurement bodies and upload bodies, the encoding every collector
//! must accept. The deflate streams are flate2's (pure-Rust backend); the gzip framing and its
//! CRC-32 are written here, with tables computed at run time, because flate2's own framing links
//! crc32fast's 16 KB of tables into the mobile library.

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

/// The hard ceiling of a decompressed body, whatever the policy says: a corrupt or hostile
/// stored body can never make the store allocate more.
pub(crate) const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// gzip's magic bytes and the deflate method.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 8];
/// Header flags (RFC 1952 §2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
/// Flags no conforming writer sets.
const FRESERVED: u8 = 0xe0;

/// Compresses `data` with gzip at the default level.
pub(crate) fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    // No name, no time stamp, no extra flags; OS "unknown" (255), as flate2 wrote it.
    out.extend_from_slice(&[
        GZIP_MAGIC[0],
        GZIP_MAGIC[1],
        GZIP_MAGIC[2],
        0,
        0,
        0,
        0,
        0,
        0,
        255,
    ]);
    let mut encoder = DeflateEncoder::new(out, Compression::default());
    encoder.write_all(data)?;
    let mut out = encoder.finish()?;
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
}

/// Decompresses gzip `data` (its first member), refusing output larger than `cap` bytes and
/// checking the CRC-32 and length in its trailer.
pub(crate) fn gunzip(data: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    let cap = cap.min(MAX_DECOMPRESSED);
    let start = header_len(data).map_err(|reason| format!("gzip: {reason}"))?;
    let body = data.get(start..).unwrap_or_default();
    let mut decoder = DeflateDecoder::new(body);
    let mut out = Vec::new();
    (&mut decoder)
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() > cap {
        return Err(format!("larger than {cap} bytes once decompressed"));
    }
    let consumed = usize::try_from(decoder.total_in()).unwrap_or(usize::MAX);
    let trailer = body
        .get(consumed..consumed.saturating_add(8))
        .ok_or("gzip: the trailer is missing")?;
    let (crc, size) = trailer.split_at(4);
    if crc != crc32(&out).to_le_bytes() || size != (out.len() as u32).to_le_bytes() {
        return Err("gzip: the checksum does not match (corrupt data)".to_string());
    }
    Ok(out)
}

/// The length of the gzip header at the start of `data`.
fn header_len(data: &[u8]) -> Result<usize, &'static str> {
    let fixed = data.get(..10).ok_or("too short for a header")?;
    if fixed[..3] != GZIP_MAGIC {
        return Err("not gzip data");
    }
    let flags = fixed[3];
    if flags & FRESERVED != 0 {
        return Err("reserved header flags set");
    }
    let mut at = 10usize;
    if flags & FEXTRA != 0 {
        let length = data.get(at..at + 2).ok_or("truncated extra field")?;
        at += 2 + usize::from(u16::from_le_bytes([length[0], length[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = data.get(at..).ok_or("truncated header")?;
            let end = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or("unterminated header string")?;
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > data.len() {
        return Err("truncated header");
    }
    Ok(at)
}

/// CRC-32 (IEEE 802.3, reflected), as gzip uses it: eight bytes per step ("slicing by 8").
fn crc32(data: &[u8]) -> u32 {
    let [t0, t1, t2, t3, t4, t5, t6, t7] = crc_tables();
    let mut crc = !0u32;
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let low = crc ^ u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        let high = u32::from_le_bytes([word[4], word[5], word[6], word[7]]);
        crc = t7[(low & 0xff) as usize]
            ^ t6[(low >> 8 & 0xff) as usize]
            ^ t5[(low >> 16 & 0xff) as usize]
            ^ t4[(low >> 24) as usize]
            ^ t3[(high & 0xff) as usize]
            ^ t2[(high >> 8 & 0xff) as usize]
            ^ t1[(high >> 16 & 0xff) as usize]
            ^ t0[(high >> 24) as usize];
    }
    for byte in words.remainder() {
        crc = t0[usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
    }
    !crc
}

/// The eight CRC-32 tables: `[0]` is the byte-wise table, `[k]` advances `[k - 1]` by one
/// more zero byte. Built on first use, on the heap: as constants or in a static they would add
/// their 8 KB to the library file.
fn crc_tables() -> &'static [[u32; 256]; 8] {
    static TABLES: std::sync::OnceLock<Box<[[u32; 256]; 8]>> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut tables = Box::new([[0u32; 256]; 8]);
        for n in 0..256u32 {
            let mut c = n;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            tables[0][n as usize] = c;
        }
        for k in 1..8 {
            for n in 0..256 {
                let previous = tables[k - 1][n];
                tables[k][n] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
            }
        }
        tables
    })
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
        assert_eq!(gunzip(&gzip(b"").unwrap(), 0).unwrap(), b"");
    }

    #[test]
    fn crc32_has_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn crc32_agrees_with_the_bitwise_definition_at_every_length_and_offset() {
        fn bitwise(data: &[u8]) -> u32 {
            let mut crc = !0u32;
            for byte in data {
                crc ^= u32::from(*byte);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        0xedb8_8320 ^ (crc >> 1)
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..300)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for start in 0..8 {
            for end in start..data.len() {
                let slice = &data[start..end];
                assert_eq!(crc32(slice), bitwise(slice), "bytes {start}..{end}");
            }
        }
    }

    #[test]
    fn interoperates_with_flate2s_gzip() {
        let data = b"measurement body \x00\xff".repeat(500);
        // Ours is read by flate2 (as a collector would read it)...
        let mut theirs = Vec::new();
        flate2::read::GzDecoder::new(&gzip(&data).unwrap()[..])
            .read_to_end(&mut theirs)
            .unwrap();
        assert_eq!(theirs, data);
        // ...and flate2's (bodies stored by earlier versions), with a name and a comment
        // in the header, are read by ours.
        let mut encoder = flate2::GzBuilder::new()
            .filename("m.json")
            .comment("kuzet")
            .write(Vec::new(), Compression::best());
        encoder.write_all(&data).unwrap();
        let packed = encoder.finish().unwrap();
        assert_eq!(gunzip(&packed, data.len()).unwrap(), data);
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let data = b"0123456789abcdef".repeat(64);
        let packed = gzip(&data).unwrap();
        // A flipped bit in the trailer's CRC, a cut trailer, a cut stream, a bad header.
        let mut bad_crc = packed.clone();
        let at = bad_crc.len() - 6;
        bad_crc[at] ^= 1;
        assert!(gunzip(&bad_crc, data.len()).is_err());
        assert!(gunzip(&packed[..packed.len() - 3], data.len()).is_err());
        assert!(gunzip(&packed[..packed.len() / 2], data.len()).is_err());
        let mut bad_flags = packed.clone();
        bad_flags[3] = 0xff;
        assert!(gunzip(&bad_flags, data.len()).is_err());
        for cut in 0..12 {
            assert!(gunzip(&packed[..cut], data.len()).is_err());
        }
        // Every single-byte corruption ends in Ok (same data) or an error, never a panic.
        for index in 0..packed.len() {
            let mut damaged = packed.clone();
            damaged[index] ^= 0x55;
            if let Ok(out) = gunzip(&damaged, data.len()) {
                assert_eq!(out, data);
            }
        }
    }
}
