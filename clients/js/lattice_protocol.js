// lattice_protocol.js: what the client takes from the protocol of
// docs/protocol.md: its version, the error codes after which a delta is
// never resent, the close codes' names, and LatticeError, which error events
// carry. internal/protocol's tests compare these tables with the Go side.

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

// Error codes after which a delta can never succeed, so resending it forever
// would be pointless: the node refused its content, not its timing.
// 'forbidden' is one too: the token does not cover the key, and a new token
// for the same user would not either.
export const FATAL_DELTA_CODES = new Set(['bad_message', 'invalid_key', 'invalid_delta', 'wrong_type', 'forged_dot', 'forbidden', 'out_of_range']);

// Close codes from docs/protocol.md, for the error events a close produces.
export const CLOSE_REASONS = {
  1009: 'frame_too_big',
  4001: 'unsupported_version',
  4002: 'hello_required',
  4003: 'unauthorized',
  4004: 'token_expired',
  4008: 'too_slow',
};

/** LatticeError is what 'error' events carry: a code from docs/protocol.md and a message. */
export class LatticeError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'LatticeError';
    this.code = code;
    Object.assign(this, extra);
  }
}
