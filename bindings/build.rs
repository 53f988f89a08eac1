//! Link options for the mobile library (`libkuzet_ffi.so`); nothing else is built here.
//!
//! Relative relocations are packed: without packing the dynamic relocation table alone is about
//! 0.5 MB (one 24-byte entry per pointer in tables and vtables); packed it is a few KB. Identical
//! functions are folded where that is safe (lld's `--icf=safe`, which keeps functions whose
//! address is taken apart). Both are in BENCHMARKS.md's size section.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env_abi = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    match (os.as_str(), env_abi.as_str()) {
        // Android: the packed format every supported version loads (API 23+; the apps need
        // 24), and segments aligned for 16 KB pages (required by Google Play for Android 15+).
        ("android", _) => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,--pack-dyn-relocs=android");
            println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=safe");
            println!("cargo:rustc-cdylib-link-arg=-Wl,-z,max-page-size=16384");
        }
        // Linux with glibc 2.36+ (DT_RELR): the host library the JVM and Swift tests load.
        ("linux", "gnu") => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
            println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=safe");
        }
        // Apple platforms ship the static library; the app's linker does the rest.
        _ => {}
    }
}
