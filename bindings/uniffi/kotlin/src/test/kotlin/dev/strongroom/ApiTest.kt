package dev.strongroom

import dev.strongroom.core.*
import java.nio.file.Files
import kotlin.test.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

class ApiTest {
    private val account = "111122223333"

    @Test
    fun keysAndCryptoWithContext() {
        val kms = Kms.inMemory(account, "us-east-1")
        val md: KeyMetadata = kms.createKey("orders", null, null)
        assertEquals(KeyState.ENABLED, md.keyState)
        assertEquals(KeyUsage.ENCRYPT_DECRYPT, md.keyUsage)
        assertTrue(md.arn.endsWith(md.keyId))
        kms.createAlias("alias/orders", md.keyId)
        val ctx = mapOf("tenant" to "acme")
        val blob = kms.encrypt("alias/orders", "secret".toByteArray(), ctx)
        val out = kms.decrypt(blob, ctx, null)
        assertContentEquals("secret".toByteArray(), out.plaintext)
        assertEquals(md.arn, out.keyId)
        val e = assertFailsWith<KmsException.InvalidCiphertextException> { kms.decrypt(blob, mapOf("tenant" to "other"), null) }
        assertTrue(!e.message!!.contains("secret"))
        assertEquals("InvalidCiphertextException", e.code)
        val dk = kms.generateDataKey(md.keyId, ctx)
        assertEquals(32, dk.plaintext.size)
        assertContentEquals(dk.plaintext, kms.decrypt(dk.ciphertextBlob, ctx, null).plaintext)
        assertEquals(listOf(md.keyId), kms.listKeys())
    }

    @Test
    fun errorsArriveAsTheirOwnTypes() {
        val kms = Kms.inMemory(account, "us-east-1")
        assertFailsWith<KmsException.NotFoundException> { kms.describeKey("alias/missing") }
        val key = kms.createKey(null, null, null).keyId
        kms.disableKey(key)
        assertFailsWith<KmsException.DisabledException> { kms.encrypt(key, byteArrayOf(1), emptyMap()) }
        kms.enableKey(key)
        val deletion = kms.scheduleKeyDeletion(key, 7u)
        assertNotNull(deletion)
        assertFailsWith<KmsException.KmsInvalidStateException> { kms.encrypt(key, byteArrayOf(1), emptyMap()) }
        val alice = kms.asCaller("""{"PrincipalArn":"arn:aws:iam::$account:user/alice","Account":"$account"}""")
        assertFailsWith<KmsException.AccessDeniedException> { alice.describeKey(key) }
        assertFailsWith<KmsException.ValidationException> { Kms.inMemory(account, "us-east-1").call("NoSuchOperation", "{}") }
        // One Kotlin exception class per core error code, named as the code.
        val classes = KmsException::class.java.declaredClasses
            .filter { KmsException::class.java.isAssignableFrom(it) && it != KmsException::class.java }
            .map { it.simpleName.lowercase() }.toSet()
        assertEquals(errorCodes().map { it.lowercase() }.toSet(), classes)
        val e = assertFailsWith<KmsException.KmsInvalidStateException> { kms.encrypt(key, byteArrayOf(1), emptyMap()) }
        assertEquals("KMSInvalidStateException", e.code)
    }

    @Test
    fun signaturesAndGrants() {
        val kms = Kms.inMemory(account, "us-east-1")
        val key = kms.createKey(null, KeySpec.ECC_NIST_P256, KeyUsage.SIGN_VERIFY).keyId
        val sig = kms.sign(key, "msg".toByteArray(), SigningAlgorithm.ECDSA_SHA256)
        assertTrue(kms.verify(key, "msg".toByteArray(), sig, SigningAlgorithm.ECDSA_SHA256))
        assertFailsWith<KmsException.KmsInvalidSignatureException> {
            kms.verify(key, "other".toByteArray(), sig, SigningAlgorithm.ECDSA_SHA256)
        }
        val spki = kms.getPublicKey(key)
        val pub = java.security.KeyFactory.getInstance("EC").generatePublic(java.security.spec.X509EncodedKeySpec(spki))
        val v = java.security.Signature.getInstance("SHA256withECDSA")
        v.initVerify(pub)
        v.update("msg".toByteArray())
        assertTrue(v.verify(sig), "the JDK verifies a Sign signature from GetPublicKey's DER")
        val sym = kms.createKey(null, null, null).keyId
        val blob = kms.encrypt(sym, byteArrayOf(7), emptyMap())
        val role = kms.asCaller("""{"PrincipalArn":"arn:aws:iam::$account:role/reader","Account":"$account"}""")
        assertFailsWith<KmsException.AccessDeniedException> { role.decrypt(blob, emptyMap(), null) }
        kms.createGrant(sym, "arn:aws:iam::$account:role/reader", listOf(GrantOperation.DECRYPT))
        assertContentEquals(byteArrayOf(7), role.decrypt(blob, emptyMap(), null).plaintext)
    }

    @Test
    fun fileStorePersists() {
        val dir = Files.createTempDirectory("strongroom").resolve("store").toString()
        val root = ByteArray(32) { it.toByte() }
        var key = ""
        var blob = ByteArray(0)
        Kms.open(dir, account, "us-east-1", root, null).use { kms ->
            key = kms.createKey("kept", null, null).keyId
            blob = kms.encrypt(key, "durable".toByteArray(), emptyMap())
            kms.flush()
        }
        System.gc()
        Kms.open(dir, account, "us-east-1", root, null).use { kms ->
            assertEquals("kept", kms.describeKey(key).description)
            assertContentEquals("durable".toByteArray(), kms.decrypt(blob, emptyMap(), null).plaintext)
        }
        assertFailsWith<KmsException.InvalidRootKeyException> { Kms.open(dir, account, "us-east-1", ByteArray(32), null) }
    }

    @Test
    fun envelopeStreamingAndCache() {
        val kms = Kms.inMemory(account, "us-east-1")
        val key = kms.createKey(null, null, null).arn
        val env = Envelope.kms(kms, listOf(key), emptyList(), CacheConfig(10u, 60_000u, 100u, 1_000_000_000u, null))
        val data = ByteArray(100_000) { (it * 7).toByte() }
        for (suite in listOf(0x0578, 0x0478)) {
            env.encrypt(data, mapOf("k" to "v"), suite.toUShort(), 4096u)
            val msg = env.encrypt(data, mapOf("k" to "v"), suite.toUShort(), 4096u)
            val out = env.decrypt(msg, false)
            assertContentEquals(data, out.plaintext)
            assertEquals("strongroom-kms", out.providerId)
            assertEquals(key, out.keyName)
            assertEquals("v", out.encryptionContext["k"])
        }
        val stats = assertNotNull(env.cacheStats())
        assertEquals(2uL, stats.hits, "$stats")
        // Streams.
        val enc = env.encryptor(mapOf("file" to "x"), 0x0578.toUShort(), 1000u)
        val parts = ArrayList<ByteArray>()
        data.toList().chunked(7777).forEach { parts.add(enc.update(it.toByteArray())) }
        parts.add(enc.finish())
        val message = parts.fold(ByteArray(0)) { a, b -> a + b }
        val dec = env.decryptor(false)
        var plain = ByteArray(0)
        message.toList().chunked(5000).forEach { plain += dec.update(it.toByteArray()) }
        val last = dec.finish()
        plain += last.plaintext
        assertContentEquals(data, plain)
        // A truncated stream fails at finish.
        val d2 = env.decryptor(false)
        d2.update(message.copyOf(message.size - 10))
        assertFailsWith<KmsException.InvalidCiphertextException> { d2.finish() }
        // Disabling the key drops the cached data keys at once.
        kms.disableKey(key)
        assertEquals(0uL, env.cacheStats()!!.entries)
        assertFailsWith<KmsException.DisabledException> { env.decrypt(message, false) }
        assertNull(Envelope.rawAes("ns", "k", ByteArray(32)).cacheStats())
    }
}
