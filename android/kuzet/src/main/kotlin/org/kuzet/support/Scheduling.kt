// Plain Kotlin: when the next background cycle runs, and how long one may take. The worker only
// asks these functions and hands the answer to WorkManager.

package org.kuzet.support

import java.time.Duration
import kotlin.random.Random

/** Bounds for background cycles (WorkManager on Android). */
object BackgroundSchedule {
    /** The shortest delay between cycles: WorkManager's minimum periodic interval. */
    val MIN_DELAY: Duration = Duration.ofMinutes(15)

    /** The longest: a day, so a long shutdown still gets a daily check. */
    val MAX_DELAY: Duration = Duration.ofHours(24)

    /** What WorkManager lets a worker run for. */
    val PLATFORM_LIMIT: Duration = Duration.ofMinutes(10)

    /** Left for the platform after the cycle's budget (stopping, saving, rescheduling). */
    val MARGIN: Duration = Duration.ofSeconds(60)

    /** Up to this fraction is added at random, so uploads do not line up in time across phones. */
    const val JITTER_FRACTION = 0.1

    /**
     * The delay before the next cycle. After a cycle that ran, the engine's `nextRunIn` within
     * [MIN_DELAY]..[MAX_DELAY]; after `failures` cycles in a row that threw, [MIN_DELAY]
     * doubled per failure (capped at [MAX_DELAY]). Plus up to [JITTER_FRACTION] of it at random.
     */
    fun nextDelay(nextRunIn: Duration?, failures: Int, random: Random = Random.Default): Duration {
        val base = if (failures > 0 || nextRunIn == null) {
            backoff(maxOf(failures, 1))
        } else {
            clamp(nextRunIn)
        }
        val jitterMillis = (base.toMillis() * JITTER_FRACTION * random.nextDouble()).toLong()
        return base.plusMillis(jitterMillis)
    }

    /** [d] within [MIN_DELAY]..[MAX_DELAY]. */
    fun clamp(d: Duration): Duration = when {
        d < MIN_DELAY -> MIN_DELAY
        d > MAX_DELAY -> MAX_DELAY
        else -> d
    }

    /** [MIN_DELAY] × 2^(failures − 1), at most [MAX_DELAY]. */
    fun backoff(failures: Int): Duration {
        val doublings = (failures - 1).coerceIn(0, 16)
        val minutes = MIN_DELAY.toMinutes() shl doublings
        return clamp(Duration.ofMinutes(minutes))
    }

    /** The time budget to give the engine when the platform allows [platformLimit]: minus [MARGIN], at least 10 s. */
    fun timeBudget(platformLimit: Duration = PLATFORM_LIMIT): Duration {
        val budget = platformLimit.minus(MARGIN)
        return if (budget < Duration.ofSeconds(10)) Duration.ofSeconds(10) else budget
    }
}
