// The HTTP examples over real sockets on every backend: Node's fetch gets
// the right bytes, Content-Length and Content-Type; keep-alive serves two
// requests on one connection; 400/404; and no traversal trick ever returns
// the secret file placed just outside the root.
import { test } from 'uvu';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testBackends } from '../helpers.ts';
import { assert, get, head, httpExchange, killAll, liveCount, startExample } from './harness.ts';

// A site with a secret next to (outside) its root, and symlinks leading out.
const dir = mkdtempSync(join(tmpdir(), 'iomux-static-'));
const root = join(dir, 'root');
const SECRET = `secret-${randomBytes(8).toString('hex')}`;
const files: Record<string, { data: Buffer; type: string }> = {
  '/index.html': { data: Buffer.from('<!doctype html><p>home</p>\n'), type: 'text/html; charset=utf-8' },
  '/style.css': { data: Buffer.from('p { color: red }\n'), type: 'text/css; charset=utf-8' },
  '/sub/notes.txt': { data: Buffer.from('notes\n'), type: 'text/plain; charset=utf-8' },
  '/big.bin': { data: randomBytes(1 << 20), type: 'application/octet-stream' },
  '/empty.txt': { data: Buffer.alloc(0), type: 'text/plain; charset=utf-8' },
};
mkdirSync(join(root, 'sub'), { recursive: true });
for (const [p, f] of Object.entries(files)) writeFileSync(join(root, p), f.data);
writeFileSync(join(dir, 'secret.txt'), SECRET);
symlinkSync(join(dir, 'secret.txt'), join(root, 'leak.txt')); // a file symlink leading out
symlinkSync(dir, join(root, 'up')); // a directory symlink leading out

test.after(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const TRAVERSALS = [
  '/../secret.txt',
  '/../../secret.txt',
  '/sub/../../secret.txt',
  '/%2e%2e/secret.txt',
  '/%2E%2E/secret.txt',
  '/%2e%2e%2fsecret.txt',
  '/..%2fsecret.txt',
  '/sub/%2e%2e/%2e%2e/secret.txt',
  '//../secret.txt',
  '/.%2e/secret.txt',
  `/${join(dir, 'secret.txt')}`, // an absolute path, under the root it is just a missing file
  `${join(dir, 'secret.txt')}`,
  `http://localhost/../secret.txt`,
  '/leak.txt',
  '/up/secret.txt',
  '/up/root/../secret.txt',
  '/%00/../secret.txt',
  '/%zz',
];

for (const backend of testBackends()) {
  test(`http-static on ${backend}: fetch gets files with the right bytes, Content-Length and Content-Type`, async () => {
    const srv = await startExample('http-static', ['--backend', backend, '--port', '0', '--root', root]);
    try {
      const base = `http://127.0.0.1:${srv.port}`;
      for (const [p, f] of Object.entries(files)) {
        const res = await fetch(base + p);
        assert.is(res.status, 200, p);
        assert.is(res.headers.get('content-length'), String(f.data.length), `${p} Content-Length`);
        assert.is(res.headers.get('content-type'), f.type, `${p} Content-Type`);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(f.data), `${p} bytes`);
      }
      const home = await fetch(base + '/');
      assert.ok(Buffer.from(await home.arrayBuffer()).equals(files['/index.html']!.data), '/ serves index.html');
      const headRes = await fetch(base + '/big.bin', { method: 'HEAD' });
      assert.is(headRes.status, 200);
      assert.is(headRes.headers.get('content-length'), String(1 << 20));
      const missing = await fetch(base + '/nope.html');
      assert.is(missing.status, 404);
      await missing.arrayBuffer();
      const post = await fetch(base + '/index.html', { method: 'POST', body: 'x' });
      assert.is(post.status, 405);
      await post.arrayBuffer();
      // 50 concurrent clients, the 1 MiB file among them.
      const names = Object.keys(files);
      const all = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const p = names[i % names.length]!;
          const res = await fetch(base + p);
          return Buffer.from(await res.arrayBuffer()).equals(files[p]!.data);
        }),
      );
      assert.ok(all.every(Boolean), 'every concurrent fetch got the right bytes');
      const { code, signal } = await srv.stop('SIGINT');
      assert.is(signal, null);
      assert.is(code, 0, srv.stderr());
      assert.is(srv.stderr(), '');
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  test(`http-static on ${backend}: keep-alive, 400, and no way out of the root`, async () => {
    const srv = await startExample('http-static', ['--backend', backend, '--port', '0', '--root', root]);
    try {
      // Two (three) requests on one connection: keep-alive via Content-Length.
      const ka = await httpExchange(srv.port, [get('/style.css'), head('/big.bin'), get('/sub/notes.txt')]);
      assert.is(ka.responses.length, 3, 'three responses on one connection');
      assert.equal(ka.responses.map((r) => r.status), [200, 200, 200]);
      assert.ok(ka.responses[0]!.body.equals(files['/style.css']!.data));
      assert.ok(ka.responses[2]!.body.equals(files['/sub/notes.txt']!.data));
      assert.is(ka.responses[1]!.headers.get('content-length'), String(1 << 20));
      // Pipelined: both requests in one write.
      const piped = await httpExchange(srv.port, [{ text: get('/style.css').text + get('/index.html').text }, { text: '' }]);
      assert.is(piped.responses.length, 2, 'two pipelined responses');
      assert.ok(piped.responses[1]!.body.equals(files['/index.html']!.data));
      // HEAD answers carry no body, whatever the status.
      const heads = await httpExchange(srv.port, [head('/missing'), head('/style.css'), get('/style.css')]);
      assert.equal(heads.responses.map((r) => r.status), [404, 200, 200]);
      assert.ok(heads.responses[2]!.body.equals(files['/style.css']!.data), 'framing intact after HEADs');
      // A 404 keeps the connection usable.
      const after404 = await httpExchange(srv.port, [get('/missing'), get('/style.css')]);
      assert.equal(after404.responses.map((r) => r.status), [404, 200]);
      // A malformed request line: 400, then the server closes.
      for (const bad of ['HELLO\r\n\r\n', 'GET /\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET  / HTTP/1.1\r\n\r\n']) {
        const r = await httpExchange(srv.port, [{ text: bad }, get('/style.css')]);
        assert.is(r.responses[0]?.status, 400, JSON.stringify(bad));
        assert.is(r.responses.length, 1, 'closed after a 400');
        assert.ok(r.closed);
      }
      // Traversal: 400, 403 or 404, and the secret never appears.
      for (const target of TRAVERSALS) {
        const r = await httpExchange(srv.port, [get(target, 'Connection: close\r\n')]);
        const status = r.responses[0]?.status;
        assert.ok(status === 400 || status === 403 || status === 404, `${target}: status ${status}`);
        const everything = Buffer.concat([...r.responses.map((x) => x.body), r.raw]).toString('latin1');
        assert.not.ok(everything.includes(SECRET), `${target} leaked the secret`);
      }
      const { code } = await srv.stop('SIGTERM');
      assert.is(code, 0);
      assert.is(srv.stderr(), '');
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  test(`http-hello on ${backend}: fetch, keep-alive, 50 concurrent clients, clean exit`, async () => {
    const srv = await startExample('http-hello', ['--backend', backend, '--port', '0']);
    try {
      const base = `http://127.0.0.1:${srv.port}/`;
      const res = await fetch(base);
      assert.is(res.status, 200);
      const text = await res.text();
      assert.is(text, 'Hello from iomux!\n');
      assert.is(res.headers.get('content-length'), String(Buffer.byteLength(text)));
      assert.is(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      const ka = await httpExchange(srv.port, [get('/'), head('/'), get('/again')]);
      assert.equal(ka.responses.map((r) => r.status), [200, 200, 200]);
      assert.is(ka.responses[2]!.body.toString(), 'Hello from iomux!\n');
      assert.not.ok(ka.closed);
      const close = await httpExchange(srv.port, [get('/', 'Connection: close\r\n'), get('/')]);
      assert.is(close.responses.length, 1);
      assert.ok(close.closed, 'Connection: close is honoured');
      const bodies = await Promise.all(Array.from({ length: 50 }, () => fetch(base).then((r) => r.text())));
      assert.ok(bodies.every((b) => b === 'Hello from iomux!\n'));
      const { code, signal } = await srv.stop('SIGINT');
      assert.is(signal, null);
      assert.is(code, 0);
      assert.is(srv.stderr(), '');
    } finally {
      await srv.stop('SIGKILL');
    }
  });
}

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
