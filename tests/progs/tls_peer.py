#!/usr/bin/python3
"""A TLS peer for tlstap's bpf tests, on Python's ssl module (stdlib only).

Debian's python3 links the system libssl.so.3 and moves plaintext with
SSL_write_ex/SSL_read_ex; one sendall() of a blocking socket is one
SSL_write_ex call, whatever its size.

Everything the test needs to know arrives on stdout as JSON lines:
  {"event": "listening", "port": P}                      server, before accept
  {"event": "connected", "role": .., "pid": .., "fd": .., "laddr": [host, port],
   "raddr": [host, port], "version": "TLSv1.3", "libssl": [mapped libssl paths]}
  {"event": "want_write"}                                nonblock client, first WANT_WRITE
  {"event": "sent", "bytes": N, "want_write": count}     nonblock client
  {"event": "received", "bytes": N}                      sink server
  {"event": "hanging"}                                   hang client, about to block in SSL_read
  {"event": "done"}
A payload that arrives different from what was expected exits with status 3.

Payloads are printable: SHA-256 hex digests of "<seed>/<block index>",
concatenated and cut to size (tests/bpf/test_env.cc makes the same bytes).
Seeds are "<tag>/c2s/<size>" (client to server) and "<tag>/s2c/<size>".

Modes:
  server exchange  for each size: receive c2s, send s2c; then wait for the client to close
  server sink      wait for a line on stdin, then receive one c2s payload of --sizes[0]
  server silent    read until the client goes away, never send
  client exchange  for each size: send c2s (one sendall), receive s2c; then close
  client nonblock  send one c2s payload of --sizes[0] on a non-blocking socket, retrying
                   the same buffer after WANT_WRITE; then wait for the server to close
  client hang      send the c2s payloads (nothing comes back from a silent server), then
                   block in SSL_read forever
"""

import argparse
import ctypes
import hashlib
import json
import os
import select
import socket
import sys
import threading


def set_comm(name):
    """The calling thread's name (prctl PR_SET_NAME): the process's name when
    called from the main thread. Before `import ssl`: tlstap's --comm filter
    also applies to the mmap of libssl."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_name = 15
    if libc.prctl(pr_set_name, name.encode(), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def in_named_thread(name, fn):
    """Runs fn in a thread of its own whose OS name is name (Python's
    Thread(name=...) does not set it), as NSS's "Socket Thread" or a
    runtime's workers are: the process keeps its own name."""
    outcome = {}

    def run():
        try:
            set_comm(name)
            fn()
        except SystemExit as e:
            outcome["exit"] = e.code
        except BaseException as e:  # noqa: B902 -- re-raised in the main thread
            outcome["error"] = e

    thread = threading.Thread(target=run, name=name)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    if "exit" in outcome:
        sys.exit(outcome["exit"])


def payload(seed, size):
    blocks = (size + 63) // 64
    text = "".join(hashlib.sha256(f"{seed}/{i}".encode()).hexdigest() for i in range(blocks))
    return text[:size].encode()


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def mapped_libssl():
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and "libssl" in parts[5]:
                paths.add(parts[5].strip())
    return sorted(paths)


def tls_version(ssl, name):
    return {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[name]


def recv_exact(sock, size):
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 16))
        if not chunk:
            raise EOFError(f"connection closed after {got} of {size} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def expect(data, seed):
    if data != payload(seed, len(data)):
        sys.stderr.write(f"tls_peer: payload {seed} arrived altered\n")
        sys.exit(3)


def wait_for_close(ssl, sock):
    """Reads until the peer closes; an unread byte at close() would reset the connection."""
    try:
        while sock.recv(1 << 16):
            pass
    except (ssl.SSLError, ConnectionResetError):
        pass


def announce(ssock, role):
    emit(event="connected", role=role, pid=os.getpid(), fd=ssock.fileno(),
         laddr=list(ssock.getsockname()[:2]), raddr=list(ssock.getpeername()[:2]),
         version=ssock.version(), libssl=mapped_libssl())


def configure(ctx, args):
    """--keylog: the library's own key log (the oracle for tlstap keys);
    --ciphers: TLS 1.2 cipher list (TLS 1.3 suites are not settable here)."""
    if args.keylog:
        ctx.keylog_filename = args.keylog
    if args.ciphers:
        ctx.set_ciphers(args.ciphers)


def run_server(args, ssl):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ctx.maximum_version = tls_version(ssl, args.tls)
    configure(ctx, args)
    ctx.load_cert_chain(args.cert, args.key)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.rcvbuf:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    listener.bind((args.host, args.port))
    listener.listen(1)
    emit(event="listening", port=listener.getsockname()[1])
    conn, _ = listener.accept()
    listener.close()
    ssock = ctx.wrap_socket(conn, server_side=True)
    announce(ssock, "server")

    if args.mode == "exchange":
        for size in args.sizes:
            expect(recv_exact(ssock, size), f"{args.tag}/c2s/{size}")
            ssock.sendall(payload(f"{args.tag}/s2c/{size}", size))
        wait_for_close(ssl, ssock)
    elif args.mode == "sink":
        sys.stdin.readline()
        size = args.sizes[0]
        expect(recv_exact(ssock, size), f"{args.tag}/c2s/{size}")
        emit(event="received", bytes=size)
    elif args.mode == "silent":
        wait_for_close(ssl, ssock)
    ssock.close()
    emit(event="done")


def run_client(args, ssl):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = tls_version(ssl, args.tls)
    configure(ctx, args)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if args.sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.sndbuf)
    sock.connect((args.host, args.port))
    ssock = ctx.wrap_socket(sock)
    announce(ssock, "client")
    if args.wait_go:
        sys.stdin.readline()

    if args.mode == "exchange":
        for size in args.sizes:
            ssock.sendall(payload(f"{args.tag}/c2s/{size}", size))
            expect(recv_exact(ssock, size), f"{args.tag}/s2c/{size}")
    elif args.mode == "hang":
        for size in args.sizes:
            ssock.sendall(payload(f"{args.tag}/c2s/{size}", size))
        emit(event="hanging")
        ssock.recv(1)  # a silent server never sends: blocks inside SSL_read_ex
    elif args.mode == "nonblock":
        data = payload(f"{args.tag}/c2s/{args.sizes[0]}", args.sizes[0])
        ssock.setblocking(False)
        want_write = 0
        while True:
            try:
                sent = ssock.send(data)  # the same buffer every time
                break
            except ssl.SSLWantWriteError:
                want_write += 1
                if want_write == 1:
                    emit(event="want_write")
                select.select([], [ssock], [], 60)
            except ssl.SSLWantReadError:
                select.select([ssock], [], [], 60)
        ssock.setblocking(True)
        emit(event="sent", bytes=sent, want_write=want_write)
        wait_for_close(ssl, ssock)
    ssock.close()
    emit(event="done")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("mode", choices=["exchange", "sink", "silent", "nonblock", "hang"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", choices=["1.2", "1.3"], default="1.3")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--sizes", default="100",
                        type=lambda s: [int(x) for x in s.split(",") if x])
    parser.add_argument("--tag", default="peer")
    parser.add_argument("--comm", help="command name to take before loading libssl")
    parser.add_argument("--thread", help="run the TLS session in a thread of this OS name")
    parser.add_argument("--wait-go", action="store_true",
                        help="client: after the handshake, wait for a line on stdin")
    parser.add_argument("--sndbuf", type=int, default=0)
    parser.add_argument("--rcvbuf", type=int, default=0)
    parser.add_argument("--keylog", help="write the session's secrets here (NSS key log)")
    parser.add_argument("--ciphers", help="TLS 1.2 cipher list (OpenSSL names)")
    args = parser.parse_args()

    if args.comm:
        set_comm(args.comm)
    import ssl  # loads libssl: after set_comm

    run = run_server if args.role == "server" else run_client
    if args.thread:
        in_named_thread(args.thread, lambda: run(args, ssl))
    else:
        run(args, ssl)


if __name__ == "__main__":
    main()
