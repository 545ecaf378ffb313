// A TLS peer on node's own OpenSSL (tls module): one connection, raw bytes.
//   node tls_node.js server PORT CERT KEY EXPECT_BYTES REPLY_FILE
//     accepts one connection, reads EXPECT_BYTES, writes them to stdout,
//     sends REPLY_FILE's contents; closes and exits when the client does.
//   node tls_node.js client PORT SEND_FILE EXPECT_BYTES
//     connects to 127.0.0.1:PORT, sends SEND_FILE's contents, reads
//     EXPECT_BYTES, writes them to stdout; closes and exits at stdin EOF
//     (so the connection can be inspected while it is open).
'use strict';
const fs = require('fs');
const tls = require('tls');

function collect(socket, expect, done) {
  const chunks = [];
  let got = 0;
  socket.on('data', (d) => {
    chunks.push(d);
    got += d.length;
    if (got >= expect) done(Buffer.concat(chunks));
  });
}

const [mode, port] = process.argv.slice(2, 4);
if (mode === 'server') {
  const [cert, key, expect, replyFile] = process.argv.slice(4);
  const server = tls.createServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)},
                                  (socket) => {
    socket.on('end', () => {
      socket.end();
      server.close();
    });
    collect(socket, Number(expect), (data) => {
      process.stdout.write(data, () => socket.write(fs.readFileSync(replyFile)));
    });
  });
  server.listen(Number(port), '127.0.0.1', () => process.stderr.write('listening\n'));
} else if (mode === 'client') {
  const [sendFile, expect] = process.argv.slice(4);
  const socket = tls.connect({host: '127.0.0.1', port: Number(port), rejectUnauthorized: false},
                             () => socket.write(fs.readFileSync(sendFile)));
  collect(socket, Number(expect), (data) => {
    process.stdout.write(data, () => {
      process.stdin.on('end', () => socket.end());
      process.stdin.resume();
    });
  });
} else {
  process.stderr.write('usage: tls_node.js server|client ...\n');
  process.exit(2);
}
