// A bundler's view of the package: esbuild resolves `strongroom` through
// the `exports` map's browser condition (web-demo/test/bundle.test.mjs).
import { Kms, Envelope } from 'strongroom';

const kms = Kms.inMemory();
const { KeyMetadata } = kms.createKey({ Description: 'bundled' });
const env = Envelope.forKms(kms, [KeyMetadata.KeyId]);
const data = new TextEncoder().encode('bundled and round-tripped');
const message = await env.encryptAsync(data, { encryptionContext: { via: 'esbuild' } });
const back = await env.decryptAsync(message);
document.body.dataset.result = new TextDecoder().decode(back.plaintext) + ' / ' + back.encryptionContext.via;
