// Tests of Kuzet's Swift bindings, compiled with swiftc and run on Linux against the
// host-built library (scripts/test-bindings-swift.sh). A tiny runner: each test is a named
// function; the last line is "swift: N passed, N failed".

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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
        (listener, port) = try listenOnLoopback()
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

/// A TCP socket bound to an ephemeral loopback port, not yet listening.
func bindLoopback() throws -> (fd: Int32, port: UInt16) {
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
    guard bound == 0 else {
        Glibc.close(fd)
        throw TestFailure(description: "bind() failed")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// A loopback listening socket on an ephemeral port.
func listenOnLoopback() throws -> (fd: Int32, port: UInt16) {
    let (fd, port) = try bindLoopback()
    guard listen(fd, 64) == 0 else {
        Glibc.close(fd)
        throw TestFailure(description: "listen() failed")
    }
    return (fd, port)
}

/// Runs `body` with a loopback port where nothing listens: a socket is bound to it and never
/// listens, so connects are refused, and no other server can take the port meanwhile (a closed
/// listener's port can go to the next server that binds an ephemeral port).
func withClosedPort<T>(_ body: (UInt16) throws -> T) throws -> T {
    let (fd, port) = try bindLoopback()
    defer { Glibc.close(fd) }
    return try body(port)
}

/// The real test helper: `kuzet-server --th --th-allow-private` (its path in KUZET_SERVER_BIN,
/// set by scripts/test-bindings-swift.sh) on an ephemeral loopback port.
final class TestHelperServer: @unchecked Sendable {
    private let process = Process()
    let url: String

    init() throws {
        guard let bin = ProcessInfo.processInfo.environment["KUZET_SERVER_BIN"] else {
            throw TestFailure(description: "KUZET_SERVER_BIN is not set")
        }
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["--listen", "127.0.0.1:0", "--th", "--th-allow-private", "--th-resolver", "system"]
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        let address = Locked<String?>(nil)
        let started = DispatchSemaphore(value: 0)
        // Read standard error for the server's whole life, so it never blocks on it.
        let reader = Thread {
            var pending = ""
            var announced = false
            while true {
                let data = stderr.fileHandleForReading.availableData
                if data.isEmpty { break }
                pending += String(decoding: data, as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = String(pending[..<newline])
                    pending = String(pending[pending.index(after: newline)...])
                    let prefix = "kuzet-server: listening on "
                    if !announced && line.hasPrefix(prefix) {
                        announced = true
                        address.update { $0 = String(line.dropFirst(prefix.count)) }
                        started.signal()
                    } else {
                        FileHandle.standardError.write(Data("[kuzet-server] \(line)\n".utf8))
                    }
                }
            }
            if !announced { started.signal() }
        }
        reader.start()
        _ = started.wait(timeout: .now() + 60)
        guard let addr = address.get() else {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure(description: "kuzet-server did not start")
        }
        url = "http://\(addr)/"
    }

    /// SIGKILL, not `terminate()`: a process spawned from a Swift concurrency thread inherits
    /// its blocked signals, SIGTERM included.
    func close() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// The real throughput server: `kuzet-server --throughput 127.0.0.1:0` (no rate limit), its
/// address and key pin read from what it prints.
final class ThroughputServerProcess: @unchecked Sendable {
    private let process = Process()
    let addr: String
    let pin: String

    init() throws {
        guard let bin = ProcessInfo.processInfo.environment["KUZET_SERVER_BIN"] else {
            throw TestFailure(description: "KUZET_SERVER_BIN is not set")
        }
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["--throughput", "127.0.0.1:0", "--throughput-per-client-per-minute", "0"]
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        let found = Locked<(pin: String?, addr: String?)>((nil, nil))
        let started = DispatchSemaphore(value: 0)
        let reader = Thread {
            var pending = ""
            var signalled = false
            while true {
                let data = stderr.fileHandleForReading.availableData
                if data.isEmpty { break }
                pending += String(decoding: data, as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    let line = String(pending[..<newline])
                    pending = String(pending[pending.index(after: newline)...])
                    let pinPrefix = "kuzet-server: throughput pin "
                    let addrPrefix = "kuzet-server: throughput listening on "
                    if line.hasPrefix(pinPrefix) {
                        found.update { $0.pin = String(line.dropFirst(pinPrefix.count)) }
                    } else if line.hasPrefix(addrPrefix) {
                        found.update { $0.addr = String(line.dropFirst(addrPrefix.count)) }
                    } else {
                        FileHandle.standardError.write(Data("[kuzet-server] \(line)\n".utf8))
                    }
                    let now = found.get()
                    if !signalled && now.pin != nil && now.addr != nil {
                        signalled = true
                        started.signal()
                    }
                }
            }
            if !signalled { started.signal() }
        }
        reader.start()
        _ = started.wait(timeout: .now() + 60)
        guard let pin = found.get().pin, let addr = found.get().addr else {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure(description: "kuzet-server --throughput did not start")
        }
        self.pin = pin
        self.addr = addr
    }

    /// SIGKILL, not `terminate()`: a process spawned from a Swift concurrency thread inherits
    /// its blocked signals, SIGTERM included.
    func close() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A minimal OONI collector on plain sockets: `POST /report` opens a report, `POST
/// /report/{id}` takes a measurement. It records what it receives and how it was encoded.
final class LocalCollector: @unchecked Sendable {
    private let listener: Int32
    let port: UInt16
    let opened = Locked([String]())
    let submitted = Locked([Data]())
    let encodings = Locked([String]())

    init() throws {
        (listener, port) = try listenOnLoopback()
        let thread = Thread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                let worker = Thread { [self] in serve(client) }
                worker.start()
            }
        }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)/" }

    private func serve(_ client: Int32) {
        defer { Glibc.close(client) }
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int? = nil
        var contentLength = 0
        var head = ""
        while true {
            if headerEnd == nil, let end = request.headerEndIndex {
                headerEnd = end
                head = String(decoding: request[..<end], as: UTF8.self)
                for line in head.split(separator: "\r\n") {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    if parts.count == 2, parts[0].lowercased() == "content-length" {
                        contentLength = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                }
            }
            if let end = headerEnd, request.count >= end + 4 + contentLength { break }
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            request.append(contentsOf: buffer[0..<n])
        }
        let start = headerEnd! + 4
        let body = Data(request[start..<(start + contentLength)])
        let lines = head.split(separator: "\r\n")
        let parts = (lines.first ?? "").split(separator: " ")
        let path = parts.count > 1 ? String(parts[1]) : "/"
        let encoding = lines.dropFirst()
            .compactMap { line -> String? in
                let kv = line.split(separator: ":", maxSplits: 1)
                return kv.count == 2 && kv[0].lowercased() == "content-encoding"
                    ? kv[1].trimmingCharacters(in: .whitespaces) : nil
            }.first ?? "identity"
        var answer = "{}"
        var status = 404
        if path == "/report" {
            opened.update { $0.append(String(decoding: body, as: UTF8.self)) }
            let id = opened.get().count
            answer = "{\"report_id\":\"r\(id)\",\"supported_formats\":[\"json\"]}"
            status = 200
        } else if path.hasPrefix("/report/") {
            encodings.update { $0.append(encoding) }
            submitted.update { $0.append(body) }
            answer = "{\"measurement_uid\":\"u\(submitted.get().count)\"}"
            status = 200
        }
        let bytes = Array(answer.utf8)
        let response = Array("HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n".utf8) + bytes
        _ = response.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }
}

extension Array where Element == UInt8 {
    /// Where the blank line ending an HTTP head starts, if it has arrived.
    var headerEndIndex: Int? {
        guard count >= 4 else { return nil }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 {
            return i
        }
        return nil
    }
}

/// The app's uploader, with `URLSession` as an iOS app would (there a background session).
final class URLSessionUploader: Uploader, @unchecked Sendable {
    let calls = Locked(0)
    let onMainThread = Locked(0)

    func upload(request: UploadRequest) -> UploadOutcome {
        calls.update { $0 += 1 }
        if Thread.isMainThread { onMainThread.update { $0 += 1 } }
        guard let url = URL(string: request.url) else { return .failed(message: "bad URL \(request.url)") }
        var urlRequest = URLRequest(url: url, timeoutInterval: 5)
        urlRequest.httpMethod = request.method
        urlRequest.setValue(request.contentType, forHTTPHeaderField: "Content-Type")
        urlRequest.httpBody = request.body
        let outcome = Locked<UploadOutcome>(.failed(message: "no answer"))
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: urlRequest) { data, response, error in
            if let http = response as? HTTPURLResponse {
                outcome.update { $0 = .response(status: UInt16(http.statusCode), body: data ?? Data()) }
            } else {
                outcome.update { $0 = .failed(message: "\(error.map { "\($0)" } ?? "no response")") }
            }
            done.signal()
        }.resume()
        done.wait()
        return outcome.get()
    }
}

/// This machine's own addresses (not loopback): none may appear in an uploaded measurement.
func ownAddresses() -> [String] {
    var result = [String]()
    var list: UnsafeMutablePointer<ifaddrs>? = nil
    guard getifaddrs(&list) == 0 else { return result }
    defer { freeifaddrs(list) }
    var cursor = list
    while let entry = cursor {
        defer { cursor = entry.pointee.ifa_next }
        guard let addr = entry.pointee.ifa_addr else { continue }
        let family = Int32(addr.pointee.sa_family)
        guard family == AF_INET || family == AF_INET6 else { continue }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        if getnameinfo(addr, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
            let text = String(cString: host).split(separator: "%").first.map(String.init) ?? ""
            if !text.isEmpty && text != "127.0.0.1" && text != "::1" { result.append(text) }
        }
    }
    return result
}

/// A phone on Kcell's mobile data: MCC-MNC 401-02, nothing else known.
final class KcellProvider: NetworkContextProvider, @unchecked Sendable {
    func currentNetwork() -> NetworkContext {
        NetworkContext(kind: .cellular, metered: true, mccMnc: "401-02")
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

/// The connectivity check's configuration: two loopback anchors (domestic, international) on
/// `port`, by TCP connect, named `localhost` (the hosts file): nothing leaves the machine.
func connectivityJson(_ port: UInt16) -> String {
    """
    {"anchors": [
      {"name": "localhost", "group": "domestic", "pinned_ips": ["127.0.0.1"], "port": \(port), "probe": "tcp_connect"},
      {"name": "localhost", "group": "international", "pinned_ips": ["127.0.0.1"], "port": \(port), "probe": "tcp_connect"}
     ], "rechecks": {"count": 0, "delay": 0}, "timeouts": {"dns": 1000, "probe": 1000}}
    """
}

/// A loopback port that accepts connections for the whole run: every engine's anchor, so no
/// test ever probes the built-in (public) anchors.
let anchor = try! listenOnLoopback()

func config(_ name: String, allowed: [Suite] = [.web, .messaging, .throttling, .connectivity],
            parallelism: UInt32 = defaultParallelism(), testHelpers: [String] = []) -> EngineConfig {
    EngineConfig(
        dataDir: tempRoot.appendingPathComponent(name).path,
        softwareName: "kuzet-swift-tests",
        softwareVersion: "1.0",
        testHelperUrls: testHelpers,
        consent: Consent(uploadAllowed: false, allowedSuites: allowed),
        budgets: DataBudgets(),
        parallelism: parallelism,
        connectivityConfigJson: connectivityJson(anchor.port)
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

    /// The records' literal defaults (bindings/src/types.rs) are the engine's (kuzet_core::engine).
    static func recordDefaultsAreTheEngines() throws {
        try checkEqual(defaultDataBudgets(), DataBudgets(), "DataBudgets() with its defaults")
        let built = EngineConfig(dataDir: "/unused", softwareName: "kuzet-swift-tests", softwareVersion: "1.0",
                                 consent: Consent(uploadAllowed: false, allowedSuites: []), budgets: DataBudgets())
        try checkEqual(defaultParallelism(), built.parallelism, "EngineConfig.parallelism's default")
    }

    static func suitesSayWhatIsAvailable() throws {
        let engine = try Engine(config: config("suites"))
        let suites = engine.availableSuites()
        try checkEqual(4, suites.count, "suites listed")
        // Throttling needs a throughput server, which this configuration does not have.
        try checkEqual([Suite.connectivity, Suite.web, Suite.messaging], suites.filter { $0.available }.map { $0.suite }, "available suites")
        try check(suites.allSatisfy { !$0.description.isEmpty }, "every suite has a description")
    }

    static func fullTestNowAgainstALocalSite() throws {
        let site = try LocalSite()
        defer { site.close() }
        let helper = try TestHelperServer()
        defer { helper.close() }
        let engine = try Engine(config: config("full", parallelism: 1, testHelpers: [helper.url]))
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
        try checkEqual(nil, page.blocking, "blocking of /page")
        try checkEqual("ok", page.verdictDetail, "web_connectivity's verdict of /page")
        try checkEqual(200, page.statusCode, "status of /page")
        try check(page.explanation.hasPrefix("127.0.0.1 loaded normally (HTTP 200) in ") && page.explanation.hasSuffix(" s."),
                  "explanation: \(page.explanation)")
        let measurement = try JSONSerialization.jsonObject(with: Data(page.measurementJson.utf8)) as? [String: Any]
        try checkEqual("web_connectivity", measurement?["test_name"] as? String, "test_name")
        let testKeys = measurement?["test_keys"] as? [String: Any]
        try checkEqual("ok", (testKeys?["x_verdict"] as? [String: Any])?["kind"] as? String, "x_verdict")
        try check(testKeys?["control_failure"] is NSNull, "the test helper answered")
        let backend = (measurement?["test_helpers"] as? [String: Any])?["backend"] as? [String: Any]
        try checkEqual(helper.url, backend?["address"] as? String, "test helper named")
        try checkEqual("kuzet-swift-tests", measurement?["software_name"] as? String, "software_name")
        try checkEqual(page.measurementId, measurement?["id"] as? String, "measurement id")
        let annotations = measurement?["annotations"] as? [String: Any]
        try checkEqual("wifi", annotations?["network_type"] as? String, "network type from the provider")
        // The same 404 from the test helper's network: reachable, not blocked.
        try checkEqual(404, summary.results[1].statusCode, "status of /missing")
        try checkEqual(Verdict.accessible, summary.results[1].verdict, "verdict of /missing")
        try checkEqual(summary.results, recorder.results.get(), "results delivered as they landed")
        try checkEqual(1, provider.calls.get(), "network provider calls")
        try check(recorder.progress.get().first?.estimatedTimeLeft != nil, "ETA after the first target")
        try checkEqual(0, recorder.progress.get().last?.estimatedTimeLeft, "ETA at the end")
        try checkEqual(summary.bytesUsed, recorder.progress.get().last?.bytesUsed, "bytes in progress")
        try checkEqual(0, recorder.onMainThread.get(), "callbacks on the main thread")
        try checkEqual(0, engine.activeRuns(), "active runs")
    }

    static func aFailedUrlIsAnAnomalyInPlainWords() throws {
        let engine = try Engine(config: config("anomaly"))
        let summary = try withClosedPort { port in
            try engine.runBlocking(request: web(["http://127.0.0.1:\(port)/"]), listener: Recorder())
        }
        let result = summary.results[0]
        try checkEqual(Verdict.anomaly, result.verdict, "verdict")
        try checkEqual("connect", result.failedOperation, "failed operation")
        try checkEqual("connection_refused", result.failure, "failure")
        try checkEqual(
            "127.0.0.1 did not load: the connection was refused while opening a connection. "
                + "No test helper is configured to compare with another network, so this cannot tell blocking from an outage.",
            result.explanation, "explanation")
    }

    static func aSiteDownForEveryoneIsDownNotBlocked() throws {
        let helper = try TestHelperServer()
        defer { helper.close() }
        let engine = try Engine(config: config("down", testHelpers: [helper.url]))
        let summary = try withClosedPort { port in
            try engine.runBlocking(request: web(["http://127.0.0.1:\(port)/"]), listener: Recorder())
        }
        let result = summary.results[0]
        try checkEqual(Verdict.down, result.verdict, "verdict")
        try checkEqual("site down", result.verdictDetail, "detail")
        try checkEqual("connection_refused", result.failure, "failure")
        try check(result.explanation.contains("the site seems down for everyone, not blocked here"),
                  "explanation: \(result.explanation)")
        try checkEqual(nil, result.blocking, "blocking")
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
        // Plain http with no test helper: it loaded, but nothing proves the page genuine.
        try checkEqual(Verdict.undetermined, summary.results.first?.verdict, "verdict")
        try check(summary.results.first?.explanation.contains("cannot confirm it was the site's real page") == true,
                  "explanation")
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

        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.messagingEndpointsJson = #"{"signal": {"urls": []}}"# }) }
        guard case .InvalidInput("invalid messaging endpoints: signal.urls is empty") = error else {
            throw TestFailure(description: "messaging endpoints: \(error)")
        }

        let engine = try Engine(config: config("errors", allowed: [.web]))
        let listener = Recorder()
        error = try expectKuzetError { _ = try engine.startRun(request: RunRequest(suites: [.messaging]), listener: listener) }
        guard case .NotAllowed("the user has not allowed the messaging suite") = error else {
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

    static func aBackgroundCycleWithoutACollectorChecksAndSamples() async throws {
        // Uploads allowed, but no collector configured: nothing to send to.
        let site = try LocalSite()
        defer { site.close() }
        var cfg = config("background")
        cfg.consent = Consent(uploadAllowed: true, allowedSuites: cfg.consent.allowedSuites)
        cfg.backgroundSampleUrls = (1...5).map { "\(site.base)/page\($0)" }
        let engine = try Engine(config: cfg)
        let metered = try engine.backgroundCycleBlocking(request: BackgroundRequest(
            timeBudget: 30, network: NetworkContext(kind: .cellular, metered: true)))
        let wifi = try await engine.backgroundCycle(request: BackgroundRequest(timeBudget: 30, network: NetworkContext(kind: .wifi)))
        for summary in [metered, wifi] {
            try checkEqual(UInt32(0), summary.uploaded, "uploaded")
            try checkEqual(UInt32(0), summary.uploadFailures, "upload failures")
            try checkEqual(true, summary.connectivityChecked, "connectivity checked")
            try checkEqual(ConnectivityState.ok, summary.connectivity, "connectivity")
            try check(summary.bytesUsed > 0, "bytes used")
            try checkEqual(TimeInterval(6 * 60 * 60), summary.nextRunIn, "next run in")
        }
        // The first check starts the timeline; the second finds the same state.
        try checkEqual(true, metered.timelineChanged, "first state")
        try checkEqual(false, wifi.timelineChanged, "same state")
        // No tests on a metered network; three on Wi-Fi.
        try checkEqual(UInt32(0), metered.testsRun, "tests on mobile data")
        try checkEqual(UInt32(3), wifi.testsRun, "tests on Wi-Fi")
        try checkEqual(3, try engine.resultsHistoryBlocking(offset: 0, limit: 20).items.count, "sampled results")
        // The network is unknown here (AS0/ZZ): everything is held on the device, not waiting
        // for upload.
        try checkEqual(UInt32(0), wifi.pending, "pending")
        let held = try engine.pendingUploadsBlocking()
        try checkEqual(4, held.count, "held: the first state and the three tests")
        try check(held.allSatisfy { $0.state == .held }, "\(held)")
        // Airplane mode, as the platform reports it: the device's own state, no probing.
        let airplane = try engine.backgroundCycleBlocking(request: BackgroundRequest(
            timeBudget: 30, network: NetworkContext(kind: .offline, inService: false, airplaneMode: true)))
        try checkEqual(ConnectivityState.localDevice, airplane.connectivity, "airplane mode")
        try checkEqual(UInt32(0), airplane.testsRun, "tests in airplane mode")
    }

    static func theConnectivitySuiteAndTheTimeline() async throws {
        let local = try listenOnLoopback()
        var cfg = config("connectivity")
        cfg.connectivityConfigJson = connectivityJson(local.port)
        let engine = try Engine(config: cfg)
        engine.setNetworkProvider(provider: KcellProvider())
        let recorder = Recorder()
        let summary = try engine.runBlocking(request: RunRequest(suites: [.connectivity]), listener: recorder)
        try checkEqual(["phase preparing", "phase measuring connectivity", "result connectivity", "progress 1/1",
                        "phase finished", "finished completed"], recorder.events.get(), "callback order")
        let ok = summary.results[0]
        try checkEqual(Suite.connectivity, ok.suite, "suite")
        try checkEqual(Verdict.accessible, ok.verdict, "verdict")
        try checkEqual("ok", ok.verdictDetail, "status")
        try check(ok.explanation.contains("reached domestic and international hosts"), ok.explanation)
        try check(ok.measurementJson.contains("\"test_name\":\"kuzet_connectivity\""), "measurement")
        try check(ok.measurementJson.contains("\"probe_asn\":\"AS29355\""), "ASN")

        // The anchors go away: a data blackout, as this device sees it.
        shutdown(local.fd, Int32(SHUT_RDWR))
        Glibc.close(local.fd)
        let blackout = try await engine.run(request: RunRequest(suites: [.connectivity]), listener: Recorder()).results[0]
        try checkEqual(Verdict.anomaly, blackout.verdict, "verdict in a blackout")
        try checkEqual("data_blackout", blackout.verdictDetail, "status in a blackout")
        try check(blackout.explanation.contains("no domestic or international host answered"), blackout.explanation)

        let timeline = try engine.connectivityTimelineBlocking(since: Date(timeIntervalSince1970: 0))
        try checkEqual([ConnectivityState.ok, .dataBlackout], timeline.map { $0.state }, "timeline")
        try check(timeline.allSatisfy { $0.network == .cellular }, "\(timeline)")
        try checkEqual(blackout.explanation, timeline.last?.explanation, "timeline explanation")
        try checkEqual(timeline, try await engine.connectivityTimeline(since: Date(timeIntervalSince1970: 0)), "async timeline")
        try checkEqual(0, try engine.connectivityTimelineBlocking(since: Date().addingTimeInterval(60)).count, "since later")
        let history = try engine.resultsHistoryBlocking(offset: 0, limit: 10).items
        try checkEqual([Verdict.anomaly, .accessible], history.map { $0.verdict }, "history verdicts")
        try check(history.allSatisfy { $0.suite == .connectivity }, "history suites")

        // A configuration that is not one is refused up front.
        var bad = config("bad-connectivity")
        bad.connectivityConfigJson = "{\"anchors\": []}"
        let error = try expectKuzetError { _ = try Engine(config: bad) }
        guard case .InvalidInput = error, message(error).hasPrefix("connectivity configuration:") else {
            throw TestFailure(description: "bad connectivity configuration: \(error)")
        }
    }

    static func theThrottlingSuiteAgainstTheThroughputServer() async throws {
        // Without a throughput server the suite is refused, with a clear message.
        let none = try Engine(config: config("no-throughput"))
        var error = try expectKuzetError { _ = try none.startRun(request: RunRequest(suites: [.throttling]), listener: Recorder()) }
        guard case .Unavailable = error, message(error).contains("needs Kuzet's throughput server") else {
            throw TestFailure(description: "no server: \(error)")
        }
        var badPin = config("bad-pin")
        badPin.throughputServer = "127.0.0.1:1"
        badPin.throughputPin = "md5/nope"
        error = try expectKuzetError { _ = try Engine(config: badPin) }
        guard case .InvalidInput = error, message(error).hasPrefix("invalid pin \"md5/nope\"") else {
            throw TestFailure(description: "bad pin: \(error)")
        }
        var half = config("half")
        half.throughputServer = "127.0.0.1:1"
        error = try expectKuzetError { _ = try Engine(config: half) }
        guard case .InvalidInput = error, message(error).contains("go together") else {
            throw TestFailure(description: "half: \(error)")
        }

        let server = try ThroughputServerProcess()
        defer { server.close() }
        var cfg = config("throttling")
        cfg.throughputServer = server.addr
        cfg.throughputPin = server.pin
        let engine = try Engine(config: cfg)
        try check(engine.availableSuites().first { $0.suite == .throttling }?.available == true, "throttling available")
        error = try expectKuzetError {
            _ = try engine.startRun(request: RunRequest(suites: [.throttling], throttlingTargets: ["127.0.0.1"]), listener: Recorder())
        }
        guard case .InvalidInput = error, message(error).contains("is not a host name") else {
            throw TestFailure(description: "IP target: \(error)")
        }
        let recorder = Recorder()
        let summary = try await engine.run(
            request: RunRequest(suites: [.throttling], throttlingTargets: ["www.example.org"]), listener: recorder)
        try checkEqual(RunStatus.completed, summary.status, "status")
        try checkEqual(1, summary.results.count, "results")
        let result = summary.results[0]
        try checkEqual(Suite.throttling, result.suite, "suite")
        try checkEqual("www.example.org", result.target, "target")
        // On loopback nothing slows one name down; the exact kind depends on timing noise.
        try check(["not_throttled", "suspected", "inconclusive"].contains(result.verdictDetail), result.verdictDetail)
        try check(result.verdict != .blocked, "blocked on loopback: \(result)")
        try check(result.bytesReceived > 0, "bytes")
        try check(!result.explanation.isEmpty, "explanation")
        try check(result.measurementJson.contains("\"test_name\":\"kuzet_throttling\""), "measurement")
        try checkEqual(["phase preparing", "phase measuring throttling", "result www.example.org", "progress 1/1",
                        "phase finished", "finished completed"], recorder.events.get(), "callback order")
        let item = try engine.resultsHistoryBlocking(offset: 0, limit: 10).items
        try checkEqual(1, item.count, "stored")
        try checkEqual(Suite.throttling, item[0].suite, "stored suite")
        try checkEqual(result.verdict, item[0].verdict, "stored verdict")

        // A pin that is not the server's: reported once, nothing measured.
        var wrongPin = cfg
        wrongPin.dataDir = tempRoot.appendingPathComponent("throttling-pin").path
        wrongPin.throughputPin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        let wrong = try Engine(config: wrongPin)
        let refused = try wrong.runBlocking(
            request: RunRequest(suites: [.throttling], throttlingTargets: ["a.example", "b.example"]), listener: Recorder())
        try checkEqual(1, refused.results.count, "one result")
        try checkEqual(Verdict.undetermined, refused.results[0].verdict, "verdict with a wrong pin")
        try check(refused.results[0].explanation.contains("presented another key"), refused.results[0].explanation)
        try checkEqual(0, try wrong.resultsHistoryBlocking(offset: 0, limit: 10).items.count, "nothing stored")
        let methods: [BlockingMethod] = [.dns, .tcpIp, .tls, .interception, .httpBlockpage, .httpFailure, .throttling]
        try checkEqual(7, Set(methods.map { "\($0)" }).count, "blocking methods")
    }

    static func historyPendingUploadsAndDataUseFollowARun() async throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("history"))
        try checkEqual(0, try engine.resultsHistoryBlocking(offset: 0, limit: 20).items.count, "history before a run")
        try checkEqual(0, try engine.pendingUploadsBlocking().count, "pending before a run")
        try checkEqual(UInt64(0), try engine.dataUsedThisMonthBlocking().bytesUsed, "bytes before a run")
        let missing = try expectKuzetError { _ = try engine.resultDetailBlocking(id: "some-id") }
        guard case .InvalidInput = missing else { throw TestFailure(description: "resultDetail: \(missing)") }
        let missingAsync = try await expectKuzetErrorAsync { _ = try await engine.resultDetail(id: "some-id") }
        guard case .InvalidInput = missingAsync else { throw TestFailure(description: "async resultDetail: \(missingAsync)") }
        let badPage = try await expectKuzetErrorAsync { _ = try await engine.resultsHistory(offset: 0, limit: 501) }
        guard case .InvalidInput = badPage else { throw TestFailure(description: "async resultsHistory: \(badPage)") }

        let summary = try engine.runBlocking(request: web(["\(site.base)/", "\(site.base)/page"]), listener: Recorder())
        try checkEqual(2, summary.results.count, "results")

        let page = try engine.resultsHistoryBlocking(offset: 0, limit: 1)
        try checkEqual(1, page.items.count, "first page")
        try checkEqual(UInt32(1), page.nextOffset, "next offset")
        let all = try engine.resultsHistoryBlocking(offset: 0, limit: 20)
        try checkEqual(2, all.items.count, "history after a run")
        try checkEqual(nil, all.nextOffset, "last page")
        try checkEqual(Array(summary.results.map { $0.measurementId }.reversed()), all.items.map { $0.id }, "newest first")
        let item = all.items[0]
        try checkEqual(Suite.web, item.suite, "suite")
        // No test helper and plain http: the history keeps the run's own verdict.
        try checkEqual(Verdict.undetermined, item.verdict, "verdict")
        try checkEqual(nil, item.blocking, "blocking")
        // The probe's network is unknown (AS0/ZZ): kept on the device, not uploaded.
        try checkEqual(UploadState.held, item.uploadState, "upload state")

        let detail = try engine.resultDetailBlocking(id: item.id)
        try checkEqual(item, detail.item, "detail's item")
        try check(detail.explanation.contains("loaded (HTTP 200)"), detail.explanation)
        try check(detail.measurementJson.contains(item.id), "measurement JSON has the id")

        let pending = try engine.pendingUploadsBlocking()
        try checkEqual(Set(all.items.map { $0.id }), Set(pending.map { $0.measurementId }), "pending ids")
        try check(pending.allSatisfy { $0.state == .held && $0.lastError == nil }, "\(pending)")

        try checkEqual(summary.bytesUsed, try engine.dataUsedThisMonthBlocking().bytesUsed, "bytes this month")
        try checkEqual(0, try engine.connectivityTimelineBlocking(since: Date(timeIntervalSince1970: 0)).count, "timeline")

        // The async forms read the same store off the caller's thread.
        try checkEqual(all, try await engine.resultsHistory(offset: 0, limit: 20), "async history")
        try checkEqual(detail, try await engine.resultDetail(id: item.id), "async detail")
        try checkEqual(pending, try await engine.pendingUploads(), "async pending uploads")
        try checkEqual([], try await engine.connectivityTimeline(since: Date(timeIntervalSince1970: 0)), "async timeline")
        try checkEqual(try engine.dataUsedThisMonthBlocking(), try await engine.dataUsedThisMonth(), "async data used")
        try await engine.wipe()
        try checkEqual(0, try await engine.resultsHistory(offset: 0, limit: 20).items.count, "history after wipe")
        try checkEqual(0, try await engine.pendingUploads().count, "pending after wipe")
    }

    static func aBackgroundCycleFlushesTheQueueToALocalCollector() async throws {
        let site = try LocalSite()
        defer { site.close() }
        let collector = try LocalCollector()
        defer { collector.close() }
        var uploadable = config("flush")
        uploadable.collectorUrl = collector.url
        uploadable.consent = Consent(uploadAllowed: true, allowedSuites: uploadable.consent.allowedSuites)
        let kcell = KcellProvider()

        // Kuzet's own uploader: submissions are gzip-compressed.
        let engine = try Engine(config: uploadable)
        engine.setNetworkProvider(provider: kcell)
        let summary = try engine.runBlocking(request: web(["\(site.base)/", "\(site.base)/page"]), listener: Recorder())
        try checkEqual(2, summary.results.count, "results")
        // The network is named from the MCC-MNC: the measurements wait in the queue.
        try check(try engine.pendingUploadsBlocking().allSatisfy { $0.state == .queued }, "queued")
        let cycle = try await engine.backgroundCycle(request: BackgroundRequest(timeBudget: 30, network: kcell.currentNetwork()))
        // The two measurements and the connectivity check's first state.
        try checkEqual(UInt32(3), cycle.uploaded, "uploaded")
        try checkEqual(true, cycle.connectivityChecked, "connectivity checked")
        try checkEqual(UInt32(0), cycle.uploadFailures, "upload failures")
        try checkEqual(UInt32(0), cycle.pending, "pending")
        try checkEqual(0, try await engine.pendingUploads().count, "queue after the cycle")
        try check(try engine.resultsHistoryBlocking(offset: 0, limit: 10).items.allSatisfy { $0.uploadState == .uploaded },
                  "uploaded states")
        try checkEqual(["gzip", "gzip", "gzip"], collector.encodings.get(), "encodings")

        // Through the app's uploader: plain bodies, on Kuzet's threads.
        var appConfig = uploadable
        appConfig.dataDir = tempRoot.appendingPathComponent("flush-app").path
        let appEngine = try Engine(config: appConfig)
        appEngine.setNetworkProvider(provider: kcell)
        let uploader = URLSessionUploader()
        appEngine.setUploader(uploader: uploader)
        let appRun = try appEngine.runBlocking(request: web(["\(site.base)/"]), listener: Recorder())
        let appCycle = try appEngine.backgroundCycleBlocking(request: BackgroundRequest(timeBudget: 30, network: kcell.currentNetwork()))
        try checkEqual(UInt32(2), appCycle.uploaded, "uploaded through the app (the test and the check's first state)")
        try check(uploader.calls.get() >= 2, "the app's uploader opened a report and submitted")
        try checkEqual(0, uploader.onMainThread.get(), "uploads on the main thread")
        try checkEqual("identity", collector.encodings.get().last, "plain body from the app's uploader")

        try checkEqual(5, collector.submitted.get().count, "measurements at the collector")
        let plainBodies = collector.submitted.get().suffix(2).map { String(decoding: $0, as: UTF8.self) }
        guard let plain = plainBodies.first(where: { $0.contains(appRun.results[0].measurementId) }) else {
            throw TestFailure(description: "the app's measurement did not arrive")
        }
        try check(plainBodies.contains { $0.contains("\"test_name\":\"kuzet_connectivity\"") }, "the check's record arrived")
        let addresses = ownAddresses()
        for body in collector.opened.get() + plainBodies {
            try check(body.contains("\"probe_asn\":\"AS29355\""), "ASN from the network context: \(body)")
            try check(body.contains("\"probe_cc\":\"KZ\""), "country from the network context: \(body)")
            try check(!body.contains("401-02") && !body.contains("40102"), "MCC-MNC uploaded: \(body)")
            for address in addresses {
                try check(!body.contains(address), "this machine's address \(address) uploaded")
            }
        }
        try check(plain.contains("\"probe_network_name\":\"Kcell JSC\""), "network name: \(plain)")
        try check(plain.contains("\"probe_ip\":\"127.0.0.1\""), "probe_ip is OONI's placeholder: \(plain)")
        try check(plain.contains("\"test_name\":\"web_connectivity\""), "test name: \(plain)")
        try check(plain.contains("\"network_type\":\"mobile\""), "network type: \(plain)")
    }

    static func wipeEmptiesTheDataDirectory() throws {
        let cfg = config("wipe")
        let engine = try Engine(config: cfg)
        let dir = URL(fileURLWithPath: cfg.dataDir)
        let fm = FileManager.default
        try fm.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("sub/file"))
        try Data("y".utf8).write(to: dir.appendingPathComponent("file"))
        try engine.wipeBlocking()
        var isDir: ObjCBool = false
        try check(fm.fileExists(atPath: dir.path, isDirectory: &isDir) && isDir.boolValue, "data directory kept")
        try checkEqual(0, try fm.contentsOfDirectory(atPath: dir.path).count, "entries after wipe")
    }

    static func uploaderCanBeSetAndCleared() throws {
        final class NoUploader: Uploader, @unchecked Sendable {
            func upload(request: UploadRequest) -> UploadOutcome { .failed(message: "never called: this engine has no collector") }
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
            ("record defaults are the engine's", Tests.recordDefaultsAreTheEngines),
            ("suites say what is available", Tests.suitesSayWhatIsAvailable),
            ("full test now against a local site", Tests.fullTestNowAgainstALocalSite),
            ("a failed URL is an anomaly in plain words", Tests.aFailedUrlIsAnAnomalyInPlainWords),
            ("a site down for everyone is down, not blocked", Tests.aSiteDownForEveryoneIsDownNotBlocked),
            ("async run returns the summary", Tests.asyncRunReturnsTheSummary),
            ("blocking run returns the summary", Tests.blockingRunReturnsTheSummary),
            ("cancelling a running test stops it at once", Tests.cancellingARunningTestStopsItAtOnce),
            ("cancelling a Swift task cancels the run", Tests.cancellingASwiftTaskCancelsTheRun),
            ("releasing the handle cancels the run", Tests.droppingTheHandleCancelsTheRun),
            ("the byte budget stops new targets", Tests.theByteBudgetStopsNewTargets),
            ("errors are cases with useful messages", Tests.errorsAreCasesWithUsefulMessages),
            ("a background cycle without a collector checks and samples", Tests.aBackgroundCycleWithoutACollectorChecksAndSamples),
            ("the connectivity suite and the timeline", Tests.theConnectivitySuiteAndTheTimeline),
            ("the throttling suite against the throughput server", Tests.theThrottlingSuiteAgainstTheThroughputServer),
            ("history, pending uploads and data use follow a run", Tests.historyPendingUploadsAndDataUseFollowARun),
            ("a background cycle flushes the queue to a local collector", Tests.aBackgroundCycleFlushesTheQueueToALocalCollector),
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
