// The `org.kuzet:kuzet` AAR: the generated Kotlin bindings (org.kuzet), libkuzet_ffi.so for
// arm64-v8a, armeabi-v7a and x86_64 (src/main/jniLibs), and the plain-Kotlin support code
// (org.kuzet.support). Run ../build-rust.sh first; `./gradlew :kuzet:publishToMavenLocal`.

plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
    `maven-publish`
}

group = "org.kuzet"
version = "0.1.0"

android {
    namespace = "org.kuzet"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
        allWarningsAsErrors = true
    }

    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
}

dependencies {
    // The generated bindings load libkuzet_ffi.so through JNA.
    api("${libs.jna.get()}@aar")
    api(libs.kotlinx.coroutines.android)
}

afterEvaluate {
    publishing {
        publications {
            create<MavenPublication>("release") {
                from(components["release"])
                groupId = "org.kuzet"
                artifactId = "kuzet"
                version = project.version.toString()
                pom {
                    name.set("Kuzet")
                    description.set("Measures internet censorship (blocking, throttling, shutdowns) from Android apps.")
                    licenses {
                        license {
                            name.set("Apache-2.0")
                            url.set("https://www.apache.org/licenses/LICENSE-2.0")
                        }
                    }
                }
            }
        }
    }
}
