import Foundation
import Kuzet
import KuzetSupport

/// Holds the one `Engine` and the user's choices (UserDefaults). Plain storage and wiring: the
/// rules are in Rust (the Kuzet module).
@MainActor
final class AppModel: ObservableObject {
    /// The one model: the views' and the background task handlers' (which may run before any
    /// view exists).
    static let shared = AppModel()

    @Published private(set) var consentAccepted: Bool
    @Published var choices: UserChoices
    @Published var urlText: String
    @Published var collectorURL: String
    @Published var testHelperURLs: String

    let network = NetworkMonitor()
    private let defaults = UserDefaults.standard
    private var current: Engine?

    private init() {
        let accepted = (defaults.object(forKey: "consentVersion") as? Int).map { UInt32(clamping: $0) }
        consentAccepted = !consentNeeded(acceptedVersion: accepted)
        if let data = defaults.data(forKey: "choices"), let saved = try? JSONDecoder().decode(StoredChoices.self, from: data) {
            choices = saved.choices
        } else {
            choices = defaultUserChoices()
        }
        urlText = defaults.string(forKey: "urls") ?? defaultUrlList().joined(separator: "\n")
        collectorURL = defaults.string(forKey: "collector") ?? ""
        testHelperURLs = defaults.string(forKey: "testHelpers") ?? ""
        network.start()
    }

    /// The engine for the current settings, made on first use.
    func engine() throws -> Engine {
        if let current { return current }
        let support = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                                  appropriateFor: nil, create: true)
        let engine = try Engine(config: EngineConfig(
            dataDir: support.appendingPathComponent("kuzet").path,
            softwareName: "kuzet-ios",
            softwareVersion: Bundle.main.infoDictionary?["CFBundleShortVersionString"] as? String ?? "0.1.0",
            collectorUrl: collectorURL.isEmpty ? nil : collectorURL,
            testHelperUrls: testHelperURLs.split(whereSeparator: \.isNewline).map(String.init),
            consent: consentOf(choices: choices),
            budgets: budgetsOf(choices: choices)
        ))
        engine.setNetworkProvider(provider: network)
        engine.setUploader(uploader: SessionUploader())
        current = engine
        return engine
    }

    func acceptConsent(_ choices: UserChoices) {
        self.choices = choices
        defaults.set(Int(onboarding().consentVersion), forKey: "consentVersion")
        save()
        consentAccepted = true
        BackgroundTasks.schedule(after: backgroundBounds().minDelay)
    }

    /// Persists the settings; the next `engine()` call applies them.
    func save() {
        defaults.set(try? JSONEncoder().encode(StoredChoices(choices)), forKey: "choices")
        defaults.set(urlText, forKey: "urls")
        defaults.set(collectorURL, forKey: "collector")
        defaults.set(testHelperURLs, forKey: "testHelpers")
        current = nil
    }

    /// Background cycles that threw in a row (for the backoff).
    var backgroundFailures: Int {
        get { defaults.integer(forKey: "backgroundFailures") }
        set { defaults.set(newValue, forKey: "backgroundFailures") }
    }
}

/// The choices as saved in UserDefaults: JSON with the keys earlier versions wrote, so their
/// saved settings are still read. Only storage: what the values mean is in Rust.
private struct StoredChoices: Codable {
    var uploadAllowed: Bool
    var web: Bool
    var connectivity: Bool
    var throttling: Bool
    var messaging: Bool
    var runMiB: Int
    var backgroundMiB: Int
    var monthlyMiB: Int

    init(_ choices: UserChoices) {
        uploadAllowed = choices.uploadAllowed
        web = choices.suites.contains(.web)
        connectivity = choices.suites.contains(.connectivity)
        throttling = choices.suites.contains(.throttling)
        messaging = choices.suites.contains(.messaging)
        runMiB = Int(choices.runMib)
        backgroundMiB = Int(choices.backgroundMib)
        monthlyMiB = Int(choices.monthlyMib)
    }

    var choices: UserChoices {
        let allowed: [(Bool, Suite)] = [(web, .web), (messaging, .messaging), (throttling, .throttling),
                                        (connectivity, .connectivity)]
        return UserChoices(uploadAllowed: uploadAllowed, suites: allowed.filter { $0.0 }.map { $0.1 },
                           runMib: UInt32(clamping: runMiB), backgroundMib: UInt32(clamping: backgroundMiB),
                           monthlyMib: UInt32(clamping: monthlyMiB))
    }
}
