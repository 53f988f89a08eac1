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
import org.kuzet.BlockingMethod
import org.kuzet.ConnectivityState
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
import org.kuzet.defaultDataBudgets
import org.kuzet.defaultParallelism
import org.kuzet.kuzetVersion
import org.kuzet.setLogger
import org.kuzet.testPanic
import org.kuzet.testPanicAsync
import java.io.File
import java.net.HttpURLConnection
import java.net.InetSocketAddress
import java.net.NetworkInterface
import java.net.URI
import java.nio.file.Files
import java.time.Duration
import java.time.Instant
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.zip.GZIPInputStream
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

/** The real test helper: `kuzet-server --th --th-allow-private` (its path in
 *  KUZET_SERVER_BIN, set by scripts/test-bindings-kotlin.sh) on an ephemeral loopback port. */
class TestHelperServer : AutoCloseable {
    private val process: Process
    val url: String

    init {
        val bin = System.getenv("KUZET_SERVER_BIN") ?: throw Failure("KUZET_SERVER_BIN is not set")
        process = ProcessBuilder(
            bin, "--listen", "127.0.0.1:0", "--th", "--th-allow-private", "--th-resolver", "system",
        ).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
        val address = java.util.concurrent.CompletableFuture<String>()
        Thread({
            // Read standard error for the server's whole life, so it never blocks on it.
            process.errorStream.bufferedReader().forEachLine { line ->
                val prefix = "kuzet-server: listening on "
                if (line.startsWith(prefix)) address.complete(line.removePrefix(prefix).trim())
                else System.err.println("[kuzet-server] $line")
            }
            address.complete("")
        }, "kuzet-server-stderr").apply { isDaemon = true }.start()
        val addr = address.get(60, TimeUnit.SECONDS)
        if (addr.isEmpty()) {
            process.destroyForcibly()
            throw Failure("kuzet-server did not start")
        }
        url = "http://$addr/"
    }

    override fun close() {
        process.destroy()
        process.waitFor(5, TimeUnit.SECONDS)
    }
}

/** The real throughput server: `kuzet-server --throughput 127.0.0.1:0` (no rate limit), its
 *  address and key pin read from what it prints. */
class ThroughputServerProcess : AutoCloseable {
    private val process: Process
    val addr: String
    val pin: String

    init {
        val bin = System.getenv("KUZET_SERVER_BIN") ?: throw Failure("KUZET_SERVER_BIN is not set")
        process = ProcessBuilder(
            bin, "--throughput", "127.0.0.1:0", "--throughput-per-client-per-minute", "0",
        ).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
        val pinFuture = java.util.concurrent.CompletableFuture<String>()
        val addrFuture = java.util.concurrent.CompletableFuture<String>()
        Thread({
            process.errorStream.bufferedReader().forEachLine { line ->
                when {
                    line.startsWith("kuzet-server: throughput pin ") ->
                        pinFuture.complete(line.removePrefix("kuzet-server: throughput pin ").trim())
                    line.startsWith("kuzet-server: throughput listening on ") ->
                        addrFuture.complete(line.removePrefix("kuzet-server: throughput listening on ").trim())
                    else -> System.err.println("[kuzet-server] $line")
                }
            }
            pinFuture.complete("")
            addrFuture.complete("")
        }, "kuzet-throughput-stderr").apply { isDaemon = true }.start()
        pin = pinFuture.get(60, TimeUnit.SECONDS)
        addr = addrFuture.get(60, TimeUnit.SECONDS)
        if (pin.isEmpty() || addr.isEmpty()) {
            process.destroyForcibly()
            throw Failure("kuzet-server --throughput did not start")
        }
    }

    override fun close() {
        process.destroy()
        process.waitFor(5, TimeUnit.SECONDS)
    }
}

/** A minimal OONI collector: `POST /report` opens a report, `POST /report/{id}` takes a
 *  measurement; it records what it receives (submissions un-gzipped). */
class LocalCollector : AutoCloseable {
    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 50)
    val opened = CopyOnWriteArrayList<String>()
    val submitted = CopyOnWriteArrayList<String>()
    val encodings = CopyOnWriteArrayList<String>()
    private val reports = AtomicInteger(0)

    init {
        server.executor = Executors.newCachedThreadPool { r -> Thread(r, "local-collector").apply { isDaemon = true } }
        server.createContext("/") { exchange ->
            try {
                val raw = exchange.requestBody.readBytes()
                val encoding = exchange.requestHeaders.getFirst("Content-Encoding") ?: "identity"
                val body = if (encoding == "gzip") GZIPInputStream(raw.inputStream()).readBytes() else raw
                val path = exchange.requestURI.path
                when {
                    exchange.requestMethod != "POST" -> respond(exchange, 405, "{}")
                    path == "/report" -> {
                        opened.add(String(body))
                        respond(exchange, 200, """{"report_id":"r${reports.incrementAndGet()}","supported_formats":["json"]}""")
                    }
                    path.startsWith("/report/") -> {
                        encodings.add(encoding)
                        submitted.add(String(body))
                        respond(exchange, 200, """{"measurement_uid":"u${submitted.size}"}""")
                    }
                    else -> respond(exchange, 404, "{}")
                }
            } finally {
                exchange.close()
            }
        }
        server.start()
    }

    val url: String get() = "http://127.0.0.1:${server.address.port}/"

    private fun respond(exchange: HttpExchange, status: Int, body: String) {
        val bytes = body.toByteArray()
        exchange.responseHeaders.add("Content-Type", "application/json")
        exchange.sendResponseHeaders(status, bytes.size.toLong())
        exchange.responseBody.use { it.write(bytes) }
    }

    override fun close() = server.stop(0)
}

/** The app's uploader: plain `HttpURLConnection`, as an Android app might do it. */
class JavaUploader : Uploader {
    val calls = AtomicInteger(0)
    val threads = CopyOnWriteArrayList<Thread>()

    override fun upload(request: UploadRequest): UploadOutcome {
        calls.incrementAndGet()
        threads.add(Thread.currentThread())
        return try {
            val connection = URI(request.url).toURL().openConnection() as HttpURLConnection
            connection.requestMethod = request.method
            connection.doOutput = true
            connection.connectTimeout = 5000
            connection.readTimeout = 5000
            connection.setRequestProperty("Content-Type", request.contentType)
            connection.outputStream.use { it.write(request.body) }
            val status = connection.responseCode
            val body = (if (status < 400) connection.inputStream else connection.errorStream)?.use { it.readBytes() } ?: ByteArray(0)
            UploadOutcome.Response(status.toUShort(), body)
        } catch (e: java.io.IOException) {
            UploadOutcome.Failed(e.toString())
        }
    }
}

/** This machine's own addresses (not loopback): none may appear in an uploaded measurement. */
fun ownAddresses(): List<String> =
    NetworkInterface.getNetworkInterfaces().toList()
        .flatMap { it.inetAddresses.toList() }
        .filter { !it.isLoopbackAddress }
        .map { it.hostAddress.substringBefore('%') }

/** A phone on Kcell's mobile data: MCC-MNC 401-02, nothing else known. */
class KcellProvider : NetworkContextProvider {
    override fun currentNetwork(): NetworkContext =
        NetworkContext(kind = NetworkKind.CELLULAR, metered = true, mccMnc = "401-02")
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

/** The connectivity check's configuration: two loopback anchors (domestic, international) on
 *  `port`, by TCP connect, named `localhost` (the hosts file): nothing leaves the machine. */
fun connectivityJson(port: Int): String =
    """{"anchors": [
        {"name": "localhost", "group": "domestic", "pinned_ips": ["127.0.0.1"], "port": $port, "probe": "tcp_connect"},
        {"name": "localhost", "group": "international", "pinned_ips": ["127.0.0.1"], "port": $port, "probe": "tcp_connect"}
       ], "rechecks": {"count": 0, "delay": 0}, "timeouts": {"dns": 1000, "probe": 1000}}"""

/** A loopback port that accepts connections for the whole run: every engine's anchor, so no
 *  test ever probes the built-in (public) anchors. */
val anchor = java.net.ServerSocket(0, 50, java.net.InetAddress.getByName("127.0.0.1"))

fun config(
    name: String,
    allowed: List<Suite> = Suite.values().toList(),
    parallelism: UInt = defaultParallelism(),
    testHelpers: List<String> = listOf(),
): EngineConfig = EngineConfig(
    dataDir = File(tempRoot, name).absolutePath,
    softwareName = "kuzet-kotlin-tests",
    softwareVersion = "1.0",
    testHelperUrls = testHelpers,
    consent = Consent(uploadAllowed = false, allowedSuites = allowed),
    budgets = DataBudgets(),
    parallelism = parallelism,
    connectivityConfigJson = connectivityJson(anchor.localPort),
)

fun web(vararg urls: String, byteBudget: ULong? = null) =
    RunRequest(suites = listOf(Suite.WEB), webUrls = urls.toList(), byteBudget = byteBudget)

// ---------------------------------------------------------------- the tests

val mainThread: Thread = Thread.currentThread()

fun versionIsTheLibrarys() {
    check(Regex("""^\d+\.\d+\.\d+""").containsMatchIn(kuzetVersion())) { "version ${kuzetVersion()}" }
}

/** The records' literal defaults (bindings/src/types.rs) are the engine's (kuzet_core::engine). */
fun recordDefaultsAreTheEngines() {
    checkEqual(defaultDataBudgets(), DataBudgets(), "DataBudgets() with its defaults")
    val built = EngineConfig(
        dataDir = "/unused",
        softwareName = "kuzet-kotlin-tests",
        softwareVersion = "1.0",
        consent = Consent(uploadAllowed = false, allowedSuites = listOf()),
        budgets = DataBudgets(),
    )
    checkEqual(defaultParallelism(), built.parallelism, "EngineConfig.parallelism's default")
}

fun suitesSayWhatIsAvailable() {
    Engine(config("suites")).use { engine ->
        val suites = engine.availableSuites()
        checkEqual(Suite.values().toSet(), suites.map { it.suite }.toSet(), "suites listed")
        // Throttling needs a throughput server, which this configuration does not have.
        checkEqual(listOf(Suite.CONNECTIVITY, Suite.WEB, Suite.MESSAGING), suites.filter { it.available }.map { it.suite }, "available suites")
        check(suites.all { it.description.isNotBlank() }) { "every suite has a description" }
    }
}

fun fullTestNowAgainstALocalSite() {
    LocalSite().use { site -> TestHelperServer().use { helper ->
        Engine(config("full", parallelism = 1u, testHelpers = listOf(helper.url))).use { engine ->
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
            checkEqual(null, page.blocking, "blocking of /page")
            checkEqual("ok", page.verdictDetail, "web_connectivity's verdict of /page")
            checkEqual(200.toUShort(), page.statusCode, "status of /page")
            check(Regex("""^127\.0\.0\.1 loaded normally \(HTTP 200\) in \d+\.\d s\.$""").matches(page.explanation)) {
                "explanation: ${page.explanation}"
            }
            check(page.measurementJson.contains("\"test_name\":\"web_connectivity\"")) { "OONI measurement" }
            check(page.measurementJson.contains("\"x_verdict\":{\"kind\":\"ok\"}")) { "x_verdict" }
            check(page.measurementJson.contains("\"control_failure\":null")) { "the test helper answered" }
            check(page.measurementJson.contains("\"address\":\"${helper.url}\"")) { "test helper named" }
            check(page.measurementJson.contains("\"network_type\":\"wifi\"")) { "network type from the provider" }
            check(page.measurementJson.contains("\"software_name\":\"kuzet-kotlin-tests\"")) { "software name" }
            check(page.measurementJson.contains(page.measurementId)) { "measurement id" }
            // The same 404 from the test helper's network: reachable, not blocked.
            checkEqual(404.toUShort(), summary.results[1].statusCode, "status of /missing")
            checkEqual(Verdict.ACCESSIBLE, summary.results[1].verdict, "verdict of /missing")
            checkEqual(summary.results, recorder.results.toList(), "results delivered as they landed")
            checkEqual(1, provider.calls.get(), "network provider calls")
            check(recorder.progress.first().estimatedTimeLeft != null) { "ETA after the first target" }
            checkEqual(Duration.ZERO, recorder.progress.last().estimatedTimeLeft, "ETA at the end")
            checkEqual(summary.bytesUsed, recorder.progress.last().bytesUsed, "bytes in progress")
            // Callbacks come from Rust worker threads, never the caller's.
            check(recorder.threads.none { it == mainThread }) { "a callback arrived on the calling thread" }
            checkEqual(0u, engine.activeRuns(), "active runs")
        }
    } }
}

/**
 * Runs [block] with a loopback port where nothing listens: a socket is bound to it and never
 * listens, so connects are refused, and no other server can take the port meanwhile (a closed
 * listener's port can go to the next server that binds an ephemeral port).
 */
fun <T> withClosedPort(block: (Int) -> T): T =
    java.net.Socket().use { socket ->
        socket.bind(java.net.InetSocketAddress("127.0.0.1", 0))
        block(socket.localPort)
    }

fun aSiteDownForEveryoneIsDownNotBlocked(): Unit = withClosedPort { closedPort ->
    TestHelperServer().use { helper ->
        Engine(config("down", testHelpers = listOf(helper.url))).use { engine ->
            val result = engine.runBlocking(web("http://127.0.0.1:$closedPort/"), Recorder()).results.single()
            checkEqual(Verdict.DOWN, result.verdict, "verdict")
            checkEqual("site down", result.verdictDetail, "detail")
            checkEqual("connection_refused", result.failure, "failure")
            check(result.explanation.contains("the site seems down for everyone, not blocked here")) {
                "explanation: ${result.explanation}"
            }
            checkEqual(null, result.blocking, "blocking")
        }
    }
}

fun aFailedUrlIsAnAnomalyInPlainWords(): Unit = withClosedPort { closedPort ->
    Engine(config("anomaly")).use { engine ->
        val summary = engine.runBlocking(web("http://127.0.0.1:$closedPort/"), Recorder())
        val result = summary.results.single()
        checkEqual(Verdict.ANOMALY, result.verdict, "verdict")
        checkEqual("connect", result.failedOperation, "failed operation")
        checkEqual("connection_refused", result.failure, "failure")
        checkEqual(
            "127.0.0.1 did not load: the connection was refused while opening a connection. " +
                "No test helper is configured to compare with another network, so this cannot tell blocking from an outage.",
            result.explanation,
            "explanation",
        )
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
            // Plain http with no test helper: it loaded, but nothing proves the page genuine.
            val result = summary.results.single()
            checkEqual(Verdict.UNDETERMINED, result.verdict, "verdict")
            check(result.explanation.contains("cannot confirm it was the site's real page")) { result.explanation }
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

    e = expectThrows<KuzetException.InvalidInput> {
        Engine(config("bad").copy(messagingEndpointsJson = """{"signal": {"urls": []}}"""))
    }
    checkEqual("invalid messaging endpoints: signal.urls is empty", e.message, "message")

    Engine(config("errors", allowed = listOf(Suite.WEB))).use { engine ->
        val listener = Recorder()
        e = expectThrows<KuzetException.NotAllowed> {
            engine.startRun(RunRequest(suites = listOf(Suite.MESSAGING)), listener)
        }
        checkEqual("the user has not allowed the messaging suite", e.message, "message")
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

fun aBackgroundCycleWithoutACollectorChecksAndSamples() {
    // Uploads allowed, but no collector configured: nothing to send to.
    LocalSite().use { site ->
        val cfg = config("background").copy(
            consent = Consent(uploadAllowed = true, allowedSuites = Suite.values().toList()),
            backgroundSampleUrls = (1..5).map { "${site.base}/page$it" },
        )
        Engine(cfg).use { engine ->
            val metered = engine.backgroundCycleBlocking(
                BackgroundRequest(Duration.ofSeconds(30), NetworkContext(kind = NetworkKind.CELLULAR, metered = true))
            )
            val wifi = runBlocking {
                engine.backgroundCycle(BackgroundRequest(Duration.ofSeconds(30), NetworkContext(kind = NetworkKind.WIFI)))
            }
            for (summary in listOf(metered, wifi)) {
                checkEqual(0u, summary.uploaded, "uploaded")
                checkEqual(0u, summary.uploadFailures, "upload failures")
                checkEqual(true, summary.connectivityChecked, "connectivity checked")
                checkEqual(ConnectivityState.OK, summary.connectivity, "connectivity")
                check(summary.bytesUsed > 0uL) { "bytes used" }
                checkEqual(Duration.ofHours(6), summary.nextRunIn, "next run in")
            }
            // The first check starts the timeline; the second finds the same state.
            checkEqual(true, metered.timelineChanged, "first state")
            checkEqual(false, wifi.timelineChanged, "same state")
            // No tests on a metered network; three on Wi-Fi.
            checkEqual(0u, metered.testsRun, "tests on mobile data")
            checkEqual(3u, wifi.testsRun, "tests on Wi-Fi")
            checkEqual(3, engine.resultsHistoryBlocking(0u, 20u).items.size, "sampled results")
            // The network is unknown here (AS0/ZZ): everything is held on the device, not
            // waiting for upload.
            checkEqual(0u, wifi.pending, "pending")
            val held = engine.pendingUploadsBlocking()
            checkEqual(4, held.size, "held: the first state and the three tests")
            check(held.all { it.state == UploadState.HELD }) { "$held" }
            // Airplane mode, as the platform reports it: the device's own state, no probing.
            val airplane = engine.backgroundCycleBlocking(
                BackgroundRequest(
                    Duration.ofSeconds(30),
                    NetworkContext(kind = NetworkKind.OFFLINE, airplaneMode = true, inService = false),
                )
            )
            checkEqual(ConnectivityState.LOCAL_DEVICE, airplane.connectivity, "airplane mode")
            checkEqual(0u, airplane.testsRun, "tests in airplane mode")
        }
    }
}

fun theConnectivitySuiteAndTheTimeline() {
    val local = java.net.ServerSocket(0, 50, java.net.InetAddress.getByName("127.0.0.1"))
    val cfg = config("connectivity").copy(connectivityConfigJson = connectivityJson(local.localPort))
    Engine(cfg).use { engine ->
        engine.setNetworkProvider(KcellProvider())
        val recorder = Recorder()
        val summary = engine.runBlocking(RunRequest(suites = listOf(Suite.CONNECTIVITY)), recorder)
        checkEqual(
            listOf("phase preparing", "phase measuring CONNECTIVITY", "result connectivity", "progress 1/1",
                "phase finished", "finished COMPLETED"),
            recorder.events.toList(),
            "callback order",
        )
        val ok = summary.results.single()
        checkEqual(Suite.CONNECTIVITY, ok.suite, "suite")
        checkEqual(Verdict.ACCESSIBLE, ok.verdict, "verdict")
        checkEqual("ok", ok.verdictDetail, "status")
        check(ok.explanation.contains("reached domestic and international hosts")) { ok.explanation }
        check(ok.measurementJson.contains("\"test_name\":\"kuzet_connectivity\"")) { "measurement" }
        check(ok.measurementJson.contains("\"probe_asn\":\"AS29355\"")) { "ASN" }

        // The anchors go away: a data blackout, as this device sees it.
        local.close()
        val blackout = runBlocking { engine.run(RunRequest(suites = listOf(Suite.CONNECTIVITY)), Recorder()) }.results.single()
        checkEqual(Verdict.ANOMALY, blackout.verdict, "verdict in a blackout")
        checkEqual("data_blackout", blackout.verdictDetail, "status in a blackout")
        check(blackout.explanation.contains("no domestic or international host answered")) { blackout.explanation }

        val timeline = engine.connectivityTimelineBlocking(Instant.EPOCH)
        checkEqual(listOf(ConnectivityState.OK, ConnectivityState.DATA_BLACKOUT), timeline.map { it.state }, "timeline")
        check(timeline.all { it.network == NetworkKind.CELLULAR }) { "$timeline" }
        checkEqual(blackout.explanation, timeline.last().explanation, "timeline explanation")
        checkEqual(timeline, runBlocking { engine.connectivityTimeline(Instant.EPOCH) }, "suspend timeline")
        checkEqual(0, engine.connectivityTimelineBlocking(Instant.now().plusSeconds(60)).size, "since later")
        val history = engine.resultsHistoryBlocking(0u, 10u).items
        checkEqual(listOf(Verdict.ANOMALY, Verdict.ACCESSIBLE), history.map { it.verdict }, "history verdicts")
        check(history.all { it.suite == Suite.CONNECTIVITY }) { "history suites" }
    }
    // A configuration that is not one is refused up front.
    val e = expectThrows<KuzetException.InvalidInput> {
        Engine(config("bad-connectivity").copy(connectivityConfigJson = "{\"anchors\": []}"))
    }
    check(e.message!!.startsWith("connectivity configuration:")) { "message: ${e.message}" }
}

fun theThrottlingSuiteAgainstTheThroughputServer() {
    // Without a throughput server the suite is refused, with a clear message.
    Engine(config("no-throughput")).use { engine ->
        val e = expectThrows<KuzetException.Unavailable> {
            engine.startRun(RunRequest(suites = listOf(Suite.THROTTLING)), Recorder())
        }
        check(e.message!!.contains("needs Kuzet's throughput server")) { "message: ${e.message}" }
    }
    var e: KuzetException = expectThrows<KuzetException.InvalidInput> {
        Engine(config("bad-pin").copy(throughputServer = "127.0.0.1:1", throughputPin = "md5/nope"))
    }
    check(e.message!!.startsWith("invalid pin \"md5/nope\"")) { "message: ${e.message}" }
    e = expectThrows<KuzetException.InvalidInput> { Engine(config("half").copy(throughputServer = "127.0.0.1:1")) }
    check(e.message!!.contains("go together")) { "message: ${e.message}" }

    ThroughputServerProcess().use { server ->
        Engine(config("throttling").copy(throughputServer = server.addr, throughputPin = server.pin)).use { engine ->
            check(engine.availableSuites().single { it.suite == Suite.THROTTLING }.available) { "throttling available" }
            e = expectThrows<KuzetException.InvalidInput> {
                engine.startRun(RunRequest(suites = listOf(Suite.THROTTLING), throttlingTargets = listOf("127.0.0.1")), Recorder())
            }
            check(e.message!!.contains("is not a host name")) { "message: ${e.message}" }

            val recorder = Recorder()
            val summary = engine.runBlocking(
                RunRequest(suites = listOf(Suite.THROTTLING), throttlingTargets = listOf("www.example.org")),
                recorder,
            )
            checkEqual(RunStatus.COMPLETED, summary.status, "status")
            val result = summary.results.single()
            checkEqual(Suite.THROTTLING, result.suite, "suite")
            checkEqual("www.example.org", result.target, "target")
            // On loopback nothing slows one name down; the exact kind depends on timing noise.
            check(result.verdictDetail in setOf("not_throttled", "suspected", "inconclusive")) { result.verdictDetail }
            check(result.verdict != Verdict.BLOCKED) { "blocked on loopback: $result" }
            check(result.bytesReceived > 0uL) { "bytes" }
            check(result.explanation.isNotBlank()) { "explanation" }
            check(result.measurementJson.contains("\"test_name\":\"kuzet_throttling\"")) { "measurement" }
            checkEqual(listOf("phase preparing", "phase measuring THROTTLING", "result www.example.org", "progress 1/1",
                "phase finished", "finished COMPLETED"), recorder.events.toList(), "callback order")
            val item = engine.resultsHistoryBlocking(0u, 10u).items.single()
            checkEqual(Suite.THROTTLING, item.suite, "stored suite")
            checkEqual(result.verdict, item.verdict, "stored verdict")
        }
        // A pin that is not the server's: reported once, nothing measured.
        val wrong = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        Engine(config("throttling-pin").copy(throughputServer = server.addr, throughputPin = wrong)).use { engine ->
            val summary = engine.runBlocking(
                RunRequest(suites = listOf(Suite.THROTTLING), throttlingTargets = listOf("a.example", "b.example")),
                Recorder(),
            )
            val result = summary.results.single()
            checkEqual(Verdict.UNDETERMINED, result.verdict, "verdict with a wrong pin")
            check(result.explanation.contains("presented another key")) { result.explanation }
            checkEqual(0, engine.resultsHistoryBlocking(0u, 10u).items.size, "nothing stored")
        }
    }
    checkEqual(7, BlockingMethod.values().size, "blocking methods")
}

fun historyPendingUploadsAndDataUseFollowARun() {
    LocalSite().use { site ->
        Engine(config("history")).use { engine ->
            checkEqual(0, engine.resultsHistoryBlocking(0u, 20u).items.size, "history before a run")
            checkEqual(0, engine.pendingUploadsBlocking().size, "pending before a run")
            checkEqual(0uL, engine.dataUsedThisMonthBlocking().bytesUsed, "bytes before a run")
            expectThrows<KuzetException.InvalidInput> { engine.resultDetailBlocking("some-id") }
            expectThrows<KuzetException.InvalidInput> { engine.resultsHistoryBlocking(0u, 0u) }
            expectThrows<KuzetException.InvalidInput> { runBlocking { engine.resultDetail("some-id") } }
            expectThrows<KuzetException.InvalidInput> { runBlocking { engine.resultsHistory(0u, 501u) } }

            val summary = engine.runBlocking(web("${site.base}/", "${site.base}/page"), Recorder())
            checkEqual(2, summary.results.size, "results")

            val page = engine.resultsHistoryBlocking(0u, 1u)
            checkEqual(1, page.items.size, "first page")
            checkEqual(1u, page.nextOffset, "next offset")
            val all = engine.resultsHistoryBlocking(0u, 20u)
            checkEqual(2, all.items.size, "history after a run")
            checkEqual(null, all.nextOffset, "last page")
            checkEqual(
                summary.results.map { it.measurementId }.reversed(),
                all.items.map { it.id },
                "newest first",
            )
            val item = all.items.first()
            checkEqual(Suite.WEB, item.suite, "suite")
            // No test helper and plain http: the history keeps the run's own verdict.
            checkEqual(Verdict.UNDETERMINED, item.verdict, "verdict")
            checkEqual(null, item.blocking, "blocking")
            // The probe's network is unknown (AS0/ZZ): kept on the device, not uploaded.
            checkEqual(UploadState.HELD, item.uploadState, "upload state")

            val detail = engine.resultDetailBlocking(item.id)
            checkEqual(item, detail.item, "detail's item")
            check(detail.explanation.contains("loaded (HTTP 200)")) { detail.explanation }
            check(detail.measurementJson.contains(item.id)) { "measurement JSON has the id" }

            val pending = engine.pendingUploadsBlocking()
            checkEqual(all.items.map { it.id }.toSet(), pending.map { it.measurementId }.toSet(), "pending ids")
            check(pending.all { it.state == UploadState.HELD && it.lastError == null }) { "$pending" }

            checkEqual(summary.bytesUsed, engine.dataUsedThisMonthBlocking().bytesUsed, "bytes this month")
            checkEqual(0, engine.connectivityTimelineBlocking(Instant.EPOCH).size, "timeline")

            // The suspend forms read the same store off the caller's thread.
            runBlocking {
                checkEqual(all, engine.resultsHistory(0u, 20u), "suspend history")
                checkEqual(detail, engine.resultDetail(item.id), "suspend detail")
                checkEqual(pending, engine.pendingUploads(), "suspend pending uploads")
                checkEqual(listOf(), engine.connectivityTimeline(Instant.EPOCH), "suspend timeline")
                checkEqual(engine.dataUsedThisMonthBlocking(), engine.dataUsedThisMonth(), "suspend data used")
                engine.wipe()
                checkEqual(0, engine.resultsHistory(0u, 20u).items.size, "history after wipe")
                checkEqual(0, engine.pendingUploads().size, "pending after wipe")
            }
        }
    }
}

fun aBackgroundCycleFlushesTheQueueToALocalCollector() {
    LocalSite().use { site -> LocalCollector().use { collector ->
        val uploadable = config("flush").copy(
            collectorUrl = collector.url,
            consent = Consent(uploadAllowed = true, allowedSuites = Suite.values().toList()),
        )
        Engine(uploadable).use { engine ->
            engine.setNetworkProvider(KcellProvider())
            val summary = engine.runBlocking(web("${site.base}/", "${site.base}/page"), Recorder())
            checkEqual(2, summary.results.size, "results")
            // The network is named from the MCC-MNC: the measurements wait in the queue.
            check(engine.pendingUploadsBlocking().all { it.state == UploadState.QUEUED }) { "${engine.pendingUploadsBlocking()}" }

            // Kuzet's own uploader: submissions are gzip-compressed.
            val cycle = runBlocking {
                engine.backgroundCycle(BackgroundRequest(Duration.ofSeconds(30), KcellProvider().currentNetwork()))
            }
            // The two measurements and the connectivity check's first state.
            checkEqual(3u, cycle.uploaded, "uploaded")
            checkEqual(true, cycle.connectivityChecked, "connectivity checked")
            checkEqual(0u, cycle.uploadFailures, "upload failures")
            checkEqual(0u, cycle.pending, "pending")
            checkEqual(0, engine.pendingUploadsBlocking().size, "queue after the cycle")
            check(engine.resultsHistoryBlocking(0u, 10u).items.all { it.uploadState == UploadState.UPLOADED }) { "uploaded states" }
            checkEqual(listOf("gzip", "gzip", "gzip"), collector.encodings.toList(), "encodings")
            val received = collector.submitted.map { Regex("\"id\":\"([^\"]+)\"").find(it)!!.groupValues[1] }.toSet()
            check(received.containsAll(summary.results.map { it.measurementId })) { "measurements received: $received" }
            checkEqual(1, collector.submitted.count { it.contains("\"test_name\":\"kuzet_connectivity\"") }, "the check's record")
        }

        // Through the app's uploader: plain bodies, on Kuzet's threads.
        val uploader = JavaUploader()
        Engine(uploadable.copy(dataDir = File(tempRoot, "flush-app").absolutePath)).use { engine ->
            engine.setNetworkProvider(KcellProvider())
            engine.setUploader(uploader)
            engine.runBlocking(web("${site.base}/"), Recorder())
            val cycle = engine.backgroundCycleBlocking(BackgroundRequest(Duration.ofSeconds(30), KcellProvider().currentNetwork()))
            checkEqual(2u, cycle.uploaded, "uploaded through the app (the test and the check's first state)")
            check(uploader.calls.get() >= 2) { "the app's uploader opened a report and submitted" }
            check(uploader.threads.none { it == mainThread }) { "upload on the calling thread" }
            checkEqual("identity", collector.encodings.last(), "plain body from the app's uploader")
        }

        checkEqual(5, collector.submitted.size, "measurements at the collector")
        val addresses = ownAddresses()
        for (body in collector.opened + collector.submitted) {
            check(body.contains("\"probe_asn\":\"AS29355\"")) { "ASN from the network context: $body" }
            check(body.contains("\"probe_cc\":\"KZ\"")) { "country from the network context: $body" }
            check(!body.contains("401-02") && !body.contains("40102")) { "MCC-MNC uploaded: $body" }
            for (address in addresses) check(!body.contains(address)) { "this machine's address $address uploaded" }
        }
        for (body in collector.submitted) {
            check(body.contains("\"probe_network_name\":\"Kcell JSC\"")) { "network name: $body" }
            check(body.contains("\"probe_ip\":\"127.0.0.1\"")) { "probe_ip is OONI's placeholder: $body" }
            check(body.contains("\"test_name\":\"web_connectivity\"") || body.contains("\"test_name\":\"kuzet_connectivity\"")) { "test name: $body" }
            if (body.contains("\"test_name\":\"web_connectivity\"")) {
                check(body.contains("\"network_type\":\"mobile\"")) { "network type: $body" }
            }
        }
    } }
}

fun wipeEmptiesTheDataDirectory() {
    val cfg = config("wipe")
    Engine(cfg).use { engine ->
        val dir = File(cfg.dataDir)
        check(dir.isDirectory) { "data directory created" }
        File(dir, "sub").mkdirs()
        File(dir, "sub/file").writeText("x")
        File(dir, "file").writeText("y")
        engine.wipeBlocking()
        check(dir.isDirectory) { "data directory kept" }
        checkEqual(0, dir.list()!!.size, "entries after wipe")
    }
}

fun uploaderCanBeSetAndCleared() {
    class RecordingUploader : Uploader {
        override fun upload(request: UploadRequest): UploadOutcome =
            UploadOutcome.Failed("never called: this engine has no collector")
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
        "record defaults are the engine's" to ::recordDefaultsAreTheEngines,
        "suites say what is available" to ::suitesSayWhatIsAvailable,
        "full test now against a local site" to ::fullTestNowAgainstALocalSite,
        "a failed URL is an anomaly in plain words" to ::aFailedUrlIsAnAnomalyInPlainWords,
        "a site down for everyone is down, not blocked" to ::aSiteDownForEveryoneIsDownNotBlocked,
        "async run returns the summary" to ::asyncRunReturnsTheSummary,
        "blocking run returns the summary" to ::blockingRunReturnsTheSummary,
        "cancelling a running test stops it at once" to ::cancellingARunningTestStopsItAtOnce,
        "cancelling the coroutine cancels the run" to ::cancellingTheCoroutineCancelsTheRun,
        "closing the handle cancels the run" to ::droppingTheHandleCancelsTheRun,
        "the byte budget stops new targets" to ::byteBudgetStopsNewTargets,
        "a throwing listener does not stop the run" to ::aThrowingListenerDoesNotStopTheRun,
        "errors are subclasses with useful messages" to ::errorsAreSubclassesWithUsefulMessages,
        "a background cycle without a collector checks and samples" to ::aBackgroundCycleWithoutACollectorChecksAndSamples,
        "the connectivity suite and the timeline" to ::theConnectivitySuiteAndTheTimeline,
        "the throttling suite against the throughput server" to ::theThrottlingSuiteAgainstTheThroughputServer,
        "history, pending uploads and data use follow a run" to ::historyPendingUploadsAndDataUseFollowARun,
        "a background cycle flushes the queue to a local collector" to ::aBackgroundCycleFlushesTheQueueToALocalCollector,
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
