import { type ErrorCode, errorCodes, isErrorCode } from '../common/errors.ts';

// The pages `doc_url` points at: served by seatgate itself, so they work offline and never drift
// from the codes the service answers.

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const codeText = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>');

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · seatgate</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2em}table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}</style>
</head><body>${body}</body></html>
`;

export function errorPage(code: string): string | null {
  if (!isErrorCode(code)) return null;
  const { type, status, description } = errorCodes[code as ErrorCode];
  return page(
    code,
    `<h1><code>${code}</code></h1>
<p>HTTP ${status} · type <code>${type}</code></p>
<p>${codeText(description)}</p>
<p>The error body: <code>{"success": false, "error": {type, code, message, param, details, doc_url}}</code> over REST, and <code>extensions {code, type, param, details}</code> over GraphQL.</p>
<p><a href="/docs/errors">All error codes</a></p>`,
  );
}

export function errorIndex(): string {
  const rows = Object.entries(errorCodes)
    .map(([code, { type, status }]) => `<tr><td><a href="/docs/errors/${code}"><code>${code}</code></a></td><td>${type}</td><td>${status}</td></tr>`)
    .join('\n');
  return page('Error codes', `<h1>Error codes</h1>\n<table><tr><th>code</th><th>type</th><th>HTTP</th></tr>\n${rows}</table>`);
}
