/**
 * A reason the server cannot start, said in one line that names the cause and what to do. It is
 * printed as it is, with no stack trace, and the process exits non-zero.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}
