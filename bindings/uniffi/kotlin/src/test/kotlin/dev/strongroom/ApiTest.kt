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
        val md: KeyMetadata = kms.createKey(CreateKeyRequest(description = "orders")).keyMetadata
        assertEquals(KeyState.ENABLED, md.keyState)
        assertEquals(KeyUsage.ENCRYPT_DECRYPT, md.keyUsage)
        assertTrue(md.arn.endsWith(md.keyId))
        kms.createAlias(CreateAliasRequest(aliasName = "alias/orders", targetKeyId = md.keyId))
        val ctx = mapOf("tenant" to "acme", "purpose" to "test")
        val enc = kms.encrypt(EncryptRequest(keyId = "alias/orders", plaintext = "secret".toByteArray(), encryptionContext = ctx))
        assertEquals(md.arn, enc.keyId)
        val out = kms.decrypt(DecryptRequest(ciphertextBlob = enc.ciphertextBlob, encryptionContext = ctx))
        assertContentEquals("secret".toByteArray(), out.plaintext)
        assertEquals(md.arn, out.keyId)
        val e = assertFailsWith<KmsException.InvalidCiphertext> {
            kms.decrypt(DecryptRequest(ciphertextBlob = enc.ciphertextBlob, encryptionContext = mapOf("tenant" to "other")))
        }
        assertTrue(!e.message!!.contains("secret"))
        assertEquals("InvalidCiphertextException", e.code)
        val dk = kms.generateDataKey(GenerateDataKeyRequest(keyId = md.keyId, encryptionContext = ctx, keySpec = DataKeySpec.AES256))
        assertEquals(32, dk.plaintext.size)
        assertContentEquals(dk.plaintext, kms.decrypt(DecryptRequest(ciphertextBlob = dk.ciphertextBlob, encryptionContext = ctx)).plaintext)
        val dkNoPlain = kms.generateDataKeyWithoutPlaintext(GenerateDataKeyRequest(keyId = md.keyId, numberOfBytes = 16u))
        assertEquals(16, kms.decrypt(DecryptRequest(ciphertextBlob = dkNoPlain.ciphertextBlob)).plaintext.size)
        assertEquals(listOf(md.keyId), kms.listKeys(ListKeysRequest()).keys.map { it.keyId })
        assertEquals(listOf("alias/orders"), kms.listAliases(ListAliasesRequest(keyId = md.keyId)).aliases.map { it.aliasName })
        assertEquals(24, kms.generateRandom(GenerateRandomRequest(numberOfBytes = 24u)).plaintext.size)
    }

    @Test
    fun errorsArriveAsTheirOwnTypes() {
        val kms = Kms.inMemory(account, "us-east-1")
        assertFailsWith<KmsException.NotFound> { kms.describeKey(DescribeKeyRequest(keyId = "alias/missing")) }
        val key = kms.createKey(CreateKeyRequest()).keyMetadata.keyId
        kms.disableKey(KeyIdRequest(keyId = key))
        assertFailsWith<KmsException.Disabled> { kms.encrypt(EncryptRequest(keyId = key, plaintext = byteArrayOf(1))) }
        kms.enableKey(KeyIdRequest(keyId = key))
        val deletion = kms.scheduleKeyDeletion(ScheduleKeyDeletionRequest(keyId = key, pendingWindowInDays = 7u))
        assertEquals(KeyState.PENDING_DELETION, deletion.keyState)
        assertNotNull(deletion.deletionDateMs)
        val e = assertFailsWith<KmsException.KmsInvalidState> { kms.encrypt(EncryptRequest(keyId = key, plaintext = byteArrayOf(1))) }
        assertEquals("KMSInvalidStateException", e.code)
        assertTrue(kms.cancelKeyDeletion(KeyIdRequest(keyId = key)).keyId.endsWith(key), "AWS answers the key ARN")
        val alice = kms.asCaller("""{"PrincipalArn":"arn:aws:iam::$account:user/alice","Account":"$account"}""")
        assertFailsWith<KmsException.AccessDenied> { alice.describeKey(DescribeKeyRequest(keyId = key)) }
        assertFailsWith<KmsException.Validation> { Kms.inMemory(account, "us-east-1").call("NoSuchOperation", "{}") }
        // One Kotlin exception class per core error code.
        val classes = KmsException::class.java.declaredClasses
            .filter { KmsException::class.java.isAssignableFrom(it) && it != KmsException::class.java }
            .map { it.simpleName }.toSet()
        assertEquals(errorVariants().toSet(), classes)
        assertEquals("NotFoundException", KmsException.NotFound("m").code)
        assertEquals("StoreIOException", KmsException.StoreIo("m").code)
    }

    @Test
    fun everyOperationIsTyped() {
        // One typed method per row of the core's operation table: its
        // lowerCamel AWS name, taking the operation's request record.
        val methods = Kms::class.java.methods.groupBy { it.name }
        val names = operationNames()
        assertTrue(names.size >= 48 && names.toSet().size == names.size, "$names")
        for (op in names) {
            val m = methods[op.replaceFirstChar { it.lowercase() }]?.singleOrNull()
            assertNotNull(m, "no typed method for $op")
            assertEquals(1, m.parameterCount, op)
            assertTrue(m.parameterTypes[0].simpleName.endsWith("Request"), "$op takes ${m.parameterTypes[0]}")
        }
    }

    @Test
    fun signaturesAndGrants() {
        val kms = Kms.inMemory(account, "us-east-1")
        val key = kms.createKey(CreateKeyRequest(keySpec = KeySpec.ECC_NIST_P256, keyUsage = KeyUsage.SIGN_VERIFY)).keyMetadata.keyId
        val msg = "msg".toByteArray()
        val sig = kms.sign(SignRequest(keyId = key, message = msg, signingAlgorithm = SigningAlgorithm.ECDSA_SHA256)).signature
        assertTrue(kms.verify(VerifyRequest(keyId = key, message = msg, signature = sig, signingAlgorithm = SigningAlgorithm.ECDSA_SHA256)).signatureValid)
        assertFailsWith<KmsException.KmsInvalidSignature> {
            kms.verify(VerifyRequest(keyId = key, message = "other".toByteArray(), signature = sig, signingAlgorithm = SigningAlgorithm.ECDSA_SHA256))
        }
        val spki = kms.getPublicKey(GetPublicKeyRequest(keyId = key)).publicKey
        val pub = java.security.KeyFactory.getInstance("EC").generatePublic(java.security.spec.X509EncodedKeySpec(spki))
        val v = java.security.Signature.getInstance("SHA256withECDSA")
        v.initVerify(pub)
        v.update(msg)
        assertTrue(v.verify(sig), "the JDK verifies a Sign signature from GetPublicKey's DER")
        val sym = kms.createKey(CreateKeyRequest()).keyMetadata.keyId
        val blob = kms.encrypt(EncryptRequest(keyId = sym, plaintext = byteArrayOf(7))).ciphertextBlob
        val role = kms.asCaller("""{"PrincipalArn":"arn:aws:iam::$account:role/reader","Account":"$account"}""")
        assertFailsWith<KmsException.AccessDenied> { role.decrypt(DecryptRequest(ciphertextBlob = blob)) }
        val grant = kms.createGrant(CreateGrantRequest(keyId = sym, granteePrincipal = "arn:aws:iam::$account:role/reader", operations = listOf(GrantOperation.DECRYPT)))
        assertContentEquals(byteArrayOf(7), role.decrypt(DecryptRequest(ciphertextBlob = blob)).plaintext)
        assertEquals(listOf(grant.grantId), kms.listGrants(ListGrantsRequest(keyId = sym)).grants.map { it.grantId })
        kms.revokeGrant(RevokeGrantRequest(keyId = sym, grantId = grant.grantId))
        assertFailsWith<KmsException.AccessDenied> { role.decrypt(DecryptRequest(ciphertextBlob = blob)) }
        val mac = kms.createKey(CreateKeyRequest(keySpec = KeySpec.HMAC256, keyUsage = KeyUsage.GENERATE_VERIFY_MAC)).keyMetadata.keyId
        val tag = kms.generateMac(GenerateMacRequest(keyId = mac, message = msg, macAlgorithm = MacAlgorithm.HMAC_SHA256)).mac
        assertTrue(kms.verifyMac(VerifyMacRequest(keyId = mac, message = msg, mac = tag, macAlgorithm = MacAlgorithm.HMAC_SHA256)).macValid)
    }

    @Test
    fun fileStorePersists() {
        val dir = Files.createTempDirectory("strongroom").resolve("store").toString()
        val root = ByteArray(32) { it.toByte() }
        var key = ""
        var blob = ByteArray(0)
        Kms.open(dir, account, "us-east-1", root, null).use { kms ->
            key = kms.createKey(CreateKeyRequest(description = "kept")).keyMetadata.keyId
            blob = kms.encrypt(EncryptRequest(keyId = key, plaintext = "durable".toByteArray())).ciphertextBlob
            kms.flush()
        }
        System.gc()
        Kms.open(dir, account, "us-east-1", root, null).use { kms ->
            assertEquals("kept", kms.describeKey(DescribeKeyRequest(keyId = key)).keyMetadata.description)
            assertContentEquals("durable".toByteArray(), kms.decrypt(DecryptRequest(ciphertextBlob = blob)).plaintext)
        }
        assertFailsWith<KmsException.InvalidRootKey> { Kms.open(dir, account, "us-east-1", ByteArray(32), null) }
    }

    @Test
    fun envelopeStreamingAndCache() {
        val kms = Kms.inMemory(account, "us-east-1")
        val key = kms.createKey(CreateKeyRequest()).keyMetadata.arn
        val env = Envelope.kms(kms, listOf(key), emptyList(), CacheConfig(10u, 60_000u, 100u, 1_000_000_000u, null))
        val data = ByteArray(100_000) { (it * 7).toByte() }
        for (suite in listOf(0x0578, 0x0478)) {
            env.encrypt(data, mapOf("k" to "v"), suite.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
            val msg = env.encrypt(data, mapOf("k" to "v"), suite.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
            val out = env.decrypt(msg, false)
            assertContentEquals(data, out.plaintext)
            assertEquals("strongroom-kms", out.providerId)
            assertEquals(key, out.keyName)
            assertEquals("v", out.encryptionContext["k"])
        }
        val stats = assertNotNull(env.cacheStats())
        assertEquals(2uL, stats.hits, "$stats")
        // Streams.
        val enc = env.encryptor(mapOf("file" to "x"), 0x0578.toUShort(), 1000u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
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
        assertFailsWith<KmsException.InvalidCiphertext> { d2.finish() }
        // Disabling the key drops the cached data keys at once.
        kms.disableKey(KeyIdRequest(keyId = key))
        assertEquals(0uL, env.cacheStats()!!.entries)
        assertFailsWith<KmsException.Disabled> { env.decrypt(message, false) }
        assertNull(Envelope.rawAes("ns", "k", ByteArray(32)).cacheStats())
    }

    @Test
    fun keyringsAsDataAndTheHierarchicalKeyring() {
        val gen = java.security.KeyPairGenerator.getInstance("RSA")
        gen.initialize(2048)
        val pair = gen.generateKeyPair()
        val rsa = KeyringSpec.RawRsa("ns", "rsa", RsaPadding.OAEP_SHA256_MGF1, pair.public.encoded, pair.private.encoded)
        val aes = KeyringSpec.RawAes("ns", "aes", ByteArray(24) { 2 })
        val data = "keyrings as data".toByteArray()
        val multi = Envelope.fromKeyrings(listOf(aes, rsa))
        val msg = multi.encrypt(data, emptyMap(), 0x0478.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        val byRsa = Envelope.fromKeyrings(listOf(rsa)).decrypt(msg, false)
        assertContentEquals(data, byRsa.plaintext)
        assertEquals("rsa", byRsa.keyName)
        assertFailsWith<KmsException.Validation> { Envelope.fromKeyrings(emptyList()) }
        val kms = Kms.inMemory(account, "us-east-1")
        val key = kms.createKey(CreateKeyRequest()).keyMetadata.arn
        val viaKms = Envelope.fromKeyrings(listOf(KeyringSpec.AwsKms(listOf(key), emptyList())), kms)
        assertContentEquals(data, viaKms.decrypt(viaKms.encrypt(data, emptyMap(), 0x0578.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT), false).plaintext)
        // Hierarchical: a branch key, rotation, old messages still open.
        val store = BranchKeyStore.open(kms, key, "branch-keys")
        val bk = store.createBranchKey("tenant-a")
        val env = Envelope.hierarchical(store, bk, 60_000u)
        val old = env.encrypt(data, mapOf("tenant" to "a"), 0x0478.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        store.versionBranchKey(bk)
        assertEquals(2, store.versions(bk).size)
        val out = Envelope.hierarchical(store, bk, 60_000u).decrypt(old, false)
        assertContentEquals(data, out.plaintext)
        assertEquals("aws-kms-hierarchy", out.providerId)
        assertFailsWith<KmsException.InvalidCiphertext> { Envelope.hierarchical(store, "other", 60_000u).decrypt(old, false) }
        assertFailsWith<KmsException.Validation> { Envelope.hierarchical(store, bk, 0u) }
        // Many tenants through a Kotlin supplier.
        store.createBranchKey("tenant-b")
        val supplier = object : BranchKeyIdSupplier {
            override fun branchKeyId(encryptionContext: Map<String, String>): String? =
                encryptionContext["tenant"]?.let { "tenant-$it" }
        }
        val tenants = Envelope.hierarchicalWithSupplier(store, supplier, 60_000u)
        val forB = tenants.encrypt(data, mapOf("tenant" to "b"), 0x0478.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        assertContentEquals(data, tenants.decrypt(forB, false).plaintext)
        assertFailsWith<KmsException.InvalidCiphertext> { Envelope.hierarchical(store, "tenant-a", 60_000u).decrypt(forB, false) }
        assertFailsWith<KmsException.Validation> {
            tenants.encrypt(data, emptyMap(), 0x0478.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        }
        // ECDH: an ephemeral sender, the recipient's private key discovers.
        val ecGen = java.security.KeyPairGenerator.getInstance("EC")
        ecGen.initialize(java.security.spec.ECGenParameterSpec("secp256r1"))
        val rec = ecGen.generateKeyPair()
        val eph = Envelope.fromKeyrings(listOf(KeyringSpec.RawEcdh(EcdhCurve.ECC_NIST_P256, RawEcdhScheme.EphemeralPrivateKeyToStaticPublicKey(rec.public.encoded))))
        val sealed = eph.encrypt(data, emptyMap(), 0x0578.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        val disc = Envelope.fromKeyrings(listOf(KeyringSpec.RawEcdh(EcdhCurve.ECC_NIST_P256, RawEcdhScheme.PublicKeyDiscovery(rec.private.encoded))))
        val opened = disc.decrypt(sealed, false)
        assertContentEquals(data, opened.plaintext)
        assertEquals("raw-ecdh", opened.providerId)
        // The required encryption context CMM and a cache, in front of any keyring.
        val base = Envelope.fromKeyrings(listOf(aes))
        val req = base.withRequiredEncryptionContextKeys(listOf("tenant"))
        val bound = req.encrypt(data, mapOf("tenant" to "acme", "kind" to "doc"), 0x0478.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        assertFailsWith<KmsException> { base.decrypt(bound, false) }
        assertEquals("acme", base.decrypt(bound, false, mapOf("tenant" to "acme")).encryptionContext["tenant"])
        assertFailsWith<KmsException.InvalidCiphertext> { base.decrypt(bound, false, mapOf("tenant" to "other")) }
        val cached = base.withCache(CacheConfig(10u, 60_000u, 100u, 1_000_000_000u, null))
        repeat(3) { base.decrypt(cached.encrypt(data, mapOf("a" to "b"), 0x0478.toUShort(), 4096u, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT), false) }
        assertEquals(2uL, cached.cacheStats()!!.hits)
    }

    @Test
    fun legacySuitesAndNonFramedBodies() {
        val env = Envelope.rawAes("ns", "k", ByteArray(16) { 4 })
        val data = ByteArray(3000) { (it * 11).toByte() }
        val legacy = listOf(0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378)
        for (suite in legacy + listOf(0x0478, 0x0578)) {
            val policy = if (suite in legacy) CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT else CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
            for (frame in listOf(0u, 512u)) {
                val msg = env.encrypt(data, mapOf("s" to "$suite"), suite.toUShort(), frame, policy)
                assertEquals(if (suite in legacy) 1 else 2, msg[0].toInt())
                val out = env.decrypt(msg, true)
                assertContentEquals(data, out.plaintext)
                assertEquals(suite.toUShort(), out.suite)
                if (suite in legacy) {
                    assertFailsWith<KmsException.Validation> { env.decrypt(msg, false) }
                    assertFailsWith<KmsException.Validation> {
                        env.encrypt(data, emptyMap(), suite.toUShort(), frame, CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
                    }
                }
            }
        }
    }

    @Test
    fun severalImportedMaterialsRotateOnDemand() {
        val kms = Kms.inMemory(account, "us-east-1")
        val key = kms.createKey(CreateKeyRequest(origin = Origin.EXTERNAL)).keyMetadata.keyId
        // Material wrapped by the JDK's RSA-OAEP (SHA-256, MGF1-SHA-256), as a user would.
        fun imp(byte: Int, importType: ImportType? = null, description: String? = null): String {
            val p = kms.getParametersForImport(GetParametersForImportRequest(
                keyId = key, wrappingAlgorithm = WrappingAlgorithm.RSAES_OAEP_SHA256, wrappingKeySpec = WrappingKeySpec.RSA2048))
            val pub = java.security.KeyFactory.getInstance("RSA")
                .generatePublic(java.security.spec.X509EncodedKeySpec(p.publicKey))
            val cipher = javax.crypto.Cipher.getInstance("RSA/ECB/OAEPPadding")
            cipher.init(javax.crypto.Cipher.ENCRYPT_MODE, pub, javax.crypto.spec.OAEPParameterSpec(
                "SHA-256", "MGF1", java.security.spec.MGF1ParameterSpec.SHA256, javax.crypto.spec.PSource.PSpecified.DEFAULT))
            val wrapped = cipher.doFinal(ByteArray(32) { byte.toByte() })
            return kms.importKeyMaterial(ImportKeyMaterialRequest(
                keyId = key, importToken = p.importToken, encryptedKeyMaterial = wrapped,
                expirationModel = ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE,
                importType = importType, keyMaterialDescription = description)).keyMaterialId
        }
        val first = imp(1, description = "first")
        val old = kms.encrypt(EncryptRequest(keyId = key, plaintext = "old".toByteArray())).ciphertextBlob
        val second = imp(2, importType = ImportType.NEW_KEY_MATERIAL)
        val listed = kms.listKeyRotations(ListKeyRotationsRequest(keyId = key, includeKeyMaterial = "ALL_KEY_MATERIAL")).rotations
        assertEquals(
            listOf(Triple(first, KeyMaterialState.CURRENT, ImportState.IMPORTED), Triple(second, KeyMaterialState.PENDING_ROTATION, ImportState.IMPORTED)),
            listed.map { Triple(it.keyMaterialId, it.keyMaterialState, it.importState) })
        assertEquals("first", listed[0].keyMaterialDescription)
        kms.rotateKeyOnDemand(KeyIdRequest(keyId = key))
        assertEquals(second, kms.describeKey(DescribeKeyRequest(keyId = key)).keyMetadata.currentKeyMaterialId)
        assertContentEquals("old".toByteArray(), kms.decrypt(DecryptRequest(ciphertextBlob = old)).plaintext)
        assertEquals(first, kms.deleteImportedKeyMaterial(DeleteImportedKeyMaterialRequest(keyId = key, keyMaterialId = first)).keyMaterialId)
        assertEquals(KeyState.PENDING_IMPORT, kms.describeKey(DescribeKeyRequest(keyId = key)).keyMetadata.keyState)
        assertFailsWith<KmsException.IncorrectKeyMaterial> { imp(3) }
        assertEquals(first, imp(1))
        assertEquals(KeyState.ENABLED, kms.describeKey(DescribeKeyRequest(keyId = key)).keyMetadata.keyState)
    }
}
