/** The loopback host names as WHATWG URL writes them: what a developer's own machine is called. */
export const loopbackHostnames: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);
