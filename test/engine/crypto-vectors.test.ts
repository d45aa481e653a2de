/**
 * The engine's E2EE with WebCrypto's AEAD (what browsers use) against the pre-engine vectors,
 * byte for byte; room keys through the browsers' pure-JS scrypt. test/node/crypto-node.test.ts
 * runs the same vectors with Node's AEAD and scrypt.
 */
import { browserScrypt } from '../../src/browser/scrypt.js';
import { webCryptoAead } from '../../src/engine/crypto/index.js';
import { vectorSuite } from './crypto-vectors.js';

vectorSuite(webCryptoAead, browserScrypt);
