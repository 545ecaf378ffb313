// go_workload: bench/ssl_workload's ping-pong on Go's crypto/tls, the Go
// workload of bench/run.py (--stack go). Same flags, same output lines.
//
// A client and a server tls.Conn on the two ends of a loopback TCP
// connection (the fd tlstap reads is a real socket's). Each iteration the
// client writes one message of --size bytes, the server goroutine reads it
// whole and writes it back, and the client reads it whole. A Read returns
// at most one TLS record, so a message may take several; "ssl_calls" counts
// every Read and Write made in the timed loop, the probe hits per function.
//
// Output (stdout, one JSON object per line):
//
//	with --wait-stdin: {"ready":<pid>} after the handshake, then it waits for
//	                   a newline (or EOF) on stdin before the timed loop;
//	always, at the end: {"size":..,"count":..,"seconds":..,"bytes_written":..,
//	                     "bytes_read":..,"ssl_calls":..,"pid":..}
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync/atomic"
	"time"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go_workload: "+format+"\n", args...)
	os.Exit(1)
}

// A self-signed P-256 certificate made in memory.
func certificate() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail("key: %v", err)
	}
	template := x509.Certificate{SerialNumber: big.NewInt(1),
		Subject:   pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		fail("certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Reads len(buf) bytes; returns the number of Read calls it took.
func readFull(conn *tls.Conn, buf []byte) int64 {
	calls := int64(0)
	for got := 0; got < len(buf); {
		n, err := conn.Read(buf[got:])
		calls++
		if err != nil {
			fail("read: %v", err)
		}
		got += n
	}
	return calls
}

func write(conn *tls.Conn, buf []byte) {
	if _, err := conn.Write(buf); err != nil {
		fail("write: %v", err)
	}
}

func main() {
	size := flag.Int("size", 64, "message bytes")
	count := flag.Int("count", 10000, "round trips")
	api := flag.String("api", "plain", "accepted for ssl_workload's command line; Go has one API")
	version := flag.String("tls", "1.3", "1.2 or 1.3")
	waitStdin := flag.Bool("wait-stdin", false, "print {\"ready\":pid} and wait for a line")
	flag.Parse()
	if *size <= 0 || *count <= 0 || *api != "plain" {
		fail("--size and --count must be positive; --api only plain")
	}
	config := &tls.Config{Certificates: []tls.Certificate{certificate()},
		InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13}
	if *version == "1.2" {
		config.MinVersion, config.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	}

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	var serverCalls atomic.Int64
	release, serverDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(serverDone)
		raw, err := listener.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		conn := tls.Server(raw, config)
		if err := conn.Handshake(); err != nil {
			fail("server handshake: %v", err)
		}
		// Not inside a Read while a tracer attaches: a call in flight then
		// would be half seen.
		<-release
		buf := make([]byte, *size)
		for i := 0; i < *count; i++ {
			calls := readFull(conn, buf)
			write(conn, buf)
			serverCalls.Add(calls + 1)
		}
	}()
	raw, err := net.Dial("tcp", listener.Addr().String())
	if err != nil {
		fail("dial: %v", err)
	}
	conn := tls.Client(raw, config)
	if err := conn.Handshake(); err != nil {
		fail("handshake: %v", err)
	}
	if *waitStdin {
		fmt.Printf("{\"ready\":%d}\n", os.Getpid())
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	close(release)

	message := make([]byte, *size)
	for i := range message {
		message[i] = byte('a' + i%26)
	}
	reply := make([]byte, *size)
	calls := int64(0)
	start := time.Now()
	for i := 0; i < *count; i++ {
		write(conn, message)
		calls += 1 + readFull(conn, reply)
	}
	seconds := time.Since(start).Seconds()
	<-serverDone
	bytes := int64(*size) * int64(*count) * 2 // both sides
	line, _ := json.Marshal(map[string]any{"size": *size, "count": *count, "seconds": seconds,
		"bytes_written": bytes, "bytes_read": bytes, "ssl_calls": calls + serverCalls.Load(),
		"pid": os.Getpid()})
	fmt.Println(string(line))
}
