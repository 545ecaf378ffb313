// A TLS peer for tlstap's bpf tests on Go's crypto/tls: the same command
// line, payloads and JSON lines as tests/progs/tls_peer.py, for the
// "exchange" mode (each size: the client sends c2s, the server answers s2c),
// --conns N for N such connections at once, and --keylog FILE to have
// crypto/tls append its secrets there (the oracle of tlstap keys), --cipher
// NAME to allow one TLS 1.2 cipher suite.
// One Write per payload; Read returns at most one record, so a payload
// arrives over several Reads.
package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

func payload(seed string, size int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", seed, i)))
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return []byte(b.String()[:size])
}

var emitLock sync.Mutex

func emit(fields map[string]any) {
	line, _ := json.Marshal(fields)
	emitLock.Lock()
	defer emitLock.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tls_go: "+format+"\n", args...)
	os.Exit(1)
}

func hostPort(addr net.Addr) []any {
	tcp := addr.(*net.TCPAddr)
	return []any{tcp.IP.String(), tcp.Port}
}

// The socket's descriptor, as the kernel numbers it (the same one
// crypto/tls writes to: SyscallConn does not duplicate it).
func socketFd(conn *net.TCPConn) int {
	raw, err := conn.SyscallConn()
	if err != nil {
		fail("SyscallConn: %v", err)
	}
	fd := -1
	raw.Control(func(s uintptr) { fd = int(s) })
	return fd
}

func announce(role string, tcp *net.TCPConn, conn *tls.Conn) {
	versions := map[uint16]string{tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}
	emit(map[string]any{"event": "connected", "role": role, "pid": os.Getpid(),
		"fd": socketFd(tcp), "laddr": hostPort(conn.LocalAddr()),
		"raddr":   hostPort(conn.RemoteAddr()),
		"version": versions[conn.ConnectionState().Version], "libssl": []string{}})
}

func expect(conn *tls.Conn, seed string, size int) {
	got := make([]byte, size)
	if _, err := io.ReadFull(conn, got); err != nil {
		fail("reading %s: %v", seed, err)
	}
	if string(got) != string(payload(seed, size)) {
		fmt.Fprintf(os.Stderr, "tls_go: payload %s arrived altered\n", seed)
		os.Exit(3)
	}
}

func send(conn *tls.Conn, seed string, size int) {
	if _, err := conn.Write(payload(seed, size)); err != nil {
		fail("writing %s: %v", seed, err)
	}
}

func main() {
	host := flag.String("host", "127.0.0.1", "address")
	port := flag.Int("port", 0, "port (server: 0 picks one)")
	version := flag.String("tls", "1.3", "1.2 or 1.3")
	certFile := flag.String("cert", "", "server certificate")
	keyFile := flag.String("key", "", "server key")
	sizesArg := flag.String("sizes", "100", "payload sizes, comma-separated")
	tag := flag.String("tag", "peer", "payload seed prefix")
	conns := flag.Int("conns", 1, "connections at once, one goroutine each")
	keyLog := flag.String("keylog", "", "append the TLS secrets to this file (NSS key log)")
	cipher := flag.String("cipher", "", "TLS 1.2: the only cipher suite (Go's name, e.g. "+
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)")
	// tls_peer.py's order: role and mode first, then the flags.
	if len(os.Args) < 3 || os.Args[2] != "exchange" {
		fail("usage: tls_go server|client exchange [flags]")
	}
	flag.CommandLine.Parse(os.Args[3:])
	role := os.Args[1]
	var sizes []int
	for _, s := range strings.Split(*sizesArg, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			fail("bad size %q", s)
		}
		sizes = append(sizes, n)
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	if *version == "1.2" {
		config.MaxVersion = tls.VersionTLS12
	} else {
		config.MinVersion = tls.VersionTLS13
	}
	if *cipher != "" {
		for _, suite := range tls.CipherSuites() {
			if suite.Name == *cipher {
				config.CipherSuites = []uint16{suite.ID}
			}
		}
		if config.CipherSuites == nil {
			fail("unknown cipher suite %q", *cipher)
		}
	}
	if *keyLog != "" {
		file, err := os.OpenFile(*keyLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0600)
		if err != nil {
			fail("key log: %v", err)
		}
		defer file.Close()
		config.KeyLogWriter = file
	}
	address := net.JoinHostPort(*host, strconv.Itoa(*port))

	// With --conns N, N connections run at once, one goroutine each, and a
	// connection's payload seeds are "<tag>/<client port>/...": goroutines
	// park inside Read and Write and resume on other threads meanwhile.
	connTag := func(clientPort int) string {
		if *conns == 1 {
			return *tag
		}
		return fmt.Sprintf("%s/%d", *tag, clientPort)
	}
	var wg sync.WaitGroup
	switch role {
	case "server":
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fail("loading certificate: %v", err)
		}
		config.Certificates = []tls.Certificate{cert}
		listener, err := net.Listen("tcp", address)
		if err != nil {
			fail("listen: %v", err)
		}
		emit(map[string]any{"event": "listening", "port": listener.Addr().(*net.TCPAddr).Port})
		for i := 0; i < *conns; i++ {
			raw, err := listener.Accept()
			if err != nil {
				fail("accept: %v", err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn := tls.Server(raw, config)
				if err := conn.Handshake(); err != nil {
					fail("handshake: %v", err)
				}
				announce("server", raw.(*net.TCPConn), conn)
				tag := connTag(raw.RemoteAddr().(*net.TCPAddr).Port)
				for _, size := range sizes {
					expect(conn, fmt.Sprintf("%s/c2s/%d", tag, size), size)
					send(conn, fmt.Sprintf("%s/s2c/%d", tag, size), size)
				}
				io.Copy(io.Discard, conn) // until the client closes
				conn.Close()
			}()
		}
		listener.Close()
	case "client":
		config.InsecureSkipVerify = true
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				raw, err := net.Dial("tcp", address)
				if err != nil {
					fail("dial: %v", err)
				}
				conn := tls.Client(raw, config)
				if err := conn.Handshake(); err != nil {
					fail("handshake: %v", err)
				}
				announce("client", raw.(*net.TCPConn), conn)
				tag := connTag(raw.LocalAddr().(*net.TCPAddr).Port)
				for _, size := range sizes {
					send(conn, fmt.Sprintf("%s/c2s/%d", tag, size), size)
					expect(conn, fmt.Sprintf("%s/s2c/%d", tag, size), size)
				}
				conn.Close()
			}()
		}
	default:
		fail("role must be server or client")
	}
	wg.Wait()
	emit(map[string]any{"event": "done"})
}
