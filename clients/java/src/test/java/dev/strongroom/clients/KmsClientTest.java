package dev.strongroom.clients;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.security.SecureRandom;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.model.CreateKeyResponse;
import software.amazon.awssdk.services.kms.model.DataKeySpec;
import software.amazon.awssdk.services.kms.model.DecryptResponse;
import software.amazon.awssdk.services.kms.model.EncryptResponse;
import software.amazon.awssdk.services.kms.model.GenerateDataKeyResponse;
import software.amazon.awssdk.services.kms.model.InvalidCiphertextException;
import software.amazon.awssdk.services.kms.model.KeySpec;
import software.amazon.awssdk.services.kms.model.KeyState;
import software.amazon.awssdk.services.kms.model.KmsException;

/**
 * The AWS SDK for Java v2 against a KMS endpoint. The client is built with no
 * endpoint, region or credentials of its own: the SDK takes
 * AWS_ENDPOINT_URL_KMS, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
 * from the environment, as for any application pointed at a local endpoint.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KmsClientTest {
  private static final Map<String, String> CONTEXT =
      Map.of("purpose", "client-check", "client", "java");

  private KmsClient kms;
  private String keyArn;
  private String keyId;
  private final byte[] plaintext = new byte[100];
  private SdkBytes ciphertext;

  @BeforeAll
  void setUp() {
    for (String v :
        new String[] {
          "AWS_ENDPOINT_URL_KMS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"
        }) {
      assertNotNull(System.getenv(v), "set " + v);
    }
    new SecureRandom().nextBytes(plaintext);
    kms = KmsClient.create();
    CreateKeyResponse out = kms.createKey(b -> b.description("strongroom client check (java)"));
    keyArn = out.keyMetadata().arn();
    keyId = out.keyMetadata().keyId();
    assertTrue(
        keyArn.matches("arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/" + keyId), "key ARN " + keyArn);
    assertTrue(out.keyMetadata().enabled());
    assertEquals(KeySpec.SYMMETRIC_DEFAULT, out.keyMetadata().keySpec());
  }

  @Test
  @Order(1)
  void encryptsAndDecryptsWithAnEncryptionContext() {
    EncryptResponse enc =
        kms.encrypt(
            b -> b.keyId(keyArn).plaintext(SdkBytes.fromByteArray(plaintext)).encryptionContext(CONTEXT));
    ciphertext = enc.ciphertextBlob();
    assertEquals(keyArn, enc.keyId());
    assertFalse(new String(ciphertext.asByteArray(), java.nio.charset.StandardCharsets.ISO_8859_1)
        .contains(new String(plaintext, java.nio.charset.StandardCharsets.ISO_8859_1)));
    DecryptResponse dec = kms.decrypt(b -> b.ciphertextBlob(ciphertext).encryptionContext(CONTEXT));
    assertArrayEquals(plaintext, dec.plaintext().asByteArray());
    assertEquals(keyArn, dec.keyId());
  }

  @Test
  @Order(2)
  void aWrongEncryptionContextIsInvalidCiphertext() {
    assertNotNull(ciphertext, "the Encrypt test ran first");
    assertThrows(
        InvalidCiphertextException.class,
        () ->
            kms.decrypt(
                b ->
                    b.ciphertextBlob(ciphertext)
                        .encryptionContext(Map.of("purpose", "client-check", "client", "other"))));
    assertThrows(InvalidCiphertextException.class, () -> kms.decrypt(b -> b.ciphertextBlob(ciphertext)));
  }

  @Test
  @Order(3)
  void generatesADataKeyThatDecrypts() {
    GenerateDataKeyResponse dk =
        kms.generateDataKey(
            b -> b.keyId(keyArn).keySpec(DataKeySpec.AES_256).encryptionContext(CONTEXT));
    assertEquals(32, dk.plaintext().asByteArray().length);
    DecryptResponse dec =
        kms.decrypt(b -> b.ciphertextBlob(dk.ciphertextBlob()).encryptionContext(CONTEXT));
    assertArrayEquals(dk.plaintext().asByteArray(), dec.plaintext().asByteArray());
  }

  /** Needs a second access key mapped to a principal the key policy does not allow (Strongroom). */
  @Test
  @Order(4)
  void aPrincipalTheKeyPolicyDoesNotAllowIsDenied() {
    String id = System.getenv("STRONGROOM_DENIED_ACCESS_KEY_ID");
    assumeTrue(id != null && !id.isEmpty(), "STRONGROOM_DENIED_ACCESS_KEY_ID unset (moto has no key policies)");
    String secret = System.getenv().getOrDefault("STRONGROOM_DENIED_SECRET_ACCESS_KEY", "");
    assertNotNull(ciphertext, "the Encrypt test ran first");
    try (KmsClient denied =
        KmsClient.builder()
            .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(id, secret)))
            .build()) {
      // AccessDeniedException is not a modelled KMS error in the SDK: it
      // arrives as a KmsException carrying the AWS error code.
      KmsException e =
          assertThrows(
          KmsException.class,
          () ->
              denied.encrypt(
                  b ->
                      b.keyId(keyArn)
                          .plaintext(SdkBytes.fromByteArray(plaintext))
                          .encryptionContext(CONTEXT)));
      assertEquals("AccessDeniedException", e.awsErrorDetails().errorCode());
      assertEquals(400, e.statusCode());
      e =
          assertThrows(
              KmsException.class,
              () -> denied.decrypt(b -> b.ciphertextBlob(ciphertext).encryptionContext(CONTEXT)));
      assertEquals("AccessDeniedException", e.awsErrorDetails().errorCode());
    }
  }

  @AfterAll
  void scheduleDeletion() {
    // By key id: moto's server fails (HTTP 500) on ScheduleKeyDeletion by ARN.
    assertNotNull(kms.scheduleKeyDeletion(b -> b.keyId(keyId).pendingWindowInDays(7)).deletionDate());
    // moto leaves KeyState out of that answer; DescribeKey tells.
    assertEquals(
        KeyState.PENDING_DELETION, kms.describeKey(b -> b.keyId(keyArn)).keyMetadata().keyState());
    kms.close();
  }
}
