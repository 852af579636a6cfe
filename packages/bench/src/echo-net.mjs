#!/usr/bin/env node
// Node's own net echo server, what users would write without iomux:
// socket.pipe(socket), TCP_NODELAY like every other server in the benchmark.
// Prints "listening on 127.0.0.1:<port> backend=node-net"; exits when stdin reaches EOF or on SIGTERM.
import net from 'node:net';

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.stdout.write(`listening on 127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port} backend=node-net\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
