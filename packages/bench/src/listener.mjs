// The bench servers' listening socket: 127.0.0.1, a port the kernel picks,
// a deep backlog (connection storms), non-blocking (accept() returns null).
import { Socket } from '@iomux/core';

export function loopbackListener() {
  const listener = new Socket('inet', 'stream');
  listener.setReuseAddress(true);
  listener.bind({ host: '127.0.0.1', port: 0 });
  listener.listen(4096);
  listener.setBlocking(false);
  return listener;
}
