import BackgroundTasks
import Foundation
import Kuzet
import KuzetSupport

/// BGTaskScheduler: an app-refresh task (about 30 s) and a processing task (minutes, when the
/// phone is idle) both run one engine background cycle, then schedule the next one when the
/// engine asks, within the bounds of Kuzet's `nextBackgroundDelay`.
enum BackgroundTasks {
    static let refreshID = "org.kuzet.app.refresh"
    static let processingID = "org.kuzet.app.processing"
    /// What iOS gives a `BGAppRefreshTask`: about 30 s.
    static let refreshLimit: TimeInterval = 30
    /// What a `BGProcessingTask` gets in practice (iOS documents no figure).
    static let processingLimit: TimeInterval = 5 * 60

    static func register(model: @escaping @MainActor () -> AppModel) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: refreshID, using: nil) { task in
            run(task, limit: refreshLimit, model: model)
        }
        BGTaskScheduler.shared.register(forTaskWithIdentifier: processingID, using: nil) { task in
            run(task, limit: processingLimit, model: model)
        }
    }

    /// Schedules the first cycles unless some are already pending.
    static func ensureScheduled() {
        BGTaskScheduler.shared.getPendingTaskRequests { pending in
            if pending.isEmpty { schedule(after: backgroundBounds().minDelay) }
        }
    }

    /// Asks for both tasks, the earliest `delay` from now.
    static func schedule(after delay: TimeInterval) {
        let refresh = BGAppRefreshTaskRequest(identifier: refreshID)
        refresh.earliestBeginDate = Date(timeIntervalSinceNow: delay)
        let processing = BGProcessingTaskRequest(identifier: processingID)
        processing.earliestBeginDate = Date(timeIntervalSinceNow: delay)
        processing.requiresNetworkConnectivity = false  // a shutdown is when the check matters
        processing.requiresExternalPower = false
        try? BGTaskScheduler.shared.submit(refresh)
        try? BGTaskScheduler.shared.submit(processing)
    }

    private static func run(_ task: BGTask, limit: TimeInterval, model: @escaping @MainActor () -> AppModel) {
        let work = Task { @MainActor in
            let app = model()
            let next: TimeInterval
            do {
                let summary = try await app.engine().backgroundCycle(request: BackgroundRequest(
                    timeBudget: backgroundTimeBudget(platformLimit: limit),
                    network: app.network.currentNetwork()
                ))
                app.backgroundFailures = 0
                next = nextBackgroundDelay(nextRunIn: summary.nextRunIn, failures: 0, random: Double.random(in: 0..<1))
            } catch {
                app.backgroundFailures += 1
                next = nextBackgroundDelay(nextRunIn: nil, failures: UInt32(clamping: app.backgroundFailures),
                                           random: Double.random(in: 0..<1))
            }
            schedule(after: next)
            task.setTaskCompleted(success: true)
        }
        // The cycle keeps to its time budget; cancelling the Swift task does not reach Rust.
        task.expirationHandler = { work.cancel() }
    }
}
