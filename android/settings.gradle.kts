// Kuzet for Android: the `kuzet` library (generated Kotlin bindings + libkuzet_ffi.so per ABI +
// the plain-Kotlin support code) and a thin demo app that uses nothing else.
// Build the Rust side first: ./build-rust.sh (cargo-ndk + the pinned uniffi-bindgen).

pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "kuzet-android"
include(":kuzet", ":app")
