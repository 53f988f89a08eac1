// Tests of Kuzet's Swift bindings, compiled with swiftc and run on Linux against the
// host-built library (scripts/test-bindings-swift.sh). A tiny runner: each test is a named
// function; the last line is "swift: N passed, N failed".

import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Kuzet

// MARK: - the runner

struct TestFailure: Error, CustomStringConvertible {
    let description: String
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw TestFailure(description: message()) }
}

func checkEqual<T: Equatable>(_ expected: T, _ actual: T, _ what: String) throws {
    if expected != actual { throw TestFailure(description: "\(what): expected <\(expected)>, got <\(actual)>") }
}

func waitUntil(_ timeout: TimeInterval, _ what: String, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { throw TestFailure(description: "timed out after \(timeout) s waiting for \(what)") }
        usleep(10_000)
    }
}

/// Runs `body` and returns the `KuzetError` it throws.
func expectKuzetError(_ body: () throws -> Void) throws -> KuzetError {
    do {
        try body()
    } catch let error as KuzetError {
        return error
    } catch {
        throw TestFailure(description: "expected a KuzetError, got \(error)")
    }
    throw TestFailure(description: "expected a KuzetError, nothing was thrown")
}

func expectKuzetErrorAsync(_ body: () async throws -> Void) async throws -> KuzetError {
    do {
        try await body()
    } catch let error as KuzetError {
        return error
    } catch {
        throw TestFailure(description: "expected a KuzetError, got \(error)")
    }
    throw TestFailure(description: "expected a KuzetError, nothing was thrown")
}

/// The message of any KuzetError case.
func message(_ error: KuzetError) -> String {
    switch error {
    case .InvalidInput(let message), .NotAllowed(let message), .Unavailable(let message),
         .Storage(let message), .Internal(let message):
        return message
    }
}

final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    func update(_ body: (inout Value) -> Void) { lock.lock(); defer { lock.unlock() }; body(&value) }
}

// MARK: - fixtures

/// A loopback HTTP server on plain sockets: `/missing` answers 404, `/big` 20 kB, `/slow...`
/// holds the request until `close()` (or 30 s), anything else a small 200 page.
final class LocalSite: @unchecked Sendable {
    private let listener: Int32
    let port: UInt16
    let slowRequests = Locked(0)
    private let released = NSCondition()
    private var isReleased = false

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try check(fd >= 0, "socket() failed")
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try check(bound == 0, "bind() failed")
        try check(listen(fd, 64) == 0, "listen() failed")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var base: String { "http://127.0.0.1:\(port)" }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        defer { Glibc.close(client) }
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.containsHeaderEnd {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            request.append(contentsOf: buffer[0..<n])
        }
        let firstLine = String(decoding: request, as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = firstLine.split(separator: " ")
        let path = parts.count > 1 ? String(parts[1]) : "/"
        var status = 200
        var body = "<html><title>Kuzet test page</title></html>"
        if path.hasPrefix("/slow") {
            slowRequests.update { $0 += 1 }
            released.lock()
            let deadline = Date().addingTimeInterval(30)
            while !isReleased && released.wait(until: deadline) {}
            released.unlock()
            body = "late"
        } else if path == "/missing" {
            status = 404
            body = "<html><title>gone</title></html>"
        } else if path == "/big" {
            body = String(repeating: "x", count: 20_000)
        }
        let reason = status == 200 ? "OK" : "Not Found"
        let bytes = Array(body.utf8)
        let head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/html\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
        let response = Array(head.utf8) + bytes
        var sent = 0
        while sent < response.count {
            let n = response[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    func close() {
        released.lock()
        isReleased = true
        released.broadcast()
        released.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }
}

extension Array where Element == UInt8 {
    var containsHeaderEnd: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 {
            return true
        }
        return false
    }
}

/// Records every callback and whether it came on the main thread.
final class Recorder: RunListener, @unchecked Sendable {
    let events = Locked([String]())
    let results = Locked([TargetResult]())
    let progress = Locked([RunProgress]())
    let onMainThread = Locked(0)
    let summary = Locked<RunSummary?>(nil)
    private let finished = DispatchSemaphore(value: 0)

    private func note(_ event: String) {
        if Thread.isMainThread { onMainThread.update { $0 += 1 } }
        events.update { $0.append(event) }
    }

    func onPhase(phase: RunPhase) {
        switch phase {
        case .preparing: note("phase preparing")
        case .measuring(let suite): note("phase measuring \(suite)")
        case .finished: note("phase finished")
        }
    }

    func onTargetResult(result: TargetResult) {
        results.update { $0.append(result) }
        note("result \(result.target)")
    }

    func onProgress(progress: RunProgress) {
        self.progress.update { $0.append(progress) }
        note("progress \(progress.completed)/\(progress.total)")
    }

    func onFinished(summary: RunSummary) {
        self.summary.update { $0 = summary }
        note("finished \(summary.status)")
        finished.signal()
    }

    func awaitFinished(_ seconds: Double = 20) throws -> RunSummary {
        try check(finished.wait(timeout: .now() + seconds) == .success,
                  "onFinished did not arrive within \(seconds) s; events: \(events.get())")
        return summary.get()!
    }
}

final class WifiProvider: NetworkContextProvider, @unchecked Sendable {
    let calls = Locked(0)
    func currentNetwork() -> NetworkContext {
        calls.update { $0 += 1 }
        return NetworkContext(kind: .wifi, metered: false, constrained: false)
    }
}

let tempRoot = FileManager.default.temporaryDirectory
    .appendingPathComponent("kuzet-swift-tests-\(getpid())")

func config(_ name: String, allowed: [Suite] = [.web, .messaging, .throttling, .connectivity],
            parallelism: UInt32 = 4) -> EngineConfig {
    EngineConfig(
        dataDir: tempRoot.appendingPathComponent(name).path,
        softwareName: "kuzet-swift-tests",
        softwareVersion: "1.0",
        consent: Consent(uploadAllowed: false, allowedSuites: allowed),
        budgets: DataBudgets(),
        parallelism: parallelism
    )
}

func web(_ urls: [String], byteBudget: UInt64? = nil) -> RunRequest {
    RunRequest(suites: [.web], webUrls: urls, byteBudget: byteBudget)
}

// MARK: - the tests

enum Tests {
    static func versionIsTheLibrarys() throws {
        let version = kuzetVersion()
        try check(version.split(separator: ".").count == 3, "version \(version)")
    }

    static func suitesSayWhatIsAvailable() throws {
        let engine = try Engine(config: config("suites"))
        let suites = engine.availableSuites()
        try checkEqual(4, suites.count, "suites listed")
        try checkEqual([Suite.web], suites.filter { $0.available }.map { $0.suite }, "available suites")
        try check(suites.allSatisfy { !$0.description.isEmpty }, "every suite has a description")
    }

    static func fullTestNowAgainstALocalSite() throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("full", parallelism: 1))
        let provider = WifiProvider()
        engine.setNetworkProvider(provider: provider)
        let recorder = Recorder()
        let urls = ["\(site.base)/page", "\(site.base)/missing"]
        let handle = try engine.startRun(request: web(urls), listener: recorder)
        let summary = try recorder.awaitFinished()
        try waitUntil(2, "the handle to report finished") { handle.isFinished() }

        try checkEqual(RunStatus.completed, summary.status, "status")
        try checkEqual(handle.runId(), summary.runId, "run id")
        try checkEqual(2, summary.results.count, "results")
        try checkEqual(0, summary.skipped, "skipped")
        try check(summary.bytesUsed > 0, "bytes used")
        try check(summary.startedAt <= Date(), "started at")
        try check(summary.duration > 0, "duration")
        try checkEqual([
            "phase preparing",
            "phase measuring web",
            "result \(urls[0])",
            "progress 1/2",
            "result \(urls[1])",
            "progress 2/2",
            "phase finished",
            "finished completed",
        ], recorder.events.get(), "callback order")
        let page = summary.results[0]
        try checkEqual(Verdict.accessible, page.verdict, "verdict of /page")
        try checkEqual(200, page.statusCode, "status of /page")
        try check(page.explanation.hasPrefix("127.0.0.1 loaded normally (HTTP 200) in ") && page.explanation.hasSuffix(" s."),
                  "explanation: \(page.explanation)")
        let measurement = try JSONSerialization.jsonObject(with: Data(page.measurementJson.utf8)) as? [String: Any]
        try checkEqual("urlgetter", measurement?["test_name"] as? String, "test_name")
        try checkEqual("kuzet-swift-tests", measurement?["software_name"] as? String, "software_name")
        try checkEqual(page.measurementId, measurement?["id"] as? String, "measurement id")
        let annotations = measurement?["annotations"] as? [String: Any]
        try checkEqual("wifi", annotations?["network_type"] as? String, "network type from the provider")
        try checkEqual(404, summary.results[1].statusCode, "status of /missing")
        try checkEqual(summary.results, recorder.results.get(), "results delivered as they landed")
        try checkEqual(1, provider.calls.get(), "network provider calls")
        try check(recorder.progress.get().first?.estimatedTimeLeft != nil, "ETA after the first target")
        try checkEqual(0, recorder.progress.get().last?.estimatedTimeLeft, "ETA at the end")
        try checkEqual(summary.bytesUsed, recorder.progress.get().last?.bytesUsed, "bytes in progress")
        try checkEqual(0, recorder.onMainThread.get(), "callbacks on the main thread")
        try checkEqual(0, engine.activeRuns(), "active runs")
    }

    static func aFailedUrlIsAnAnomalyInPlainWords() throws {
        // A port nobody listens on: bind, read the port, close.
        let probe = try LocalSite()
        let port = probe.port
        probe.close()
        let engine = try Engine(config: config("anomaly"))
        let summary = try engine.runBlocking(request: web(["http://127.0.0.1:\(port)/"]), listener: Recorder())
        let result = summary.results[0]
        try checkEqual(Verdict.anomaly, result.verdict, "verdict")
        try checkEqual("connect", result.failedOperation, "failed operation")
        try checkEqual("connection_refused", result.failure, "failure")
        try check(result.explanation.hasPrefix("127.0.0.1 did not load: the connection was refused while opening a connection."),
                  "explanation: \(result.explanation)")
    }

    static func asyncRunReturnsTheSummary() async throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("async"))
        let recorder = Recorder()
        let summary = try await engine.run(request: web(["\(site.base)/", "\(site.base)/page"]), listener: recorder)
        try checkEqual(RunStatus.completed, summary.status, "status")
        try checkEqual(2, summary.results.count, "results")
        try checkEqual(summary, try recorder.awaitFinished(), "listener's summary")
    }

    static func blockingRunReturnsTheSummary() throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("blocking"))
        let summary = try engine.runBlocking(request: web(["\(site.base)/"]), listener: Recorder())
        try checkEqual(RunStatus.completed, summary.status, "status")
        try checkEqual(Verdict.accessible, summary.results.first?.verdict, "verdict")
    }

    static func cancellingARunningTestStopsItAtOnce() throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("cancel", parallelism: 2))
        let recorder = Recorder()
        let urls = (1...6).map { "\(site.base)/slow\($0)" }
        let handle = try engine.startRun(request: web(urls), listener: recorder)
        try waitUntil(5, "two slow requests in flight") { site.slowRequests.get() == 2 }
        try check(!handle.isFinished(), "finished before cancel")
        try checkEqual(1, engine.activeRuns(), "active runs while running")
        let cancelledAt = Date()
        handle.cancel()
        let summary = try recorder.awaitFinished(5)
        try check(Date().timeIntervalSince(cancelledAt) < 2, "cancel took too long")
        try checkEqual(RunStatus.cancelled, summary.status, "status")
        try checkEqual(0, summary.results.count, "results")
        try checkEqual(6, summary.skipped, "skipped")
        try waitUntil(2, "the handle to finish") { handle.isFinished() }
        try checkEqual(0, engine.activeRuns(), "active runs after cancel")
        handle.cancel() // idempotent
        usleep(200_000)
        try checkEqual(2, site.slowRequests.get(), "no request started after cancel")
        try checkEqual("finished cancelled", recorder.events.get().last, "last event")
    }

    /// Swift `Task` cancellation does not reach an awaited uniffi call, so the Swift way to
    /// make a cancellable async test is `startRun` + `withTaskCancellationHandler`.
    static func cancellingASwiftTaskCancelsTheRun() async throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("task"))
        let recorder = Recorder()
        let task = Task { () async throws -> RunSummary in
            let handle = try engine.startRun(request: web(["\(site.base)/slow"]), listener: recorder)
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    DispatchQueue.global().async {
                        do { continuation.resume(returning: try recorder.awaitFinished(60)) } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                }
            } onCancel: {
                handle.cancel()
            }
        }
        try waitUntil(5, "the slow request") { site.slowRequests.get() == 1 }
        try checkEqual(1, engine.activeRuns(), "active runs while running")
        let cancelledAt = Date()
        task.cancel()
        let summary = try await task.value
        try check(Date().timeIntervalSince(cancelledAt) < 2, "cancel took too long")
        try checkEqual(RunStatus.cancelled, summary.status, "status")
        try waitUntil(2, "no active run") { engine.activeRuns() == 0 }
    }

    static func droppingTheHandleCancelsTheRun() throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("drop"))
        let recorder = Recorder()
        var handle: TaskHandle? = try engine.startRun(request: web(["\(site.base)/slow"]), listener: recorder)
        try waitUntil(5, "the slow request") { site.slowRequests.get() == 1 }
        try check(handle?.isFinished() == false, "finished early")
        handle = nil
        try checkEqual(RunStatus.cancelled, try recorder.awaitFinished(5).status, "status after the handle is released")
        try waitUntil(2, "no active run") { engine.activeRuns() == 0 }
    }

    static func theByteBudgetStopsNewTargets() throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("budget", parallelism: 1))
        let big = "\(site.base)/big"
        let summary = try engine.runBlocking(request: web([big, big, big], byteBudget: 5000), listener: Recorder())
        try checkEqual(RunStatus.budgetExhausted, summary.status, "status")
        try checkEqual(1, summary.results.count, "results")
        try checkEqual(2, summary.skipped, "skipped")
    }

    static func errorsAreCasesWithUsefulMessages() async throws {
        func badConfig(_ edit: (inout EngineConfig) -> Void) -> EngineConfig {
            var c = config("bad")
            edit(&c)
            return c
        }
        var error = try expectKuzetError { _ = try Engine(config: badConfig { $0.softwareName = "my app" }) }
        guard case .InvalidInput(let text) = error, text.contains("software name \"my app\"") else {
            throw TestFailure(description: "software name: \(error)")
        }
        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.dataDir = "relative/dir" }) }
        guard case .InvalidInput = error, message(error).contains("must be an absolute path") else {
            throw TestFailure(description: "data dir: \(error)")
        }
        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.collectorUrl = "http://collector.example/" }) }
        guard case .InvalidInput = error, message(error).contains("must be an https URL") else {
            throw TestFailure(description: "collector: \(error)")
        }
        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.resolver = "carrier-pigeon" }) }
        guard case .InvalidInput = error, message(error).hasPrefix("invalid resolver \"carrier-pigeon\"") else {
            throw TestFailure(description: "resolver: \(error)")
        }
        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.extraCaPem = "not a certificate" }) }
        guard case .InvalidInput = error, message(error).hasPrefix("extra CA certificates:") else {
            throw TestFailure(description: "CA: \(error)")
        }
        let file = tempRoot.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.dataDir = file.appendingPathComponent("sub").path }) }
        guard case .Storage = error, message(error).hasPrefix("cannot create the data directory") else {
            throw TestFailure(description: "storage: \(error)")
        }

        let engine = try Engine(config: config("errors", allowed: [.web, .messaging]))
        let listener = Recorder()
        error = try expectKuzetError { _ = try engine.startRun(request: RunRequest(suites: [.messaging]), listener: listener) }
        guard case .Unavailable("the messaging suite is not available yet in this version of Kuzet") = error else {
            throw TestFailure(description: "messaging: \(error)")
        }
        error = try expectKuzetError { _ = try engine.startRun(request: RunRequest(suites: [.throttling]), listener: listener) }
        guard case .NotAllowed("the user has not allowed the throttling suite") = error else {
            throw TestFailure(description: "consent: \(error)")
        }
        error = try expectKuzetError { _ = try engine.startRun(request: RunRequest(suites: []), listener: listener) }
        guard case .InvalidInput("a run needs at least one suite") = error else {
            throw TestFailure(description: "no suite: \(error)")
        }
        error = try expectKuzetError { _ = try engine.startRun(request: web([]), listener: listener) }
        guard case .InvalidInput("the web suite needs at least one URL") = error else {
            throw TestFailure(description: "no URL: \(error)")
        }
        error = try expectKuzetError { _ = try engine.startRun(request: web(["ftp://example.org/"]), listener: listener) }
        guard case .InvalidInput = error, message(error).contains("scheme \"ftp\" is not http or https") else {
            throw TestFailure(description: "ftp: \(error)")
        }
        error = try await expectKuzetErrorAsync { _ = try await engine.run(request: web(["not a url"]), listener: listener) }
        guard case .InvalidInput = error, message(error).hasPrefix("invalid URL \"not a url\"") else {
            throw TestFailure(description: "async: \(error)")
        }
        try checkEqual(0, listener.events.get().count, "nothing ran")
        try checkEqual(0, engine.activeRuns(), "active runs")
    }

    static func aBackgroundCycleWithoutACollectorUploadsNothing() async throws {
        // Uploads allowed, but no collector configured: nothing to send to.
        var cfg = config("background")
        cfg.consent = Consent(uploadAllowed: true, allowedSuites: cfg.consent.allowedSuites)
        let engine = try Engine(config: cfg)
        let fromBlocking = try engine.backgroundCycleBlocking(request: BackgroundRequest(
            timeBudget: 30, network: NetworkContext(kind: .cellular, metered: true)))
        let fromAsync = try await engine.backgroundCycle(request: BackgroundRequest(timeBudget: 30, network: NetworkContext(kind: .wifi)))
        for summary in [fromBlocking, fromAsync] {
            try checkEqual(UInt32(0), summary.uploaded, "uploaded")
            try checkEqual(UInt32(0), summary.uploadFailures, "upload failures")
            try checkEqual(UInt32(0), summary.pending, "pending")
            try checkEqual(false, summary.connectivityChecked, "connectivity checked")
            try checkEqual(UInt32(0), summary.testsRun, "tests run")
            try checkEqual(TimeInterval(6 * 60 * 60), summary.nextRunIn, "next run in")
        }
    }

    static func historyPendingUploadsAndDataUseFollowARun() throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("history"))
        try checkEqual(0, try engine.resultsHistory(offset: 0, limit: 20).items.count, "history before a run")
        try checkEqual(0, try engine.pendingUploads().count, "pending before a run")
        try checkEqual(UInt64(0), try engine.dataUsedThisMonth().bytesUsed, "bytes before a run")
        let missing = try expectKuzetError { _ = try engine.resultDetail(id: "some-id") }
        guard case .InvalidInput = missing else { throw TestFailure(description: "resultDetail: \(missing)") }

        let summary = try engine.runBlocking(request: web(["\(site.base)/", "\(site.base)/page"]), listener: Recorder())
        try checkEqual(2, summary.results.count, "results")

        let page = try engine.resultsHistory(offset: 0, limit: 1)
        try checkEqual(1, page.items.count, "first page")
        try checkEqual(UInt32(1), page.nextOffset, "next offset")
        let all = try engine.resultsHistory(offset: 0, limit: 20)
        try checkEqual(2, all.items.count, "history after a run")
        try checkEqual(nil, all.nextOffset, "last page")
        try checkEqual(Array(summary.results.map { $0.measurementId }.reversed()), all.items.map { $0.id }, "newest first")
        let item = all.items[0]
        try checkEqual(Suite.web, item.suite, "suite")
        try checkEqual(Verdict.accessible, item.verdict, "verdict")
        // The probe's network is unknown (AS0/ZZ): kept on the device, not uploaded.
        try checkEqual(UploadState.held, item.uploadState, "upload state")

        let detail = try engine.resultDetail(id: item.id)
        try checkEqual(item, detail.item, "detail's item")
        try check(detail.explanation.contains("loaded normally"), detail.explanation)
        try check(detail.measurementJson.contains(item.id), "measurement JSON has the id")

        let pending = try engine.pendingUploads()
        try checkEqual(Set(all.items.map { $0.id }), Set(pending.map { $0.measurementId }), "pending ids")
        try check(pending.allSatisfy { $0.state == .held && $0.lastError == nil }, "\(pending)")

        try checkEqual(summary.bytesUsed, try engine.dataUsedThisMonth().bytesUsed, "bytes this month")
        try checkEqual(0, try engine.connectivityTimeline(since: Date(timeIntervalSince1970: 0)).count, "timeline")

        try engine.wipe()
        try checkEqual(0, try engine.resultsHistory(offset: 0, limit: 20).items.count, "history after wipe")
        try checkEqual(0, try engine.pendingUploads().count, "pending after wipe")
    }

    static func wipeEmptiesTheDataDirectory() throws {
        let cfg = config("wipe")
        let engine = try Engine(config: cfg)
        let dir = URL(fileURLWithPath: cfg.dataDir)
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("sub/file"))
        try Data("y".utf8).write(to: dir.appendingPathComponent("file"))
        try engine.wipe()
        var isDir: ObjCBool = false
        try check(fm.fileExists(atPath: dir.path, isDirectory: &isDir) && isDir.boolValue, "data directory kept")
        try checkEqual(0, try fm.contentsOfDirectory(atPath: dir.path).count, "entries after wipe")
    }

    static func uploaderCanBeSetAndCleared() throws {
        final class NoUploader: Uploader, @unchecked Sendable {
            func upload(request: UploadRequest) -> UploadOutcome { .failed(message: "not used until the outbox lands") }
        }
        let engine = try Engine(config: config("uploader"))
        try check(!engine.hasUploader(), "no uploader at first")
        engine.setUploader(uploader: NoUploader())
        try check(engine.hasUploader(), "uploader set")
        engine.setUploader(uploader: nil)
        try check(!engine.hasUploader(), "uploader cleared")
        engine.setNetworkProvider(provider: nil)
    }

    static func loggerReceivesRunLines() throws {
        final class Lines: Logger, @unchecked Sendable {
            let lines = Locked([String]())
            func log(level: LogLevel, target: String, message: String) {
                lines.update { $0.append("\(level) \(target) \(message)") }
            }
        }
        let logger = Lines()
        setLogger(logger: logger, maxLevel: .info)
        do {
            let site = try LocalSite()
            defer { site.close() }
            let engine = try Engine(config: config("logger"))
            _ = try engine.runBlocking(request: web(["\(site.base)/"]), listener: Recorder())
        }
        clearLogger()
        let lines = logger.lines.get()
        try check(lines.contains { $0.hasPrefix("info kuzet_core::engine::run run started") }, "lines: \(lines)")
        try check(lines.contains { $0.hasPrefix("info kuzet_core::engine::run run finished") && $0.contains("status=Completed") },
                  "lines: \(lines)")
        try check(!lines.contains { $0.hasPrefix("debug") || $0.hasPrefix("trace") }, "level filter: \(lines)")
        let site = try LocalSite()
        defer { site.close() }
        _ = try Engine(config: config("logger2")).runBlocking(request: web(["\(site.base)/"]), listener: Recorder())
        try checkEqual(lines.count, logger.lines.get().count, "lines after clearLogger")
    }

    static func panicsSurfaceAsErrors() async throws {
        do {
            try testPanic(message: "deliberate panic")
            throw TestFailure(description: "no error thrown")
        } catch is KuzetError {
            throw TestFailure(description: "a panic became a KuzetError")
        } catch let error where "\(error)".contains("deliberate panic") {
            // uniffi's internal "rust panic" error, with the panic's message.
        }
        do {
            try await testPanicAsync(message: "async panic")
            throw TestFailure(description: "no error thrown")
        } catch let error where "\(error)".contains("async panic") {}
        try check(!kuzetVersion().isEmpty, "library alive")
    }
}

@main
struct Runner {
    static func main() async {
        let tests: [(String, () async throws -> Void)] = [
            ("version is the library's", Tests.versionIsTheLibrarys),
            ("suites say what is available", Tests.suitesSayWhatIsAvailable),
            ("full test now against a local site", Tests.fullTestNowAgainstALocalSite),
            ("a failed URL is an anomaly in plain words", Tests.aFailedUrlIsAnAnomalyInPlainWords),
            ("async run returns the summary", Tests.asyncRunReturnsTheSummary),
            ("blocking run returns the summary", Tests.blockingRunReturnsTheSummary),
            ("cancelling a running test stops it at once", Tests.cancellingARunningTestStopsItAtOnce),
            ("cancelling a Swift task cancels the run", Tests.cancellingASwiftTaskCancelsTheRun),
            ("releasing the handle cancels the run", Tests.droppingTheHandleCancelsTheRun),
            ("the byte budget stops new targets", Tests.theByteBudgetStopsNewTargets),
            ("errors are cases with useful messages", Tests.errorsAreCasesWithUsefulMessages),
            ("a background cycle without a collector uploads nothing", Tests.aBackgroundCycleWithoutACollectorUploadsNothing),
            ("history, pending uploads and data use follow a run", Tests.historyPendingUploadsAndDataUseFollowARun),
            ("wipe empties the data directory", Tests.wipeEmptiesTheDataDirectory),
            ("uploader can be set and cleared", Tests.uploaderCanBeSetAndCleared),
            ("logger receives run lines", Tests.loggerReceivesRunLines),
            ("panics surface as errors", Tests.panicsSurfaceAsErrors),
        ]
        try? FileManager.default.createDirectory(at: tempRoot, withIntermediateDirectories: true)
        var passed = 0
        var failed = 0
        for (name, test) in tests {
            let started = Date()
            do {
                try await test()
                passed += 1
                print("ok   \(name) (\(Int(Date().timeIntervalSince(started) * 1000)) ms)")
            } catch {
                failed += 1
                print("FAIL \(name): \(error)")
            }
        }
        try? FileManager.default.removeItem(at: tempRoot)
        print("")
        print("swift: \(passed) passed, \(failed) failed")
        exit(failed == 0 ? 0 : 1)
    }
}
