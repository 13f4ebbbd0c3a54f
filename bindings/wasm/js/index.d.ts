// Type declarations for the `strongroom` npm package (browsers, bundlers
// and Node). The classes are described here by hand; every operation's
// request and response, the Operations map and the ErrorCode union are
// generated from the core's tables into operations.d.ts. `make test`
// checks them with `tsc --noEmit --strict` against tests/typed-usage.ts
// and checks at run time that the operation and error-code lists match the
// module's.

// ------------------------------------------------------------------ operations

// Every operation's request and response type, the Operations map and the
// ErrorCode union: generated from the core's operation and error tables
// (tools/codegen writes operations.d.ts).
import type { ErrorCode, KeyMetadata, OperationName, RequestOf, ResponseOf, Tag } from './operations.js';
export * from './operations.js';

/** `ReplicateKey` (a call between two KMSs in this page, so not a row of
 * the operation table): AWS's members. */
export interface ReplicateKeyRequest {
  KeyId: string;
  ReplicaRegion: string;
  Policy?: string | object;
  BypassPolicyLockoutSafetyCheck?: boolean;
  Description?: string;
  Tags?: Tag[];
}
export interface ReplicateKeyResponse {
  ReplicaKeyMetadata?: KeyMetadata;
  ReplicaPolicy?: string;
  ReplicaTags?: Tag[];
}

// ------------------------------------------------------------------ errors

/** What every Strongroom call throws: an `Error` whose `name` and `code`
 * are the stable error code. Messages never contain key material. */
export interface StrongroomError extends Error {
  readonly name: ErrorCode;
  readonly code: ErrorCode;
}

/** Narrows an unknown thrown value to a Strongroom error. */
export function isStrongroomError(e: unknown): e is StrongroomError;

/** The stable error codes, as the module reports them. */
export function errorCodes(): ErrorCode[];

// ------------------------------------------------------------------ records

/** Encryption context: user data, keys kept exactly as given. */
export type EncryptionContext = Record<string, string>;
/** Who is calling (for policies and grants). */
export interface Caller {
  PrincipalArn: string;
  Account: string;
  ViaService?: string;
  SourceAccount?: string;
}

/** `createKey` for `CreateKey`: the methods are named in camelCase; their
 * requests and responses are AWS's own objects (PascalCase members, as
 * AWS's SDK for JavaScript v3 takes and gives them). A `Policy` or
 * `PolicyDocument` member may also be given as an object: it is sent as
 * its JSON text. */
type MethodName<Op extends string> = Op extends `${infer F}${infer R}` ? `${Lowercase<F>}${R}` : Op;
/** A method per operation, named in camelCase, one options object in. */
export type OperationMethods = {
  [Op in OperationName as MethodName<Op>]: {} extends RequestOf<Op>
    ? (request?: RequestOf<Op>) => ResponseOf<Op>
    : (request: RequestOf<Op>) => ResponseOf<Op>;
};

/** The same methods on a `PersistentKms`: each returns a Promise that
 * resolves once what the call changed is saved. */
export type AsyncOperationMethods = {
  [Op in OperationName as MethodName<Op>]: {} extends RequestOf<Op>
    ? (request?: RequestOf<Op>) => Promise<ResponseOf<Op>>
    : (request: RequestOf<Op>) => Promise<ResponseOf<Op>>;
};

/** The operation names, in the order of the core's operation table (read
 * from the wasm module). */
export const OPERATIONS: readonly OperationName[];

// ------------------------------------------------------------------ Kms

/** Where a persistent KMS keeps its sealed store. */
export interface SnapshotStorage {
  load(): Promise<Uint8Array | undefined>;
  save(snapshot: Uint8Array): Promise<void>;
  /** A Web Lock name: while a KMS has this store open, opening it again
   * (another tab) is a `ConflictException` instead of two writers losing
   * each other's changes. `indexedDbStorage` sets one. */
  readonly lockName?: string;
}

/** IndexedDB storage: one object store in database `name` (default
 * "strongroom"), the snapshot under `key` (default "store"). */
export function indexedDbStorage(name?: string, key?: string): SnapshotStorage;

/** A 32-byte root key supplied by the app, or a passphrase (Argon2id). */
export type RootKeySource = { rootKey: Uint8Array; passphrase?: never } | { passphrase: string; rootKey?: never };

export interface Region { account?: string; region?: string }
export type OpenSnapshotOptions = RootKeySource & Region & { snapshot?: Uint8Array };
export type OpenPersistentOptions = RootKeySource & Region & { storage?: SnapshotStorage };

/** A clock that moves only when told to (ms since the Unix epoch). */
export class ManualClock {
  constructor(startMs: number);
  advanceMs(ms: number): void;
  free(): void;
}

export interface Kms extends OperationMethods {}
export class Kms {
  private constructor();
  /** An in-memory KMS; randomness from the platform's crypto. */
  static inMemory(options?: Region): Kms;
  /** A KMS over a sealed store kept as bytes (`snapshot` omitted: a new one). */
  static openSnapshot(options: OpenSnapshotOptions): Kms;
  /** A KMS whose store is saved to `storage` (IndexedDB by default):
   * durable before acknowledged — every call returns a Promise that
   * resolves only after what it changed is saved (see `PersistentKms`).
   * Reopening with the same root key or passphrase after a reload finds
   * every acknowledged key, alias and grant. One writer per store: while
   * it is open, opening it elsewhere (another tab) is a
   * `ConflictException`. */
  static openPersistent(options: OpenPersistentOptions): Promise<PersistentKms>;

  readonly region: string;
  /** Any operation by its AWS name (the same as its camelCase method). */
  call<Op extends OperationName>(operation: Op, request?: RequestOf<Op>): ResponseOf<Op>;
  /** Any operation with the core's own JSON text (AWS's wire shape). */
  callJson(operation: OperationName, requestJson: string): string;
  /** The same KMS acting as another caller. */
  asCaller(caller: Caller): Kms;
  /** `ReplicateKey` into `replica`, another region's KMS in this page
   * (a Promise, settled once saved, when the replica is persistent). */
  replicateKey(request: ReplicateKeyRequest, replica: PersistentKms): Promise<ReplicateKeyResponse>;
  replicateKey(request: ReplicateKeyRequest, replica: Kms): ReplicateKeyResponse;
  /** `ReplicateKey` with the core's own JSON (as the test vectors are written). */
  replicateKeyJson(requestJson: string, replica: PersistentKms): Promise<string>;
  replicateKeyJson(requestJson: string, replica: Kms): string;
  updatePrimaryRegion(keyId: string, newPrimary: PersistentKms): Promise<void>;
  updatePrimaryRegion(keyId: string, newPrimary: Kms): void;
  /** The sealed store as bytes (for `openSnapshot` KMSs). */
  exportSnapshot(): Uint8Array;
  /** Resolves at once (nothing to save: see `PersistentKms`). */
  flush(): Promise<void>;
  /** Free the memory. */
  close(): Promise<void>;
  /** Release the wasm memory now. */
  free(): void;
}

/** A KMS whose sealed store is kept in a `SnapshotStorage`
 * (`Kms.openPersistent`): durable before acknowledged. Every operation
 * returns a Promise that resolves only after the save of everything the
 * call changed — and of every earlier change it may have seen — committed
 * (`await kms.createKey(...)`), and rejects with the storage's error if
 * that save failed (a call that itself failed still waits for the save of
 * anything it wrote, then rejects with its own error). After a failed save
 * the in-memory store is ahead of storage and is never used again: every
 * later call (and `exportSnapshot`) rejects with `StoreIOException` whose
 * `cause` is the storage's error; reopen the store to go on from what was
 * saved, which holds every acknowledged change and none that was not. */
export interface PersistentKms extends AsyncOperationMethods {}
export class PersistentKms {
  private constructor();
  readonly region: string;
  /** Any operation by its AWS name. */
  call<Op extends OperationName>(operation: Op, request?: RequestOf<Op>): Promise<ResponseOf<Op>>;
  /** Any operation with the core's own JSON text (AWS's wire shape). */
  callJson(operation: OperationName, requestJson: string): Promise<string>;
  /** The same KMS (and store) acting as another caller. */
  asCaller(caller: Caller): PersistentKms;
  replicateKey(request: ReplicateKeyRequest, replica: Kms | PersistentKms): Promise<ReplicateKeyResponse>;
  replicateKeyJson(requestJson: string, replica: Kms | PersistentKms): Promise<string>;
  updatePrimaryRegion(keyId: string, newPrimary: Kms | PersistentKms): Promise<void>;
  /** The sealed store as bytes. */
  exportSnapshot(): Uint8Array;
  /** Resolves when every save so far committed; rejects with the
   * storage's error if one failed. */
  flush(): Promise<void>;
  /** Flush, release the store's lock, free the memory. */
  close(): Promise<void>;
  /** Release the lock and the wasm memory now (every acknowledged change
   * is already saved). */
  free(): void;
}

// ------------------------------------------------------------------ envelopes

/** 0x0578 (AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384; the
 * default) or 0x0478 (the same without a signature); the nine legacy
 * suites without key commitment (0x0014 … 0x0378, for readers that
 * predate it) only under `FORBID_ENCRYPT_ALLOW_DECRYPT`. */
export type Suite = 0x0578 | 0x0478 | LegacySuite;
export type LegacySuite = 0x0014 | 0x0046 | 0x0078 | 0x0114 | 0x0146 | 0x0178 | 0x0214 | 0x0346 | 0x0378;
/** Which suites encrypt (the AWS Encryption SDK's commitment policies). */
export type CommitmentPolicy =
  | 'REQUIRE_ENCRYPT_REQUIRE_DECRYPT'
  | 'REQUIRE_ENCRYPT_ALLOW_DECRYPT'
  | 'FORBID_ENCRYPT_ALLOW_DECRYPT';
export const SUITE_SIGNED: 0x0578;
export const SUITE_UNSIGNED: 0x0478;
/** The frame length `encryptAsync` uses unless told otherwise (256 KiB). */
export const ASYNC_FRAME_LENGTH: number;

export interface EncryptOptions {
  encryptionContext?: EncryptionContext;
  suite?: Suite;
  /** Plaintext bytes per frame; 0 writes a non-framed body. */
  frameLength?: number;
  /** Default `REQUIRE_ENCRYPT_REQUIRE_DECRYPT`. */
  commitmentPolicy?: CommitmentPolicy;
}
export interface EncryptorOptions extends EncryptOptions {
  /** When known, lets a data key cache serve the message. */
  plaintextLength?: number;
}
export interface DecryptOptions {
  /** Accept messages in suites without key commitment. */
  allowLegacySuites?: boolean;
  /** The context the caller expects: stored pairs must be equal; the others
   * are a required-context message's authenticated-only pairs. */
  encryptionContext?: EncryptionContext;
}
export interface DecryptedMessage {
  plaintext: Uint8Array;
  encryptionContext: EncryptionContext;
  suite: number;
  frameLength: number;
  /** Which key opened the message. */
  providerId: string;
  keyName: string;
}
export interface CacheOptions {
  capacity?: number;
  maxAgeMs?: number;
  maxMessagesEncrypted?: number;
  maxBytesEncrypted?: number;
  partition?: string;
}
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  invalidations: number;
  bypasses: number;
  entries: number;
}

/** Push-style encryption: message bytes out as frames fill. */
export class EncryptStream {
  private constructor();
  update(chunk: Uint8Array): Uint8Array;
  finish(): Uint8Array;
  free(): void;
}
/** Push-style decryption: plaintext out as frames verify; only `finish()`
 * returning means the message was complete (and its signature valid). */
export class DecryptStream {
  private constructor();
  update(chunk: Uint8Array): Uint8Array;
  /** The last plaintext bytes with the message's details. */
  finish(): DecryptedMessage;
  free(): void;
}

/** Envelope encryption in the AWS Encryption SDK message format. */
/** Branch keys for `Envelope.hierarchical`: each version a 32-byte key
 * wrapped by `kmsKeyId`, in memory (`exportSnapshot()` / `snapshot` keep
 * them across page loads). */
export class BranchKeyStore {
  constructor(kms: Kms | PersistentKms, options: { kmsKeyId: string; logicalName: string; snapshot?: Uint8Array });
  /** A new branch key (the id given, or a random UUID); returns its id. */
  createBranchKey(branchKeyId?: string): string;
  /** Rotate: a new active version; old messages still open. */
  versionBranchKey(branchKeyId: string): string;
  versions(branchKeyId: string): string[];
  exportSnapshot(): Uint8Array;
}

/** One keyring described as data (the core's KeyringSpec; MPL member names). */
export type KeyringSpec =
  | { type: 'RawAes'; keyNamespace: string; keyName: string; wrappingKey: Uint8Array }
  | {
      type: 'RawRsa'; keyNamespace: string; keyName: string;
      paddingScheme: 'PKCS1' | 'OAEP_SHA1_MGF1' | 'OAEP_SHA256_MGF1' | 'OAEP_SHA384_MGF1' | 'OAEP_SHA512_MGF1';
      publicKey?: Uint8Array; privateKey?: Uint8Array;
    }
  | {
      type: 'RawEcdh'; curveSpec: 'ECC_NIST_P256' | 'ECC_NIST_P384';
      keyAgreementScheme:
        | { RawPrivateKeyToStaticPublicKey: { senderStaticPrivateKey: Uint8Array; recipientPublicKey: Uint8Array } }
        | { EphemeralPrivateKeyToStaticPublicKey: { recipientPublicKey: Uint8Array } }
        | { PublicKeyDiscovery: { recipientStaticPrivateKey: Uint8Array } };
    }
  | {
      type: 'AwsKmsEcdh'; curveSpec: 'ECC_NIST_P256' | 'ECC_NIST_P384'; grantTokens?: string[];
      keyAgreementScheme:
        | { KmsPrivateKeyToStaticPublicKey: { senderKmsIdentifier: string; recipientPublicKey: Uint8Array } }
        | { KmsPublicKeyDiscovery: { recipientKmsIdentifier: string } };
    }
  | { type: 'AwsKms'; keyIds: string[]; grantTokens?: string[] }
  | { type: 'AwsKmsDiscovery'; grantTokens?: string[]; discoveryFilter?: { partition: string; accountIds: string[] } };

export class Envelope {
  private constructor();
  /** Keyrings as data; an array is a multi-keyring (the first generates).
   * KMS specs act through `options.kms`. */
  static fromKeyrings(specs: KeyringSpec | KeyringSpec[], options?: { kms?: Kms | PersistentKms }): Envelope;
  /** The hierarchical keyring: data keys wrapped under keys derived from a
   * branch key opened once per `ttlSeconds` (aws-kms-hierarchy EDKs). */
  static hierarchical(store: BranchKeyStore, options: {
    /** One branch key ... */
    branchKeyId?: string;
    /** ... or the one this picks from each message's encryption context (many tenants). */
    branchKeyIdSupplier?: (encryptionContext: EncryptionContext) => string;
    ttlSeconds: number;
  }): Envelope;
  /** The required encryption context CMM in front of this envelope: `keys`
   * must be in every encryption context, are authenticated but not stored,
   * and must be given again to decrypt (`decrypt(m, { encryptionContext })`). */
  withRequiredEncryptionContextKeys(keys: string[]): Envelope;
  /** A data key cache in front of this envelope's keyrings. */
  withCache(cache: CacheOptions): Envelope;
  /** KMS keys: the first generates each data key, any can decrypt; an
   * empty list decrypts with any key the caller may use. */
  static forKms(kms: Kms | PersistentKms, keyIds: string[], options?: { grantTokens?: string[]; cache?: CacheOptions }): Envelope;
  /** A raw AES-128, -192 or -256 wrapping key, wire-identical to the official SDKs'. */
  static rawAes(options: { keyNamespace: string; keyName: string; wrappingKey: Uint8Array }): Envelope;
  encrypt(plaintext: Uint8Array, options?: EncryptOptions): Uint8Array;
  decrypt(message: Uint8Array, options?: DecryptOptions): DecryptedMessage;
  /** Encryption with the bulk AES-GCM (and for the signed suite the ECDSA
   * P-384 signature) done by WebCrypto; the data key, header and framing
   * stay in the module, the per-message content and signing keys are
   * imported into WebCrypto non-extractable and wiped. Suite 0x0578 by
   * default as `encrypt`, frames of `ASYNC_FRAME_LENGTH`; without WebCrypto
   * it is `encrypt`. Same message format: `decrypt` and every ESDK read it. */
  encryptAsync(plaintext: Uint8Array, options?: EncryptOptions): Promise<Uint8Array>;
  /** Decryption with the frames opened, and for signed suites the ECDSA
   * signature verified, by WebCrypto (framed messages; others fall back to
   * `decrypt`). Nothing is returned unless every frame and the signature
   * verified. */
  decryptAsync(message: Uint8Array, options?: DecryptOptions): Promise<DecryptedMessage>;
  encryptor(options?: EncryptorOptions): EncryptStream;
  decryptor(options?: DecryptOptions): DecryptStream;
  /** A `TransformStream` from plaintext chunks to message chunks. */
  encryptStream(options?: EncryptorOptions): TransformStream<Uint8Array, Uint8Array>;
  /** A `TransformStream` from message chunks to plaintext chunks; it errors
   * (and the readable side with it) when the message is damaged or cut
   * short. `onComplete` receives the message's details once it verified. */
  decryptStream(options?: DecryptOptions & { onComplete?: (message: DecryptedMessage) => void }): TransformStream<Uint8Array, Uint8Array>;
  /** The data key cache's counters; `undefined` without a cache. */
  cacheStats(): CacheStats | undefined;
  free(): void;
}
