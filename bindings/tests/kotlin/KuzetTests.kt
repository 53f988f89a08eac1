// Tests of Kuzet's Kotlin bindings on the JVM, against the host-built library.
// Run by scripts/test-bindings-kotlin.sh; compiled with -Werror together with the generated
// bindings. A tiny runner: each test is a named function; the last line is "N passed, N failed".

package org.kuzet.tests

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.kuzet.BackgroundRequest
import org.kuzet.Consent
import org.kuzet.DataBudgets
import org.kuzet.Engine
import org.kuzet.EngineConfig
import org.kuzet.InternalException
import org.kuzet.KuzetException
import org.kuzet.LogLevel
import org.kuzet.Logger
import org.kuzet.NetworkContext
import org.kuzet.NetworkContextProvider
import org.kuzet.NetworkKind
import org.kuzet.RunListener
import org.kuzet.RunPhase
import org.kuzet.RunProgress
import org.kuzet.RunRequest
import org.kuzet.RunStatus
import org.kuzet.RunSummary
import org.kuzet.Suite
import org.kuzet.TargetResult
import org.kuzet.UploadOutcome
import org.kuzet.UploadRequest
import org.kuzet.UploadState
import org.kuzet.Uploader
import org.kuzet.Verdict
import org.kuzet.clearLogger
import org.kuzet.kuzetVersion
import org.kuzet.setLogger
import org.kuzet.testPanic
import org.kuzet.testPanicAsync
import java.io.File
import java.net.InetSocketAddress
import java.nio.file.Files
import java.time.Duration
import java.time.Instant
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess

// ---------------------------------------------------------------- the runner

class Failure(message: String) : Exception(message)

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw Failure(message())
}

fun <T> checkEqual(expected: T, actual: T, what: String) {
    if (expected != actual) throw Failure("$what: expected <$expected>, got <$actual>")
}

inline fun <reified E : Throwable> expectThrows(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw Failure("expected ${E::class.simpleName}, got ${e::class.qualifiedName}: ${e.message}")
    }
    throw Failure("expected ${E::class.simpleName}, nothing was thrown")
}

fun waitUntil(timeoutMs: Long, what: String, condition: () -> Boolean) {
    val deadline = System.nanoTime() + timeoutMs * 1_000_000
    while (!condition()) {
        if (System.nanoTime() > deadline) throw Failure("timed out after $timeoutMs ms waiting for $what")
        Thread.sleep(10)
    }
}

// ---------------------------------------------------------------- fixtures

/** A loopback HTTP server: `/` and `/page` answer 200, `/missing` 404, `/big` 20 kB,
 *  `/slow...` holds the request until [release] (or 30 s). */
class LocalSite : AutoCloseable {
    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 50)
    private val releaseLatch = CountDownLatch(1)
    val slowRequests = AtomicInteger(0)
    val requests = AtomicInteger(0)

    init {
        server.executor = Executors.newCachedThreadPool { r -> Thread(r, "local-site").apply { isDaemon = true } }
        server.createContext("/") { exchange -> handle(exchange) }
        server.start()
    }

    val base: String get() = "http://127.0.0.1:${server.address.port}"

    private fun handle(exchange: HttpExchange) {
        requests.incrementAndGet()
        val path = exchange.requestURI.path
        try {
            when {
                path.startsWith("/slow") -> {
                    slowRequests.incrementAndGet()
                    releaseLatch.await(30, TimeUnit.SECONDS)
                    respond(exchange, 200, "late")
                }
                path == "/missing" -> respond(exchange, 404, "<html><title>gone</title></html>")
                path == "/big" -> respond(exchange, 200, "x".repeat(20_000))
                else -> respond(exchange, 200, "<html><title>Kuzet test page</title></html>")
            }
        } catch (_: java.io.IOException) {
            // The client went away (a cancelled run): nothing to answer.
        } finally {
            exchange.close()
        }
    }

    private fun respond(exchange: HttpExchange, status: Int, body: String) {
        val bytes = body.toByteArray()
        exchange.responseHeaders.add("Content-Type", "text/html")
        exchange.sendResponseHeaders(status, bytes.size.toLong())
        exchange.responseBody.use { it.write(bytes) }
    }

    fun release() = releaseLatch.countDown()

    override fun close() {
        release()
        server.stop(0)
    }
}

/** Records every callback, with the thread it arrived on. */
class Recorder(private val throwInCallbacks: Boolean = false) : RunListener {
    val events = CopyOnWriteArrayList<String>()
    val threads = CopyOnWriteArrayList<Thread>()
    val results = CopyOnWriteArrayList<TargetResult>()
    val progress = CopyOnWriteArrayList<RunProgress>()
    val finished = CountDownLatch(1)
    @Volatile var summary: RunSummary? = null

    private fun note(event: String) {
        threads.add(Thread.currentThread())
        events.add(event)
    }

    override fun onPhase(phase: RunPhase) {
        note(
            when (phase) {
                is RunPhase.Preparing -> "phase preparing"
                is RunPhase.Measuring -> "phase measuring ${phase.suite}"
                is RunPhase.Finished -> "phase finished"
            }
        )
        if (throwInCallbacks) throw IllegalStateException("listener bug")
    }

    override fun onTargetResult(result: TargetResult) {
        results.add(result)
        note("result ${result.target}")
        if (throwInCallbacks) throw IllegalStateException("listener bug")
    }

    override fun onProgress(progress: RunProgress) {
        this.progress.add(progress)
        note("progress ${progress.completed}/${progress.total}")
    }

    override fun onFinished(summary: RunSummary) {
        this.summary = summary
        note("finished ${summary.status}")
        finished.countDown()
    }

    fun awaitFinished(seconds: Long = 20): RunSummary {
        check(finished.await(seconds, TimeUnit.SECONDS)) { "onFinished did not arrive within $seconds s; events: $events" }
        return summary!!
    }
}

class WifiProvider : NetworkContextProvider {
    val calls = AtomicInteger(0)
    override fun currentNetwork(): NetworkContext {
        calls.incrementAndGet()
        return NetworkContext(kind = NetworkKind.WIFI, metered = false, constrained = false)
    }
}

val tempRoot: File = Files.createTempDirectory("kuzet-kotlin-tests").toFile()

fun config(
    name: String,
    allowed: List<Suite> = Suite.values().toList(),
    parallelism: UInt = 4u,
): EngineConfig = EngineConfig(
    dataDir = File(tempRoot, name).absolutePath,
    softwareName = "kuzet-kotlin-tests",
    softwareVersion = "1.0",
    consent = Consent(uploadAllowed = false, allowedSuites = allowed),
    budgets = DataBudgets(),
    parallelism = parallelism,
)

fun web(vararg urls: String, byteBudget: ULong? = null) =
    RunRequest(suites = listOf(Suite.WEB), webUrls = urls.toList(), byteBudget = byteBudget)

// ---------------------------------------------------------------- the tests

val mainThread: Thread = Thread.currentThread()

fun versionIsTheLibrarys() {
    check(Regex("""^\d+\.\d+\.\d+""").containsMatchIn(kuzetVersion())) { "version ${kuzetVersion()}" }
}

fun suitesSayWhatIsAvailable() {
    Engine(config("suites")).use { engine ->
        val suites = engine.availableSuites()
        checkEqual(Suite.values().toSet(), suites.map { it.suite }.toSet(), "suites listed")
        checkEqual(listOf(Suite.WEB), suites.filter { it.available }.map { it.suite }, "available suites")
        check(suites.all { it.description.isNotBlank() }) { "every suite has a description" }
    }
}

fun fullTestNowAgainstALocalSite() {
    LocalSite().use { site ->
        Engine(config("full", parallelism = 1u)).use { engine ->
            val provider = WifiProvider()
            engine.setNetworkProvider(provider)
            val recorder = Recorder()
            val urls = listOf("${site.base}/page", "${site.base}/missing")
            val handle = engine.startRun(web(*urls.toTypedArray()), recorder)
            val summary = recorder.awaitFinished()
            waitUntil(2000, "the handle to report finished") { handle.isFinished() }

            checkEqual(RunStatus.COMPLETED, summary.status, "status")
            checkEqual(handle.runId(), summary.runId, "run id")
            checkEqual(2, summary.results.size, "results")
            checkEqual(0u, summary.skipped, "skipped")
            check(summary.bytesUsed > 0uL) { "bytes used" }
            check(summary.startedAt <= Instant.now()) { "started at" }
            check(summary.duration > Duration.ZERO) { "duration" }
            checkEqual(
                listOf(
                    "phase preparing",
                    "phase measuring WEB",
                    "result ${urls[0]}",
                    "progress 1/2",
                    "result ${urls[1]}",
                    "progress 2/2",
                    "phase finished",
                    "finished COMPLETED",
                ),
                recorder.events.toList(),
                "callback order",
            )
            val page = summary.results[0]
            checkEqual(Verdict.ACCESSIBLE, page.verdict, "verdict of /page")
            checkEqual(200.toUShort(), page.statusCode, "status of /page")
            check(Regex("""^127\.0\.0\.1 loaded normally \(HTTP 200\) in \d+\.\d s\.$""").matches(page.explanation)) {
                "explanation: ${page.explanation}"
            }
            check(page.measurementJson.contains("\"test_name\":\"urlgetter\"")) { "OONI measurement" }
            check(page.measurementJson.contains("\"network_type\":\"wifi\"")) { "network type from the provider" }
            check(page.measurementJson.contains("\"software_name\":\"kuzet-kotlin-tests\"")) { "software name" }
            check(page.measurementJson.contains(page.measurementId)) { "measurement id" }
            checkEqual(404.toUShort(), summary.results[1].statusCode, "status of /missing")
            checkEqual(summary.results, recorder.results.toList(), "results delivered as they landed")
            checkEqual(1, provider.calls.get(), "network provider calls")
            check(recorder.progress.first().estimatedTimeLeft != null) { "ETA after the first target" }
            checkEqual(Duration.ZERO, recorder.progress.last().estimatedTimeLeft, "ETA at the end")
            checkEqual(summary.bytesUsed, recorder.progress.last().bytesUsed, "bytes in progress")
            // Callbacks come from Rust worker threads, never the caller's.
            check(recorder.threads.none { it == mainThread }) { "a callback arrived on the calling thread" }
            checkEqual(0u, engine.activeRuns(), "active runs")
        }
    }
}

fun aFailedUrlIsAnAnomalyInPlainWords() {
    val closedPort = java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1")).use { it.localPort }
    Engine(config("anomaly")).use { engine ->
        val summary = engine.runBlocking(web("http://127.0.0.1:$closedPort/"), Recorder())
        val result = summary.results.single()
        checkEqual(Verdict.ANOMALY, result.verdict, "verdict")
        checkEqual("connect", result.failedOperation, "failed operation")
        checkEqual("connection_refused", result.failure, "failure")
        check(result.explanation.startsWith("127.0.0.1 did not load: the connection was refused while opening a connection.")) {
            "explanation: ${result.explanation}"
        }
    }
}

fun asyncRunReturnsTheSummary() {
    LocalSite().use { site ->
        Engine(config("async")).use { engine ->
            val recorder = Recorder()
            val summary = runBlocking { engine.run(web("${site.base}/", "${site.base}/page"), recorder) }
            checkEqual(RunStatus.COMPLETED, summary.status, "status")
            checkEqual(2, summary.results.size, "results")
            checkEqual(summary, recorder.awaitFinished(), "listener's summary")
        }
    }
}

fun blockingRunReturnsTheSummary() {
    LocalSite().use { site ->
        Engine(config("blocking")).use { engine ->
            val summary = engine.runBlocking(web("${site.base}/"), Recorder())
            checkEqual(RunStatus.COMPLETED, summary.status, "status")
            checkEqual(Verdict.ACCESSIBLE, summary.results.single().verdict, "verdict")
        }
    }
}

fun cancellingARunningTestStopsItAtOnce() {
    LocalSite().use { site ->
        Engine(config("cancel", parallelism = 2u)).use { engine ->
            val recorder = Recorder()
            val urls = (1..6).map { "${site.base}/slow$it" }
            val handle = engine.startRun(web(*urls.toTypedArray()), recorder)
            waitUntil(5000, "two slow requests in flight") { site.slowRequests.get() == 2 }
            check(!handle.isFinished()) { "finished before cancel" }
            checkEqual(1u, engine.activeRuns(), "active runs while running")
            val cancelledAt = System.nanoTime()
            handle.cancel()
            val summary = recorder.awaitFinished(5)
            val tookMs = (System.nanoTime() - cancelledAt) / 1_000_000
            check(tookMs < 2000) { "cancel took $tookMs ms" }
            checkEqual(RunStatus.CANCELLED, summary.status, "status")
            checkEqual(0, summary.results.size, "results")
            checkEqual(6u, summary.skipped, "skipped")
            waitUntil(2000, "the handle to finish") { handle.isFinished() }
            checkEqual(0u, engine.activeRuns(), "active runs after cancel")
            handle.cancel() // idempotent
            Thread.sleep(200)
            checkEqual(2, site.slowRequests.get(), "no request started after cancel")
            checkEqual("finished CANCELLED", recorder.events.last(), "last event")
        }
    }
}

fun cancellingTheCoroutineCancelsTheRun() {
    LocalSite().use { site ->
        Engine(config("coroutine")).use { engine ->
            val recorder = Recorder()
            runBlocking {
                val job = launch(Dispatchers.Default) {
                    engine.run(web("${site.base}/slow"), recorder)
                    throw Failure("the run returned although its coroutine was cancelled")
                }
                withTimeout(5000) {
                    while (site.slowRequests.get() == 0) kotlinx.coroutines.delay(10)
                }
                checkEqual(1u, engine.activeRuns(), "active runs while running")
                withTimeout(2000) { job.cancelAndJoin() }
                check(job.isCancelled) { "job cancelled" }
            }
            // Dropping the Rust future cancelled the run: it ends, and says so.
            checkEqual(RunStatus.CANCELLED, recorder.awaitFinished(5).status, "status")
            waitUntil(2000, "no active run") { engine.activeRuns() == 0u }
        }
    }
}

fun byteBudgetStopsNewTargets() {
    LocalSite().use { site ->
        Engine(config("budget", parallelism = 1u)).use { engine ->
            val summary = engine.runBlocking(
                web("${site.base}/big", "${site.base}/big", "${site.base}/big", byteBudget = 5000uL),
                Recorder(),
            )
            checkEqual(RunStatus.BUDGET_EXHAUSTED, summary.status, "status")
            checkEqual(1, summary.results.size, "results")
            checkEqual(2u, summary.skipped, "skipped")
        }
    }
}

fun aThrowingListenerDoesNotStopTheRun() {
    LocalSite().use { site ->
        Engine(config("throwing")).use { engine ->
            val recorder = Recorder(throwInCallbacks = true)
            val summary = engine.runBlocking(web("${site.base}/"), recorder)
            checkEqual(RunStatus.COMPLETED, summary.status, "status")
            checkEqual(1, summary.results.size, "results")
        }
    }
}

fun errorsAreSubclassesWithUsefulMessages() {
    // Configuration.
    var e: KuzetException = expectThrows<KuzetException.InvalidInput> {
        Engine(config("bad").copy(softwareName = "my app"))
    }
    check(e.message!!.contains("software name \"my app\"")) { "message: ${e.message}" }
    e = expectThrows<KuzetException.InvalidInput> { Engine(config("bad").copy(dataDir = "relative/dir")) }
    check(e.message!!.contains("must be an absolute path")) { "message: ${e.message}" }
    e = expectThrows<KuzetException.InvalidInput> {
        Engine(config("bad").copy(collectorUrl = "http://collector.example/"))
    }
    check(e.message!!.contains("must be an https URL")) { "message: ${e.message}" }
    e = expectThrows<KuzetException.InvalidInput> { Engine(config("bad").copy(resolver = "carrier-pigeon")) }
    check(e.message!!.startsWith("invalid resolver \"carrier-pigeon\"")) { "message: ${e.message}" }
    e = expectThrows<KuzetException.InvalidInput> { Engine(config("bad").copy(extraCaPem = "not a certificate")) }
    check(e.message!!.startsWith("extra CA certificates:")) { "message: ${e.message}" }
    val file = File(tempRoot, "a-file").apply { writeText("x") }
    e = expectThrows<KuzetException.Storage> { Engine(config("x").copy(dataDir = File(file, "sub").absolutePath)) }
    check(e.message!!.startsWith("cannot create the data directory")) { "message: ${e.message}" }

    Engine(config("errors", allowed = listOf(Suite.WEB, Suite.MESSAGING))).use { engine ->
        val listener = Recorder()
        e = expectThrows<KuzetException.Unavailable> {
            engine.startRun(RunRequest(suites = listOf(Suite.MESSAGING)), listener)
        }
        checkEqual("the messaging suite is not available yet in this version of Kuzet", e.message, "message")
        e = expectThrows<KuzetException.NotAllowed> {
            engine.startRun(RunRequest(suites = listOf(Suite.THROTTLING)), listener)
        }
        checkEqual("the user has not allowed the throttling suite", e.message, "message")
        e = expectThrows<KuzetException.InvalidInput> { engine.startRun(RunRequest(suites = listOf()), listener) }
        checkEqual("a run needs at least one suite", e.message, "message")
        e = expectThrows<KuzetException.InvalidInput> { engine.startRun(web(), listener) }
        checkEqual("the web suite needs at least one URL", e.message, "message")
        e = expectThrows<KuzetException.InvalidInput> { engine.startRun(web("ftp://example.org/"), listener) }
        check(e.message!!.contains("scheme \"ftp\" is not http or https")) { "message: ${e.message}" }
        e = expectThrows<KuzetException.InvalidInput> {
            runBlocking { engine.run(web("not a url"), listener) }
        }
        check(e.message!!.startsWith("invalid URL \"not a url\"")) { "message: ${e.message}" }
        checkEqual(0, listener.events.size, "nothing ran")
        checkEqual(0u, engine.activeRuns(), "active runs")
    }
}

fun aBackgroundCycleWithoutACollectorUploadsNothing() {
    // Uploads allowed, but no collector configured: nothing to send to.
    val cfg = config("background").copy(consent = Consent(uploadAllowed = true, allowedSuites = Suite.values().toList()))
    Engine(cfg).use { engine ->
        val summaries = listOf(
            engine.backgroundCycleBlocking(
                BackgroundRequest(Duration.ofSeconds(30), NetworkContext(kind = NetworkKind.CELLULAR, metered = true))
            ),
            runBlocking {
                engine.backgroundCycle(BackgroundRequest(Duration.ofSeconds(30), NetworkContext(kind = NetworkKind.WIFI)))
            },
        )
        for (summary in summaries) {
            checkEqual(0u, summary.uploaded, "uploaded")
            checkEqual(0u, summary.uploadFailures, "upload failures")
            checkEqual(0u, summary.pending, "pending")
            checkEqual(false, summary.connectivityChecked, "connectivity checked")
            checkEqual(0u, summary.testsRun, "tests run")
            checkEqual(Duration.ofHours(6), summary.nextRunIn, "next run in")
        }
    }
}

fun historyPendingUploadsAndDataUseFollowARun() {
    LocalSite().use { site ->
        Engine(config("history")).use { engine ->
            checkEqual(0, engine.resultsHistory(0u, 20u).items.size, "history before a run")
            checkEqual(0, engine.pendingUploads().size, "pending before a run")
            checkEqual(0uL, engine.dataUsedThisMonth().bytesUsed, "bytes before a run")
            expectThrows<KuzetException.InvalidInput> { engine.resultDetail("some-id") }
            expectThrows<KuzetException.InvalidInput> { engine.resultsHistory(0u, 0u) }

            val summary = engine.runBlocking(web("${site.base}/", "${site.base}/page"), Recorder())
            checkEqual(2, summary.results.size, "results")

            val page = engine.resultsHistory(0u, 1u)
            checkEqual(1, page.items.size, "first page")
            checkEqual(1u, page.nextOffset, "next offset")
            val all = engine.resultsHistory(0u, 20u)
            checkEqual(2, all.items.size, "history after a run")
            checkEqual(null, all.nextOffset, "last page")
            checkEqual(
                summary.results.map { it.measurementId }.reversed(),
                all.items.map { it.id },
                "newest first",
            )
            val item = all.items.first()
            checkEqual(Suite.WEB, item.suite, "suite")
            checkEqual(Verdict.ACCESSIBLE, item.verdict, "verdict")
            // The probe's network is unknown (AS0/ZZ): kept on the device, not uploaded.
            checkEqual(UploadState.HELD, item.uploadState, "upload state")

            val detail = engine.resultDetail(item.id)
            checkEqual(item, detail.item, "detail's item")
            check(detail.explanation.contains("loaded normally")) { detail.explanation }
            check(detail.measurementJson.contains(item.id)) { "measurement JSON has the id" }

            val pending = engine.pendingUploads()
            checkEqual(all.items.map { it.id }.toSet(), pending.map { it.measurementId }.toSet(), "pending ids")
            check(pending.all { it.state == UploadState.HELD && it.lastError == null }) { "$pending" }

            checkEqual(summary.bytesUsed, engine.dataUsedThisMonth().bytesUsed, "bytes this month")
            checkEqual(0, engine.connectivityTimeline(Instant.EPOCH).size, "timeline")

            engine.wipe()
            checkEqual(0, engine.resultsHistory(0u, 20u).items.size, "history after wipe")
            checkEqual(0, engine.pendingUploads().size, "pending after wipe")
        }
    }
}

fun wipeEmptiesTheDataDirectory() {
    val cfg = config("wipe")
    Engine(cfg).use { engine ->
        val dir = File(cfg.dataDir)
        check(dir.isDirectory) { "data directory created" }
        File(dir, "sub").mkdirs()
        File(dir, "sub/file").writeText("x")
        File(dir, "file").writeText("y")
        engine.wipe()
        check(dir.isDirectory) { "data directory kept" }
        checkEqual(0, dir.list()!!.size, "entries after wipe")
    }
}

fun uploaderCanBeSetAndCleared() {
    class RecordingUploader : Uploader {
        override fun upload(request: UploadRequest): UploadOutcome =
            UploadOutcome.Failed("not used until the outbox lands")
    }
    Engine(config("uploader")).use { engine ->
        check(!engine.hasUploader()) { "no uploader at first" }
        engine.setUploader(RecordingUploader())
        check(engine.hasUploader()) { "uploader set" }
        engine.setUploader(null)
        check(!engine.hasUploader()) { "uploader cleared" }
        engine.setNetworkProvider(null)
    }
}

fun loggerReceivesRunLines() {
    val lines = CopyOnWriteArrayList<String>()
    val threads = CopyOnWriteArrayList<Thread>()
    setLogger(object : Logger {
        override fun log(level: LogLevel, target: String, message: String) {
            threads.add(Thread.currentThread())
            lines.add("$level $target $message")
        }
    }, LogLevel.INFO)
    try {
        LocalSite().use { site ->
            Engine(config("logger")).use { engine ->
                engine.runBlocking(web("${site.base}/"), Recorder())
            }
        }
        check(lines.any { it.startsWith("INFO kuzet_core::engine::run run started") }) { "lines: $lines" }
        check(lines.any { it.startsWith("INFO kuzet_core::engine::run run finished") && it.contains("status=Completed") }) {
            "lines: $lines"
        }
        check(lines.none { it.startsWith("DEBUG") || it.startsWith("TRACE") }) { "level filter: $lines" }
    } finally {
        clearLogger()
    }
    val count = lines.size
    LocalSite().use { site ->
        Engine(config("logger2")).use { engine -> engine.runBlocking(web("${site.base}/"), Recorder()) }
    }
    checkEqual(count, lines.size, "lines after clearLogger")
}

fun panicsSurfaceAsExceptions() {
    val e = expectThrows<InternalException> { testPanic("deliberate panic") }
    check(e.message!!.contains("deliberate panic")) { "message: ${e.message}" }
    val e2 = expectThrows<InternalException> { runBlocking { testPanicAsync("async panic") } }
    check(e2.message!!.contains("async panic")) { "message: ${e2.message}" }
    // The library still works afterwards.
    check(kuzetVersion().isNotEmpty()) { "library alive" }
}

fun droppingTheHandleCancelsTheRun() {
    LocalSite().use { site ->
        Engine(config("drop")).use { engine ->
            val recorder = Recorder()
            engine.startRun(web("${site.base}/slow"), recorder).use { handle ->
                waitUntil(5000, "the slow request") { site.slowRequests.get() == 1 }
                check(!handle.isFinished()) { "finished early" }
            }
            checkEqual(RunStatus.CANCELLED, recorder.awaitFinished(5).status, "status after close()")
            waitUntil(2000, "no active run") { engine.activeRuns() == 0u }
        }
    }
}

fun main() {
    val tests = listOf<Pair<String, () -> Unit>>(
        "version is the library's" to ::versionIsTheLibrarys,
        "suites say what is available" to ::suitesSayWhatIsAvailable,
        "full test now against a local site" to ::fullTestNowAgainstALocalSite,
        "a failed URL is an anomaly in plain words" to ::aFailedUrlIsAnAnomalyInPlainWords,
        "async run returns the summary" to ::asyncRunReturnsTheSummary,
        "blocking run returns the summary" to ::blockingRunReturnsTheSummary,
        "cancelling a running test stops it at once" to ::cancellingARunningTestStopsItAtOnce,
        "cancelling the coroutine cancels the run" to ::cancellingTheCoroutineCancelsTheRun,
        "closing the handle cancels the run" to ::droppingTheHandleCancelsTheRun,
        "the byte budget stops new targets" to ::byteBudgetStopsNewTargets,
        "a throwing listener does not stop the run" to ::aThrowingListenerDoesNotStopTheRun,
        "errors are subclasses with useful messages" to ::errorsAreSubclassesWithUsefulMessages,
        "a background cycle without a collector uploads nothing" to ::aBackgroundCycleWithoutACollectorUploadsNothing,
        "history, pending uploads and data use follow a run" to ::historyPendingUploadsAndDataUseFollowARun,
        "wipe empties the data directory" to ::wipeEmptiesTheDataDirectory,
        "uploader can be set and cleared" to ::uploaderCanBeSetAndCleared,
        "logger receives run lines" to ::loggerReceivesRunLines,
        "panics surface as exceptions" to ::panicsSurfaceAsExceptions,
    )
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        val started = System.nanoTime()
        try {
            test()
            passed++
            println("ok   $name (${(System.nanoTime() - started) / 1_000_000} ms)")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: ${e::class.simpleName}: ${e.message}")
            if (e !is Failure) e.printStackTrace(System.out)
        }
    }
    tempRoot.deleteRecursively()
    println()
    println("kotlin: $passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
