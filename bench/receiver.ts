// The bench's webhook receiver, in a process of its own as a real one would be, so that its
// work does not slow the load generator. Counts what it gets; GET /counts answers the tally.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const counts = { deliveries: 0, distinctDeliveries: 0, badSignatures: 0 };
const seen = new Set<string>();

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/counts') {
    response.setHeader('content-type', 'application/json').end(JSON.stringify({ ...counts, distinctDeliveries: seen.size }));
    return;
  }
  const id = request.headers['webhook-id'];
  if (typeof id !== 'string' || typeof request.headers['webhook-signature'] !== 'string') counts.badSignatures++;
  counts.deliveries++;
  seen.add(String(id));
  request.resume();
  request.on('end', () => response.writeHead(204).end());
});
server.listen(0, '127.0.0.1', () => console.log(`receiver listening at http://127.0.0.1:${(server.address() as AddressInfo).port}`));
// Ends with the bench: its stdin is the bench's pipe.
process.stdin.resume().on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
