// The AWS SDK for JavaScript v3 (@aws-sdk/client-kms, pinned in package.json)
// against a KMS endpoint: Strongroom's `strongroom serve`, or moto's server.
//
// Environment (the SDK's own variables, read by the SDK itself):
//   AWS_ENDPOINT_URL_KMS, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
// Optional, Strongroom only (a second access key whose principal the key's
// policy does not allow):
//   STRONGROOM_DENIED_ACCESS_KEY_ID, STRONGROOM_DENIED_SECRET_ACCESS_KEY
//
// Prints one line per check and a closing "N passed, N failed" line; exits 1
// when any check failed.
import {
  KMSClient,
  CreateKeyCommand,
  EncryptCommand,
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  ScheduleKeyDeletionCommand,
} from "@aws-sdk/client-kms";
import { randomBytes } from "node:crypto";

for (const v of ["AWS_ENDPOINT_URL_KMS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]) {
  if (!process.env[v]) {
    console.error(`kms-check: set ${v}`);
    process.exit(2);
  }
}

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - js: ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - js: ${name}: ${e && e.name ? e.name + ": " : ""}${e && e.message}`);
  }
}
function assert(cond, what) {
  if (!cond) throw new Error(what);
}
async function expectError(promise, errorName) {
  try {
    await promise;
  } catch (e) {
    assert(e.name === errorName, `expected ${errorName}, got ${e.name}`);
    return;
  }
  throw new Error(`expected ${errorName}, the call succeeded`);
}

// The endpoint, region and credentials come from the environment, as for any
// user of the SDK pointed at a local endpoint.
const kms = new KMSClient({});
const context = { purpose: "client-check", client: "js" };
const plaintext = randomBytes(100);
let keyArn;
let keyId;
let ciphertext;

await check("CreateKey", async () => {
  const out = await kms.send(new CreateKeyCommand({ Description: "strongroom client check (js)" }));
  keyArn = out.KeyMetadata.Arn;
  keyId = out.KeyMetadata.KeyId;
  assert(keyArn.endsWith(`:key/${keyId}`), `ARN ${keyArn} names key ${keyId}`);
  assert(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/.+/.test(keyArn), `key ARN ${keyArn}`);
  assert(out.KeyMetadata.Enabled === true, "new key enabled");
  assert(out.KeyMetadata.KeySpec === "SYMMETRIC_DEFAULT", `key spec ${out.KeyMetadata.KeySpec}`);
});

await check("Encrypt and Decrypt with an encryption context", async () => {
  const enc = await kms.send(
    new EncryptCommand({ KeyId: keyArn, Plaintext: plaintext, EncryptionContext: context }),
  );
  ciphertext = enc.CiphertextBlob;
  assert(enc.KeyId === keyArn, `Encrypt KeyId ${enc.KeyId}`);
  assert(!Buffer.from(ciphertext).includes(plaintext), "ciphertext hides the plaintext");
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: context }));
  assert(Buffer.from(dec.Plaintext).equals(plaintext), "Decrypt gives back the plaintext");
  assert(dec.KeyId === keyArn, `Decrypt KeyId ${dec.KeyId}`);
});

await check("Decrypt with a wrong encryption context is InvalidCiphertextException", async () => {
  await expectError(
    kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { ...context, client: "other" } })),
    "InvalidCiphertextException",
  );
  await expectError(kms.send(new DecryptCommand({ CiphertextBlob: ciphertext })), "InvalidCiphertextException");
});

await check("GenerateDataKey and Decrypt of its blob", async () => {
  const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: "AES_256", EncryptionContext: context }));
  assert(dk.Plaintext.length === 32, "32-byte data key");
  const dec = await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: context }));
  assert(Buffer.from(dec.Plaintext).equals(Buffer.from(dk.Plaintext)), "same data key");
});

if (process.env.STRONGROOM_DENIED_ACCESS_KEY_ID) {
  const denied = new KMSClient({
    credentials: {
      accessKeyId: process.env.STRONGROOM_DENIED_ACCESS_KEY_ID,
      secretAccessKey: process.env.STRONGROOM_DENIED_SECRET_ACCESS_KEY ?? "",
    },
  });
  await check("a principal the key policy does not allow gets AccessDeniedException", async () => {
    await expectError(
      denied.send(new EncryptCommand({ KeyId: keyArn, Plaintext: plaintext, EncryptionContext: context })),
      "AccessDeniedException",
    );
    await expectError(
      denied.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: context })),
      "AccessDeniedException",
    );
  });
} else {
  console.log("# js: STRONGROOM_DENIED_ACCESS_KEY_ID unset: policy denial not checked (moto has no key policies)");
}

// By key id: moto's server fails (HTTP 500) on ScheduleKeyDeletion by ARN.
await check("ScheduleKeyDeletion", async () => {
  const out = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
  assert(out.DeletionDate instanceof Date, "a deletion date");
  // moto leaves KeyState out of this answer; DescribeKey tells.
  const d = await kms.send(new DescribeKeyCommand({ KeyId: keyArn }));
  assert(d.KeyMetadata.KeyState === "PendingDeletion", `key state ${d.KeyMetadata.KeyState}`);
});

console.log(`js: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
