import Kuzet
import KuzetSupport
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
    @Published var error: String?
    var handle: TaskHandle?

    final class Listener: RunListener, @unchecked Sendable {
        weak var state: RunState?
        init(_ state: RunState) { self.state = state }
        func onPhase(phase: RunPhase) { Task { @MainActor in self.state?.phase = phase } }
        func onTargetResult(result: TargetResult) { Task { @MainActor in self.state?.results.append(result) } }
        func onProgress(progress: RunProgress) { Task { @MainActor in self.state?.progress = progress } }
        // The handle is kept until the next run replaces it: releasing it cancels a test.
        func onFinished(summary: RunSummary) { Task { @MainActor in self.state?.running = false } }
    }
}

struct TestNowView: View {
    @EnvironmentObject var model: AppModel
    @StateObject private var run = RunState()
    @State private var suites: [SuiteInfo] = []
    @State private var selected: Set<Suite> = [.web]

    var body: some View {
        let groups = ResultGroups.group(run.results)
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
                if !groups.isEmpty { Text(ResultGroups.summaryLine(groups)).font(.headline) }
            }
            ForEach(groups, id: \.title) { group in
                Section(header: Text(group.title), footer: Text(group.meaning)) {
                    ForEach(group.results, id: \.measurementId) { result in
                        VStack(alignment: .leading) {
                            Text(result.target)
                            Text(result.explanation).font(.caption)
                        }
                    }
                }
            }
        }
        .task { suites = (try? model.engine().availableSuites()) ?? [] }
    }

    private func start() {
        run.results = []
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
                Task { detail = try? await model.engine().resultDetail(id: item.id) }
            } label: {
                VStack(alignment: .leading) {
                    Text(item.target)
                    Text("\(ResultGroups.title(item.verdict)) · \(item.measuredAt.formatted()) · \("\(item.uploadState)")").font(.caption)
                }
            }
        }
        .sheet(item: Binding(get: { detail.map(DetailBox.init) }, set: { detail = $0?.detail })) { box in
            VStack(alignment: .leading, spacing: 12) {
                Text(box.detail.item.target).font(.headline)
                Text(box.detail.explanation)
            }.padding()
        }
    }
}

private struct DetailBox: Identifiable {
    let detail: ResultDetail
    var id: String { detail.item.id }
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
