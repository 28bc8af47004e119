import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

// The rendezvous admits a rank only if it holds the group's secret. The secret itself never
// crosses the wire: the leader sends a fresh nonce per connection and the rank answers with an
// HMAC of it, so what an eavesdropper sees cannot be replayed on another connection.

export function newNonce(): string {
  return randomBytes(32).toString('hex')
}

export function proofOf(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(nonce).digest('hex')
}

/** Compared in constant time, so the time taken tells an impostor nothing. */
export function provesSecret(secret: string, nonce: string, proof: string): boolean {
  const expected = Buffer.from(proofOf(secret, nonce), 'hex')
  const given = Buffer.from(proof, 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}
