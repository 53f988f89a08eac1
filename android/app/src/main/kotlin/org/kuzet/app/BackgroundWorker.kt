package org.kuzet.app

import android.content.Context
import androidx.work.ExistingWorkPolicy
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.Worker
import androidx.work.WorkerParameters
import org.kuzet.BackgroundRequest
import org.kuzet.support.BackgroundSchedule
import java.time.Duration
import java.util.concurrent.TimeUnit

/**
 * One background cycle of the engine (upload the outbox, the connectivity check, a small sample
 * of tests when budgets allow), then the next cycle scheduled when the engine asks, within
 * org.kuzet.support.BackgroundSchedule's bounds. No network constraint: a shutdown is exactly
 * when the check must run, and the engine decides what fits the network.
 */
class BackgroundWorker(context: Context, params: WorkerParameters) : Worker(context, params) {
    override fun doWork(): Result {
        val app = applicationContext as KuzetApplication
        val network = AndroidNetworkContextProvider(app).currentNetwork()
        val next = try {
            val summary = app.engine().backgroundCycleBlocking(
                BackgroundRequest(timeBudget = BackgroundSchedule.timeBudget(), network = network),
            )
            app.settings.backgroundFailures = 0
            BackgroundSchedule.nextDelay(summary.nextRunIn, 0)
        } catch (e: Exception) {
            // KuzetException, or uniffi's InternalException for a Rust panic: either way the
            // chain of cycles must go on, later.
            app.settings.backgroundFailures += 1
            BackgroundSchedule.nextDelay(null, app.settings.backgroundFailures)
        }
        schedule(app, next, ExistingWorkPolicy.APPEND_OR_REPLACE)
        return Result.success()
    }

    companion object {
        private const val NAME = "kuzet-background-cycle"

        /** Schedules the first cycle unless one is already pending. */
        fun ensureScheduled(context: Context) =
            schedule(context, BackgroundSchedule.MIN_DELAY, ExistingWorkPolicy.KEEP)

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
