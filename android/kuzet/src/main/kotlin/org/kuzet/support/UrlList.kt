// Plain Kotlin: the websites the user tests, as typed in settings (one per line).

package org.kuzet.support

/** Parses and defaults the "websites to test" list. */
object UrlList {
    /** A few sites from Citizen Lab's Kazakhstan list (news, human rights), the starting list. */
    val DEFAULT: List<String> = listOf(
        "https://adilsoz.kz/",
        "https://medianet.ngo/",
        "https://www.minber.kz/",
        "https://www.dialog.kz/",
        "http://ajur.kz/",
    )

    /** The most URLs one "test now" run takes from the list. */
    const val MAX = 100

    /**
     * One URL per line: blank lines and `#` comments skipped, surrounding space trimmed, a bare
     * host gets `https://`, anything but http(s) dropped, duplicates dropped, at most [MAX].
     * The engine validates each URL again.
     */
    fun parse(text: String): List<String> = text.lineSequence()
        .map { it.trim() }
        .filter { it.isNotEmpty() && !it.startsWith("#") }
        .map { if ("://" in it) it else "https://$it" }
        .filter { url ->
            val lower = url.lowercase()
            (lower.startsWith("http://") || lower.startsWith("https://")) && url.length > url.indexOf("://") + 3 && url.none { it.isWhitespace() }
        }
        .distinct()
        .take(MAX)
        .toList()
}
