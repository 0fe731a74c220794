import type { CORSOptions } from 'graphql-yoga';
import { loopbackHostnames } from '../common/hosts.ts';
import type { CorsPolicy } from '../config.ts';

function isLocalhostOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && loopbackHostnames.has(url.hostname) && url.origin === origin;
  } catch {
    return false;
  }
}

const allowsOrigin = (policy: CorsPolicy, origin: string): boolean =>
  policy.anyOrigin || policy.origins.includes(origin) || (policy.localhost && isLocalhostOrigin(origin));

/**
 * yoga's `cors` option for a policy. An allowed origin is echoed (with `Vary: Origin`); any
 * other gets no CORS headers at all, so the browser keeps the answer from it. Never
 * `Allow-Credentials`: the API authenticates by header, not by cookie.
 */
export function corsOptions(policy: CorsPolicy, exposedHeaders: readonly string[]): (request: Request) => CORSOptions {
  return (request) => {
    const origin = request.headers.get('origin');
    if (origin === null || !allowsOrigin(policy, origin)) return false;
    // '*' makes yoga echo the request's origin and add Vary: Origin.
    return { origin: '*', credentials: false, exposedHeaders: [...exposedHeaders], maxAge: 600 };
  };
}
