import Kuzet
import SwiftUI

struct ContentView: View {
    var body: some View {
        TabView {
            TestNowView().tabItem { Text("Test now") }
            HistoryView().tabItem { Text("Results") }
            UploadsView().tabItem { Text("Uploads") }
            TimelineView().tabItem { Text("Timeline") }
            SettingsView().tabItem { Text("Settings") }
        }
    }
}

/// A run's progress for the "Test now" screen; the listener's calls (on Kuzet's threads) hop
/// to the main actor.
@MainActor
final class RunState: ObservableObject {
    @Published var running = false
    @Published var phase: RunPhase?
    @Published var progress: RunProgress?
    @Published var results: [TargetResult] = []
    @Published var summary: RunSummary?
    @Published var error: String?
    var handle: TaskHandle?

    final class Listener: RunListener, @unchecked Sendable {
        weak var state: RunState?
        init(_ state: RunState) { self.state = state }
        func onPhase(phase: RunPhase) { Task { @MainActor in self.state?.phase = phase } }
        // The measurement is read again from the history when a result is opened.
        func onTargetResult(result: TargetResult, measurementJson: String) {
            Task { @MainActor in self.state?.results.append(result) }
        }
        func onProgress(progress: RunProgress) { Task { @MainActor in self.state?.progress = progress } }
        // The handle is kept until the next run replaces it: releasing it cancels a test.
        func onFinished(summary: RunSummary) {
            Task { @MainActor in
                self.state?.summary = summary
                self.state?.running = false
            }
        }
    }

    /// What the run is doing, in words, while it runs.
    var phaseText: String? {
        guard running, let phase else { return nil }
        switch phase {
        case .checkingNetwork: return "Checking the network first…"
        case .measuring(let suite): return "Measuring: \(suite)"
        case .confirming: return "Checking the network again before reporting…"
        case .preparing, .finished: return nil
        }
    }
}

/// How a run ended, what the network was, what was not measured and why.
struct SummaryLines: View {
    let summary: RunSummary

    var body: some View {
        VStack(alignment: .leading) {
            Text("\(ended) · \(formatBytes(count: summary.bytesUsed))")
            if let network = summary.network { Text("Network at the start: \("\(network)")").font(.caption) }
            if !summary.notMeasured.isEmpty {
                Text("Not measured (\(summary.notMeasured.count)): \(summary.notMeasured.map(\.target).joined(separator: ", "))")
                    .font(.caption)
            }
            ForEach(summary.problems, id: \.self) { Text($0).font(.caption).foregroundColor(.red) }
        }
    }

    private var ended: String {
        switch summary.status {
        case .completed: return "Finished"
        case .cancelled: return "Stopped"
        case .budgetExhausted: return "Stopped: the data budget for one run is used up"
        case .outOfTime: return "Stopped: out of time"
        }
    }
}

struct TestNowView: View {
    @EnvironmentObject var model: AppModel
    @StateObject private var run = RunState()
    @State private var suites: [SuiteInfo] = []
    @State private var selected: Set<Suite> = [.web]

    var body: some View {
        // Grouped by the verdict groups both apps share (Rust): problems first.
        let groups = groupResults(results: run.results)
        List {
            Section {
                ForEach(suites, id: \.suite) { info in
                    Toggle("\(info.suite)".capitalized, isOn: Binding(
                        get: { selected.contains(info.suite) },
                        set: { on in if on { selected.insert(info.suite) } else { selected.remove(info.suite) } }
                    )).disabled(!info.available || run.running)
                }
                if run.running {
                    Button("Stop", role: .destructive) { run.handle?.cancel() }
                } else {
                    Button("Test now", action: start).disabled(selected.isEmpty)
                }
                if let error = run.error { Text(error).foregroundColor(.red) }
                if let p = run.progress {
                    ProgressView(value: p.total == 0 ? 0 : Double(p.completed) / Double(p.total))
                    Text("\(p.completed) of \(p.total) · \(formatBytes(count: p.bytesUsed)) · \(formatTimeLeft(estimate: p.estimatedTimeLeft))")
                }
                if let text = run.phaseText { Text(text) }
                if let summary = run.summary { SummaryLines(summary: summary) }
                if !groups.isEmpty { Text(resultsSummaryLine(results: run.results)).font(.headline) }
            }
            ForEach(groups, id: \.group) { group in
                Section(header: Text(group.title), footer: Text(group.meaning)) {
                    ForEach(group.results, id: \.measurementId) { result in
                        VStack(alignment: .leading) {
                            Text(result.target)
                            Text(result.explanation).font(.caption)
                            Text(result.word).font(.caption2).foregroundColor(.secondary)
                        }
                    }
                }
            }
        }
        // The urls suite (single URLs, step by step) is the command line's: never offered here.
        .task { suites = ((try? model.engine().availableSuites()) ?? []).filter { $0.suite != .urls } }
    }

    private func start() {
        run.results = []
        run.summary = nil
        run.progress = nil
        run.error = nil
        do {
            let request = RunRequest(suites: Array(selected), webUrls: parseUrlList(text: model.urlText), byteBudget: nil)
            run.handle = try model.engine().startRun(request: request, listener: RunState.Listener(run))
            run.running = true
        } catch let error as KuzetError {
            run.error = "\(error)"
        } catch {
            run.error = error.localizedDescription
        }
    }
}

/// Loads a screen's data off the main thread and shows it, or the error.
struct Loading<T, Row: View>: View {
    let empty: String
    let load: () async throws -> [T]
    let row: (T) -> Row
    @State private var items: [T]?
    @State private var error: String?

    var body: some View {
        Group {
            if let error { Text(error).foregroundColor(.red) }
            else if let items, items.isEmpty { Text(empty) }
            else if let items { List(items.indices, id: \.self) { row(items[$0]) } }
            else { ProgressView() }
        }
        .task {
            do { items = try await load() } catch { self.error = "\(error)" }
        }
    }
}

struct HistoryView: View {
    @EnvironmentObject var model: AppModel
    @State private var detail: ResultDetail?

    var body: some View {
        Loading(empty: "No results yet.", load: { try await model.engine().resultsHistory(offset: 0, limit: 100).items }) { item in
            Button {
                Task { detail = try? await model.engine().resultDetail(id: item.result.measurementId) }
            } label: {
                // The group's title and the verdict's word: the same words the run showed.
                VStack(alignment: .leading) {
                    Text(item.result.target)
                    Text("\(verdictGroupWords(group: item.result.group).title) (\(item.result.word)) · "
                        + "\(item.result.measuredAt.formatted()) · \("\(item.uploadState)")").font(.caption)
                }
            }
        }
        .sheet(item: Binding(get: { detail.map(DetailBox.init) }, set: { detail = $0?.detail })) { box in
            VStack(alignment: .leading, spacing: 12) {
                Text(box.detail.item.result.target).font(.headline)
                Text(verdictGroupWords(group: box.detail.item.result.group).title).font(.subheadline)
                Text(box.detail.item.result.explanation)
            }.padding()
        }
    }
}

private struct DetailBox: Identifiable {
    let detail: ResultDetail
    var id: String { detail.item.result.measurementId }
}

struct UploadsView: View {
    @EnvironmentObject var model: AppModel
    var body: some View {
        Loading(empty: "Nothing waiting for upload.", load: { try await model.engine().pendingUploads() }) { upload in
            VStack(alignment: .leading) {
                Text("\("\(upload.state)") · \(upload.attempts) attempts · queued \(upload.queuedAt.formatted())")
                if let error = upload.lastError { Text(error).font(.caption) }
            }
        }
    }
}

struct TimelineView: View {
    @EnvironmentObject var model: AppModel
    var body: some View {
        Loading(empty: "No connectivity changes in the last 30 days.", load: {
            try await model.engine().connectivityTimeline(since: Date(timeIntervalSinceNow: -30 * 86400)).reversed()
        }) { entry in
            VStack(alignment: .leading) {
                Text("\(entry.since.formatted()) · \("\(entry.state)") · \("\(entry.network)")")
                Text(entry.explanation).font(.caption)
            }
        }
    }
}
