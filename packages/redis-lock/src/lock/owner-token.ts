import { randomBytes } from 'node:crypto'

/** Owner tokens are 128 random bits (hex); {@link newToken} cuts them from a pool refilled this many at once. */
const TOKENS_PER_REFILL = 256
const TOKEN_BYTES = 16
let tokenPool = Buffer.alloc(0)
let tokenOffset = 0

/**
 * A fresh random owner token: 16 bytes of the CSPRNG, as hex. Drawn from a pool that one `randomBytes` call
 * refills every {@link TOKENS_PER_REFILL} tokens, instead of one call (and its entropy syscall) per acquire.
 */
export function newToken(): string {
  if (tokenOffset + TOKEN_BYTES > tokenPool.length) {
    tokenPool = randomBytes(TOKEN_BYTES * TOKENS_PER_REFILL)
    tokenOffset = 0
  }
  const token = tokenPool.toString('hex', tokenOffset, tokenOffset + TOKEN_BYTES)
  tokenOffset += TOKEN_BYTES
  return token
}
