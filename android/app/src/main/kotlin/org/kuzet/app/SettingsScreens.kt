package org.kuzet.app

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.kuzet.KuzetException
import org.kuzet.MibRange
import org.kuzet.budgetRanges
import org.kuzet.core.DataUsage
import org.kuzet.core.Suite
import org.kuzet.core.UserChoices
import org.kuzet.defaultUserChoices
import org.kuzet.formatBytes
import org.kuzet.onboarding
import org.kuzet.percentOf
import org.kuzet.quizMistakes

/** The informed-consent onboarding: the risks, a quiz that must be answered right, then choices. */
@Composable
fun OnboardingScreen(onAccepted: (UserChoices) -> Unit) {
    val texts = remember { onboarding() }
    val answers = remember { mutableStateListOf<Boolean?>().apply { repeat(texts.quiz.size) { add(null) } } }
    var mistakes by remember { mutableStateOf<List<String>?>(null) }
    var upload by remember { mutableStateOf(false) }
    Column(Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text("Before you start", style = MaterialTheme.typography.headlineSmall)
        for (risk in texts.risks) Text("• $risk")
        Text("Check that these are clear:", style = MaterialTheme.typography.titleMedium)
        texts.quiz.forEachIndexed { i, q ->
            Text(q.statement)
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                for ((label, value) in listOf("True" to true, "False" to false)) {
                    if (answers[i] == value) {
                        Button(onClick = { answers[i] = value }) { Text(label) }
                    } else {
                        OutlinedButton(onClick = { answers[i] = value }) { Text(label) }
                    }
                }
            }
        }
        mistakes?.forEach { Text(it, color = MaterialTheme.colorScheme.error) }
        CheckRow("Upload my measurements so they are published (you can change this later)", upload) { upload = it }
        Button(onClick = {
            val wrong = quizMistakes(answers.toList())
            mistakes = wrong
            if (wrong.isEmpty()) onAccepted(defaultUserChoices().copy(uploadAllowed = upload))
        }) { Text("I understand, continue") }
    }
}

@Composable
fun SettingsScreen(app: KuzetApplication) {
    val scope = rememberCoroutineScope()
    var choices by remember { mutableStateOf(app.settings.choices()) }
    val ranges = remember { budgetRanges() }
    var urls by remember { mutableStateOf(app.settings.urlText()) }
    var collector by remember { mutableStateOf(app.settings.collectorUrl() ?: "") }
    var helpers by remember { mutableStateOf(app.settings.testHelperUrls().joinToString("\n")) }
    var message by remember { mutableStateOf<String?>(null) }
    val usage by produceState<DataUsage?>(null) {
        value = try {
            withContext(Dispatchers.IO) { app.engine().dataUsedThisMonth() }
        } catch (e: KuzetException) {
            null
        }
    }

    fun save() {
        app.settings.saveChoices(choices)
        app.settings.saveUrlText(urls)
        app.settings.saveServices(collector, helpers)
        app.settingsChanged()
        message = "Saved."
    }

    Column(Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        usage?.let {
            Text("Data used in ${it.month}: ${formatBytes(it.bytesUsed)} of ${formatBytes(it.monthlyBudget)} " +
                "(${percentOf(it.bytesUsed, it.monthlyBudget)} %)")
        }
        Text("Consent", style = MaterialTheme.typography.titleMedium)
        CheckRow("Upload measurements (published openly)", choices.uploadAllowed) { choices = choices.copy(uploadAllowed = it) }
        // The urls suite (single URLs, step by step) is the command line's: apps run web.
        for (suite in Suite.entries.filter { it != Suite.URLS }) {
            CheckRow("Allow ${suite.name.lowercase()} tests", suite in choices.suites) { on ->
                choices = choices.copy(suites = choices.suites.filter { it != suite } + listOfNotNull(suite.takeIf { on }))
            }
        }
        Text("Data budgets (MiB)", style = MaterialTheme.typography.titleMedium)
        MibField("One test run", ranges.run, choices.runMib) { choices = choices.copy(runMib = it) }
        MibField("One background cycle", ranges.background, choices.backgroundMib) { choices = choices.copy(backgroundMib = it) }
        MibField("One month", ranges.monthly, choices.monthlyMib) { choices = choices.copy(monthlyMib = it) }
        Text("Websites to test (one per line)", style = MaterialTheme.typography.titleMedium)
        OutlinedTextField(urls, { urls = it }, Modifier.fillMaxWidth(), minLines = 4)
        OutlinedTextField(collector, { collector = it }, Modifier.fillMaxWidth(), label = { Text("Collector URL") })
        OutlinedTextField(helpers, { helpers = it }, Modifier.fillMaxWidth(), label = { Text("Test helper URLs") })
        Button(onClick = ::save) { Text("Save") }
        OutlinedButton(onClick = {
            scope.launch {
                message = try {
                    withContext(Dispatchers.IO) { app.engine().wipe() }
                    "Everything Kuzet kept on this phone was deleted."
                } catch (e: KuzetException) {
                    e.message
                }
            }
        }) { Text("Delete all results and queued uploads") }
        message?.let { Text(it) }
    }
}

/** A budget in MiB; the label shows [range], which the library clamps the value to. */
@Composable
private fun MibField(label: String, range: MibRange, value: UInt, onChange: (UInt) -> Unit) {
    OutlinedTextField(
        value = value.toString(),
        onValueChange = { text -> text.filter { it.isDigit() }.take(5).toUIntOrNull()?.let(onChange) },
        label = { Text("$label (${range.min}–${range.max})") },
        singleLine = true,
        modifier = Modifier.fillMaxWidth(),
    )
}
