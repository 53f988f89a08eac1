// Tests of Kuzet's Swift bindings, compiled with swiftc and run on Linux against the
// host-built library (scripts/test-bindings-swift.sh). The module Kuzet holds both generated
// files: Kuzet.swift (the engine, its configuration, the platform's protocols, the shared rules)
// and KuzetCore.swift (core's records and enums, from results and verdicts to the network
// context). A tiny runner: each test is a named function; the last line is
// "swift: N passed, N failed". KUZET_TEST_ONLY=<text> runs only the tests whose name has it.
//
// Every engine checks the network before web, messaging and throttling and conditions its
// verdicts on it, so every engine here has loopback anchors (`connectivityJson`): anchors that
// answer, or a closed port for a device with no way out. Nothing leaves the machine.

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
/// holds the request until `close()` (or 30 s), anything else (any method) a small 200 page.
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
        // Read a body (Telegram's POST) to its end: closing with unread data would reset the
        // connection under the answer.
        let headerEnd = request.headerEndIndex ?? 0
        let requestHead = String(decoding: request[..<headerEnd], as: UTF8.self)
        let contentLength = requestHead.split(separator: "\r\n").compactMap { line -> Int? in
            let kv = line.split(separator: ":", maxSplits: 1)
            return kv.count == 2 && kv[0].lowercased() == "content-length"
                ? Int(kv[1].trimmingCharacters(in: .whitespaces)) : nil
        }.first ?? 0
        while request.count < headerEnd + 4 + contentLength {
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

final class WifiProvider: NetworkContextProvider, @unchecked Sendable {
    let calls = Locked(0)
    func currentNetwork() -> NetworkContext {
        calls.update { $0 += 1 }
        return NetworkContext(kind: .wifi, metered: false, constrained: false)
    }
}

/// Records every callback, whether it came on the main thread, and each result's measurement.
final class Recorder: RunListener, @unchecked Sendable {
    let events = Locked([String]())
    let results = Locked([TargetResult]())
    /// The measurement JSON of each result, by measurement id.
    let measurements = Locked([String: String]())
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
        case .checkingNetwork: note("phase checking network")
        case .measuring(let suite): note("phase measuring \(suite)")
        case .confirming: note("phase confirming")
        case .finished: note("phase finished")
        }
    }

    func onTargetResult(result: TargetResult, measurementJson: String) {
        results.update { $0.append(result) }
        measurements.update { $0[result.measurementId] = measurementJson }
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

    func awaitFinished(_ seconds: Double = 30) throws -> RunSummary {
        try check(finished.wait(timeout: .now() + seconds) == .success,
                  "onFinished did not arrive within \(seconds) s; events: \(events.get())")
        return summary.get()!
    }

    /// The measurement of the result for `target`, parsed.
    func measurement(of target: String) throws -> Any {
        let matching = results.get().filter { $0.target == target }
        guard matching.count == 1, let json = measurements.get()[matching[0].measurementId] else {
            throw TestFailure(description: "no single result for \(target): \(results.get())")
        }
        return try parseJson(json)
    }
}

/// A JSON document parsed with Foundation.
func parseJson(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

/// The value at `path` (object keys) in parsed JSON, or nil.
func at(_ json: Any?, _ path: String...) -> Any? {
    var node = json
    for key in path { node = (node as? [String: Any])?[key] }
    return node
}

/// Whether `key` is present and JSON null in the object `json`.
func isNull(_ json: Any?, _ key: String) -> Bool {
    guard let object = json as? [String: Any], let value = object[key] else { return false }
    return value is NSNull
}

/// The verdict word a measurement carries in its suite's x_ key: web `x_verdict.kind`,
/// messaging and connectivity `x_status`, throttling `x_throttling.verdict`.
func xWord(_ measurementJson: String) throws -> String? {
    let measurement = try parseJson(measurementJson)
    let keys = at(measurement, "test_keys")
    switch at(measurement, "test_name") as? String {
    case "web_connectivity": return at(keys, "x_verdict", "kind") as? String
    case "kuzet_throttling": return at(keys, "x_throttling", "verdict") as? String
    case "kuzet_connectivity", "whatsapp", "telegram", "signal", "facebook_messenger": return at(keys, "x_status") as? String
    case let name: throw TestFailure(description: "no x_ verdict key known for \(String(describing: name))")
    }
}

let tempRoot = FileManager.default.temporaryDirectory
    .appendingPathComponent("kuzet-swift-tests-\(getpid())")

/// The connectivity check's configuration: two loopback anchors (domestic, international) on
/// `port`, by TCP connect, named `localhost` (the hosts file): nothing leaves the machine. A port
/// where nothing listens gives a data blackout, as this device would see a shutdown.
func connectivityJson(_ port: UInt16) -> String {
    """
    {"anchors": [
      {"name": "localhost", "group": "domestic", "pinned_ips": ["127.0.0.1"], "port": \(port), "probe": "tcp_connect"},
      {"name": "localhost", "group": "international", "pinned_ips": ["127.0.0.1"], "port": \(port), "probe": "tcp_connect"}
     ], "rechecks": {"count": 0, "delay": 0}, "timeouts": {"dns": 1000, "probe": 1000}}
    """
}

/// Every messaging app's endpoints at one loopback `port`: its TCP endpoints, its web pages and
/// backends over plain http, Telegram's data centre, Facebook's services (expected on
/// 127.0.0.1). A local site makes every app reachable; a closed port blocks every one.
func messagingJson(_ port: UInt16) -> String {
    let url = "http://127.0.0.1:\(port)/"
    let services = ["b_api", "b_graph", "edge", "external_cdn", "scontent_cdn", "star"]
        .map { "{\"service\": \"\($0)\", \"host\": \"127.0.0.1\", \"port\": \(port)}" }
        .joined(separator: ", ")
    return """
    {"whatsapp": {"endpoints": [{"host": "127.0.0.1", "port": \(port)}],
                  "registration_url": "\(url)v2/register", "web_url": "\(url)"},
     "telegram": {"datacenters": ["127.0.0.1:\(port)"], "web_url": "\(url)"},
     "signal": {"urls": ["\(url)"], "dns_only": []},
     "facebook_messenger": {"services": [{"service": "stun", "host": "127.0.0.1"}, \(services)],
                            "expected_networks": ["127.0.0.1/32"]}}
    """
}

let apps = ["whatsapp", "telegram", "signal", "facebook_messenger"]

/// A loopback port that accepts (and closes) connections until closed: anchors that answer. A
/// listener that never accepts would stop answering once its backlog filled up.
final class Anchors: @unchecked Sendable {
    private let listener: Int32
    let port: UInt16

    init() throws {
        (listener, port) = try listenOnLoopback()
        let thread = Thread { [listener] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                Glibc.close(client)
            }
        }
        thread.start()
    }

    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }
}

/// Every engine's anchors for the whole run, so no test ever probes the built-in (public)
/// anchors.
let anchor = try! Anchors()

func config(_ name: String, allowed: [Suite] = [.connectivity, .urls, .web, .messaging, .throttling],
            parallelism: UInt32 = defaultParallelism(), testHelpers: [String] = [],
            anchorPort: UInt16 = anchor.port) -> EngineConfig {
    EngineConfig(
        dataDir: tempRoot.appendingPathComponent(name).path,
        softwareName: "kuzet-swift-tests",
        softwareVersion: "1.0",
        testHelperUrls: testHelpers,
        consent: Consent(uploadAllowed: false, allowedSuites: allowed),
        budgets: DataBudgets(),
        parallelism: parallelism,
        connectivityConfigJson: connectivityJson(anchorPort)
    )
}

func web(_ urls: [String], byteBudget: UInt64? = nil) -> RunRequest {
    RunRequest(suites: [.web], webUrls: urls, byteBudget: byteBudget)
}

/// The median ratio of a throttling verdict, if it has one.
func medianRatio(_ verdict: Verdict) -> Double? {
    guard case .throttling(let throttling) = verdict else { return nil }
    switch throttling {
    case .notThrottled(let ratio), .suspected(let ratio): return ratio
    case .throttled(let ratio, _, _, _): return ratio
    default: return nil
    }
}

/// Equal verdicts; a throttling ratio read back from the store may differ in its last digit.
func checkSameVerdict(_ expected: Verdict, _ actual: Verdict, _ what: String) throws {
    if let a = medianRatio(expected), let b = medianRatio(actual) {
        try check(abs(a - b) <= 1e-12 * abs(a), "\(what): expected <\(expected)>, got <\(actual)>")
        try checkEqual("\(expected)".prefix { $0 != "(" }, "\(actual)".prefix { $0 != "(" }, what)
    } else {
        try checkEqual(expected, actual, what)
    }
}

/// The same word everywhere for every result `recorder` heard: live, in the history, in the
/// measurement the listener was given (its x_ key) and in the one `resultDetail` reads back.
/// Returns the words by target.
@discardableResult
func checkSameWords(_ engine: Engine, _ recorder: Recorder) throws -> [String: String] {
    let history = try engine.resultsHistoryBlocking(offset: 0, limit: 500).items
    var words = [String: String]()
    for live in recorder.results.get() {
        let what = "\(live.target) (\(live.word))"
        guard let stored = history.first(where: { $0.result.measurementId == live.measurementId })?.result else {
            throw TestFailure(description: "\(what) is not in the history")
        }
        try checkEqual(live.word, stored.word, "\(what): word in the history")
        try checkEqual(live.group, stored.group, "\(what): group in the history")
        try checkSameVerdict(live.verdict, stored.verdict, "\(what): verdict in the history")
        try checkEqual(live.explanation, stored.explanation, "\(what): explanation in the history")
        let heard = recorder.measurements.get()[live.measurementId] ?? ""
        try checkEqual(live.word, try xWord(heard), "\(what): x_ word of the live measurement")
        let detail = try engine.resultDetailBlocking(id: live.measurementId)
        try checkEqual(live.word, detail.item.result.word, "\(what): word in the detail")
        try checkEqual(live.word, try xWord(detail.measurementJson), "\(what): x_ word of the stored measurement")
        words[live.target] = live.word
    }
    return words
}

// MARK: - the tests

enum Tests {
    static func versionIsTheLibrarys() throws {
        let version = kuzetVersion()
        try check(version.split(separator: ".").count == 3, "version \(version)")
    }

    /// The records' literal defaults (bindings/src/types.rs, core's DataBudgets) are the
    /// engine's (kuzet_core::engine).
    static func recordDefaultsAreTheEngines() throws {
        try checkEqual(defaultDataBudgets(), DataBudgets(), "DataBudgets() with its defaults")
        let built = EngineConfig(dataDir: "/unused", softwareName: "kuzet-swift-tests", softwareVersion: "1.0",
                                 consent: Consent(uploadAllowed: false, allowedSuites: []), budgets: DataBudgets())
        try checkEqual(defaultParallelism(), built.parallelism, "EngineConfig.parallelism's default")
        try checkEqual(nil, built.connectivityConfigJson, "the built-in anchors by default")
        let request = RunRequest(suites: [.web])
        try checkEqual([], request.webUrls, "RunRequest.webUrls' default")
        try checkEqual(nil, request.byteBudget, "RunRequest.byteBudget's default")
        try checkEqual([], request.throttlingTargets, "RunRequest.throttlingTargets' default")
    }

    static func suitesSayWhatIsAvailable() throws {
        let engine = try Engine(config: config("suites"))
        let suites = engine.availableSuites()
        try checkEqual([Suite.connectivity, .urls, .web, .messaging, .throttling], suites.map { $0.suite }, "suites listed, in order")
        // The urls suite is the command line's; throttling needs a throughput server, which this
        // configuration does not have.
        try checkEqual([Suite.connectivity, .web, .messaging], suites.filter { $0.available }.map { $0.suite }, "available suites")
        try check(suites.allSatisfy { !$0.description.isEmpty }, "every suite has a description")
        let error = try expectKuzetError { _ = try engine.startRun(request: RunRequest(suites: [.urls]), listener: Recorder()) }
        guard case .Unavailable = error, message(error).contains("command line") else {
            throw TestFailure(description: "urls: \(error)")
        }
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
        try checkEqual([], summary.notMeasured, "not measured")
        try checkEqual([], summary.problems, "problems")
        try checkEqual(ConnectivityStatus.ok, summary.network, "the network check before the run")
        try check(summary.startedAt <= Date(), "started at")
        try check(summary.duration > 0, "duration")
        try checkEqual([
            "phase preparing",
            "phase checking network",
            "phase measuring web",
            "result \(urls[0])",
            "progress 1/2",
            "result \(urls[1])",
            "progress 2/2",
            "phase finished",
            "finished completed",
        ], recorder.events.get(), "callback order")
        let page = summary.results[0]
        try checkEqual(Verdict.web(.ok), page.verdict, "verdict of /page")
        try checkEqual("ok", page.word, "word of /page")
        try checkEqual(VerdictGroup.ok, page.group, "group of /page")
        try checkEqual(200, page.statusCode, "status of /page")
        try check(page.bytesReceived > 0, "bytes received")
        try check(page.measuredAt <= Date(), "measured at")
        try check(page.explanation.hasPrefix("127.0.0.1 loaded normally (HTTP 200) in ") && page.explanation.hasSuffix(" s."),
                  "explanation: \(page.explanation)")
        let measurement = try recorder.measurement(of: urls[0])
        try checkEqual("web_connectivity", at(measurement, "test_name") as? String, "test_name")
        try checkEqual(page.measurementId, at(measurement, "id") as? String, "measurement id")
        try checkEqual("ok", at(measurement, "test_keys", "x_verdict", "kind") as? String, "x_verdict")
        try checkEqual("ok", at(measurement, "test_keys", "x_network", "before", "status") as? String, "the check before it")
        try check(isNull(at(measurement, "test_keys"), "control_failure"), "the test helper answered")
        try checkEqual(helper.url, at(measurement, "test_helpers", "backend", "address") as? String, "test helper named")
        try checkEqual("kuzet-swift-tests", at(measurement, "software_name") as? String, "software_name")
        try checkEqual("wifi", at(measurement, "annotations", "network_type") as? String, "network type from the provider")
        // The same 404 from the test helper's network: reachable, not blocked.
        try checkEqual(404, summary.results[1].statusCode, "status of /missing")
        try checkEqual("ok", summary.results[1].word, "word of /missing")
        try checkEqual(summary.results, recorder.results.get(), "results delivered as they landed")
        try checkEqual(1, provider.calls.get(), "network provider calls")
        try check(recorder.progress.get().first?.estimatedTimeLeft != nil, "ETA after the first target")
        try checkEqual(0, recorder.progress.get().last?.estimatedTimeLeft, "ETA at the end")
        try checkEqual(summary.bytesUsed, recorder.progress.get().last?.bytesUsed, "bytes in progress")
        try checkEqual(DataBudgets().runBytes, recorder.progress.get().last?.byteBudget, "byte budget in progress")
        try checkEqual(0, recorder.onMainThread.get(), "callbacks on the main thread")
        try checkEqual(0, engine.activeRuns(), "active runs")
    }

    static func aFailedUrlWithoutAComparisonIsUnclear() throws {
        let engine = try Engine(config: config("unclear"))
        let recorder = Recorder()
        let (url, summary) = try withClosedPort { port in
            let url = "http://127.0.0.1:\(port)/"
            return (url, try engine.runBlocking(request: web([url]), listener: recorder))
        }
        try checkEqual(1, summary.results.count, "results")
        let result = summary.results[0]
        guard case .web(.undetermined(why: _, failed: true)) = result.verdict else {
            throw TestFailure(description: "verdict: \(result.verdict)")
        }
        try checkEqual("undetermined", result.word, "word")
        try checkEqual(VerdictGroup.unclear, result.group, "group")
        try checkEqual("connect", result.failedOperation, "failed operation")
        try checkEqual("connection_refused", result.failure, "failure")
        try checkEqual(
            "127.0.0.1 did not load: the connection was refused while opening a connection. "
                + "No test helper is configured to compare with another network, so this cannot tell blocking from an outage.",
            result.explanation, "explanation")
        // A claim: held until a check after it showed the network worked, then reported.
        try checkEqual(["phase preparing", "phase checking network", "phase measuring web", "phase confirming",
                        "result \(url)", "progress 1/1", "phase finished", "finished completed"],
                       recorder.events.get(), "callback order")
        try checkEqual("ok", at(try recorder.measurement(of: url), "test_keys", "x_network", "after", "status") as? String,
                       "the check after it")
    }

    static func aSiteDownForEveryoneIsDownNotBlocked() throws {
        let helper = try TestHelperServer()
        defer { helper.close() }
        let engine = try Engine(config: config("down", testHelpers: [helper.url]))
        let summary = try withClosedPort { port in
            try engine.runBlocking(request: web(["http://127.0.0.1:\(port)/"]), listener: Recorder())
        }
        let result = summary.results[0]
        try checkEqual(Verdict.web(.siteDown), result.verdict, "verdict")
        try checkEqual("site_down", result.word, "word")
        try checkEqual(VerdictGroup.down, result.group, "group")
        try checkEqual("connection_refused", result.failure, "failure")
        try check(result.explanation.contains("the site seems down for everyone, not blocked here"),
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
        // Plain http with no test helper: it loaded, but nothing proves the page genuine.
        guard let result = summary.results.first, case .web(.undetermined(why: _, failed: false)) = result.verdict else {
            throw TestFailure(description: "verdict: \(summary.results)")
        }
        try checkEqual("undetermined", result.word, "word")
        try checkEqual(VerdictGroup.unverified, result.group, "group")
        try check(result.explanation.contains("cannot confirm it was the site's real page"), "explanation")
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
        try checkEqual(urls.map { NotMeasured(suite: .web, target: $0) }, summary.notMeasured, "not measured, in plan order")
        try waitUntil(2, "the handle to finish") { handle.isFinished() }
        try checkEqual(0, engine.activeRuns(), "active runs after cancel")
        handle.cancel() // idempotent
        usleep(200_000)
        try checkEqual(2, site.slowRequests.get(), "no request started after cancel")
        try checkEqual(["phase finished", "finished cancelled"], Array(recorder.events.get().suffix(2)), "last events")
    }

    /// cancel() keeps what finished: the result that landed is stored, queued for upload and in
    /// the summary; the URLs still loading or not started are listed as not measured.
    static func cancelKeepsWhatFinished() throws {
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("cancel-keeps", parallelism: 2))
        // A known network (Kcell's): measurements wait in the upload queue, not on hold.
        engine.setNetworkProvider(provider: KcellProvider())
        let recorder = Recorder()
        let quick = "\(site.base)/page"
        let slow = (1...3).map { "\(site.base)/slow\($0)" }
        let startedAt = Date()
        let handle = try engine.startRun(request: web([quick] + slow), listener: recorder)
        try waitUntil(10, "the first result") { !recorder.results.get().isEmpty }
        handle.cancel()
        let cancelledAt = Date()
        let summary = try recorder.awaitFinished(10)
        try check(Date().timeIntervalSince(cancelledAt) < 3, "cancel took \(Date().timeIntervalSince(cancelledAt)) s")
        try check(Date().timeIntervalSince(startedAt) < 10,
                  "the run took \(Date().timeIntervalSince(startedAt)) s (the slow pages answer after 30 s)")

        try checkEqual(RunStatus.cancelled, summary.status, "status")
        try checkEqual([quick], summary.results.map { $0.target }, "the finished result")
        let finished = summary.results[0]
        try checkEqual(recorder.results.get(), summary.results, "the summary keeps what the listener heard")
        try checkEqual(slow.map { NotMeasured(suite: .web, target: $0) }, summary.notMeasured, "not measured")

        let stored = try engine.resultsHistoryBlocking(offset: 0, limit: 10).items
        try checkEqual([finished.measurementId], stored.map { $0.result.measurementId }, "stored results")
        try checkEqual(finished.word, stored[0].result.word, "the stored word")
        try checkEqual(finished.group, stored[0].result.group, "the stored group")
        try checkEqual(UploadState.queued, stored[0].uploadState, "its upload state")
        let queued = try engine.pendingUploadsBlocking().first { $0.measurementId == finished.measurementId }
        try checkEqual(UploadState.queued, queued?.state, "in the upload queue")
        try checkEqual(finished.word, try xWord(try engine.resultDetailBlocking(id: finished.measurementId).measurementJson),
                       "the stored measurement's word")
        try checkEqual(verdictWord(verdict: finished.verdict), finished.word, "the verdict's word")
        try checkEqual(verdictGroup(verdict: finished.verdict), finished.group, "the verdict's group")

        // Listed as a past run: cancelled, its one result, the rest not measured.
        let past = try engine.pastRunsBlocking(limit: 10)
        try checkEqual(1, past.count, "past runs")
        try checkEqual(RunStatus.cancelled, past[0].status, "the past run's status")
        try checkEqual([Suite.web], past[0].suites, "the past run's suites")
        try checkEqual(UInt64(1), past[0].results, "the past run's results")
        try checkEqual([GroupCount(group: finished.group, count: 1)], past[0].groups, "the past run's groups")
        try checkEqual(summary.notMeasured, past[0].notMeasured, "the past run's not measured")
        try checkEqual(past[0].run, stored[0].run, "the result's run")
        try waitUntil(2, "no active run") { engine.activeRuns() == 0 }
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
        let summary = try engine.runBlocking(request: web([big, "\(big)?2", "\(big)?3"], byteBudget: 5000), listener: Recorder())
        try checkEqual(RunStatus.budgetExhausted, summary.status, "status")
        try checkEqual([big], summary.results.map { $0.target }, "results")
        try checkEqual(["\(big)?2", "\(big)?3"].map { NotMeasured(suite: .web, target: $0) }, summary.notMeasured, "not measured")
    }

    /// A blocking call from inside a listener callback (one of Kuzet's threads) is refused, not
    /// a deadlock.
    static func blockingFormsAreRefusedInsideCallbacks() throws {
        final class Calling: RunListener, @unchecked Sendable {
            let engine: Engine
            let answers = Locked([String]())
            init(_ engine: Engine) { self.engine = engine }
            func onPhase(phase: RunPhase) {}
            func onTargetResult(result: TargetResult, measurementJson: String) {
                do {
                    _ = try engine.resultsHistoryBlocking(offset: 0, limit: 10)
                    answers.update { $0.append("allowed") }
                } catch let error as KuzetError {
                    answers.update { $0.append(message(error)) }
                } catch {
                    answers.update { $0.append("\(error)") }
                }
            }
            func onProgress(progress: RunProgress) {}
            func onFinished(summary: RunSummary) {}
        }
        let site = try LocalSite()
        defer { site.close() }
        let engine = try Engine(config: config("blocking-inside"))
        let listener = Calling(engine)
        let summary = try engine.runBlocking(request: web(["\(site.base)/"]), listener: listener)
        try checkEqual(RunStatus.completed, summary.status, "status")
        try checkEqual(1, listener.answers.get().count, "one callback")
        try check(listener.answers.get()[0].contains("use the async form"), "answer: \(listener.answers.get())")
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
        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.parallelism = 0 }) }
        guard case .InvalidInput = error, message(error).contains("parallelism 0") else {
            throw TestFailure(description: "parallelism: \(error)")
        }
        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.backgroundSampleUrls = ["ftp://x.example/"] }) }
        guard case .InvalidInput = error, message(error).contains("ftp") else {
            throw TestFailure(description: "sample URLs: \(error)")
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
        error = try expectKuzetError { _ = try Engine(config: badConfig { $0.connectivityConfigJson = "{\"anchors\": []}" }) }
        guard case .InvalidInput = error, message(error).hasPrefix("connectivity configuration:") else {
            throw TestFailure(description: "bad connectivity configuration: \(error)")
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
        error = try expectKuzetError { _ = try engine.startRun(request: web(["https://example.org/"], byteBudget: 0), listener: listener) }
        guard case .InvalidInput = error, message(error).contains("byte budget") else {
            throw TestFailure(description: "zero budget: \(error)")
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
            try checkEqual(ConnectivityStatus.ok, summary.connectivity, "connectivity")
            try checkEqual(TimeInterval(6 * 60 * 60), summary.nextRunIn, "next run in")
        }
        // The first check starts the timeline; the second finds the same state.
        try checkEqual(true, metered.timelineChanged, "first state")
        try checkEqual(false, wifi.timelineChanged, "same state")
        // No tests on a metered network; three on Wi-Fi.
        try checkEqual(UInt32(0), metered.testsRun, "tests on mobile data")
        try checkEqual(UInt32(3), wifi.testsRun, "tests on Wi-Fi")
        try check(wifi.bytesUsed > 0, "bytes used by the tests")
        let sampled = try engine.resultsHistoryBlocking(offset: 0, limit: 20).items
        try checkEqual(3, sampled.count, "sampled results")
        try check(sampled.allSatisfy { cfg.backgroundSampleUrls.contains($0.result.target) }, "sampled from the list: \(sampled)")
        // The network is unknown here (AS0/ZZ): everything is held on the device, not waiting
        // for upload.
        try checkEqual(UInt32(0), wifi.pending, "pending")
        let held = try engine.pendingUploadsBlocking()
        try checkEqual(4, held.count, "held: the first state and the three tests")
        try check(held.allSatisfy { $0.state == .held }, "\(held)")
        // Airplane mode, as the platform reports it: the device's own state, no probing.
        let airplane = try engine.backgroundCycleBlocking(request: BackgroundRequest(
            timeBudget: 30, network: NetworkContext(kind: .offline, inService: false, airplaneMode: true)))
        try checkEqual(ConnectivityStatus.localDevice, airplane.connectivity, "airplane mode")
        try checkEqual(UInt32(0), airplane.testsRun, "tests in airplane mode")
    }

    static func theConnectivitySuiteAndTheTimeline() async throws {
        let local = try Anchors()
        let engine = try Engine(config: config("connectivity", anchorPort: local.port))
        engine.setNetworkProvider(provider: KcellProvider())
        let recorder = Recorder()
        let summary = try engine.runBlocking(request: RunRequest(suites: [.connectivity]), listener: recorder)
        try checkEqual(["phase preparing", "phase checking network", "result connectivity", "progress 1/1",
                        "phase finished", "finished completed"], recorder.events.get(), "callback order")
        let ok = summary.results[0]
        try checkEqual(Verdict.connectivity(.ok), ok.verdict, "verdict")
        try checkEqual("ok", ok.word, "word")
        try checkEqual(VerdictGroup.ok, ok.group, "group")
        try checkEqual(ConnectivityStatus.ok, summary.network, "the run's network")
        try check(ok.explanation.contains("reached domestic and international hosts"), ok.explanation)
        let measurement = try recorder.measurement(of: "connectivity")
        try checkEqual("kuzet_connectivity", at(measurement, "test_name") as? String, "measurement")
        try checkEqual("AS29355", at(measurement, "probe_asn") as? String, "ASN")
        try checkEqual("ok", at(measurement, "test_keys", "x_status") as? String, "x_status")

        // The anchors go away: a data blackout, as this device sees it.
        local.close()
        let blackoutRecorder = Recorder()
        let blackout = try await engine.run(request: RunRequest(suites: [.connectivity]), listener: blackoutRecorder).results[0]
        try checkEqual(Verdict.connectivity(.dataBlackout), blackout.verdict, "verdict in a blackout")
        try checkEqual("data_blackout", blackout.word, "word in a blackout")
        try checkEqual(VerdictGroup.networkDisrupted, blackout.group, "group in a blackout")
        try check(blackout.explanation.contains("no domestic or international host answered"), blackout.explanation)
        try checkEqual(["connectivity": "data_blackout"], try checkSameWords(engine, blackoutRecorder), "words")

        let timeline = try engine.connectivityTimelineBlocking(since: Date(timeIntervalSince1970: 0))
        try checkEqual([ConnectivityStatus.ok, .dataBlackout], timeline.map { $0.state }, "timeline")
        try check(timeline.allSatisfy { $0.network == .cellular }, "\(timeline)")
        try checkEqual(blackout.explanation, timeline.last?.explanation, "timeline explanation")
        try checkEqual(timeline, try await engine.connectivityTimeline(since: Date(timeIntervalSince1970: 0)), "async timeline")
        try checkEqual(0, try engine.connectivityTimelineBlocking(since: Date().addingTimeInterval(60)).count, "since later")
        let history = try engine.resultsHistoryBlocking(offset: 0, limit: 10).items
        try checkEqual(["data_blackout", "ok"], history.map { $0.result.word }, "history words, newest first")
        try check(history.allSatisfy { if case .connectivity = $0.result.verdict { return true } else { return false } },
                  "history suites")
    }

    static func theMessagingSuiteAgainstLoopbackEndpoints() throws {
        let site = try LocalSite()
        defer { site.close() }
        var cfg = config("messaging")
        cfg.messagingEndpointsJson = messagingJson(site.port)
        let engine = try Engine(config: cfg)
        let recorder = Recorder()
        let summary = try engine.runBlocking(request: RunRequest(suites: [.messaging]), listener: recorder)
        try checkEqual(RunStatus.completed, summary.status, "status")
        try checkEqual(apps, summary.results.map { $0.target }, "every app, in order")
        for result in summary.results {
            guard case .messaging(.ok) = result.verdict else {
                throw TestFailure(description: "\(result.target): \(result.verdict) \(result.explanation)")
            }
            try checkEqual("ok", result.word, "\(result.target): word")
            try checkEqual(VerdictGroup.ok, result.group, "\(result.target): group")
            try checkEqual(result.target, at(try recorder.measurement(of: result.target), "test_name") as? String, "test name")
        }

        // Every endpoint at a closed port: every app blocked, confirmed by a check after it.
        try withClosedPort { closedPort in
            var blockedConfig = config("messaging-blocked")
            blockedConfig.messagingEndpointsJson = messagingJson(closedPort)
            let blockedEngine = try Engine(config: blockedConfig)
            let blockedRecorder = Recorder()
            let blocked = try blockedEngine.runBlocking(request: RunRequest(suites: [.messaging]), listener: blockedRecorder)
            try checkEqual(Set(apps), Set(blocked.results.map { $0.target }), "every app")
            for result in blocked.results {
                guard case .messaging(.blocked) = result.verdict else {
                    throw TestFailure(description: "\(result.target): \(result.verdict)")
                }
                try checkEqual("blocked", result.word, "\(result.target): word")
                try checkEqual(VerdictGroup.blocked, result.group, "\(result.target): group")
                try checkEqual("ok", at(try blockedRecorder.measurement(of: result.target), "test_keys", "x_network", "after", "status") as? String,
                               "confirmed")
            }
            try check(blockedRecorder.events.get().contains("phase confirming"), "the claims were confirmed: \(blockedRecorder.events.get())")
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
        try checkEqual("www.example.org", result.target, "target")
        guard case .throttling = result.verdict else { throw TestFailure(description: "verdict: \(result.verdict)") }
        // On loopback nothing slows one name down; the exact word depends on timing noise.
        try check(["not_throttled", "suspected", "inconclusive"].contains(result.word), "\(result.word): \(result.explanation)")
        try check([VerdictGroup.ok, .unclear, .unverified].contains(result.group), "group \(result.group)")
        try check(result.bytesReceived > 0, "bytes")
        try check(!result.explanation.isEmpty, "explanation")
        try checkEqual("kuzet_throttling", at(try recorder.measurement(of: "www.example.org"), "test_name") as? String, "measurement")
        let events = recorder.events.get()
        for event in ["phase preparing", "phase checking network", "phase measuring throttling", "result www.example.org",
                      "progress 1/1", "phase finished", "finished completed"] {
            try check(events.contains(event), "\(event) in \(events)")
        }
        try checkEqual(["www.example.org": result.word], try checkSameWords(engine, recorder), "words")

        // A pin that is not the server's: one result, inconclusive, kept; the suite stops and
        // says why; the other targets are not measured.
        var wrongPin = cfg
        wrongPin.dataDir = tempRoot.appendingPathComponent("throttling-pin").path
        wrongPin.throughputPin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        let wrong = try Engine(config: wrongPin)
        let wrongRecorder = Recorder()
        let refused = try wrong.runBlocking(
            request: RunRequest(suites: [.throttling], throttlingTargets: ["a.example", "b.example"]), listener: wrongRecorder)
        try checkEqual(["a.example"], refused.results.map { $0.target }, "one result")
        guard case .throttling(.inconclusive) = refused.results[0].verdict else {
            throw TestFailure(description: "verdict with a wrong pin: \(refused.results[0].verdict)")
        }
        try checkEqual("inconclusive", refused.results[0].word, "word with a wrong pin")
        try checkEqual(VerdictGroup.unverified, refused.results[0].group, "group with a wrong pin")
        try check(refused.results[0].explanation.contains("another key"), refused.results[0].explanation)
        try checkEqual([NotMeasured(suite: .throttling, target: "b.example")], refused.notMeasured, "not measured")
        try check(refused.problems.count == 1 && refused.problems[0].contains("another key"), "problems: \(refused.problems)")
        try checkEqual(["a.example": "inconclusive"], try checkSameWords(wrong, wrongRecorder), "kept with its word")

        // A throughput server that does not answer: the same.
        try withClosedPort { closedPort in
            var down = cfg
            down.dataDir = tempRoot.appendingPathComponent("throttling-down").path
            down.throughputServer = "127.0.0.1:\(closedPort)"
            let downEngine = try Engine(config: down)
            let downSummary = try downEngine.runBlocking(
                request: RunRequest(suites: [.throttling], throttlingTargets: ["a.example", "b.example"]), listener: Recorder())
            try checkEqual(["inconclusive"], downSummary.results.map { $0.word }, "one inconclusive result")
            try checkEqual([NotMeasured(suite: .throttling, target: "b.example")], downSummary.notMeasured, "not measured")
            try checkEqual(1, downSummary.problems.count, "problems: \(downSummary.problems)")
            try checkEqual(1, try downEngine.resultsHistoryBlocking(offset: 0, limit: 10).items.count, "stored")
        }
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
        let zero = try expectKuzetError { _ = try engine.resultsHistoryBlocking(offset: 0, limit: 0) }
        guard case .InvalidInput = zero else { throw TestFailure(description: "resultsHistory: \(zero)") }
        let missingAsync = try await expectKuzetErrorAsync { _ = try await engine.resultDetail(id: "some-id") }
        guard case .InvalidInput = missingAsync else { throw TestFailure(description: "async resultDetail: \(missingAsync)") }
        let badPage = try await expectKuzetErrorAsync { _ = try await engine.resultsHistory(offset: 0, limit: 501) }
        guard case .InvalidInput = badPage else { throw TestFailure(description: "async resultsHistory: \(badPage)") }

        let summary = try engine.runBlocking(request: web(["\(site.base)/", "\(site.base)/page"]), listener: Recorder())
        try checkEqual(2, summary.results.count, "results")

        let page = try engine.resultsHistoryBlocking(offset: 0, limit: 1)
        try checkEqual(1, page.items.count, "first page")
        try checkEqual(UInt32(1), page.nextOffset, "next offset")
        try checkEqual(nil, try engine.resultsHistoryBlocking(offset: 1, limit: 1).nextOffset, "second and last page")
        let all = try engine.resultsHistoryBlocking(offset: 0, limit: 20)
        try checkEqual(2, all.items.count, "history after a run")
        try checkEqual(nil, all.nextOffset, "last page")
        try checkEqual(Array(summary.results.map { $0.measurementId }.reversed()), all.items.map { $0.result.measurementId },
                       "newest first")
        let item = all.items[0]
        let live = summary.results[1]
        // The history keeps the run's own words.
        try checkEqual(live.verdict, item.result.verdict, "verdict")
        try checkEqual(live.word, item.result.word, "word")
        try checkEqual(live.group, item.result.group, "group")
        try checkEqual(live.explanation, item.result.explanation, "explanation")
        try checkEqual(live.target, item.result.target, "target")
        try checkEqual(live.statusCode, item.result.statusCode, "status code")
        try checkEqual(live.bytesReceived, item.result.bytesReceived, "bytes")
        // When it was measured, as the store's clock saw it (within the time it took to store).
        try check(abs(live.measuredAt.timeIntervalSince(item.result.measuredAt)) < 2,
                  "measured at: \(live.measuredAt) live, \(item.result.measuredAt) stored")
        // The probe's network is unknown (AS0/ZZ): kept on the device, not uploaded.
        try checkEqual(UploadState.held, item.uploadState, "upload state")

        let detail = try engine.resultDetailBlocking(id: item.result.measurementId)
        try checkEqual(item, detail.item, "detail's item")
        try check(detail.item.result.explanation.contains("loaded (HTTP 200)"), detail.item.result.explanation)
        try checkEqual(item.result.measurementId, at(try parseJson(detail.measurementJson), "id") as? String, "the measurement's id")

        // The run's own network check is kept too (the user allows the connectivity suite): the
        // timeline's first state, held with the results.
        let pending = try engine.pendingUploadsBlocking()
        try check(Set(all.items.map { $0.result.measurementId }).isSubset(of: Set(pending.map { $0.measurementId })),
                  "pending: \(pending)")
        try checkEqual(3, pending.count, "pending: two results and the network check")
        try check(pending.allSatisfy { $0.state == .held && $0.lastError == nil && $0.attempts == 0 }, "\(pending)")
        let timeline = try engine.connectivityTimelineBlocking(since: Date(timeIntervalSince1970: 0))
        try checkEqual([ConnectivityStatus.ok], timeline.map { $0.state }, "timeline")

        try checkEqual(summary.results.reduce(0) { $0 + $1.bytesReceived }, try engine.dataUsedThisMonthBlocking().bytesUsed,
                       "bytes this month")
        try checkEqual(DataBudgets().monthlyBytes, try engine.dataUsedThisMonthBlocking().monthlyBudget, "monthly budget")

        // The async forms read the same store off the caller's thread.
        try checkEqual(all, try await engine.resultsHistory(offset: 0, limit: 20), "async history")
        try checkEqual(detail, try await engine.resultDetail(id: item.result.measurementId), "async detail")
        try checkEqual(pending, try await engine.pendingUploads(), "async pending uploads")
        try checkEqual(timeline, try await engine.connectivityTimeline(since: Date(timeIntervalSince1970: 0)), "async timeline")
        try checkEqual(try engine.dataUsedThisMonthBlocking(), try await engine.dataUsedThisMonth(), "async data used")
        try await engine.wipe()
        try checkEqual(0, try await engine.resultsHistory(offset: 0, limit: 20).items.count, "history after wipe")
        try checkEqual(0, try await engine.pendingUploads().count, "pending after wipe")
        try checkEqual(0, try await engine.connectivityTimeline(since: Date(timeIntervalSince1970: 0)).count, "timeline after wipe")
    }

    /// The same word live, in the history and in every measurement's x_ key, for every suite.
    static func theSameWordsEverywhere() throws {
        let site = try LocalSite()
        defer { site.close() }
        let helper = try TestHelperServer()
        defer { helper.close() }
        let server = try ThroughputServerProcess()
        defer { server.close() }
        try withClosedPort { closedPort in
            let dead = "http://127.0.0.1:\(closedPort)/"
            var cfg = config("words", testHelpers: [helper.url])
            cfg.messagingEndpointsJson = messagingJson(site.port)
            cfg.throughputServer = server.addr
            cfg.throughputPin = server.pin
            let engine = try Engine(config: cfg)
            let recorder = Recorder()
            let summary = try engine.runBlocking(
                request: RunRequest(suites: [.connectivity, .web, .messaging, .throttling],
                                    webUrls: ["\(site.base)/page", dead], throttlingTargets: ["www.example.org"]),
                listener: recorder)
            try checkEqual(RunStatus.completed, summary.status, "status")
            let words = try checkSameWords(engine, recorder)
            try checkEqual("ok", words["connectivity"], "connectivity")
            try checkEqual("ok", words["\(site.base)/page"], "a page that loads")
            try checkEqual("site_down", words[dead], "a site down for everyone")
            for app in apps { try checkEqual("ok", words[app], app) }
            try check(["not_throttled", "suspected", "inconclusive"].contains(words["www.example.org"] ?? ""), "throttling: \(words)")
            try checkEqual(1 + 2 + apps.count + 1, words.count, "every result")
        }
        // Claims: blocked apps.
        try withClosedPort { closedPort in
            var cfg = config("words-blocked")
            cfg.messagingEndpointsJson = messagingJson(closedPort)
            let engine = try Engine(config: cfg)
            let recorder = Recorder()
            _ = try engine.runBlocking(request: RunRequest(suites: [.messaging]), listener: recorder)
            try checkEqual(Dictionary(uniqueKeysWithValues: apps.map { ($0, "blocked") }), try checkSameWords(engine, recorder),
                           "blocked apps")
        }
    }

    /// With no way out (the anchors do not answer: a data blackout, as in a shutdown), a
    /// failure says nothing about the target: `unreachable`, never blocked.
    static func honestInAShutdown() throws {
        try withClosedPort { deadAnchors in
            try withClosedPort { closedPort in
                let url = "http://127.0.0.1:\(closedPort)/"
                var cfg = config("shutdown", anchorPort: deadAnchors)
                cfg.messagingEndpointsJson = messagingJson(closedPort)
                let engine = try Engine(config: cfg)
                let recorder = Recorder()
                let summary = try engine.runBlocking(
                    request: RunRequest(suites: [.web, .messaging], webUrls: [url]), listener: recorder)
                try checkEqual(ConnectivityStatus.dataBlackout, summary.network, "the network check before the run")
                try checkEqual(1 + apps.count, summary.results.count, "results")
                for result in summary.results {
                    try checkEqual("unreachable", result.word, "\(result.target): word")
                    try checkEqual(VerdictGroup.unreachable, result.group, "\(result.target): group")
                    try check(result.group != .blocked, "\(result.target) called blocked in a shutdown")
                    try check(result.explanation.contains("no domestic or international host answered"), result.explanation)
                }
                guard let page = summary.results.first(where: { $0.target == url }) else {
                    throw TestFailure(description: "no result for \(url)")
                }
                try checkEqual(Verdict.web(.unreachable(network: .dataBlackout)), page.verdict, "web verdict")
                let measurement = try recorder.measurement(of: url)
                try checkEqual("data_blackout", at(measurement, "test_keys", "x_network", "before", "status") as? String,
                               "x_network.before")
                try checkEqual("unreachable", at(measurement, "test_keys", "x_verdict", "kind") as? String, "x_verdict.kind")
                try checkEqual("undetermined", at(measurement, "test_keys", "x_network", "verdict_without_network") as? String,
                               "what it would have been")
                let stored = try parseJson(try engine.resultDetailBlocking(id: page.measurementId).measurementJson)
                try checkEqual("data_blackout", at(stored, "test_keys", "x_network", "before", "status") as? String,
                               "stored x_network.before")
                try checkEqual("unreachable", at(stored, "test_keys", "x_verdict", "kind") as? String, "stored x_verdict.kind")
                for app in apps {
                    try checkEqual(Verdict.messaging(.unreachable(network: .dataBlackout)),
                                   summary.results.first { $0.target == app }?.verdict, "\(app): verdict")
                }
                try checkSameWords(engine, recorder)
            }
        }
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
        // The network is named from the MCC-MNC: the measurements wait in the queue (the two
        // results and the run's network check, the timeline's first state).
        let queued = try engine.pendingUploadsBlocking()
        try checkEqual(3, queued.count, "queued")
        try check(queued.allSatisfy { $0.state == .queued }, "queued: \(queued)")
        let cycle = try await engine.backgroundCycle(request: BackgroundRequest(timeBudget: 30, network: kcell.currentNetwork()))
        try checkEqual(UInt32(3), cycle.uploaded, "uploaded")
        try checkEqual(true, cycle.connectivityChecked, "connectivity checked")
        try checkEqual(false, cycle.timelineChanged, "the same state as the run's check")
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
        // Each submission is {"format": "json", "content": <the measurement>}.
        let measurement = at(try parseJson(plain), "content")
        try checkEqual("Kcell JSC", at(measurement, "probe_network_name") as? String, "network name")
        try checkEqual("127.0.0.1", at(measurement, "probe_ip") as? String, "probe_ip is OONI's placeholder")
        try checkEqual("web_connectivity", at(measurement, "test_name") as? String, "test name")
        try checkEqual("mobile", at(measurement, "annotations", "network_type") as? String, "network type")
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
        try check(lines.contains { $0.hasPrefix("info kuzet_core::session run started") }, "lines: \(lines)")
        try check(lines.contains { $0.hasPrefix("info kuzet_core::session run finished") && $0.contains("status=completed") },
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
            ("a failed URL without a comparison is unclear", Tests.aFailedUrlWithoutAComparisonIsUnclear),
            ("a site down for everyone is down, not blocked", Tests.aSiteDownForEveryoneIsDownNotBlocked),
            ("async run returns the summary", Tests.asyncRunReturnsTheSummary),
            ("blocking run returns the summary", Tests.blockingRunReturnsTheSummary),
            ("cancelling a running test stops it at once", Tests.cancellingARunningTestStopsItAtOnce),
            ("cancel() keeps what finished", Tests.cancelKeepsWhatFinished),
            ("cancelling a Swift task cancels the run", Tests.cancellingASwiftTaskCancelsTheRun),
            ("releasing the handle cancels the run", Tests.droppingTheHandleCancelsTheRun),
            ("the byte budget stops new targets", Tests.theByteBudgetStopsNewTargets),
            ("blocking forms are refused inside callbacks", Tests.blockingFormsAreRefusedInsideCallbacks),
            ("errors are cases with useful messages", Tests.errorsAreCasesWithUsefulMessages),
            ("a background cycle without a collector checks and samples", Tests.aBackgroundCycleWithoutACollectorChecksAndSamples),
            ("the connectivity suite and the timeline", Tests.theConnectivitySuiteAndTheTimeline),
            ("the messaging suite against loopback endpoints", Tests.theMessagingSuiteAgainstLoopbackEndpoints),
            ("the throttling suite against the throughput server", Tests.theThrottlingSuiteAgainstTheThroughputServer),
            ("the same words everywhere", Tests.theSameWordsEverywhere),
            ("honest in a shutdown", Tests.honestInAShutdown),
            ("history, pending uploads and data use follow a run", Tests.historyPendingUploadsAndDataUseFollowARun),
            ("a background cycle flushes the queue to a local collector", Tests.aBackgroundCycleFlushesTheQueueToALocalCollector),
            ("wipe empties the data directory", Tests.wipeEmptiesTheDataDirectory),
            ("uploader can be set and cleared", Tests.uploaderCanBeSetAndCleared),
            ("logger receives run lines", Tests.loggerReceivesRunLines),
            ("panics surface as errors", Tests.panicsSurfaceAsErrors),
        ]
        try? FileManager.default.createDirectory(at: tempRoot, withIntermediateDirectories: true)
        let only = ProcessInfo.processInfo.environment["KUZET_TEST_ONLY"]
        var passed = 0
        var failed = 0
        for (name, test) in tests {
            if let only, !only.isEmpty, !name.contains(only) { continue }
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
