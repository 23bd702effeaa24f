/**
 * Noise_NNpsk0_25519_ChaChaPoly_SHA256 (the Noise Protocol Framework,
 * revision 34) over `node:crypto`: X25519, ChaCha20-Poly1305 and SHA-256.
 * The handshake state of one side, and the cipher states that Split() gives
 * for the transport messages. No I/O: messages in, messages out.
 *
 * ```
 * NNpsk0:
 *   -> psk, e
 *   <- e, ee
 * ```
 *
 * @module
 */

import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { Buffer } from "node:buffer";
import { ErrorCode, FerryError } from "../errors.ts";

/** The protocol name, hashed into the handshake: both ends must use exactly this one. */
export const PROTOCOL_NAME = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";

const DH_LENGTH = 32;
const HASH_LENGTH = 32;
/** Bytes a ChaCha20-Poly1305 tag adds to every encrypted message. */
export const TAG_LENGTH = 16;
/** Largest Noise message, handshake or transport, with its tag. */
export const MAX_MESSAGE = 65_535;

const EMPTY = new Uint8Array(0);
// DER wrappers of raw X25519 keys (RFC 8410), for node:crypto's key import.
const PKCS8_X25519 = hex("302e020100300506032b656e04220420");
const SPKI_X25519 = hex("302a300506032b656e032100");

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!, (pair) => parseInt(pair, 16));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  return new Uint8Array(mac.digest());
}

/** Noise's HKDF: two or three outputs of 32 bytes from a chaining key and input key material. */
function hkdf(chainingKey: Uint8Array, material: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  const temp = hmac(chainingKey, material);
  const first = hmac(temp, Uint8Array.of(1));
  const second = hmac(temp, first, Uint8Array.of(2));
  if (outputs === 2) return [first, second];
  return [first, second, hmac(temp, second, Uint8Array.of(3))];
}

/** An X25519 key pair; the private half stays a KeyObject. */
export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

/** A fresh ephemeral key pair. */
export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  return { privateKey, publicKey: spki.subarray(spki.length - DH_LENGTH) };
}

/** The key pair of a known private key: for the published test vectors only. */
export function keyPairFromPrivate(raw: Uint8Array): KeyPair {
  const privateKey = createPrivateKey({
    key: Buffer.from(concat(PKCS8_X25519, raw)),
    format: "der",
    type: "pkcs8",
  });
  const spki = new Uint8Array(
    createPublicKey(privateKey).export({ format: "der", type: "spki" }),
  );
  return { privateKey, publicKey: spki.subarray(spki.length - DH_LENGTH) };
}

function dh(own: KeyPair, theirs: Uint8Array): Uint8Array {
  const publicKey = createPublicKey({
    key: Buffer.from(concat(SPKI_X25519, theirs)),
    format: "der",
    type: "spki",
  });
  return new Uint8Array(diffieHellman({ privateKey: own.privateKey, publicKey }));
}

/** The 96-bit ChaCha20-Poly1305 nonce of Noise: 32 zero bits, then the counter little-endian. */
function writeNonce(view: DataView, counter: bigint): void {
  view.setBigUint64(4, counter, true);
}

/**
 * One direction's key and nonce counter. Transport messages are sealed
 * and opened with an empty associated data; the nonce is never sent.
 */
export class CipherState {
  #key: Uint8Array;
  #counter = 0n;
  #nonce = new Uint8Array(12);
  // One view for every record: nothing is allocated for the nonce on the hot path.
  #nonceView = new DataView(this.#nonce.buffer);

  constructor(key: Uint8Array) {
    this.#key = key;
  }

  /** Messages sealed or opened so far with this key and the keys before it. */
  get counter(): bigint {
    return this.#counter;
  }

  /** Encrypts `plaintext` with `ad`; returns ciphertext and tag. */
  seal(plaintext: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    const out = new Uint8Array(plaintext.length + TAG_LENGTH);
    this.sealInto(out, plaintext, ad);
    return out;
  }

  /** Encrypts `plaintext` into `target` (which needs room for the tag); returns bytes written. */
  sealInto(target: Uint8Array, plaintext: Uint8Array, ad: Uint8Array = EMPTY): number {
    writeNonce(this.#nonceView, this.#counter++);
    const cipher = createCipheriv("chacha20-poly1305", this.#key, this.#nonce, {
      authTagLength: TAG_LENGTH,
    });
    if (ad.length > 0) cipher.setAAD(ad, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    cipher.final();
    target.set(body, 0);
    target.set(cipher.getAuthTag(), body.length);
    return body.length + TAG_LENGTH;
  }

  /**
   * Decrypts and verifies `message` (ciphertext and tag). Throws, and
   * releases nothing, when the tag does not verify.
   */
  open(message: Uint8Array, ad: Uint8Array = EMPTY): Uint8Array {
    if (message.length < TAG_LENGTH) throw decryptFailed();
    writeNonce(this.#nonceView, this.#counter++);
    const decipher = createDecipheriv("chacha20-poly1305", this.#key, this.#nonce, {
      authTagLength: TAG_LENGTH,
    });
    const bodyLength = message.length - TAG_LENGTH;
    decipher.setAuthTag(message.subarray(bodyLength));
    if (ad.length > 0) decipher.setAAD(ad, { plaintextLength: bodyLength });
    const body = decipher.update(message.subarray(0, bodyLength));
    try {
      decipher.final();
    } catch {
      throw decryptFailed();
    }
    return new Uint8Array(body.buffer, body.byteOffset, body.length);
  }

  /** Noise's Rekey(): the next key is the current one encrypting zeros at the last nonce. */
  rekey(): void {
    const nonce = new Uint8Array(12);
    writeNonce(new DataView(nonce.buffer), 0xffff_ffff_ffff_ffffn);
    const cipher = createCipheriv("chacha20-poly1305", this.#key, nonce, {
      authTagLength: TAG_LENGTH,
    });
    this.#key = new Uint8Array(cipher.update(new Uint8Array(32))).subarray(0, 32);
    cipher.final();
  }
}

function decryptFailed(): FerryError {
  return new FerryError(ErrorCode.Protocol, "A message failed to decrypt (wrong key or altered)");
}

/** The two cipher states of a finished handshake, and its hash (the session id). */
export interface Session {
  send: CipherState;
  receive: CipherState;
  handshakeHash: Uint8Array;
}

/**
 * One side of an NNpsk0 handshake. The initiator (the client) writes message
 * 1 and reads message 2; the responder (the server) the reverse. Any failure
 * to decrypt means the other side holds another PSK.
 */
export class Handshake {
  readonly initiator: boolean;
  #ck: Uint8Array;
  #h: Uint8Array;
  #k: CipherState | undefined;
  #psk: Uint8Array;
  #e: KeyPair;
  #re: Uint8Array | undefined;

  /** `ephemeral` is for the test vectors only; a real handshake makes a fresh one. */
  constructor(
    options: { initiator: boolean; psk: Uint8Array; prologue: Uint8Array; ephemeral?: KeyPair },
  ) {
    this.initiator = options.initiator;
    this.#psk = options.psk;
    this.#e = options.ephemeral ?? generateKeyPair();
    const name = new TextEncoder().encode(PROTOCOL_NAME);
    this.#h = name.length <= HASH_LENGTH
      ? concat(name, new Uint8Array(HASH_LENGTH - name.length))
      : sha256(name);
    this.#ck = this.#h;
    this.#mixHash(options.prologue);
  }

  /** Message 1, from the initiator: `psk, e`, then the encrypted payload. */
  writeMessage1(payload: Uint8Array): Uint8Array {
    this.#mixKeyAndHash(this.#psk);
    this.#mixEphemeral(this.#e.publicKey);
    return concat(this.#e.publicKey, this.#encryptAndHash(payload));
  }

  /** Reads message 1 and returns its payload; throws when it does not decrypt. */
  readMessage1(message: Uint8Array): Uint8Array {
    if (message.length < DH_LENGTH + TAG_LENGTH) throw tooShort();
    this.#mixKeyAndHash(this.#psk);
    this.#re = message.slice(0, DH_LENGTH);
    this.#mixEphemeral(this.#re);
    return this.#decryptAndHash(message.subarray(DH_LENGTH));
  }

  /** Message 2, from the responder: `e, ee`, then the encrypted payload. */
  writeMessage2(payload: Uint8Array): Uint8Array {
    this.#mixEphemeral(this.#e.publicKey);
    this.#mixKey(dh(this.#e, this.#re!));
    return concat(this.#e.publicKey, this.#encryptAndHash(payload));
  }

  /** Reads message 2 and returns its payload; throws when it does not decrypt. */
  readMessage2(message: Uint8Array): Uint8Array {
    if (message.length < DH_LENGTH + TAG_LENGTH) throw tooShort();
    this.#re = message.slice(0, DH_LENGTH);
    this.#mixEphemeral(this.#re);
    this.#mixKey(dh(this.#e, this.#re));
    return this.#decryptAndHash(message.subarray(DH_LENGTH));
  }

  /** Split(): one cipher state per direction, and the handshake hash. */
  split(): Session {
    const [first, second] = hkdf(this.#ck, EMPTY, 2) as [Uint8Array, Uint8Array];
    const toResponder = new CipherState(first);
    const toInitiator = new CipherState(second);
    return this.initiator
      ? { send: toResponder, receive: toInitiator, handshakeHash: this.#h }
      : { send: toInitiator, receive: toResponder, handshakeHash: this.#h };
  }

  #mixHash(data: Uint8Array): void {
    this.#h = sha256(this.#h, data);
  }

  #mixKey(material: Uint8Array): void {
    const [ck, k] = hkdf(this.#ck, material, 2) as [Uint8Array, Uint8Array];
    this.#ck = ck;
    this.#k = new CipherState(k);
  }

  #mixKeyAndHash(material: Uint8Array): void {
    const [ck, h, k] = hkdf(this.#ck, material, 3) as [Uint8Array, Uint8Array, Uint8Array];
    this.#ck = ck;
    this.#mixHash(h);
    this.#k = new CipherState(k);
  }

  /** The `e` token in a PSK handshake: hashed, and mixed into the key too. */
  #mixEphemeral(publicKey: Uint8Array): void {
    this.#mixHash(publicKey);
    this.#mixKey(publicKey);
  }

  #encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.#k!.seal(plaintext, this.#h);
    this.#mixHash(ciphertext);
    return ciphertext;
  }

  #decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.#k!.open(ciphertext, this.#h);
    this.#mixHash(ciphertext);
    return plaintext;
  }
}

function tooShort(): FerryError {
  return new FerryError(ErrorCode.Protocol, "A handshake message is too short");
}
