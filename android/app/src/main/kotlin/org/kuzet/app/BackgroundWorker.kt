package org.kuzet.app

import android.content.Context
import androidx.work.ExistingWorkPolicy
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.Worker
import androidx.work.WorkerParameters
import org.kuzet.backgroundBounds
import org.kuzet.backgroundTimeBudget
import org.kuzet.core.BackgroundRequest
import org.kuzet.nextBackgroundDelay
import java.time.Duration
import java.util.concurrent.TimeUnit
import kotlin.random.Random

/**
 * One background cycle of the engine (upload the outbox, the connectivity check, a small sample
 * of tests when budgets allow), then the next cycle scheduled when the engine asks, within
 * the bounds of Kuzet's `nextBackgroundDelay`. No network constraint: a shutdown is exactly
 * when the check must run, and the engine decides what fits the network.
 */
class BackgroundWorker(context: Context, params: WorkerParameters) : Worker(context, params) {
    override fun doWork(): Result {
        val app = applicationContext as KuzetApplication
        val network = AndroidNetworkContextProvider(app).currentNetwork()
        val next = try {
            val summary = app.engine().backgroundCycleBlocking(
                BackgroundRequest(timeBudget = backgroundTimeBudget(WORK_MANAGER_LIMIT), network = network),
            )
            app.settings.backgroundFailures = 0
            nextBackgroundDelay(summary.nextRunIn, 0u, Random.nextDouble())
        } catch (e: Exception) {
            // KuzetException, or uniffi's InternalException for a Rust panic: either way the
            // chain of cycles must go on, later.
            app.settings.backgroundFailures += 1
            nextBackgroundDelay(null, app.settings.backgroundFailures.coerceAtLeast(0).toUInt(), Random.nextDouble())
        }
        schedule(app, next, ExistingWorkPolicy.APPEND_OR_REPLACE)
        return Result.success()
    }

    companion object {
        private const val NAME = "kuzet-background-cycle"

        /** How long WorkManager lets a worker run before it stops it. */
        private val WORK_MANAGER_LIMIT: Duration = Duration.ofMinutes(10)

        /** Schedules the first cycle unless one is already pending. */
        fun ensureScheduled(context: Context) =
            schedule(context, backgroundBounds().minDelay, ExistingWorkPolicy.KEEP)

        private fun schedule(context: Context, delay: Duration, policy: ExistingWorkPolicy) {
            val request = OneTimeWorkRequestBuilder<BackgroundWorker>()
                .setInitialDelay(delay.toMillis(), TimeUnit.MILLISECONDS)
                .build()
            WorkManager.getInstance(context).enqueueUniqueWork(NAME, policy, request)
        }

        /** Stops background cycles (consent withdrawn, data wiped). */
        fun cancel(context: Context) = WorkManager.getInstance(context).cancelUniqueWork(NAME)
    }
}
