package org.kuzet.app

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import org.kuzet.KuzetException
import org.kuzet.RunListener
import org.kuzet.SuiteInfo
import org.kuzet.TaskHandle
import org.kuzet.core.RunPhase
import org.kuzet.core.RunProgress
import org.kuzet.core.RunRequest
import org.kuzet.core.RunSummary
import org.kuzet.core.Suite
import org.kuzet.core.TargetResult
import org.kuzet.parseUrlList

/** What the "Test now" screen shows. */
data class TestNowState(
    val suites: List<SuiteInfo> = emptyList(),
    val selected: Set<Suite> = setOf(Suite.WEB),
    val running: Boolean = false,
    val phase: RunPhase? = null,
    val progress: RunProgress? = null,
    val results: List<TargetResult> = emptyList(),
    val summary: RunSummary? = null,
    val error: String? = null,
)

/** Starts and cancels runs; the listener's calls (on Kuzet's threads) become [state]. */
class TestNowModel(app: Application) : AndroidViewModel(app) {
    private val kuzet = app as KuzetApplication
    private val mutableState = MutableStateFlow(TestNowState())
    val state: StateFlow<TestNowState> = mutableState
    // The running (or last) test's handle: closing it cancels the test, so it is kept until the
    // next start or until the screen goes away, and never closed from a listener callback.
    @Volatile
    private var handle: TaskHandle? = null

    init {
        viewModelScope.launch(Dispatchers.IO) {
            // The urls suite is the command line's: never offered here.
            val suites = kuzet.engine().availableSuites().filter { it.suite != Suite.URLS }
            mutableState.update { it.copy(suites = suites) }
        }
    }

    fun toggle(suite: Suite) = mutableState.update {
        it.copy(selected = if (suite in it.selected) it.selected - suite else it.selected + suite)
    }

    fun start() {
        if (mutableState.value.running) return
        val request = RunRequest(
            suites = mutableState.value.selected.toList(),
            webUrls = parseUrlList(kuzet.settings.urlText()),
        )
        handle?.close()
        handle = null
        mutableState.update { it.copy(running = true, phase = null, progress = null, results = emptyList(), summary = null, error = null) }
        viewModelScope.launch(Dispatchers.IO) {
            try {
                handle = kuzet.engine().startRun(request, Listener())
            } catch (e: KuzetException) {
                mutableState.update { it.copy(running = false, error = e.message) }
            }
        }
    }

    fun cancel() {
        handle?.cancel()
    }

    override fun onCleared() {
        handle?.close()
        handle = null
    }

    private inner class Listener : RunListener {
        override fun onPhase(phase: RunPhase) = mutableState.update { it.copy(phase = phase) }

        // The measurement is read again from the history when a result is opened.
        override fun onTargetResult(result: TargetResult, measurementJson: String) =
            mutableState.update { it.copy(results = it.results + result) }

        override fun onProgress(progress: RunProgress) = mutableState.update { it.copy(progress = progress) }

        override fun onFinished(summary: RunSummary) = mutableState.update { it.copy(running = false, summary = summary) }
    }
}
