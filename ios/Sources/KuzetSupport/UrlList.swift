// Plain Swift: the websites the user tests, as typed in settings (one per line).

import Foundation

/// Parses and defaults the "websites to test" list.
public enum UrlList {
    /// A few sites from Citizen Lab's Kazakhstan list (news, human rights), the starting list.
    public static let defaults = [
        "https://adilsoz.kz/",
        "https://medianet.ngo/",
        "https://www.minber.kz/",
        "https://www.dialog.kz/",
        "http://ajur.kz/",
    ]

    /// The most URLs one "test now" run takes from the list.
    public static let max = 100

    /// One URL per line: blank lines and `#` comments skipped, space trimmed, a bare host gets
    /// `https://`, anything but http(s) dropped, duplicates dropped, at most `max`. The engine
    /// validates each URL again.
    public static func parse(_ text: String) -> [String] {
        var seen = Set<String>()
        var urls: [String] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let url = line.contains("://") ? line : "https://\(line)"
            let lower = url.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"),
                  let range = url.range(of: "://"), url[range.upperBound...].count > 0,
                  !url.contains(where: \.isWhitespace) else { continue }
            if seen.insert(url).inserted { urls.append(url) }
            if urls.count == max { break }
        }
        return urls
    }
}
