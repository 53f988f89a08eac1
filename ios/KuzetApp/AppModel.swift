import Foundation
import Kuzet
import KuzetSupport

/// Holds the one `Engine` and the user's choices (UserDefaults). Plain storage and wiring: the
/// rules are in KuzetSupport and in Rust.
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
        let accepted = defaults.object(forKey: "consentVersion") as? Int
        consentAccepted = !Onboarding.needed(acceptedVersion: accepted)
        if let data = defaults.data(forKey: "choices"), let saved = try? JSONDecoder().decode(UserChoices.self, from: data) {
            choices = saved
        } else {
            choices = UserChoices()
        }
        urlText = defaults.string(forKey: "urls") ?? UrlList.defaults.joined(separator: "\n")
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
            consent: Choices.consent(choices),
            budgets: Choices.budgets(choices)
        ))
        engine.setNetworkProvider(provider: network)
        engine.setUploader(uploader: SessionUploader())
        current = engine
        return engine
    }

    func acceptConsent(_ choices: UserChoices) {
        self.choices = choices
        defaults.set(Onboarding.consentVersion, forKey: "consentVersion")
        save()
        consentAccepted = true
        BackgroundTasks.schedule(after: BackgroundSchedule.minDelay)
    }

    /// Persists the settings; the next `engine()` call applies them.
    func save() {
        defaults.set(try? JSONEncoder().encode(choices), forKey: "choices")
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
