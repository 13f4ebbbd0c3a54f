package dev.strongroom

import dev.strongroom.core.*
import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.test.fail

/** Replays the language-neutral vectors (tests/vectors/README.md), as the Rust, Python and JS suites do. */
class VectorsTest {
    private val repo = File(System.getProperty("strongroom.repo") ?: "../../..")
    private fun load(name: String) = JSONObject(File(repo, "tests/vectors/$name").readText())

    private fun hex(s: String) = ByteArray(s.length / 2) { i -> s.substring(2 * i, 2 * i + 2).toInt(16).toByte() }

    private fun substitute(v: Any?, vars: Map<String, String>): Any? = when (v) {
        is String -> vars.entries.fold(v) { acc, (k, value) -> acc.replace("\${$k}", value) }
        is JSONArray -> JSONArray().also { out -> for (i in 0 until v.length()) out.put(substitute(v.get(i), vars)) }
        is JSONObject -> JSONObject().also { out -> for (k in v.keys()) out.put(k, substitute(v.get(k), vars)) }
        else -> v
    }

    private fun partialMatch(expected: Any?, actual: Any?, at: String) {
        when (expected) {
            is JSONObject -> {
                if (actual !is JSONObject) fail("$at: expected an object, got $actual")
                for (k in expected.keys()) partialMatch(expected.get(k), actual.opt(k) ?: JSONObject.NULL, "$at.$k")
            }
            is JSONArray -> {
                if (actual !is JSONArray || actual.length() != expected.length()) fail("$at: expected $expected, got $actual")
                for (i in 0 until expected.length()) partialMatch(expected.get(i), actual.get(i), "$at[$i]")
            }
            is Number -> assertTrue(actual is Number && actual.toString().toBigDecimal().compareTo(expected.toString().toBigDecimal()) == 0, "$at: expected $expected, got $actual")
            else -> assertEquals(expected, actual, at)
        }
    }

    private fun getPath(v: Any, path: String): Any = path.split(".").fold(v) { acc, part ->
        when (acc) {
            is JSONArray -> acc.get(part.toInt())
            is JSONObject -> acc.get(part)
            else -> fail("bad path $path")
        }
    }

    private fun runScenario(scn: JSONObject): Int {
        val clock = ManualClock(scn.optLong("start_time_ms", 1_767_225_600_000L).toULong())
        val seed = hex(scn.getString("rng_seed"))
        val regions = LinkedHashMap<String, Kms>()
        scn.optJSONArray("regions")?.let { arr ->
            for (i in 0 until arr.length()) {
                val s = seed.copyOf()
                s[31] = (s[31].toInt() xor i).toByte()
                regions[arr.getString(i)] = Kms.deterministic("111122223333", arr.getString(i), s, clock)
            }
        }
        val kms = regions.values.firstOrNull() ?: Kms.deterministic("111122223333", "us-east-1", seed, clock)
        val vars = HashMap<String, String>()
        var n = 0
        val steps = scn.getJSONArray("steps")
        for (i in 0 until steps.length()) {
            val step = steps.getJSONObject(i)
            if (step.has("advance_ms")) {
                clock.advanceMs(step.getLong("advance_ms").toULong())
                continue
            }
            val op = step.getString("op")
            val req = substitute(step.optJSONObject("request") ?: JSONObject(), vars) as JSONObject
            for (field in listOf("Policy", "PolicyDocument")) {
                val p = req.opt(field)
                if (p is JSONObject) req.put(field, p.toString())
            }
            var actor = if (step.has("Region")) regions.getValue(step.getString("Region")) else kms
            if (step.has("As")) actor = actor.asCaller(substitute(step.getJSONObject("As"), vars).toString())
            val where = "${scn.getString("name")} step $i ($op)"
            val result: Result<String> = runCatching {
                when (op) {
                    "ReplicateKey" -> actor.replicateKey(req.toString(), regions.getValue(req.getString("ReplicaRegion")))
                    "UpdatePrimaryRegion" -> {
                        actor.updatePrimaryRegion(req.getString("KeyId"), regions.getValue(req.getString("PrimaryRegion")))
                        "{}"
                    }
                    else -> actor.call(op, req.toString())
                }
            }
            if (step.has("error")) {
                val e = result.exceptionOrNull() ?: fail("$where: expected ${step.getString("error")}, got ${result.getOrNull()}")
                assertTrue(e is KmsException, "$where: $e")
                assertEquals(step.getString("error"), (e as KmsException).code, where)
            } else {
                val out = JSONObject(result.getOrElse { fail("$where: unexpected $it") })
                step.optJSONObject("expect")?.let { partialMatch(substitute(it, vars), out, where) }
                step.optJSONObject("save")?.let { save ->
                    for (k in save.keys()) {
                        val v = getPath(out, save.getString(k))
                        vars[k] = if (v is String) v else v.toString()
                    }
                }
            }
            n++
        }
        return n
    }

    private fun runFile(name: String, minimum: Int) {
        val doc = load(name)
        assertEquals("strongroom-scenarios/1", doc.getString("format"))
        val scenarios = doc.getJSONArray("scenarios")
        val steps = (0 until scenarios.length()).sumOf { runScenario(scenarios.getJSONObject(it)) }
        assertTrue(steps >= minimum, "$name: only $steps steps ran")
    }

    @Test fun scenarios() = runFile("core/scenarios.json", 50)
    @Test fun seededKnownAnswers() = runFile("core/kat-seeded.json", 10)
    @Test fun authorization() = runFile("core/authorization.json", 200)
    @Test fun asymmetric() = runFile("core/asymmetric.json", 20)
    @Test fun regionsAndImport() = runFile("core/regions-and-import.json", 20)

    @Test
    fun officialSdkMessagesDecrypt() {
        val doc = load("esdk/official-python-sdk.json")
        val env = Envelope.rawAes(doc.getString("key_namespace"), doc.getString("key_name"), hex(doc.getString("key")))
        val cases = doc.getJSONArray("cases")
        for (i in 0 until cases.length()) {
            val c = cases.getJSONObject(i)
            val msg = hex(c.getString("message"))
            val committing = c.getString("suite") in setOf("0478", "0578")
            if (!committing) {
                val e = runCatching { env.decrypt(msg, false) }.exceptionOrNull()
                assertTrue(e is KmsException.Validation, "suite ${c.getString("suite")}: $e")
            }
            val out = env.decrypt(msg, true)
            assertTrue(out.plaintext.contentEquals(hex(doc.getString("plaintext"))), c.getString("suite"))
            assertEquals(c.getString("suite").toInt(16), out.suite.toInt())
        }
    }

    @Test
    fun strongroomSeededMessagesDecrypt() {
        val doc = load("esdk/strongroom-seeded.json")
        val env = Envelope.rawAes("strongroom-test", "key1", hex(doc.getString("key")))
        val cases = doc.getJSONArray("cases")
        for (i in 0 until cases.length()) {
            val out = env.decrypt(hex(cases.getJSONObject(i).getString("message")), false)
            assertTrue(out.plaintext.contentEquals(hex(doc.getString("plaintext"))))
        }
    }
}
