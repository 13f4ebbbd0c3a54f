// Type-checked (never run) by `tsc -p tsconfig.json` in scripts/wasm.sh
// against the installed package's index.d.ts. Each `@ts-expect-error`
// line must be an error, so loosening a declaration (an `any`, a missing
// field, an optional that should be required) fails the check.
import {
  Kms, PersistentKms, Envelope, ManualClock, isStrongroomError, errorCodes, OPERATIONS, indexedDbStorage,
  SUITE_UNSIGNED,
} from 'strongroom';
import type {
  KeyMetadata, KeyState, ErrorCode, DecryptedMessage, CacheStats, SnapshotStorage,
  ResponseOf, RequestOf, EncryptResponse, StrongroomError, DescribeKeyRequest,
} from 'strongroom';

const kms: Kms = Kms.inMemory({ region: 'eu-west-1' });
// AWS's shapes: members AWS marks required are required; every response
// member is optional (as in AWS's SDK for JavaScript v3).
const meta: KeyMetadata = kms.createKey({ Description: 'orders', KeySpec: 'SYMMETRIC_DEFAULT' }).KeyMetadata!;
const state: KeyState | undefined = meta.KeyState;
const deletion: number | undefined = meta.DeletionDate;
kms.createAlias({ AliasName: 'alias/orders', TargetKeyId: meta.KeyId! });
const enc: EncryptResponse = kms.encrypt({
  KeyId: 'alias/orders',
  Plaintext: new TextEncoder().encode('hi'),
  EncryptionContext: { tenant: 'a' },
});
const blob: Uint8Array = enc.CiphertextBlob!;
const plain: Uint8Array = kms.decrypt({ CiphertextBlob: blob, EncryptionContext: { tenant: 'a' } }).Plaintext!;
const viaCall: ResponseOf<'GenerateDataKey'> = kms.call('GenerateDataKey', { KeyId: meta.KeyId!, KeySpec: 'AES_256' });
const dk: Uint8Array = viaCall.Plaintext!;
const keys: { KeyId?: string; KeyArn?: string }[] = kms.listKeys().Keys!;
const signer = kms.createKey({ KeyUsage: 'SIGN_VERIFY', KeySpec: 'ECC_NIST_P256' }).KeyMetadata!;
const sig = kms.sign({ KeyId: signer.KeyId!, Message: plain, SigningAlgorithm: 'ECDSA_SHA_256' });
const ok: boolean = kms.verify({ KeyId: signer.KeyId!, Message: plain, Signature: sig.Signature!, SigningAlgorithm: 'ECDSA_SHA_256' }).SignatureValid!;
const sched = kms.scheduleKeyDeletion({ KeyId: meta.KeyId!, PendingWindowInDays: 7 });
const pending: KeyState | undefined = sched.KeyState;
const grant: string | undefined = kms.createGrant({
  KeyId: signer.KeyId!, GranteePrincipal: 'arn:aws:iam::111122223333:role/app', Operations: ['Sign'],
}).GrantToken;
const other: Kms = kms.asCaller({ PrincipalArn: 'arn:aws:iam::111122223333:role/app', Account: '111122223333' });
kms.putKeyPolicy({ KeyId: signer.KeyId!, Policy: JSON.stringify({ Version: '2012-10-17', Statement: [] }) });

// @ts-expect-error KeyId is required
kms.encrypt({ Plaintext: plain });
// @ts-expect-error not a key state
const badState: KeyState = 'Deleted';
// @ts-expect-error bytes are Uint8Array, not strings
kms.sign({ KeyId: signer.KeyId!, Message: 'text' });
// @ts-expect-error no such response field
enc.Plaintext;
// @ts-expect-error no such operation
kms.call('DeleteKey', {});
// @ts-expect-error optional members stay optional
const notNull: number = meta.DeletionDate;
// @ts-expect-error members are AWS's PascalCase names
kms.encrypt({ keyId: 'alias/orders', Plaintext: plain });

const env = Envelope.forKms(kms, [meta.KeyId!], { cache: { capacity: 10, maxAgeMs: 60_000 } });
const msg: Uint8Array = env.encrypt(plain, { encryptionContext: { a: 'b' }, suite: SUITE_UNSIGNED, frameLength: 4096 });
const opened: DecryptedMessage = env.decrypt(msg);
const ctx: Record<string, string> = opened.encryptionContext;
const stats: CacheStats | undefined = env.cacheStats();
const ts: TransformStream<Uint8Array, Uint8Array> = env.encryptStream({ encryptionContext: { a: 'b' } });
const e2 = env.encryptor({ plaintextLength: 10 });
const part: Uint8Array = e2.update(plain);
const last: DecryptedMessage = env.decryptor().finish();
const raw = Envelope.rawAes({ keyNamespace: 'ns', keyName: 'k', wrappingKey: new Uint8Array(32) });
// @ts-expect-error suites are the ESDK's eleven
env.encrypt(plain, { suite: 0x1234 });
env.encrypt(plain, { suite: 0x0014, frameLength: 0, commitmentPolicy: 'FORBID_ENCRYPT_ALLOW_DECRYPT' });
// @ts-expect-error commitment policies are the SDKs' three names
env.encrypt(plain, { commitmentPolicy: 'LAX' });

const clock = new ManualClock(0);
clock.advanceMs(1000);
// @ts-expect-error the seeded test RNG is not in the package
Kms.deterministic({ account: '111122223333', region: 'us-east-1', seed: new Uint8Array(32), clock });
const snap: Uint8Array = Kms.openSnapshot({ passphrase: 'correct horse' }).exportSnapshot();
// @ts-expect-error a root key or a passphrase, not both
Kms.openSnapshot({ passphrase: 'x', rootKey: new Uint8Array(32) });
const storage: SnapshotStorage = indexedDbStorage('app');
async function bulk(): Promise<DecryptedMessage> {
  const m: Uint8Array = await env.encryptAsync(plain, { encryptionContext: { a: 'b' } });
  return env.decryptAsync(m);
}
async function persistent(): Promise<void> {
  const p: PersistentKms = await Kms.openPersistent({ rootKey: new Uint8Array(32), storage });
  // Durable before acknowledged: every call is a Promise.
  const created: KeyMetadata = (await p.createKey({ Description: 'saved' })).KeyMetadata!;
  const listed: Promise<ResponseOf<'ListKeys'>> = p.listKeys();
  const viaCall: EncryptResponse = await p.call('Encrypt', { KeyId: created.KeyId!, Plaintext: new Uint8Array(1) });
  // @ts-expect-error a persistent KMS's answers must be awaited
  const notAwaited: KeyMetadata | undefined = p.createKey({}).KeyMetadata;
  const asOther: PersistentKms = p.asCaller({ PrincipalArn: 'arn:aws:iam::111122223333:role/app', Account: '111122223333' });
  const env2: Envelope = Envelope.forKms(p, [created.KeyId!]);
  await listed;
  await p.flush();
  await p.close();
  return void [viaCall, notAwaited, asOther, env2];
}

try {
  kms.describeKey({ KeyId: 'alias/missing' });
} catch (e: unknown) {
  if (isStrongroomError(e)) {
    const code: ErrorCode = e.code;
    const err: StrongroomError = e;
  }
}
const codes: ErrorCode[] = errorCodes();
const names: readonly string[] = OPERATIONS;

// The generated AWS-shaped declarations (operations.d.ts, from the core's types).
const wireKeyId: RequestOf<'DescribeKey'>['KeyId'] = 'alias/orders';
const wireCode: ErrorCode = 'NotFoundException';
// @ts-expect-error a member AWS's DescribeKeyRequest does not have
const wireBad: DescribeKeyRequest = { KeyIdentifier: 'alias/orders' };
// @ts-expect-error an operation not in the table
type WireNone = RequestOf<'Rot13'>;
// @ts-expect-error not an error code
const wireBadCode: ErrorCode = 'NoSuchException';

export {
  state, deletion, dk, keys, ok, pending, grant, other, badState, notNull, opened, ctx, stats, ts,
  part, last, raw, snap, persistent, codes, names, bulk, wireKeyId, wireCode, wireBad, wireBadCode,
};
export type { WireNone };
