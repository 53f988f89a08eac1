package org.kuzet.app

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.Checkbox
import androidx.compose.material3.FilterChip
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.kuzet.KuzetException
import org.kuzet.PendingUpload
import org.kuzet.ResultDetail
import org.kuzet.ResultItem
import org.kuzet.TimelineEntry
import org.kuzet.core.RunPhase
import org.kuzet.core.RunStatus
import org.kuzet.core.RunSummary
import org.kuzet.formatBytes
import org.kuzet.formatTimeLeft
import org.kuzet.groupResults
import org.kuzet.resultsSummaryLine
import org.kuzet.verdictGroupWords
import java.time.Instant
import java.time.temporal.ChronoUnit

/** A screen's data, loaded off the main thread: the value, or the error's message. */
private sealed interface Loaded<out T> {
    data object Loading : Loaded<Nothing>
    data class Ok<T>(val value: T) : Loaded<T>
    data class Failed(val message: String) : Loaded<Nothing>
}

@Composable
private fun <T> load(key: Any?, block: suspend () -> T): Loaded<T> =
    produceState<Loaded<T>>(Loaded.Loading, key) {
        value = try {
            // Off the main thread: the first call makes the engine (opens the store).
            Loaded.Ok(withContext(Dispatchers.IO) { block() })
        } catch (e: KuzetException) {
            Loaded.Failed(e.message ?: "failed")
        }
    }.value

@Composable
private fun <T> LoadedList(loaded: Loaded<List<T>>, empty: String, row: @Composable (T) -> Unit) {
    when (loaded) {
        Loaded.Loading -> Text("Loading…", Modifier.padding(16.dp))
        is Loaded.Failed -> Text(loaded.message, Modifier.padding(16.dp), color = MaterialTheme.colorScheme.error)
        is Loaded.Ok -> if (loaded.value.isEmpty()) {
            Text(empty, Modifier.padding(16.dp))
        } else {
            LazyColumn(Modifier.fillMaxSize()) { items(loaded.value) { row(it) } }
        }
    }
}

@Composable
fun TestNowScreen(model: TestNowModel = viewModel()) {
    val state by model.state.collectAsStateWithLifecycle()
    // Grouped by the verdict groups both apps share (Rust): problems first.
    val groups = remember(state.results) { groupResults(state.results) }
    val summaryLine = remember(state.results) { resultsSummaryLine(state.results) }
    LazyColumn(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item {
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                for (info in state.suites) {
                    FilterChip(
                        selected = info.suite in state.selected,
                        onClick = { model.toggle(info.suite) },
                        enabled = info.available && !state.running,
                        label = { Text(info.suite.name.lowercase()) },
                    )
                }
            }
        }
        item {
            if (state.running) {
                OutlinedButton(onClick = model::cancel) { Text("Stop") }
            } else {
                Button(onClick = model::start, enabled = state.selected.isNotEmpty()) { Text("Test now") }
            }
        }
        state.error?.let { item { Text(it, color = MaterialTheme.colorScheme.error) } }
        state.progress?.let { p ->
            item {
                val fraction = if (p.total == 0u) 0f else p.completed.toFloat() / p.total.toFloat()
                LinearProgressIndicator(progress = { fraction }, modifier = Modifier.fillMaxWidth())
                Text("${p.completed} of ${p.total} · ${formatBytes(p.bytesUsed)} · ${formatTimeLeft(p.estimatedTimeLeft)}")
            }
        }
        if (state.running) {
            when (val phase = state.phase) {
                RunPhase.CheckingNetwork -> "Checking the network first…"
                is RunPhase.Measuring -> "Measuring: ${phase.suite.name.lowercase()}"
                RunPhase.Confirming -> "Checking the network again before reporting…"
                else -> null
            }?.let { item { Text(it) } }
        }
        state.summary?.let { summary -> item { SummaryLines(summary) } }
        if (groups.isNotEmpty()) item { Text(summaryLine, style = MaterialTheme.typography.titleMedium) }
        for (group in groups) {
            item {
                Text(group.title, style = MaterialTheme.typography.titleSmall)
                Text(group.meaning, style = MaterialTheme.typography.bodySmall)
            }
            items(group.results) { result ->
                Column(Modifier.padding(start = 8.dp)) {
                    Text(result.target, style = MaterialTheme.typography.bodyMedium)
                    Text(result.explanation, style = MaterialTheme.typography.bodySmall)
                    Text(result.word, style = MaterialTheme.typography.labelSmall)
                }
            }
        }
    }
}

/** How a run ended, what the network was, what was not measured and why. */
@Composable
private fun SummaryLines(summary: RunSummary) {
    Column {
        val ended = when (summary.status) {
            RunStatus.COMPLETED -> "Finished"
            RunStatus.CANCELLED -> "Stopped"
            RunStatus.BUDGET_EXHAUSTED -> "Stopped: the data budget for one run is used up"
            RunStatus.OUT_OF_TIME -> "Stopped: out of time"
        }
        Text("$ended · ${formatBytes(summary.bytesUsed)}", style = MaterialTheme.typography.bodyMedium)
        summary.network?.let { Text("Network at the start: ${it.name.lowercase()}", style = MaterialTheme.typography.bodySmall) }
        if (summary.notMeasured.isNotEmpty()) {
            Text(
                "Not measured (${summary.notMeasured.size}): ${summary.notMeasured.joinToString(", ") { it.target }}",
                style = MaterialTheme.typography.bodySmall,
            )
        }
        for (problem in summary.problems) Text(problem, style = MaterialTheme.typography.bodySmall, color = MaterialTheme.colorScheme.error)
    }
}

@Composable
fun HistoryScreen(app: KuzetApplication) {
    var open by remember { mutableStateOf<String?>(null) }
    val page = load(Unit) { app.engine().resultsHistory(0u, 100u).items }
    LoadedList(page, "No results yet.") { item: ResultItem ->
        val result = item.result
        Column(Modifier.fillMaxWidth().clickable { open = result.measurementId }.padding(16.dp, 8.dp)) {
            Text(result.target)
            // The group's title and the verdict's word: the same words the run showed.
            Text("${verdictGroupWords(result.group).title} (${result.word}) · ${result.measuredAt.truncatedTo(ChronoUnit.MINUTES)} · " +
                item.uploadState.name.lowercase(),
                style = MaterialTheme.typography.bodySmall)
        }
    }
    open?.let { id ->
        val detail: Loaded<ResultDetail> = load(id) { app.engine().resultDetail(id) }
        AlertDialog(
            onDismissRequest = { open = null },
            confirmButton = { TextButton(onClick = { open = null }) { Text("Close") } },
            title = { Text((detail as? Loaded.Ok)?.value?.item?.result?.target ?: "Result") },
            text = {
                Text(
                    when (detail) {
                        Loaded.Loading -> "Loading…"
                        is Loaded.Failed -> detail.message
                        is Loaded.Ok -> detail.value.item.result.let { "${verdictGroupWords(it.group).title}: ${it.explanation}" }
                    },
                )
            },
        )
    }
}

@Composable
fun UploadsScreen(app: KuzetApplication) {
    val pending = load(Unit) { app.engine().pendingUploads() }
    LoadedList(pending, "Nothing waiting for upload.") { upload: PendingUpload ->
        Column(Modifier.padding(16.dp, 8.dp)) {
            Text("${upload.state.name.lowercase()} · ${upload.attempts} attempts · queued ${upload.queuedAt.truncatedTo(ChronoUnit.MINUTES)}")
            upload.lastError?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
        }
    }
}

@Composable
fun TimelineScreen(app: KuzetApplication) {
    val since = remember { Instant.now().minus(30, ChronoUnit.DAYS) }
    val timeline = load(since) { app.engine().connectivityTimeline(since).reversed() }
    LoadedList(timeline, "No connectivity changes recorded in the last 30 days.") { entry: TimelineEntry ->
        Column(Modifier.padding(16.dp, 8.dp)) {
            Text("${entry.since.truncatedTo(ChronoUnit.MINUTES)} · ${entry.state.name.lowercase()} · ${entry.network.name.lowercase()}")
            Text(entry.explanation, style = MaterialTheme.typography.bodySmall)
        }
    }
}

@Composable
fun CheckRow(label: String, checked: Boolean, onChange: (Boolean) -> Unit) {
    Row(Modifier.fillMaxWidth().clickable { onChange(!checked) }) {
        Checkbox(checked = checked, onCheckedChange = onChange)
        Text(label, Modifier.padding(top = 12.dp))
    }
}
