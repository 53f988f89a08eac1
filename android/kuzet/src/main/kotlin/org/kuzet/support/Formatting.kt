// Plain Kotlin: numbers and durations as the screens show them.

package org.kuzet.support

import java.time.Duration
import java.util.Locale

/** Formats sizes and durations for people. */
object Formatting {
    private val UNITS = listOf("kB", "MB", "GB", "TB")

    /** Bytes in decimal units, as Android's own settings show data: `512 B`, `1.5 kB`, `12 MB`. */
    fun bytes(count: ULong): String {
        if (count < 1000uL) return "$count B"
        var value = count.toDouble() / 1000.0
        var unit = 0
        while (value >= 999.95 && unit < UNITS.size - 1) {
            value /= 1000.0
            unit++
        }
        val text = if (value < 10.0) String.format(Locale.ROOT, "%.1f", value) else String.format(Locale.ROOT, "%.0f", value)
        return "$text ${UNITS[unit]}"
    }

    /** A duration, rounded: `0 s`, `42 s`, `3 min`, `1 h 05 min`. Negative counts as zero. */
    fun duration(d: Duration): String {
        val seconds = if (d.isNegative) 0L else (d.toMillis() + 500) / 1000
        return when {
            seconds < 60 -> "$seconds s"
            seconds < 3600 -> "${(seconds + 30) / 60} min"
            else -> {
                val minutes = (seconds + 30) / 60
                String.format(Locale.ROOT, "%d h %02d min", minutes / 60, minutes % 60)
            }
        }
    }

    /** The progress line's time estimate: `about 3 min left`, or `estimating time left` before the first result. */
    fun timeLeft(estimate: Duration?): String =
        if (estimate == null) "estimating time left" else "about ${duration(estimate)} left"

    /** [used] as a whole percentage of [budget], 0 to 100 (100 for a zero budget that is used). */
    fun percentOf(used: ULong, budget: ULong): Int = when {
        budget == 0uL -> if (used == 0uL) 0 else 100
        used >= budget -> 100
        else -> (used.toDouble() * 100.0 / budget.toDouble()).toInt()
    }
}
