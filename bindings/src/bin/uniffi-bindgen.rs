//! The bindgen pinned to the library's uniffi version. Build and run it through
//! `scripts/gen-bindings.sh`, which keeps uniffi's `cli` feature out of the mobile library.

fn main() {
    uniffi::uniffi_bindgen_main()
}
