// Type declarations for the `strongroom` npm package (browsers, bundlers
// and Node). Written by hand to describe exactly what the JS layer
// (lib.js) and the wasm module return; `make test` checks them with
// `tsc --noEmit --strict` against tests/typed-usage.ts and checks at run
// time that the operation and error-code lists below match the module's.

// ------------------------------------------------------------------ errors

/** Every stable error code; the same in Rust, Python, Kotlin and Swift. */
export type ErrorCode =
  | 'NotFoundException'
  | 'DisabledException'
  | 'KMSInvalidStateException'
  | 'InvalidCiphertextException'
  | 'IncorrectKeyException'
  | 'InvalidKeyUsageException'
  | 'ValidationException'
  | 'LimitExceededException'
  | 'AlreadyExistsException'
  | 'InvalidAliasNameException'
  | 'InvalidArnException'
  | 'InvalidMarkerException'
  | 'UnsupportedOperationException'
  | 'DryRunOperationException'
  | 'ConflictException'
  | 'TagException'
  | 'AccessDeniedException'
  | 'MalformedPolicyDocumentException'
  | 'InvalidGrantTokenException'
  | 'InvalidGrantIdException'
  | 'KMSInvalidSignatureException'
  | 'KMSInvalidMacException'
  | 'ExpiredImportTokenException'
  | 'InvalidImportTokenException'
  | 'IncorrectKeyMaterialException'
  | 'KMSInternalException'
  | 'InvalidRootKeyException'
  | 'StoreCorruptedException'
  | 'UnsupportedStoreVersionException'
  | 'StoreIOException';

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

// ------------------------------------------------------------------ enums

export type KeyState =
  | 'Creating' | 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport'
  | 'PendingReplicaDeletion' | 'Unavailable' | 'Updating';
export type KeySpec =
  | 'SYMMETRIC_DEFAULT' | 'RSA_2048' | 'RSA_3072' | 'RSA_4096' | 'ECC_NIST_P256'
  | 'ECC_NIST_P384' | 'ECC_NIST_P521' | 'ECC_SECG_P256K1' | 'ECC_NIST_EDWARDS25519'
  | 'HMAC_224' | 'HMAC_256' | 'HMAC_384' | 'HMAC_512' | 'ML_DSA_44' | 'ML_DSA_65'
  | 'ML_DSA_87' | 'SM2';
export type KeyUsage = 'ENCRYPT_DECRYPT' | 'SIGN_VERIFY' | 'GENERATE_VERIFY_MAC' | 'KEY_AGREEMENT';
export type Origin = 'AWS_KMS' | 'EXTERNAL' | 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE';
export type KeyManager = 'CUSTOMER' | 'AWS';
export type EncryptionAlgorithm = 'SYMMETRIC_DEFAULT' | 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256' | 'SM2PKE';
export type DataKeySpec = 'AES_256' | 'AES_128';
export type RotationType = 'AUTOMATIC' | 'ON_DEMAND';
export type KeyMaterialState = 'CURRENT' | 'NON_CURRENT';
export type ExpirationModel = 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
export type WrappingAlgorithm =
  | 'RSAES_OAEP_SHA_256' | 'RSA_AES_KEY_WRAP_SHA_256' | 'RSAES_OAEP_SHA_1'
  | 'RSAES_PKCS1_V1_5' | 'RSA_AES_KEY_WRAP_SHA_1';
export type SigningAlgorithm =
  | 'ECDSA_SHA_256' | 'ECDSA_SHA_384' | 'RSASSA_PSS_SHA_256' | 'RSASSA_PSS_SHA_384'
  | 'RSASSA_PSS_SHA_512' | 'RSASSA_PKCS1_V1_5_SHA_256' | 'RSASSA_PKCS1_V1_5_SHA_384'
  | 'RSASSA_PKCS1_V1_5_SHA_512';
export type MessageType = 'RAW' | 'DIGEST';
export type MacAlgorithm = 'HMAC_SHA_224' | 'HMAC_SHA_256' | 'HMAC_SHA_384' | 'HMAC_SHA_512';
export type GrantOperation =
  | 'Decrypt' | 'Encrypt' | 'GenerateDataKey' | 'GenerateDataKeyWithoutPlaintext'
  | 'ReEncryptFrom' | 'ReEncryptTo' | 'Sign' | 'Verify' | 'GetPublicKey' | 'CreateGrant'
  | 'RetireGrant' | 'DescribeKey' | 'GenerateDataKeyPair'
  | 'GenerateDataKeyPairWithoutPlaintext' | 'GenerateMac' | 'VerifyMac' | 'DeriveSharedSecret';

// ------------------------------------------------------------------ records

/** Encryption context: user data, keys kept exactly as given. */
export type EncryptionContext = Record<string, string>;
/** A key policy: JSON text, or an object (sent as its JSON). */
export type PolicyDocument = string | object;
/** Dates are Unix milliseconds. */
export type Millis = number;
/** A timestamp as AWS writes it: seconds since the Unix epoch (fractional
 * when the milliseconds are not whole). */
export type EpochSeconds = number;

export interface Tag { tagKey: string; tagValue: string }

export interface MultiRegionKey { arn: string; region: string }
export interface MultiRegionConfiguration {
  multiRegionKeyType: string;
  primaryKey: MultiRegionKey;
  replicaKeys: MultiRegionKey[];
}

export interface KeyMetadata {
  awsAccountId: string;
  keyId: string;
  arn: string;
  creationDate: EpochSeconds;
  enabled: boolean;
  description: string;
  keyUsage: KeyUsage;
  keyState: KeyState;
  deletionDate?: EpochSeconds;
  origin: Origin;
  keyManager: KeyManager;
  keySpec: KeySpec;
  customerMasterKeySpec: KeySpec;
  encryptionAlgorithms: EncryptionAlgorithm[];
  signingAlgorithms: SigningAlgorithm[];
  macAlgorithms: MacAlgorithm[];
  keyAgreementAlgorithms: string[];
  multiRegion: boolean;
  pendingDeletionWindowInDays?: number;
  currentKeyMaterialId?: string;
  validTo?: EpochSeconds;
  expirationModel?: ExpirationModel;
  multiRegionConfiguration?: MultiRegionConfiguration;
}

export interface AliasEntry {
  aliasName: string;
  aliasArn: string;
  targetKeyId: string;
  creationDate: EpochSeconds;
  lastUpdatedDate: EpochSeconds;
}

export interface GrantConstraints {
  encryptionContextSubset?: EncryptionContext | null;
  encryptionContextEquals?: EncryptionContext | null;
}

export interface GrantListEntry {
  keyId: string;
  grantId: string;
  name?: string;
  creationDate: EpochSeconds;
  granteePrincipal: string;
  retiringPrincipal?: string;
  issuingAccount: string;
  operations: GrantOperation[];
  constraints?: GrantConstraints;
}

export interface RotationsListEntry {
  keyId: string;
  keyMaterialId: string;
  keyMaterialState: KeyMaterialState;
  rotationDate: EpochSeconds;
  rotationType?: RotationType;
}

/** Who is calling (for policies and grants). */
export interface Caller { principalArn: string; account: string }

interface Paged { limit?: number; marker?: string }
interface PagedResponse { nextMarker: string | null; truncated: boolean }
interface WithGrants { grantTokens?: string[] }
interface DryRun { dryRun?: boolean }
interface KeyIdRequest { keyId: string }
interface KeyIdResponse { keyId: string }
/** Operations with no response fields return an empty object. */
export type Empty = Record<string, never>;

// ------------------------------------------------------------------ requests and responses

export interface CreateKeyRequest {
  description?: string;
  keyUsage?: KeyUsage;
  keySpec?: KeySpec;
  origin?: Origin;
  tags?: Tag[];
  multiRegion?: boolean;
  policy?: PolicyDocument;
  bypassPolicyLockoutSafetyCheck?: boolean;
}
export interface KeyMetadataResponse { keyMetadata: KeyMetadata }
export interface DescribeKeyRequest extends KeyIdRequest, WithGrants {}
export interface ListKeysResponse extends PagedResponse { keys: { keyId: string; keyArn: string }[] }
export interface UpdateKeyDescriptionRequest extends KeyIdRequest { description: string }
export interface TagResourceRequest extends KeyIdRequest { tags: Tag[] }
export interface UntagResourceRequest extends KeyIdRequest { tagKeys: string[] }
export interface ListResourceTagsRequest extends KeyIdRequest, Paged {}
export interface ListResourceTagsResponse extends PagedResponse { tags: Tag[] }
export interface ScheduleKeyDeletionRequest extends KeyIdRequest { pendingWindowInDays?: number }
export interface ScheduleKeyDeletionResponse {
  keyId: string;
  deletionDate?: EpochSeconds;
  keyState: KeyState;
  pendingWindowInDays: number;
}
export interface AliasRequest { aliasName: string; targetKeyId: string }
export interface ListAliasesRequest extends Paged { keyId?: string }
export interface ListAliasesResponse extends PagedResponse { aliases: AliasEntry[] }

export interface EncryptRequest extends KeyIdRequest, WithGrants, DryRun {
  plaintext: Uint8Array;
  encryptionContext?: EncryptionContext;
  encryptionAlgorithm?: EncryptionAlgorithm;
}
export interface EncryptResponse {
  ciphertextBlob: Uint8Array;
  keyId: string;
  encryptionAlgorithm: EncryptionAlgorithm;
  keyMaterialId: string;
}
export interface DecryptRequest extends WithGrants, DryRun {
  ciphertextBlob: Uint8Array;
  keyId?: string;
  encryptionContext?: EncryptionContext;
  encryptionAlgorithm?: EncryptionAlgorithm;
}
export interface DecryptResponse {
  keyId: string;
  plaintext: Uint8Array;
  encryptionAlgorithm: EncryptionAlgorithm;
  keyMaterialId: string;
}
export interface ReEncryptRequest extends WithGrants, DryRun {
  ciphertextBlob: Uint8Array;
  sourceEncryptionContext?: EncryptionContext;
  sourceKeyId?: string;
  destinationKeyId: string;
  destinationEncryptionContext?: EncryptionContext;
  sourceEncryptionAlgorithm?: EncryptionAlgorithm;
  destinationEncryptionAlgorithm?: EncryptionAlgorithm;
}
export interface ReEncryptResponse {
  ciphertextBlob: Uint8Array;
  sourceKeyId: string;
  keyId: string;
  sourceEncryptionAlgorithm: EncryptionAlgorithm;
  destinationEncryptionAlgorithm: EncryptionAlgorithm;
  sourceKeyMaterialId: string;
  destinationKeyMaterialId: string;
}
export interface GenerateDataKeyRequest extends KeyIdRequest, WithGrants, DryRun {
  encryptionContext?: EncryptionContext;
  numberOfBytes?: number;
  keySpec?: DataKeySpec;
}
export interface GenerateDataKeyResponse {
  ciphertextBlob: Uint8Array;
  plaintext: Uint8Array;
  keyId: string;
  keyMaterialId: string;
}
export interface GenerateDataKeyWithoutPlaintextResponse {
  ciphertextBlob: Uint8Array;
  keyId: string;
  keyMaterialId: string;
}
export interface GenerateRandomRequest { numberOfBytes?: number }
export interface GenerateRandomResponse { plaintext: Uint8Array }
export interface EnableKeyRotationRequest extends KeyIdRequest { rotationPeriodInDays?: number }
export interface GetKeyRotationStatusResponse {
  keyId: string;
  keyRotationEnabled: boolean;
  rotationPeriodInDays?: number;
  nextRotationDate?: EpochSeconds;
  onDemandRotationStartDate?: EpochSeconds;
}
export interface ListKeyRotationsRequest extends KeyIdRequest, Paged { includeKeyMaterial?: string }
export interface ListKeyRotationsResponse extends PagedResponse { rotations: RotationsListEntry[] }
export interface PutKeyPolicyRequest extends KeyIdRequest {
  policyName?: string;
  policy: PolicyDocument;
  bypassPolicyLockoutSafetyCheck?: boolean;
}
export interface GetKeyPolicyRequest extends KeyIdRequest { policyName?: string }
export interface GetKeyPolicyResponse { policy: string; policyName: string }
export interface ListKeyPoliciesRequest extends KeyIdRequest, Paged {}
export interface ListKeyPoliciesResponse extends PagedResponse { policyNames: string[] }
export interface CreateGrantRequest extends KeyIdRequest, WithGrants, DryRun {
  granteePrincipal: string;
  retiringPrincipal?: string;
  operations: GrantOperation[];
  constraints?: GrantConstraints;
  name?: string;
}
export interface CreateGrantResponse { grantToken: string; grantId: string }
export interface ListGrantsRequest extends KeyIdRequest, Paged, WithGrants {
  grantId?: string;
  granteePrincipal?: string;
}
export interface ListGrantsResponse extends PagedResponse { grants: GrantListEntry[] }
export interface ListRetirableGrantsRequest extends Paged { retiringPrincipal: string }
export interface RetireGrantRequest extends DryRun { grantToken?: string; keyId?: string; grantId?: string }
export interface RevokeGrantRequest extends KeyIdRequest, DryRun { grantId: string }
export interface PutIdentityPolicyRequest { principalArn: string; policyName: string; policyDocument: PolicyDocument }
export interface IdentityPolicyRequest { principalArn: string; policyName: string }
export interface GetIdentityPolicyResponse { principalArn: string; policyName: string; policyDocument: string }
export interface SignRequest extends KeyIdRequest, WithGrants, DryRun {
  message: Uint8Array;
  messageType?: MessageType;
  signingAlgorithm?: SigningAlgorithm;
}
export interface SignResponse { keyId: string; signature: Uint8Array; signingAlgorithm: SigningAlgorithm }
export interface VerifyRequest extends SignRequest { signature: Uint8Array }
export interface VerifyResponse { keyId: string; signatureValid: boolean; signingAlgorithm: SigningAlgorithm }
export interface GetPublicKeyRequest extends KeyIdRequest, WithGrants {}
export interface GetPublicKeyResponse {
  keyId: string;
  /** DER SubjectPublicKeyInfo. */
  publicKey: Uint8Array;
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  encryptionAlgorithms: EncryptionAlgorithm[];
  signingAlgorithms: SigningAlgorithm[];
  keyAgreementAlgorithms: string[];
}
export interface DeriveSharedSecretRequest extends KeyIdRequest, WithGrants, DryRun {
  keyAgreementAlgorithm?: string;
  publicKey: Uint8Array;
}
export interface DeriveSharedSecretResponse {
  keyId: string;
  sharedSecret: Uint8Array;
  keyAgreementAlgorithm: string;
  keyOrigin: Origin;
}
export interface GenerateMacRequest extends KeyIdRequest, WithGrants, DryRun {
  message: Uint8Array;
  macAlgorithm?: MacAlgorithm;
}
export interface GenerateMacResponse { keyId: string; mac: Uint8Array; macAlgorithm: MacAlgorithm }
export interface VerifyMacRequest extends GenerateMacRequest { mac: Uint8Array }
export interface VerifyMacResponse { keyId: string; macValid: boolean; macAlgorithm: MacAlgorithm }
export interface GenerateDataKeyPairRequest extends KeyIdRequest, WithGrants, DryRun {
  keyPairSpec?: KeySpec;
  encryptionContext?: EncryptionContext;
}
export interface GenerateDataKeyPairResponse {
  privateKeyCiphertextBlob: Uint8Array;
  privateKeyPlaintext: Uint8Array;
  publicKey: Uint8Array;
  keyId: string;
  keyPairSpec: KeySpec;
  keyMaterialId: string;
}
export interface GenerateDataKeyPairWithoutPlaintextResponse {
  privateKeyCiphertextBlob: Uint8Array;
  publicKey: Uint8Array;
  keyId: string;
  keyPairSpec: KeySpec;
  keyMaterialId: string;
}
export interface GetParametersForImportRequest extends KeyIdRequest {
  wrappingAlgorithm?: WrappingAlgorithm;
  wrappingKeySpec?: KeySpec;
}
export interface GetParametersForImportResponse {
  keyId: string;
  importToken: string;
  publicKey: Uint8Array;
  parametersValidTo: EpochSeconds;
}
export interface ImportKeyMaterialRequest extends KeyIdRequest {
  importToken: string;
  encryptedKeyMaterial: Uint8Array;
  validTo?: EpochSeconds;
  expirationModel?: ExpirationModel;
}
export interface ReplicateKeyRequest extends KeyIdRequest {
  replicaRegion: string;
  policy?: PolicyDocument;
  bypassPolicyLockoutSafetyCheck?: boolean;
  description?: string;
  tags?: Tag[];
}
export interface ReplicateKeyResponse {
  replicaKeyMetadata: KeyMetadata;
  replicaPolicy: string;
  replicaTags: Tag[];
}

/** Every operation by its AWS name: [request, response]. */
export interface Operations {
  CreateKey: [CreateKeyRequest, KeyMetadataResponse];
  DescribeKey: [DescribeKeyRequest, KeyMetadataResponse];
  ListKeys: [Paged, ListKeysResponse];
  UpdateKeyDescription: [UpdateKeyDescriptionRequest, Empty];
  TagResource: [TagResourceRequest, Empty];
  UntagResource: [UntagResourceRequest, Empty];
  ListResourceTags: [ListResourceTagsRequest, ListResourceTagsResponse];
  EnableKey: [KeyIdRequest, Empty];
  DisableKey: [KeyIdRequest, Empty];
  ScheduleKeyDeletion: [ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse];
  CancelKeyDeletion: [KeyIdRequest, KeyIdResponse];
  CreateAlias: [AliasRequest, Empty];
  UpdateAlias: [AliasRequest, Empty];
  DeleteAlias: [{ aliasName: string }, Empty];
  ListAliases: [ListAliasesRequest, ListAliasesResponse];
  Encrypt: [EncryptRequest, EncryptResponse];
  Decrypt: [DecryptRequest, DecryptResponse];
  ReEncrypt: [ReEncryptRequest, ReEncryptResponse];
  GenerateDataKey: [GenerateDataKeyRequest, GenerateDataKeyResponse];
  GenerateDataKeyWithoutPlaintext: [GenerateDataKeyRequest, GenerateDataKeyWithoutPlaintextResponse];
  GenerateRandom: [GenerateRandomRequest, GenerateRandomResponse];
  EnableKeyRotation: [EnableKeyRotationRequest, Empty];
  DisableKeyRotation: [KeyIdRequest, Empty];
  GetKeyRotationStatus: [KeyIdRequest, GetKeyRotationStatusResponse];
  RotateKeyOnDemand: [KeyIdRequest, KeyIdResponse];
  ListKeyRotations: [ListKeyRotationsRequest, ListKeyRotationsResponse];
  PutKeyPolicy: [PutKeyPolicyRequest, Empty];
  GetKeyPolicy: [GetKeyPolicyRequest, GetKeyPolicyResponse];
  ListKeyPolicies: [ListKeyPoliciesRequest, ListKeyPoliciesResponse];
  CreateGrant: [CreateGrantRequest, CreateGrantResponse];
  ListGrants: [ListGrantsRequest, ListGrantsResponse];
  ListRetirableGrants: [ListRetirableGrantsRequest, ListGrantsResponse];
  RetireGrant: [RetireGrantRequest, Empty];
  RevokeGrant: [RevokeGrantRequest, Empty];
  PutIdentityPolicy: [PutIdentityPolicyRequest, Empty];
  GetIdentityPolicy: [IdentityPolicyRequest, GetIdentityPolicyResponse];
  DeleteIdentityPolicy: [IdentityPolicyRequest, Empty];
  Sign: [SignRequest, SignResponse];
  Verify: [VerifyRequest, VerifyResponse];
  GetPublicKey: [GetPublicKeyRequest, GetPublicKeyResponse];
  DeriveSharedSecret: [DeriveSharedSecretRequest, DeriveSharedSecretResponse];
  GenerateMac: [GenerateMacRequest, GenerateMacResponse];
  VerifyMac: [VerifyMacRequest, VerifyMacResponse];
  GenerateDataKeyPair: [GenerateDataKeyPairRequest, GenerateDataKeyPairResponse];
  GenerateDataKeyPairWithoutPlaintext: [GenerateDataKeyPairRequest, GenerateDataKeyPairWithoutPlaintextResponse];
  GetParametersForImport: [GetParametersForImportRequest, GetParametersForImportResponse];
  ImportKeyMaterial: [ImportKeyMaterialRequest, Empty];
  DeleteImportedKeyMaterial: [KeyIdRequest, Empty];
}
export type OperationName = keyof Operations;
export type RequestOf<Op extends OperationName> = Operations[Op][0];
export type ResponseOf<Op extends OperationName> = Operations[Op][1];

/** `createKey` for `CreateKey`: the camelCase method names. */
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

/** The operation names, in the order of `Operations`. */
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
  /** Any operation by its AWS name. */
  call<Op extends OperationName>(operation: Op, request?: RequestOf<Op>): ResponseOf<Op>;
  /** Any operation with the core's own JSON (PascalCase, bytes as hex). */
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
  /** Any operation with the core's own JSON (PascalCase, bytes as hex). */
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
 * default) or 0x0478 (the same without a signature). */
export type Suite = 0x0578 | 0x0478;
export const SUITE_SIGNED: 0x0578;
export const SUITE_UNSIGNED: 0x0478;
/** The frame length `encryptAsync` uses unless told otherwise (256 KiB). */
export const ASYNC_FRAME_LENGTH: number;

export interface EncryptOptions {
  encryptionContext?: EncryptionContext;
  suite?: Suite;
  frameLength?: number;
}
export interface EncryptorOptions extends EncryptOptions {
  /** When known, lets a data key cache serve the message. */
  plaintextLength?: number;
}
export interface DecryptOptions {
  /** Accept messages in suites without key commitment. */
  allowLegacySuites?: boolean;
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
export class Envelope {
  private constructor();
  /** KMS keys: the first generates each data key, any can decrypt; an
   * empty list decrypts with any key the caller may use. */
  static forKms(kms: Kms | PersistentKms, keyIds: string[], options?: { grantTokens?: string[]; cache?: CacheOptions }): Envelope;
  /** A raw AES-256 wrapping key, wire-identical to the official SDKs'. */
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
