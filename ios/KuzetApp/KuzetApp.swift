import SwiftUI

/// The thin Kuzet app: SwiftUI screens over the `Kuzet` module. Measuring, policy and limits
/// are in Rust, and so are the rules the app shares with Android (consent, choices,
/// formatting, the URL list, background scheduling); the platform mapping is in KuzetSupport.
@main
struct KuzetApp: App {
    @StateObject private var model = AppModel.shared

    init() {
        // BGTaskScheduler needs its handlers before the app finishes launching.
        BackgroundTasks.register(model: { AppModel.shared })
        if AppModel.shared.consentAccepted { BackgroundTasks.ensureScheduled() }
    }

    var body: some Scene {
        WindowGroup {
            if model.consentAccepted {
                ContentView().environmentObject(model)
            } else {
                OnboardingView().environmentObject(model)
            }
        }
    }
}
