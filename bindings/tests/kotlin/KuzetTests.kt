// Tests of Kuzet's Kotlin bindings on the JVM, against the host-built library.
// Run by scripts/test-bindings-kotlin.sh; compiled with -Werror together with the generated
// bindings (package org.kuzet: the engine, its configuration, the platform's interfaces and the
// shared rules; package org.kuzet.core: core's records and enums, from results and verdicts to
// the network context). A tiny runner: each test is a named function; the last line is
// "kotlin: N passed, N failed". KUZET_TEST_ONLY=<text> runs only the tests whose name has it.
//
// Every engine checks the network before web, messaging and throttling and conditions its
// verdicts on it, so every engine here has loopback anchors (`connectivityJson`): anchors that
// answer, or a closed port for a device with no way out. Nothing leaves the machine.

package org.kuzet.tests

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.kuzet.Engine
import org.kuzet.EngineConfig
import org.kuzet.InternalException
import org.kuzet.KuzetException
import org.kuzet.LogLevel
import org.kuzet.Logger
import org.kuzet.NetworkContextProvider
import org.kuzet.RunListener
import org.kuzet.UploadOutcome
import org.kuzet.UploadRequest
import org.kuzet.UploadState
import org.kuzet.Uploader
import org.kuzet.clearLogger
import org.kuzet.core.BackgroundRequest
import org.kuzet.core.ConnectivityStatus
import org.kuzet.core.Consent
import org.kuzet.core.DataBudgets
import org.kuzet.core.GroupCount
import org.kuzet.core.MessagingVerdict
import org.kuzet.core.NetworkContext
import org.kuzet.core.NetworkKind
import org.kuzet.core.NotMeasured
import org.kuzet.core.RunPhase
import org.kuzet.core.RunProgress
import org.kuzet.core.RunRequest
import org.kuzet.core.RunStatus
import org.kuzet.core.RunSummary
import org.kuzet.core.Suite
import org.kuzet.core.TargetResult
import org.kuzet.core.ThrottlingVerdict
import org.kuzet.core.Verdict
import org.kuzet.core.VerdictGroup
import org.kuzet.core.WebVerdict
import org.kuzet.defaultDataBudgets
import org.kuzet.defaultParallelism
import org.kuzet.kuzetVersion
import org.kuzet.setLogger
import org.kuzet.verdictGroup
import org.kuzet.verdictWord
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
import java.util.concurrent.ConcurrentHashMap
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
    val port: Int get() = server.address.port

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

/** A minimal JSON reader for the measurements the listener and `resultDetail` hand over:
 *  objects become maps, arrays lists, numbers doubles. */
object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        val value = reader.value()
        reader.space()
        if (reader.at != text.length) throw Failure("trailing text in JSON at ${reader.at}")
        return value
    }

    private class Reader(val text: String) {
        var at = 0

        fun space() {
            while (at < text.length && text[at].isWhitespace()) at++
        }

        private fun expect(c: Char) {
            if (at >= text.length || text[at] != c) throw Failure("JSON: expected '$c' at $at")
            at++
        }

        fun value(): Any? {
            space()
            if (at >= text.length) throw Failure("JSON: unexpected end")
            return when (text[at]) {
                '{' -> obj()
                '[' -> list()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> number()
            }
        }

        private fun literal(word: String, value: Any?): Any? {
            if (!text.startsWith(word, at)) throw Failure("JSON: bad literal at $at")
            at += word.length
            return value
        }

        private fun number(): Double {
            val start = at
            while (at < text.length && (text[at].isDigit() || text[at] in "+-.eE")) at++
            return text.substring(start, at).toDoubleOrNull() ?: throw Failure("JSON: bad number at $start")
        }

        private fun string(): String {
            expect('"')
            val out = StringBuilder()
            while (text[at] != '"') {
                if (text[at] == '\\') {
                    at++
                    when (val c = text[at]) {
                        'n' -> out.append('\n')
                        't' -> out.append('\t')
                        'r' -> out.append('\r')
                        'b' -> out.append('\b')
                        'f' -> out.append('\u000c')
                        'u' -> {
                            out.append(text.substring(at + 1, at + 5).toInt(16).toChar())
                            at += 4
                        }
                        else -> out.append(c)
                    }
                } else {
                    out.append(text[at])
                }
                at++
            }
            at++
            return out.toString()
        }

        private fun list(): List<Any?> {
            expect('[')
            val items = mutableListOf<Any?>()
            space()
            if (text[at] == ']') return items.also { at++ }
            while (true) {
                items.add(value())
                space()
                if (text[at] == ',') { at++; continue }
                expect(']')
                return items
            }
        }

        private fun obj(): Map<String, Any?> {
            expect('{')
            val members = LinkedHashMap<String, Any?>()
            space()
            if (text[at] == '}') return members.also { at++ }
            while (true) {
                space()
                val key = string()
                space()
                expect(':')
                members[key] = value()
                space()
                if (text[at] == ',') { at++; continue }
                expect('}')
                return members
            }
        }
    }
}

/** The value at `path` (object keys) in parsed JSON, or null. */
fun Any?.at(vararg path: String): Any? = path.fold(this) { node, key -> (node as? Map<*, *>)?.get(key) }

/** The verdict word a measurement carries in its suite's x_ key: web `x_verdict.kind`,
 *  messaging and connectivity `x_status`, throttling `x_throttling.verdict`. */
fun xWord(measurementJson: String): String? {
    val measurement = Json.parse(measurementJson)
    val keys = measurement.at("test_keys")
    return when (measurement.at("test_name")) {
        "web_connectivity" -> keys.at("x_verdict", "kind")
        "kuzet_throttling" -> keys.at("x_throttling", "verdict")
        "kuzet_connectivity", "whatsapp", "telegram", "signal", "facebook_messenger" -> keys.at("x_status")
        else -> throw Failure("no x_ verdict key known for ${measurement.at("test_name")}")
    } as? String
}

/** A phone on Kcell's mobile data: MCC-MNC 401-02, nothing else known. */
class KcellProvider : NetworkContextProvider {
    override fun currentNetwork(): NetworkContext =
        NetworkContext(kind = NetworkKind.CELLULAR, metered = true, mccMnc = "401-02")
}

class WifiProvider : NetworkContextProvider {
    val calls = AtomicInteger(0)
    override fun currentNetwork(): NetworkContext {
        calls.incrementAndGet()
        return NetworkContext(kind = NetworkKind.WIFI, metered = false, constrained = false)
    }
}

/** Records every callback, with the thread it arrived on, and each result's measurement. */
class Recorder(private val throwInCallbacks: Boolean = false) : RunListener {
    val events = CopyOnWriteArrayList<String>()
    val threads = CopyOnWriteArrayList<Thread>()
    val results = CopyOnWriteArrayList<TargetResult>()
    /** The measurement JSON of each result, by measurement id. */
    val measurements = ConcurrentHashMap<String, String>()
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
                is RunPhase.CheckingNetwork -> "phase checking network"
                is RunPhase.Measuring -> "phase measuring ${phase.suite}"
                is RunPhase.Confirming -> "phase confirming"
                is RunPhase.Finished -> "phase finished"
            }
        )
        if (throwInCallbacks) throw IllegalStateException("listener bug")
    }

    override fun onTargetResult(result: TargetResult, measurementJson: String) {
        results.add(result)
        measurements[result.measurementId] = measurementJson
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

    fun awaitFinished(seconds: Long = 30): RunSummary {
        check(finished.await(seconds, TimeUnit.SECONDS)) { "onFinished did not arrive within $seconds s; events: $events" }
        return summary!!
    }

    /** The measurement of the result for `target`, parsed. */
    fun measurementOf(target: String): Any? {
        val result = results.singleOrNull { it.target == target } ?: throw Failure("no single result for $target: $results")
        return Json.parse(measurements[result.measurementId]!!)
    }
}

val tempRoot: File = Files.createTempDirectory("kuzet-kotlin-tests").toFile()

/** The connectivity check's configuration: two loopback anchors (domestic, international) on
 *  `port`, by TCP connect, named `localhost` (the hosts file): nothing leaves the machine. A
 *  port where nothing listens gives a data blackout, as this device would see a shutdown. */
fun connectivityJson(port: Int): String =
    """{"anchors": [
        {"name": "localhost", "group": "domestic", "pinned_ips": ["127.0.0.1"], "port": $port, "probe": "tcp_connect"},
        {"name": "localhost", "group": "international", "pinned_ips": ["127.0.0.1"], "port": $port, "probe": "tcp_connect"}
       ], "rechecks": {"count": 0, "delay": 0}, "timeouts": {"dns": 1000, "probe": 1000}}"""

/** Every messaging app's endpoints at one loopback `port`: its TCP endpoints, its web pages
 *  and backends over plain http, Telegram's data centre, Facebook's services (expected on
 *  127.0.0.1). A local site makes every app reachable; a closed port blocks every one. */
fun messagingJson(port: Int): String {
    val url = "http://127.0.0.1:$port/"
    val services = listOf("b_api", "b_graph", "edge", "external_cdn", "scontent_cdn", "star")
        .joinToString(", ") { """{"service": "$it", "host": "127.0.0.1", "port": $port}""" }
    return """{
        "whatsapp": {"endpoints": [{"host": "127.0.0.1", "port": $port}],
                     "registration_url": "${url}v2/register", "web_url": "$url"},
        "telegram": {"datacenters": ["127.0.0.1:$port"], "web_url": "$url"},
        "signal": {"urls": ["$url"], "dns_only": []},
        "facebook_messenger": {"services": [{"service": "stun", "host": "127.0.0.1"}, $services],
                               "expected_networks": ["127.0.0.1/32"]}
    }"""
}

val APPS = listOf("whatsapp", "telegram", "signal", "facebook_messenger")

/** A loopback port that accepts (and closes) connections until closed: anchors that answer. A
 *  listener that never accepts would stop answering once its backlog filled up. */
class Anchors : AutoCloseable {
    private val socket = java.net.ServerSocket(0, 50, java.net.InetAddress.getByName("127.0.0.1"))
    val port: Int = socket.localPort

    init {
        Thread({
            while (true) {
                try {
                    socket.accept().close()
                } catch (_: java.io.IOException) {
                    return@Thread
                }
            }
        }, "anchors").apply { isDaemon = true }.start()
    }

    override fun close() = socket.close()
}

/** Every engine's anchors for the whole run, so no test ever probes the built-in (public)
 *  anchors. */
val anchor = Anchors()

fun config(
    name: String,
    allowed: List<Suite> = Suite.values().toList(),
    parallelism: UInt = defaultParallelism(),
    testHelpers: List<String> = listOf(),
    anchorPort: Int = anchor.port,
): EngineConfig = EngineConfig(
    dataDir = File(tempRoot, name).absolutePath,
    softwareName = "kuzet-kotlin-tests",
    softwareVersion = "1.0",
    testHelperUrls = testHelpers,
    consent = Consent(uploadAllowed = false, allowedSuites = allowed),
    budgets = DataBudgets(),
    parallelism = parallelism,
    connectivityConfigJson = connectivityJson(anchorPort),
)

fun web(vararg urls: String, byteBudget: ULong? = null) =
    RunRequest(suites = listOf(Suite.WEB), webUrls = urls.toList(), byteBudget = byteBudget)

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

/** Equal verdicts; a throttling ratio read back from the store may differ in its last digit. */
fun checkSameVerdict(expected: Verdict, actual: Verdict, what: String) {
    val ratio = { v: Verdict ->
        when (val t = (v as? Verdict.Throttling)?.v1) {
            is ThrottlingVerdict.NotThrottled -> t.medianRatio
            is ThrottlingVerdict.Suspected -> t.medianRatio
            is ThrottlingVerdict.Throttled -> t.medianRatio
            else -> null
        }
    }
    val (a, b) = ratio(expected) to ratio(actual)
    if (a != null && b != null) {
        checkEqual(expected::class, actual::class, what)
        check(Math.abs(a - b) <= 1e-12 * Math.abs(a)) { "$what: expected <$expected>, got <$actual>" }
    } else {
        checkEqual(expected, actual, what)
    }
}

/**
 * The same word everywhere for every result `recorder` heard: live, in the history, in the
 * measurement the listener was given (its x_ key) and in the one `resultDetail` reads back.
 * Returns the words by target.
 */
fun checkSameWords(engine: Engine, recorder: Recorder): Map<String, String> {
    val history = engine.resultsHistoryBlocking(0u, 500u).items.associateBy { it.result.measurementId }
    val words = LinkedHashMap<String, String>()
    for (live in recorder.results) {
        val what = "${live.target} (${live.word})"
        val stored = history[live.measurementId]?.result ?: throw Failure("$what is not in the history")
        checkEqual(live.word, stored.word, "$what: word in the history")
        checkEqual(live.group, stored.group, "$what: group in the history")
        checkSameVerdict(live.verdict, stored.verdict, "$what: verdict in the history")
        checkEqual(live.explanation, stored.explanation, "$what: explanation in the history")
        checkEqual(live.word, xWord(recorder.measurements[live.measurementId]!!), "$what: x_ word of the live measurement")
        val detail = engine.resultDetailBlocking(live.measurementId)
        checkEqual(live.word, detail.item.result.word, "$what: word in the detail")
        checkEqual(live.word, xWord(detail.measurementJson), "$what: x_ word of the stored measurement")
        words[live.target] = live.word
    }
    return words
}

// ---------------------------------------------------------------- the tests

val mainThread: Thread = Thread.currentThread()

fun versionIsTheLibrarys() {
    check(Regex("""^\d+\.\d+\.\d+""").containsMatchIn(kuzetVersion())) { "version ${kuzetVersion()}" }
}

/** The records' literal defaults (bindings/src/types.rs, core's DataBudgets) are the engine's
 *  (kuzet_core::engine). */
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
    checkEqual(null, built.connectivityConfigJson, "the built-in anchors by default")
    val request = RunRequest(suites = listOf(Suite.WEB))
    checkEqual(listOf<String>(), request.webUrls, "RunRequest.webUrls' default")
    checkEqual(null, request.byteBudget, "RunRequest.byteBudget's default")
    checkEqual(listOf<String>(), request.throttlingTargets, "RunRequest.throttlingTargets' default")
}

fun suitesSayWhatIsAvailable() {
    Engine(config("suites")).use { engine ->
        val suites = engine.availableSuites()
        checkEqual(Suite.values().toList(), suites.map { it.suite }, "suites listed, in order")
        // The urls suite is the command line's; throttling needs a throughput server, which
        // this configuration does not have.
        checkEqual(listOf(Suite.CONNECTIVITY, Suite.WEB, Suite.MESSAGING), suites.filter { it.available }.map { it.suite }, "available suites")
        check(suites.all { it.description.isNotBlank() }) { "every suite has a description" }
        val e = expectThrows<KuzetException.Unavailable> {
            engine.startRun(RunRequest(suites = listOf(Suite.URLS)), Recorder())
        }
        check(e.message!!.contains("command line")) { "message: ${e.message}" }
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
            checkEqual(listOf<NotMeasured>(), summary.notMeasured, "not measured")
            checkEqual(listOf<String>(), summary.problems, "problems")
            checkEqual(ConnectivityStatus.OK, summary.network, "the network check before the run")
            check(summary.startedAt <= Instant.now()) { "started at" }
            check(summary.duration > Duration.ZERO) { "duration" }
            checkEqual(
                listOf(
                    "phase preparing",
                    "phase checking network",
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
            checkEqual(Verdict.Web(WebVerdict.Ok), page.verdict, "verdict of /page")
            checkEqual("ok", page.word, "word of /page")
            checkEqual(VerdictGroup.OK, page.group, "group of /page")
            checkEqual(200.toUShort(), page.statusCode, "status of /page")
            check(page.bytesReceived > 0uL) { "bytes received" }
            check(page.measuredAt <= Instant.now()) { "measured at" }
            check(Regex("""^127\.0\.0\.1 loaded normally \(HTTP 200\) in \d+\.\d s\.$""").matches(page.explanation)) {
                "explanation: ${page.explanation}"
            }
            val measurement = recorder.measurementOf(urls[0])
            checkEqual("web_connectivity", measurement.at("test_name"), "test_name")
            checkEqual(page.measurementId, measurement.at("id"), "measurement id")
            checkEqual("ok", measurement.at("test_keys", "x_verdict", "kind"), "x_verdict")
            checkEqual("ok", measurement.at("test_keys", "x_network", "before", "status"), "the check before it")
            check((measurement.at("test_keys") as Map<*, *>).let { it.containsKey("control_failure") && it["control_failure"] == null }) {
                "the test helper answered"
            }
            checkEqual(helper.url, measurement.at("test_helpers", "backend", "address"), "test helper named")
            checkEqual("wifi", measurement.at("annotations", "network_type"), "network type from the provider")
            checkEqual("kuzet-kotlin-tests", measurement.at("software_name"), "software name")
            // The same 404 from the test helper's network: reachable, not blocked.
            checkEqual(404.toUShort(), summary.results[1].statusCode, "status of /missing")
            checkEqual("ok", summary.results[1].word, "word of /missing")
            checkEqual(summary.results, recorder.results.toList(), "results delivered as they landed")
            checkEqual(1, provider.calls.get(), "network provider calls")
            check(recorder.progress.first().estimatedTimeLeft != null) { "ETA after the first target" }
            checkEqual(Duration.ZERO, recorder.progress.last().estimatedTimeLeft, "ETA at the end")
            checkEqual(summary.bytesUsed, recorder.progress.last().bytesUsed, "bytes in progress")
            checkEqual(DataBudgets().runBytes, recorder.progress.last().byteBudget, "byte budget in progress")
            // Callbacks come from Rust worker threads, never the caller's.
            check(recorder.threads.none { it == mainThread }) { "a callback arrived on the calling thread" }
            checkEqual(0u, engine.activeRuns(), "active runs")
        }
    } }
}

fun aFailedUrlWithoutAComparisonIsUnclear(): Unit = withClosedPort { closedPort ->
    Engine(config("unclear")).use { engine ->
        val url = "http://127.0.0.1:$closedPort/"
        val recorder = Recorder()
        val summary = engine.runBlocking(web(url), recorder)
        val result = summary.results.single()
        val verdict = (result.verdict as? Verdict.Web)?.v1
        check(verdict is WebVerdict.Undetermined && verdict.failed) { "verdict: ${result.verdict}" }
        checkEqual("undetermined", result.word, "word")
        checkEqual(VerdictGroup.UNCLEAR, result.group, "group")
        checkEqual("connect", result.failedOperation, "failed operation")
        checkEqual("connection_refused", result.failure, "failure")
        checkEqual(
            "127.0.0.1 did not load: the connection was refused while opening a connection. " +
                "No test helper is configured to compare with another network, so this cannot tell blocking from an outage.",
            result.explanation,
            "explanation",
        )
        // A claim: held until a check after it showed the network worked, then reported.
        checkEqual(
            listOf("phase preparing", "phase checking network", "phase measuring WEB", "phase confirming",
                "result $url", "progress 1/1", "phase finished", "finished COMPLETED"),
            recorder.events.toList(),
            "callback order",
        )
        checkEqual("ok", recorder.measurementOf(url).at("test_keys", "x_network", "after", "status"), "the check after it")
    }
}

fun aSiteDownForEveryoneIsDownNotBlocked(): Unit = withClosedPort { closedPort ->
    TestHelperServer().use { helper ->
        Engine(config("down", testHelpers = listOf(helper.url))).use { engine ->
            val result = engine.runBlocking(web("http://127.0.0.1:$closedPort/"), Recorder()).results.single()
            checkEqual(Verdict.Web(WebVerdict.SiteDown), result.verdict, "verdict")
            checkEqual("site_down", result.word, "word")
            checkEqual(VerdictGroup.DOWN, result.group, "group")
            checkEqual("connection_refused", result.failure, "failure")
            check(result.explanation.contains("the site seems down for everyone, not blocked here")) {
                "explanation: ${result.explanation}"
            }
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
            // Plain http with no test helper: it loaded, but nothing proves the page genuine.
            val result = summary.results.single()
            val verdict = (result.verdict as? Verdict.Web)?.v1
            check(verdict is WebVerdict.Undetermined && !verdict.failed) { "verdict: ${result.verdict}" }
            checkEqual("undetermined", result.word, "word")
            checkEqual(VerdictGroup.UNVERIFIED, result.group, "group")
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
            checkEqual(urls.map { NotMeasured(Suite.WEB, it) }, summary.notMeasured, "not measured, in plan order")
            waitUntil(2000, "the handle to finish") { handle.isFinished() }
            checkEqual(0u, engine.activeRuns(), "active runs after cancel")
            handle.cancel() // idempotent
            Thread.sleep(200)
            checkEqual(2, site.slowRequests.get(), "no request started after cancel")
            checkEqual(listOf("phase finished", "finished CANCELLED"), recorder.events.takeLast(2), "last events")
        }
    }
}

/** cancel() keeps what finished: the result that landed is stored, queued for upload and in
 *  the summary; the URLs still loading or not started are listed as not measured. */
fun cancelKeepsWhatFinished() {
    LocalSite().use { site ->
        Engine(config("cancel-keeps", parallelism = 2u)).use { engine ->
            // A known network (Kcell's): measurements wait in the upload queue, not on hold.
            engine.setNetworkProvider(KcellProvider())
            val recorder = Recorder()
            val quick = "${site.base}/page"
            val slow = (1..3).map { "${site.base}/slow$it" }
            val startedAt = System.nanoTime()
            val handle = engine.startRun(web(quick, *slow.toTypedArray()), recorder)
            waitUntil(10_000, "the first result") { recorder.results.isNotEmpty() }
            handle.cancel()
            val cancelledAt = System.nanoTime()
            val summary = recorder.awaitFinished(10)
            val cancelMs = (System.nanoTime() - cancelledAt) / 1_000_000
            val runMs = (System.nanoTime() - startedAt) / 1_000_000
            check(cancelMs < 3000) { "cancel took $cancelMs ms" }
            check(runMs < 10_000) { "the run took $runMs ms (the slow pages answer after 30 s)" }

            checkEqual(RunStatus.CANCELLED, summary.status, "status")
            val finished = summary.results.single()
            checkEqual(quick, finished.target, "the finished result")
            checkEqual(recorder.results.toList(), summary.results, "the summary keeps what the listener heard")
            checkEqual(slow.map { NotMeasured(Suite.WEB, it) }, summary.notMeasured, "not measured")

            val stored = engine.resultsHistoryBlocking(0u, 10u).items
            checkEqual(listOf(finished.measurementId), stored.map { it.result.measurementId }, "stored results")
            checkEqual(finished.word, stored[0].result.word, "the stored word")
            checkEqual(finished.group, stored[0].result.group, "the stored group")
            checkEqual(UploadState.QUEUED, stored[0].uploadState, "its upload state")
            val queued = engine.pendingUploadsBlocking().singleOrNull { it.measurementId == finished.measurementId }
            checkEqual(UploadState.QUEUED, queued?.state, "in the upload queue")
            checkEqual(finished.word, xWord(engine.resultDetailBlocking(finished.measurementId).measurementJson), "the stored measurement's word")
            checkEqual(verdictWord(finished.verdict), finished.word, "the verdict's word")
            checkEqual(verdictGroup(finished.verdict), finished.group, "the verdict's group")

            // Listed as a past run: cancelled, its one result, the rest not measured.
            val past = engine.pastRunsBlocking(10u).single()
            checkEqual(RunStatus.CANCELLED, past.status, "the past run's status")
            checkEqual(listOf(Suite.WEB), past.suites, "the past run's suites")
            checkEqual(1uL, past.results, "the past run's results")
            checkEqual(listOf(GroupCount(finished.group, 1uL)), past.groups, "the past run's groups")
            checkEqual(summary.notMeasured, past.notMeasured, "the past run's not measured")
            checkEqual(past.run, stored[0].run, "the result's run")
            waitUntil(2000, "no active run") { engine.activeRuns() == 0u }
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

fun byteBudgetStopsNewTargets() {
    LocalSite().use { site ->
        Engine(config("budget", parallelism = 1u)).use { engine ->
            val big = "${site.base}/big"
            val summary = engine.runBlocking(web(big, "$big?2", "$big?3", byteBudget = 5000uL), Recorder())
            checkEqual(RunStatus.BUDGET_EXHAUSTED, summary.status, "status")
            checkEqual(listOf(big), summary.results.map { it.target }, "results")
            checkEqual(listOf("$big?2", "$big?3").map { NotMeasured(Suite.WEB, it) }, summary.notMeasured, "not measured")
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
            checkEqual("finished COMPLETED", recorder.events.last(), "onFinished still called")
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
    e = expectThrows<KuzetException.InvalidInput> { Engine(config("bad").copy(parallelism = 0u)) }
    check(e.message!!.contains("parallelism 0")) { "message: ${e.message}" }
    e = expectThrows<KuzetException.InvalidInput> { Engine(config("bad").copy(backgroundSampleUrls = listOf("ftp://x.example/"))) }
    check(e.message!!.contains("ftp")) { "message: ${e.message}" }
    val file = File(tempRoot, "a-file").apply { writeText("x") }
    e = expectThrows<KuzetException.Storage> { Engine(config("x").copy(dataDir = File(file, "sub").absolutePath)) }
    check(e.message!!.startsWith("cannot create the data directory")) { "message: ${e.message}" }

    e = expectThrows<KuzetException.InvalidInput> {
        Engine(config("bad").copy(messagingEndpointsJson = """{"signal": {"urls": []}}"""))
    }
    checkEqual("invalid messaging endpoints: signal.urls is empty", e.message, "message")
    e = expectThrows<KuzetException.InvalidInput> {
        Engine(config("bad").copy(connectivityConfigJson = "{\"anchors\": []}"))
    }
    check(e.message!!.startsWith("connectivity configuration:")) { "message: ${e.message}" }

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
        e = expectThrows<KuzetException.InvalidInput> { engine.startRun(web("https://example.org/", byteBudget = 0uL), listener) }
        check(e.message!!.contains("byte budget")) { "message: ${e.message}" }
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
                checkEqual(ConnectivityStatus.OK, summary.connectivity, "connectivity")
                checkEqual(Duration.ofHours(6), summary.nextRunIn, "next run in")
            }
            // The first check starts the timeline; the second finds the same state.
            checkEqual(true, metered.timelineChanged, "first state")
            checkEqual(false, wifi.timelineChanged, "same state")
            // No tests on a metered network; three on Wi-Fi.
            checkEqual(0u, metered.testsRun, "tests on mobile data")
            checkEqual(3u, wifi.testsRun, "tests on Wi-Fi")
            check(wifi.bytesUsed > 0uL) { "bytes used by the tests" }
            val sampled = engine.resultsHistoryBlocking(0u, 20u).items
            checkEqual(3, sampled.size, "sampled results")
            check(sampled.all { it.result.target in cfg.backgroundSampleUrls }) { "sampled from the list: $sampled" }
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
            checkEqual(ConnectivityStatus.LOCAL_DEVICE, airplane.connectivity, "airplane mode")
            checkEqual(0u, airplane.testsRun, "tests in airplane mode")
        }
    }
}

fun theConnectivitySuiteAndTheTimeline() {
    val local = Anchors()
    Engine(config("connectivity", anchorPort = local.port)).use { engine ->
        engine.setNetworkProvider(KcellProvider())
        val recorder = Recorder()
        val summary = engine.runBlocking(RunRequest(suites = listOf(Suite.CONNECTIVITY)), recorder)
        checkEqual(
            listOf("phase preparing", "phase checking network", "result connectivity", "progress 1/1",
                "phase finished", "finished COMPLETED"),
            recorder.events.toList(),
            "callback order",
        )
        val ok = summary.results.single()
        checkEqual(Verdict.Connectivity(ConnectivityStatus.OK), ok.verdict, "verdict")
        checkEqual("ok", ok.word, "word")
        checkEqual(VerdictGroup.OK, ok.group, "group")
        checkEqual(ConnectivityStatus.OK, summary.network, "the run's network")
        check(ok.explanation.contains("reached domestic and international hosts")) { ok.explanation }
        val measurement = recorder.measurementOf("connectivity")
        checkEqual("kuzet_connectivity", measurement.at("test_name"), "measurement")
        checkEqual("AS29355", measurement.at("probe_asn"), "ASN")
        checkEqual("ok", measurement.at("test_keys", "x_status"), "x_status")

        // The anchors go away: a data blackout, as this device sees it.
        local.close()
        val blackoutRecorder = Recorder()
        val blackout = runBlocking { engine.run(RunRequest(suites = listOf(Suite.CONNECTIVITY)), blackoutRecorder) }.results.single()
        checkEqual(Verdict.Connectivity(ConnectivityStatus.DATA_BLACKOUT), blackout.verdict, "verdict in a blackout")
        checkEqual("data_blackout", blackout.word, "word in a blackout")
        checkEqual(VerdictGroup.NETWORK_DISRUPTED, blackout.group, "group in a blackout")
        check(blackout.explanation.contains("no domestic or international host answered")) { blackout.explanation }
        checkEqual(mapOf("connectivity" to "data_blackout"), checkSameWords(engine, blackoutRecorder), "words")

        val timeline = engine.connectivityTimelineBlocking(Instant.EPOCH)
        checkEqual(listOf(ConnectivityStatus.OK, ConnectivityStatus.DATA_BLACKOUT), timeline.map { it.state }, "timeline")
        check(timeline.all { it.network == NetworkKind.CELLULAR }) { "$timeline" }
        checkEqual(blackout.explanation, timeline.last().explanation, "timeline explanation")
        checkEqual(timeline, runBlocking { engine.connectivityTimeline(Instant.EPOCH) }, "suspend timeline")
        checkEqual(0, engine.connectivityTimelineBlocking(Instant.now().plusSeconds(60)).size, "since later")
        val history = engine.resultsHistoryBlocking(0u, 10u).items
        checkEqual(listOf("data_blackout", "ok"), history.map { it.result.word }, "history words, newest first")
        check(history.all { it.result.verdict is Verdict.Connectivity }) { "history suites" }
    }
}

fun theMessagingSuiteAgainstLoopbackEndpoints() {
    LocalSite().use { site ->
        Engine(config("messaging").copy(messagingEndpointsJson = messagingJson(site.port))).use { engine ->
            val recorder = Recorder()
            val summary = engine.runBlocking(RunRequest(suites = listOf(Suite.MESSAGING)), recorder)
            checkEqual(RunStatus.COMPLETED, summary.status, "status")
            checkEqual(APPS, summary.results.map { it.target }, "every app, in order")
            for (result in summary.results) {
                check(result.verdict is Verdict.Messaging && (result.verdict as Verdict.Messaging).v1 is MessagingVerdict.Ok) {
                    "${result.target}: ${result.verdict} ${result.explanation}"
                }
                checkEqual("ok", result.word, "${result.target}: word")
                checkEqual(VerdictGroup.OK, result.group, "${result.target}: group")
            }
            checkEqual(APPS, recorder.results.map { Json.parse(recorder.measurements[it.measurementId]!!).at("test_name") }, "test names")
        }
    }
    // Every endpoint at a closed port: every app blocked, confirmed by a check after it.
    withClosedPort { closedPort ->
        Engine(config("messaging-blocked").copy(messagingEndpointsJson = messagingJson(closedPort))).use { engine ->
            val recorder = Recorder()
            val summary = engine.runBlocking(RunRequest(suites = listOf(Suite.MESSAGING)), recorder)
            checkEqual(APPS.toSet(), summary.results.map { it.target }.toSet(), "every app")
            for (result in summary.results) {
                val verdict = (result.verdict as? Verdict.Messaging)?.v1
                check(verdict is MessagingVerdict.Blocked) { "${result.target}: ${result.verdict}" }
                checkEqual("blocked", result.word, "${result.target}: word")
                checkEqual(VerdictGroup.BLOCKED, result.group, "${result.target}: group")
                checkEqual("ok", recorder.measurementOf(result.target).at("test_keys", "x_network", "after", "status"), "confirmed")
            }
            check("phase confirming" in recorder.events) { "the claims were confirmed: ${recorder.events}" }
        }
    }
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
            checkEqual("www.example.org", result.target, "target")
            check(result.verdict is Verdict.Throttling) { "verdict: ${result.verdict}" }
            // On loopback nothing slows one name down; the exact word depends on timing noise.
            check(result.word in setOf("not_throttled", "suspected", "inconclusive")) { "${result.word}: ${result.explanation}" }
            check(result.group in setOf(VerdictGroup.OK, VerdictGroup.UNCLEAR, VerdictGroup.UNVERIFIED)) { "group ${result.group}" }
            check(result.bytesReceived > 0uL) { "bytes" }
            check(result.explanation.isNotBlank()) { "explanation" }
            checkEqual("kuzet_throttling", recorder.measurementOf("www.example.org").at("test_name"), "measurement")
            check(recorder.events.toList().containsAll(listOf("phase preparing", "phase checking network", "phase measuring THROTTLING",
                "result www.example.org", "progress 1/1", "phase finished", "finished COMPLETED"))) { "events: ${recorder.events}" }
            checkEqual(mapOf("www.example.org" to result.word), checkSameWords(engine, recorder), "words")
        }
        // A pin that is not the server's: one result, inconclusive, kept; the suite stops and
        // says why; the other targets are not measured.
        val wrong = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        Engine(config("throttling-pin").copy(throughputServer = server.addr, throughputPin = wrong)).use { engine ->
            val recorder = Recorder()
            val summary = engine.runBlocking(
                RunRequest(suites = listOf(Suite.THROTTLING), throttlingTargets = listOf("a.example", "b.example")),
                recorder,
            )
            val result = summary.results.single()
            checkEqual("a.example", result.target, "the one result")
            check((result.verdict as? Verdict.Throttling)?.v1 is ThrottlingVerdict.Inconclusive) { "verdict: ${result.verdict}" }
            checkEqual("inconclusive", result.word, "word with a wrong pin")
            checkEqual(VerdictGroup.UNVERIFIED, result.group, "group with a wrong pin")
            check(result.explanation.contains("another key")) { result.explanation }
            checkEqual(listOf(NotMeasured(Suite.THROTTLING, "b.example")), summary.notMeasured, "not measured")
            check(summary.problems.size == 1 && summary.problems[0].contains("another key")) { "problems: ${summary.problems}" }
            checkEqual(mapOf("a.example" to "inconclusive"), checkSameWords(engine, recorder), "kept with its word")
        }
    }
    // A throughput server that does not answer: the same.
    withClosedPort { closedPort ->
        ThroughputServerProcess().use { server ->
            Engine(config("throttling-down").copy(throughputServer = "127.0.0.1:$closedPort", throughputPin = server.pin)).use { engine ->
                val summary = engine.runBlocking(
                    RunRequest(suites = listOf(Suite.THROTTLING), throttlingTargets = listOf("a.example", "b.example")),
                    Recorder(),
                )
                checkEqual(listOf("inconclusive"), summary.results.map { it.word }, "one inconclusive result")
                checkEqual(listOf(NotMeasured(Suite.THROTTLING, "b.example")), summary.notMeasured, "not measured")
                checkEqual(1, summary.problems.size, "problems: ${summary.problems}")
                checkEqual(1, engine.resultsHistoryBlocking(0u, 10u).items.size, "stored")
            }
        }
    }
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
            checkEqual(null, engine.resultsHistoryBlocking(1u, 1u).nextOffset, "second and last page")
            val all = engine.resultsHistoryBlocking(0u, 20u)
            checkEqual(2, all.items.size, "history after a run")
            checkEqual(null, all.nextOffset, "last page")
            checkEqual(
                summary.results.map { it.measurementId }.reversed(),
                all.items.map { it.result.measurementId },
                "newest first",
            )
            val item = all.items.first()
            val live = summary.results.last()
            // The history keeps the run's own words.
            checkEqual(live.verdict, item.result.verdict, "verdict")
            checkEqual(live.word, item.result.word, "word")
            checkEqual(live.group, item.result.group, "group")
            checkEqual(live.explanation, item.result.explanation, "explanation")
            checkEqual(live.target, item.result.target, "target")
            checkEqual(live.statusCode, item.result.statusCode, "status code")
            checkEqual(live.bytesReceived, item.result.bytesReceived, "bytes")
            // When it was measured, as the store's clock saw it (within the time it took to store).
            check(Duration.between(live.measuredAt, item.result.measuredAt).abs() < Duration.ofSeconds(2)) {
                "measured at: ${live.measuredAt} live, ${item.result.measuredAt} stored"
            }
            // The probe's network is unknown (AS0/ZZ): kept on the device, not uploaded.
            checkEqual(UploadState.HELD, item.uploadState, "upload state")

            val detail = engine.resultDetailBlocking(item.result.measurementId)
            checkEqual(item, detail.item, "detail's item")
            check(detail.item.result.explanation.contains("loaded (HTTP 200)")) { detail.item.result.explanation }
            checkEqual(item.result.measurementId, Json.parse(detail.measurementJson).at("id"), "the measurement's id")

            // The run's own network check is kept too (the user allows the connectivity suite):
            // the timeline's first state, held with the results.
            val pending = engine.pendingUploadsBlocking()
            check(pending.map { it.measurementId }.containsAll(all.items.map { it.result.measurementId })) { "pending: $pending" }
            checkEqual(3, pending.size, "pending: two results and the network check")
            check(pending.all { it.state == UploadState.HELD && it.lastError == null && it.attempts == 0u }) { "$pending" }
            val timeline = engine.connectivityTimelineBlocking(Instant.EPOCH)
            checkEqual(listOf(ConnectivityStatus.OK), timeline.map { it.state }, "timeline")

            checkEqual(summary.results.sumOf { it.bytesReceived }, engine.dataUsedThisMonthBlocking().bytesUsed, "bytes this month")
            checkEqual(DataBudgets().monthlyBytes, engine.dataUsedThisMonthBlocking().monthlyBudget, "monthly budget")

            // The suspend forms read the same store off the caller's thread.
            runBlocking {
                checkEqual(all, engine.resultsHistory(0u, 20u), "suspend history")
                checkEqual(detail, engine.resultDetail(item.result.measurementId), "suspend detail")
                checkEqual(pending, engine.pendingUploads(), "suspend pending uploads")
                checkEqual(timeline, engine.connectivityTimeline(Instant.EPOCH), "suspend timeline")
                checkEqual(engine.dataUsedThisMonthBlocking(), engine.dataUsedThisMonth(), "suspend data used")
                engine.wipe()
                checkEqual(0, engine.resultsHistory(0u, 20u).items.size, "history after wipe")
                checkEqual(0, engine.pendingUploads().size, "pending after wipe")
                checkEqual(0, engine.connectivityTimeline(Instant.EPOCH).size, "timeline after wipe")
            }
        }
    }
}

/** The same word live, in the history and in every measurement's x_ key, for every suite. */
fun theSameWordsEverywhere() {
    LocalSite().use { site -> TestHelperServer().use { helper -> ThroughputServerProcess().use { server ->
        withClosedPort { closedPort ->
            val dead = "http://127.0.0.1:$closedPort/"
            val cfg = config("words", testHelpers = listOf(helper.url)).copy(
                messagingEndpointsJson = messagingJson(site.port),
                throughputServer = server.addr,
                throughputPin = server.pin,
            )
            Engine(cfg).use { engine ->
                val recorder = Recorder()
                val summary = engine.runBlocking(
                    RunRequest(
                        suites = listOf(Suite.CONNECTIVITY, Suite.WEB, Suite.MESSAGING, Suite.THROTTLING),
                        webUrls = listOf("${site.base}/page", dead),
                        throttlingTargets = listOf("www.example.org"),
                    ),
                    recorder,
                )
                checkEqual(RunStatus.COMPLETED, summary.status, "status")
                val words = checkSameWords(engine, recorder)
                checkEqual("ok", words["connectivity"], "connectivity")
                checkEqual("ok", words["${site.base}/page"], "a page that loads")
                checkEqual("site_down", words[dead], "a site down for everyone")
                for (app in APPS) checkEqual("ok", words[app], app)
                check(words["www.example.org"] in setOf("not_throttled", "suspected", "inconclusive")) { "throttling: $words" }
                checkEqual(1 + 2 + APPS.size + 1, words.size, "every result")
            }
        }
        // Claims: blocked apps.
        withClosedPort { closedPort ->
            Engine(config("words-blocked").copy(messagingEndpointsJson = messagingJson(closedPort))).use { engine ->
                val recorder = Recorder()
                engine.runBlocking(RunRequest(suites = listOf(Suite.MESSAGING)), recorder)
                checkEqual(APPS.associateWith { "blocked" }, checkSameWords(engine, recorder), "blocked apps")
            }
        }
    } } }
}

/** With no way out (the anchors do not answer: a data blackout, as in a shutdown), a failure
 *  says nothing about the target: `unreachable`, never blocked. */
fun honestInAShutdown() {
    withClosedPort { deadAnchors -> withClosedPort { closedPort ->
        val url = "http://127.0.0.1:$closedPort/"
        val cfg = config("shutdown", anchorPort = deadAnchors).copy(messagingEndpointsJson = messagingJson(closedPort))
        Engine(cfg).use { engine ->
            val recorder = Recorder()
            val summary = engine.runBlocking(
                RunRequest(suites = listOf(Suite.WEB, Suite.MESSAGING), webUrls = listOf(url)),
                recorder,
            )
            checkEqual(ConnectivityStatus.DATA_BLACKOUT, summary.network, "the network check before the run")
            checkEqual(1 + APPS.size, summary.results.size, "results")
            for (result in summary.results) {
                checkEqual("unreachable", result.word, "${result.target}: word")
                checkEqual(VerdictGroup.UNREACHABLE, result.group, "${result.target}: group")
                check(result.group != VerdictGroup.BLOCKED) { "${result.target} called blocked in a shutdown" }
                check(result.explanation.contains("no domestic or international host answered")) { result.explanation }
            }
            val page = summary.results.single { it.target == url }
            checkEqual(Verdict.Web(WebVerdict.Unreachable(ConnectivityStatus.DATA_BLACKOUT)), page.verdict, "web verdict")
            val measurement = recorder.measurementOf(url)
            checkEqual("data_blackout", measurement.at("test_keys", "x_network", "before", "status"), "x_network.before")
            checkEqual("unreachable", measurement.at("test_keys", "x_verdict", "kind"), "x_verdict.kind")
            checkEqual("undetermined", measurement.at("test_keys", "x_network", "verdict_without_network"), "what it would have been")
            val stored = Json.parse(engine.resultDetailBlocking(page.measurementId).measurementJson)
            checkEqual("data_blackout", stored.at("test_keys", "x_network", "before", "status"), "stored x_network.before")
            checkEqual("unreachable", stored.at("test_keys", "x_verdict", "kind"), "stored x_verdict.kind")
            for (app in APPS) {
                val result = summary.results.single { it.target == app }
                checkEqual(Verdict.Messaging(MessagingVerdict.Unreachable(ConnectivityStatus.DATA_BLACKOUT)), result.verdict, "$app: verdict")
            }
            checkSameWords(engine, recorder)
        }
    } }
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
            // The network is named from the MCC-MNC: the measurements wait in the queue (the
            // two results and the run's network check, the timeline's first state).
            val queued = engine.pendingUploadsBlocking()
            checkEqual(3, queued.size, "queued")
            check(queued.all { it.state == UploadState.QUEUED }) { "$queued" }

            // Kuzet's own uploader: submissions are gzip-compressed.
            val cycle = runBlocking {
                engine.backgroundCycle(BackgroundRequest(Duration.ofSeconds(30), KcellProvider().currentNetwork()))
            }
            checkEqual(3u, cycle.uploaded, "uploaded")
            checkEqual(true, cycle.connectivityChecked, "connectivity checked")
            checkEqual(false, cycle.timelineChanged, "the same state as the run's check")
            checkEqual(0u, cycle.uploadFailures, "upload failures")
            checkEqual(0u, cycle.pending, "pending")
            checkEqual(0, engine.pendingUploadsBlocking().size, "queue after the cycle")
            check(engine.resultsHistoryBlocking(0u, 10u).items.all { it.uploadState == UploadState.UPLOADED }) { "uploaded states" }
            checkEqual(listOf("gzip", "gzip", "gzip"), collector.encodings.toList(), "encodings")
            // Each submission is {"format": "json", "content": <the measurement>}.
            val received = collector.submitted.map { Json.parse(it).at("content", "id") }.toSet()
            check(received.containsAll(summary.results.map { it.measurementId })) { "measurements received: $received" }
            checkEqual(1, collector.submitted.count { Json.parse(it).at("content", "test_name") == "kuzet_connectivity" }, "the check's record")
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
            val measurement = Json.parse(body).at("content")
            checkEqual("Kcell JSC", measurement.at("probe_network_name"), "network name")
            checkEqual("127.0.0.1", measurement.at("probe_ip"), "probe_ip is OONI's placeholder")
            check(measurement.at("test_name") in setOf("web_connectivity", "kuzet_connectivity")) { "test name: $body" }
            if (measurement.at("test_name") == "web_connectivity") {
                checkEqual("mobile", measurement.at("annotations", "network_type"), "network type")
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
        check(lines.any { it.startsWith("INFO kuzet_core::session run started") }) { "lines: $lines" }
        check(lines.any { it.startsWith("INFO kuzet_core::session run finished") && it.contains("status=completed") }) {
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

/** A blocking call from inside a listener callback (one of Kuzet's threads) is refused, not a
 *  deadlock. */
fun blockingFormsAreRefusedInsideCallbacks() {
    LocalSite().use { site ->
        Engine(config("blocking-inside")).use { engine ->
            val refused = CopyOnWriteArrayList<String>()
            val recorder = object : RunListener by Recorder() {
                override fun onTargetResult(result: TargetResult, measurementJson: String) {
                    try {
                        engine.resultsHistoryBlocking(0u, 10u)
                        refused.add("allowed")
                    } catch (e: KuzetException.InvalidInput) {
                        refused.add(e.message ?: "")
                    }
                }
            }
            val summary = engine.runBlocking(web("${site.base}/"), recorder)
            checkEqual(RunStatus.COMPLETED, summary.status, "status")
            checkEqual(1, refused.size, "one callback")
            check(refused[0].contains("use the async form")) { "message: ${refused[0]}" }
        }
    }
}

fun main() {
    val tests = listOf<Pair<String, () -> Unit>>(
        "version is the library's" to ::versionIsTheLibrarys,
        "record defaults are the engine's" to ::recordDefaultsAreTheEngines,
        "suites say what is available" to ::suitesSayWhatIsAvailable,
        "full test now against a local site" to ::fullTestNowAgainstALocalSite,
        "a failed URL without a comparison is unclear" to ::aFailedUrlWithoutAComparisonIsUnclear,
        "a site down for everyone is down, not blocked" to ::aSiteDownForEveryoneIsDownNotBlocked,
        "async run returns the summary" to ::asyncRunReturnsTheSummary,
        "blocking run returns the summary" to ::blockingRunReturnsTheSummary,
        "cancelling a running test stops it at once" to ::cancellingARunningTestStopsItAtOnce,
        "cancel() keeps what finished" to ::cancelKeepsWhatFinished,
        "cancelling the coroutine cancels the run" to ::cancellingTheCoroutineCancelsTheRun,
        "closing the handle cancels the run" to ::droppingTheHandleCancelsTheRun,
        "the byte budget stops new targets" to ::byteBudgetStopsNewTargets,
        "a throwing listener does not stop the run" to ::aThrowingListenerDoesNotStopTheRun,
        "blocking forms are refused inside callbacks" to ::blockingFormsAreRefusedInsideCallbacks,
        "errors are subclasses with useful messages" to ::errorsAreSubclassesWithUsefulMessages,
        "a background cycle without a collector checks and samples" to ::aBackgroundCycleWithoutACollectorChecksAndSamples,
        "the connectivity suite and the timeline" to ::theConnectivitySuiteAndTheTimeline,
        "the messaging suite against loopback endpoints" to ::theMessagingSuiteAgainstLoopbackEndpoints,
        "the throttling suite against the throughput server" to ::theThrottlingSuiteAgainstTheThroughputServer,
        "the same words everywhere" to ::theSameWordsEverywhere,
        "honest in a shutdown" to ::honestInAShutdown,
        "history, pending uploads and data use follow a run" to ::historyPendingUploadsAndDataUseFollowARun,
        "a background cycle flushes the queue to a local collector" to ::aBackgroundCycleFlushesTheQueueToALocalCollector,
        "wipe empties the data directory" to ::wipeEmptiesTheDataDirectory,
        "uploader can be set and cleared" to ::uploaderCanBeSetAndCleared,
        "logger receives run lines" to ::loggerReceivesRunLines,
        "panics surface as exceptions" to ::panicsSurfaceAsExceptions,
    )
    val only = System.getenv("KUZET_TEST_ONLY")
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        if (!only.isNullOrEmpty() && !name.contains(only)) continue
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
