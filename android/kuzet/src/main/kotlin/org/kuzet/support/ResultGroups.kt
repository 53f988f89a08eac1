// Plain Kotlin: a run's results grouped by verdict, problems first, with plain-words titles.

package org.kuzet.support

import org.kuzet.TargetResult
import org.kuzet.Verdict

/** The results with one verdict. */
data class VerdictGroup(
    /** The verdict. */
    val verdict: Verdict,
    /** Its title in plain words, e.g. `Blocked`. */
    val title: String,
    /** What it means, one sentence. */
    val meaning: String,
    /** The results, in the order they arrived. */
    val results: List<TargetResult>,
)

/** Groups results for the "Test now" and history screens. */
object ResultGroups {
    private data class Words(val title: String, val meaning: String)

    private val WORDS: Map<Verdict, Words> = mapOf(
        Verdict.BLOCKED to Words("Blocked", "Confirmed against a measurement from outside your network."),
        Verdict.ANOMALY to Words("Could not tell", "Something failed, but nothing could tell blocking from an outage."),
        Verdict.DOWN to Words("Down for everyone", "It failed the same way from outside your network."),
        Verdict.UNDETERMINED to Words("Loaded, not verified", "It loaded, with nothing to compare it with."),
        Verdict.ACCESSIBLE to Words("Accessible", "It worked as expected."),
    )

    /** Problems first, then the unclear, then what worked. */
    private val ORDER: List<Verdict> =
        listOf(Verdict.BLOCKED, Verdict.ANOMALY, Verdict.DOWN, Verdict.UNDETERMINED, Verdict.ACCESSIBLE)

    /** The title of a verdict (its name, for a verdict this version does not know). */
    fun title(verdict: Verdict): String = WORDS[verdict]?.title ?: verdict.name.lowercase().replace('_', ' ')

    /** Non-empty groups, [ORDER] first and any other verdict after, in enum order. */
    fun group(results: List<TargetResult>): List<VerdictGroup> {
        val byVerdict = results.groupBy { it.verdict }
        val order = ORDER + Verdict.entries.filter { it !in ORDER }
        return order.mapNotNull { verdict ->
            byVerdict[verdict]?.let { list ->
                VerdictGroup(verdict, title(verdict), WORDS[verdict]?.meaning ?: "", list)
            }
        }
    }

    /** One line for a notification or a header: `2 blocked · 1 could not tell · 9 accessible`. */
    fun summaryLine(groups: List<VerdictGroup>): String =
        if (groups.isEmpty()) "no results" else groups.joinToString(" · ") { "${it.results.size} ${it.title.lowercase()}" }
}
