import Foundation
import Kuzet

/// Uploads through URLSession, so uploads follow the system's rules (Low Data Mode, cellular
/// settings). The bindings call it on one of Kuzet's worker threads and wait for the answer (the
/// collector's reply is needed before the next request), so it blocks on a semaphore. A
/// *background* URLSession would hand the answer to a delegate, possibly after a relaunch, which
/// the synchronous `Uploader` contract cannot wait for: uploads that must survive suspension are
/// left in Kuzet's outbox for the next background task instead.
final class SessionUploader: Uploader, @unchecked Sendable {
    private let session: URLSession

    init() {
        let config = URLSessionConfiguration.ephemeral
        config.allowsConstrainedNetworkAccess = false
        config.waitsForConnectivity = false
        config.timeoutIntervalForRequest = 30
        config.timeoutIntervalForResource = 60
        config.httpCookieStorage = nil
        config.urlCache = nil
        session = URLSession(configuration: config)
    }

    func upload(request: UploadRequest) -> UploadOutcome {
        guard let url = URL(string: request.url) else {
            return .failed(message: "not a URL: \(request.url)")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        urlRequest.setValue(request.contentType, forHTTPHeaderField: "Content-Type")
        let done = DispatchSemaphore(value: 0)
        let box = OutcomeBox()
        let task = session.uploadTask(with: urlRequest, from: request.body) { data, response, error in
            if let http = response as? HTTPURLResponse {
                box.outcome = .response(status: UInt16(clamping: http.statusCode), body: data ?? Data())
            } else {
                box.outcome = .failed(message: error?.localizedDescription ?? "no response")
            }
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + 90) == .timedOut {
            task.cancel()
            return .failed(message: "the upload timed out")
        }
        return box.outcome ?? .failed(message: "no response")
    }
}

/// The completion handler's result, handed across threads under the semaphore.
private final class OutcomeBox: @unchecked Sendable {
    var outcome: UploadOutcome?
}
