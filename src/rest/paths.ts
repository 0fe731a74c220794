// A route's path is written as OpenAPI writes it: literal segments, and `{name}` segments that
// each take one segment of the request's path (`/subscriptions/{id}/cancel`). The same text is
// matched here and printed in the OpenAPI document, so the two cannot disagree.

const isParameter = (segment: string) => segment.startsWith('{') && segment.endsWith('}');

/** The names of a path's `{name}` segments, in order. */
export const pathParameterNames = (template: string): string[] =>
  template
    .split('/')
    .filter(isParameter)
    .map((segment) => segment.slice(1, -1));

/**
 * The raw (still percent-encoded) segments a request path gives each `{name}` of `template`, or
 * null when it does not match. A parameter takes one non-empty segment: `/subscriptions//cancel`
 * matches nothing, and an encoded slash stays inside its segment.
 */
export function matchPath(template: string, pathname: string): Record<string, string> | null {
  const wanted = template.split('/');
  const given = pathname.split('/');
  if (wanted.length !== given.length) return null;
  const parameters: Record<string, string> = {};
  for (const [i, segment] of wanted.entries()) {
    if (isParameter(segment)) {
      if (given[i] === '') return null;
      parameters[segment.slice(1, -1)] = given[i]!;
    } else if (segment !== given[i]) {
      return null;
    }
  }
  return parameters;
}
