/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between tlstap's BPF programs and its user space: ring-buffer
 * records, statistics slots and load-time configuration. Fixed-width types,
 * explicit padding, 8-byte aligned: both compilers must agree byte for byte.
 */
#ifndef TLSTAP_BPF_TLSTAP_H_
#define TLSTAP_BPF_TLSTAP_H_

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TLSTAP_COMM_LEN 16
/* --comm names at most (the target_comms map) */
#define TLSTAP_MAX_COMMS 64
/* Payload bytes one ring record carries at most; longer calls are chunked. */
#define TLSTAP_CHUNK_MAX (32 * 1024)

enum tlstap_lib {
	TLSTAP_LIB_UNKNOWN = 0,
	TLSTAP_LIB_OPENSSL = 1,
	TLSTAP_LIB_BORINGSSL = 2,
	TLSTAP_LIB_GNUTLS = 3,
	TLSTAP_LIB_NSS = 4,
	TLSTAP_LIB_GO = 5,
	TLSTAP_LIB_KTLS = 6,
};

enum tlstap_dir {
	TLSTAP_DIR_TX = 1, /* the program sent it */
	TLSTAP_DIR_RX = 2, /* the program received it */
};

enum tlstap_record_type {
	TLSTAP_RECORD_DATA = 1, /* struct tlstap_data_event */
	TLSTAP_RECORD_FILE_MAPPED = 2, /* struct tlstap_file_mapped */
	TLSTAP_RECORD_KEYS = 3, /* struct tlstap_keys_event + a tail by version */
	TLSTAP_RECORD_LOGGED_SECRET = 4, /* struct tlstap_logged_secret */
	TLSTAP_RECORD_PACKET = 5, /* struct tlstap_packet_event, in the packets ring */
	TLSTAP_RECORD_CONN_END = 6, /* struct tlstap_conn_end */
};

/*
 * The uprobe attach cookie: the library kind in the low byte; for an
 * OpenSSL, BoringSSL or GnuTLS file whose secrets tlstap can read, the file's index in
 * ssl_key_offsets in the high 32 bits (0: no keys from this file).
 */
#define TLSTAP_COOKIE_LIB(cookie) ((__u8)((cookie)&0xff))
#define TLSTAP_COOKIE_KEY_FILE(cookie) ((__u32)((cookie) >> 32))
#define TLSTAP_MAX_KEY_FILES 256

enum tlstap_data_flags {
	/* fd and addresses come from the socket I/O made inside this call */
	TLSTAP_F_FD_FROM_SYSCALL = 1 << 0,
	/* fd and addresses remembered from an earlier call on the same session */
	TLSTAP_F_FD_CACHED = 1 << 1,
	/*
	 * The session's socket was inferred: it made no socket I/O inside its
	 * calls (a library writing through its own BIO, e.g. node), so it got the
	 * socket its thread read or wrote next to a call of it.
	 */
	TLSTAP_F_FD_THREAD = 1 << 2,
	/* fd read from the session's own connection object (Go's net.Conn) */
	TLSTAP_F_FD_FROM_CONN = 1 << 3,
	/*
	 * A library call whose bytes the kernel's TLS layer (kTLS) also carried:
	 * reported once, here, not again as lib ktls.
	 */
	TLSTAP_F_KTLS = 1 << 4,
	/*
	 * lib ktls: addresses from the socket the kernel's TLS layer was handed;
	 * no syscall named its fd (splice, sendfile from another path)
	 */
	TLSTAP_F_SOCK_KERNEL = 1 << 5,
};

/*
 * One record per chunk of a TLS call's plaintext. A call of call_len bytes
 * arrives as ceil(call_len / TLSTAP_CHUNK_MAX) records, in order, each
 * carrying data_len bytes that start at call_offset, after the header and
 * the thread's name (struct tlstap_data_record). The record's size in the
 * ring is those two plus a size class just large enough for data_len.
 */
struct tlstap_data_event {
	__u32 type; /* TLSTAP_RECORD_DATA */
	__u32 data_len; /* payload bytes in this record */
	__u64 ts_ns; /* CLOCK_MONOTONIC at the call's return */
	__u64 cgroup_id;
	__u64 conn_id; /* unique per TLS session while tlstap runs; 0 if none */
	__u64 call_len; /* bytes the call transferred */
	__u64 call_offset; /* where this record's payload starts in the call */
	__u64 stream_pos; /* where the call starts in this direction of the session */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 fd; /* -1 when unattributed */
	__u8 lib; /* enum tlstap_lib */
	__u8 dir; /* enum tlstap_dir */
	__u8 flags; /* enum tlstap_data_flags */
	__u8 family; /* AF_INET, AF_INET6, AF_UNIX or 0 when unknown */
	__u16 lport; /* host byte order */
	__u16 rport;
	__u8 laddr[16]; /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	/* the process's name (its thread-group leader's comm, as ps -o comm) */
	char comm[TLSTAP_COMM_LEN];
};

/*
 * A data record in the ring: the header, the calling thread's own name
 * (prctl PR_SET_NAME; the same as comm unless the program named its
 * threads), then data_len payload bytes. Each record reads the thread's
 * name itself: the header is built on the probe's stack, which is full.
 */
struct tlstap_data_record {
	struct tlstap_data_event hdr;
	char thread[TLSTAP_COMM_LEN];
	/* data_len payload bytes follow */
};

/*
 * A TLS session that carried data ended: SSL_free, gnutls_deinit, PR_Close,
 * the close of a kTLS socket, its process's exit, or (Go) its session
 * pointer now on another socket. Sent after every data record of the
 * session: nothing more comes with this conn_id.
 */
struct tlstap_conn_end {
	__u32 type; /* TLSTAP_RECORD_CONN_END */
	__u32 pid;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u64 conn_id;
};

/*
 * A process mapped a file for the first time since tlstap started: a
 * library being loaded, or (fd == TLSTAP_MAPPED_EXE) the program it exec'd.
 */
struct tlstap_file_mapped {
	__u32 type; /* TLSTAP_RECORD_FILE_MAPPED */
	__u32 pid;
	__u64 dev; /* kernel encoding: major << 20 | minor */
	__u64 ino;
	__s32 fd; /* the descriptor being mapped: /proc/PID/fd/FD reaches the file */
	__u32 hold; /* enum tlstap_hold: whether --hold-new stopped the process */
	__u64 ts_ns; /* bpf_ktime_get_ns() at the mmap or exec */
	char comm[TLSTAP_COMM_LEN]; /* the task's, as set by the exec */
};

/* tlstap_file_mapped.fd of an exec: /proc/PID/exe reaches the file */
#define TLSTAP_MAPPED_EXE (-1)

/*
 * --hold-new: a process that maps a file tlstap has not seen is stopped
 * (SIGSTOP, sent by the probe before the mmap or exec returns to it) until
 * user space has inspected the file and attached its probes, then
 * continued (SIGCONT). The held_pids map holds the stopped ones.
 */
enum tlstap_hold {
	TLSTAP_HOLD_NONE = 0, /* --hold-new is off */
	TLSTAP_HOLD_STOPPED = 1, /* stopped: continue it once attached */
	TLSTAP_HOLD_INIT = 2, /* a pid namespace's init, which ignores SIGSTOP */
	TLSTAP_HOLD_FAILED = 3, /* held_pids full or the signal refused */
	TLSTAP_HOLD_OWN_CHILD = 4, /* tlstap's own helper (tlstap-keyprobe): it waits for it */
};

/*
 * Where one TLS library build keeps a session's secrets: byte offsets in
 * its session object (OpenSSL's and BoringSSL's struct ssl_st, GnuTLS's
 * struct gnutls_session_int) and, for master_key, in its SSL_SESSION.
 * Found by tlstap-keyprobe against that very file; indexed by the file's
 * TLSTAP_COOKIE_KEY_FILE.
 */
enum tlstap_keys_layout {
	/* OpenSSL: TLS 1.3 handshake secrets derived in user space */
	TLSTAP_KEYS_OPENSSL = 0,
	/* GnuTLS, BoringSSL: every secret final, as the key log would write it */
	TLSTAP_KEYS_FINAL = 1,
	/*
	 * BoringSSL's TLS 1.3 handshake traffic secrets, read while its
	 * handshake ran (a final tail holding those two alone): the handshake
	 * state that keeps them is freed before the first data call
	 */
	TLSTAP_KEYS_FINAL_HANDSHAKE = 2,
};

/* an offset that is not there (a secret not held, a value not behind a pointer) */
#define TLSTAP_NO_OFFSET 0xffffffffu

struct tlstap_ssl_offsets {
	__u32 valid; /* 0: unused slot */
	__u32 version; /* int: the protocol version */
	__u32 client_random; /* 32 bytes */
	__u32 session; /* OpenSSL: SSL_SESSION * */
	__u32 master_key; /* OpenSSL: in SSL_SESSION; final: in the session. 48 bytes (TLS 1.2) */
	/* TLS 1.3: 64-byte (EVP_MAX_MD_SIZE) arrays in SSL */
	__u32 handshake_secret;
	__u32 handshake_traffic_hash;
	__u32 client_finished_secret;
	__u32 client_app_secret;
	__u32 server_app_secret;
	__u32 exporter_secret;
	__u32 layout; /* enum tlstap_keys_layout */
	/* final layout only */
	__u32 version_ptr; /* a pointer in the session to what holds version; or TLSTAP_NO_OFFSET */
	__u32 tls13_version; /* version's value for TLS 1.3 (OpenSSL: 0x0304) */
	__u32 hash_len_ptr; /* as version_ptr, for hash_len */
	__u32 hash_len; /* unsigned int: the TLS 1.3 suite's hash length */
	__u32 client_hs_secret; /* 64-byte arrays, or TLSTAP_NO_OFFSET: not held */
	__u32 server_hs_secret;
	/*
	 * BoringSSL: client_random, the TLS 1.3 secrets, hash_len and
	 * master_key's session pointer (the "session" field) are in the object
	 * behind this pointer in the SSL (ssl->s3); TLSTAP_NO_OFFSET: in the
	 * session object itself (GnuTLS)
	 */
	__u32 secrets_ptr;
	__u32 version_bytes; /* 4 or 2 (a uint16_t) */
	__u32 hash_len_bytes; /* 4; 0: none stored, user space tells it from the secret */
	/*
	 * role_mask != 0: client_app_secret is the session's write secret and
	 * server_app_secret its read one; a byte at role with role_mask set
	 * marks a server's session, whose two are swapped (BoringSSL)
	 */
	__u32 role;
	__u32 role_mask;
	/*
	 * BoringSSL: client_hs_secret and server_hs_secret are in the
	 * handshake state behind this pointer in the secrets_ptr object
	 * (ssl->s3->hs), which lives only while SSL_do_handshake runs;
	 * TLSTAP_NO_OFFSET: in the session with the others (GnuTLS)
	 */
	__u32 handshake_ptr;
};

#define TLSTAP_SECRET_FIELD 64
#define TLSTAP_TLS13_VERSION 0x0304

/*
 * A TLS session's secrets, read once per (SSL *, client random) at the
 * first call that moved data. The header is followed by struct
 * tlstap_keys_tls13 (OpenSSL layout) or struct tlstap_keys_tls13_final when
 * version is TLS 1.3, else struct tlstap_keys_tls12.
 */
struct tlstap_keys_event {
	__u32 type; /* TLSTAP_RECORD_KEYS */
	__u32 pid;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u64 conn_id;
	__u32 tid;
	/*
	 * the SSL's protocol version, as the library keeps it; TLS 1.3 is
	 * always TLSTAP_TLS13_VERSION
	 */
	__s32 version;
	__u8 lib; /* enum tlstap_lib */
	__u8 layout; /* enum tlstap_keys_layout: which TLS 1.3 tail follows */
	__u8 pad[6];
	__u8 client_random[32];
	char comm[TLSTAP_COMM_LEN];
};

struct tlstap_keys_tls12 {
	__u8 master_key[48];
};

/*
 * The handshake traffic secrets are not kept by OpenSSL: user space
 * derives them from the handshake secret and transcript hash, and checks
 * them against the client's Finished key.
 */
struct tlstap_keys_tls13 {
	__u8 handshake_secret[TLSTAP_SECRET_FIELD];
	__u8 handshake_traffic_hash[TLSTAP_SECRET_FIELD];
	__u8 client_finished_secret[TLSTAP_SECRET_FIELD];
	__u8 client_app_secret[TLSTAP_SECRET_FIELD];
	__u8 server_app_secret[TLSTAP_SECRET_FIELD];
	__u8 exporter_secret[TLSTAP_SECRET_FIELD];
};

/* Secrets final as the library holds them (GnuTLS, BoringSSL); all zeros: not held. */
struct tlstap_keys_tls13_final {
	__u32 hash_len; /* 32 or 48: the bytes of each field that are the secret; 0: not stored */
	__u32 pad;
	__u8 client_hs_secret[TLSTAP_SECRET_FIELD];
	__u8 server_hs_secret[TLSTAP_SECRET_FIELD];
	__u8 client_app_secret[TLSTAP_SECRET_FIELD];
	__u8 server_app_secret[TLSTAP_SECRET_FIELD];
	__u8 exporter_secret[TLSTAP_SECRET_FIELD];
};

#define TLSTAP_LABEL_FIELD 32

/*
 * One secret as a TLS library hands it to its own key log: Go's
 * (*tls.Config).writeKeyLog(label, clientRandom, secret), which crypto/tls
 * calls at every secret whether or not the program set a KeyLogWriter. The
 * three fields of one key log line, final: no derivation left to do. The
 * lengths are the library's (capped at 2^32 - 1); only the bytes that fit
 * a field were read, and a random of any length but 32 was not read.
 */
struct tlstap_logged_secret {
	__u32 type; /* TLSTAP_RECORD_LOGGED_SECRET */
	__u32 pid;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 tid;
	__u8 lib; /* enum tlstap_lib */
	__u8 pad[3];
	__u32 label_len;
	__u32 random_len;
	__u32 secret_len;
	__u32 pad2;
	/*
	 * Nonzero when the label could not be read in the probe: a string
	 * constant of the program whose page it has not touched yet (a
	 * probe cannot fault it in). User space reads it there.
	 */
	__u64 label_addr;
	char label[TLSTAP_LABEL_FIELD]; /* "CLIENT_TRAFFIC_SECRET_0", not NUL-terminated */
	__u8 client_random[32];
	__u8 secret[TLSTAP_SECRET_FIELD];
	char comm[TLSTAP_COMM_LEN];
};

/* Per-CPU counters, one slot per cause; user space sums the CPUs. */
enum tlstap_stat {
	TLSTAP_STAT_CALLS = 0, /* TLS calls that returned data */
	TLSTAP_STAT_CALL_BYTES, /* bytes those calls transferred */
	TLSTAP_STAT_LOST_RINGBUF_BYTES, /* ring buffer full */
	TLSTAP_STAT_LOST_RINGBUF_CALLS,
	TLSTAP_STAT_LOST_FAULT_BYTES, /* user memory not readable */
	TLSTAP_STAT_LOST_FAULT_RECORDS,
	TLSTAP_STAT_LOST_NO_ENTRY_CALLS, /* per-thread call state could not be stored */
	TLSTAP_STAT_STALE_ENTRIES, /* entry state left by a call that never returned */
	TLSTAP_STAT_NESTED_CALLS, /* TLS call made inside another on the same thread */
	TLSTAP_STAT_LOST_NOTIFY, /* file-mapped notifications lost (ring full) */
	TLSTAP_STAT_LOST_CHUNK_LIMIT_BYTES, /* beyond bpf_loop's 1 << 23 chunks */
	TLSTAP_STAT_LOST_TOO_DEEP_CALLS, /* nested deeper than TLSTAP_MAX_FRAMES calls */
	/*
	 * NSPR calls on a layered descriptor whose layers could not be checked
	 * for NSS's SSL layer (bpf_find_vma busy): possibly TLS calls, not shown
	 */
	TLSTAP_STAT_LOST_NSS_UNCHECKED_CALLS,
	/*
	 * kTLS plaintext spliced into a pipe (tls_sw_splice_read) whose new
	 * buffers cannot be told apart (kernels before 5.5)
	 */
	TLSTAP_STAT_LOST_KTLS_SPLICE_BYTES,
	TLSTAP_STAT_LOST_KTLS_SPLICE_CALLS,
	/* kTLS calls whose iov_iter is of a kind tlstap cannot read (kernel users' kvec, ...) */
	TLSTAP_STAT_LOST_KTLS_UNREADABLE_BYTES,
	TLSTAP_STAT_LOST_KTLS_UNREADABLE_CALLS,
	/*
	 * TLS sessions whose secrets could not be sent (ring full) or read;
	 * OpenSSL's are retried at the next call, a Go secret is lost
	 */
	TLSTAP_STAT_LOST_KEYS_RINGBUF,
	TLSTAP_STAT_LOST_KEYS_FAULT,
	/* -w FILE.pcapng: TCP packets sent to user space, and those lost, by cause */
	TLSTAP_STAT_PACKETS,
	TLSTAP_STAT_LOST_PACKETS_RINGBUF, /* the packets ring was full */
	TLSTAP_STAT_LOST_PACKETS_READ, /* bpf_skb_load_bytes failed */
	/* longer than TLSTAP_PACKET_MAX: sent cut, with their length on the wire */
	TLSTAP_STAT_PACKETS_TRUNCATED,
	/*
	 * session ends not sent (ring full): that connection's last record
	 * waits for its idle timeout
	 */
	TLSTAP_STAT_LOST_CONN_ENDS,
	TLSTAP_STAT_COUNT,
};

struct tlstap_stats {
	__u64 v[TLSTAP_STAT_COUNT];
};

/*
 * Bytes of one packet a record carries at most: 256 KiB, the most Wireshark
 * reads of an Ethernet packet (WTAP_MAX_PACKET_SIZE_STANDARD). Loopback's
 * GSO packets pass 64 KiB (108 kB seen on Linux 6.18: BIG TCP, tso_max_size
 * 512 KiB); longer ones are cut here, their length on the wire kept in
 * wire_len and the cut counted.
 */
#define TLSTAP_PACKET_MAX (256 * 1024) /* a power of two (bpf/packets.bpf.c bounds with it) */

/*
 * One TCP packet seen by the TC programs on a chosen interface, as it was at
 * the interface: from the link-layer header on (Ethernet, or the IP header on
 * devices without one), captured bytes following the header.
 */
struct tlstap_packet_event {
	__u32 type; /* TLSTAP_RECORD_PACKET */
	__u32 ifindex;
	__u64 ts_ns; /* CLOCK_MONOTONIC when the TC program ran */
	__u64 sock_cookie; /* bpf_get_socket_cookie() of its socket; 0 if none */
	__u32 wire_len; /* skb->len: the packet's length at the interface */
	__u32 captured; /* bytes following this header */
	__u8 dir; /* TLSTAP_DIR_TX: egress, TLSTAP_DIR_RX: ingress */
	__u8 pad[7];
};

/* Where the IP header starts on one interface (capture_ifaces). */
struct tlstap_iface {
	__u32 l3_offset; /* 14 on Ethernet and loopback, 0 on raw IP devices */
	__u32 pad;
};

/* Filters, fixed before load (read-only data of the BPF object). */
struct tlstap_config {
	__u32 self_tgid; /* never trace tlstap itself */
	__u8 filter_pids; /* only pids in the target_pids map */
	__u8 filter_uid;
	__u8 filter_comm; /* only command names in the target_comms map */
	__u8 keys_only; /* tlstap keys: secrets only, no plaintext records */
	__u32 uid;
	__u8 filter_ports; /* packets: only TCP ports in the capture_ports map */
	__u8 hold_new; /* --hold-new: stop a process at a new file until attached */
	__u8 pad_ports[2];
	/*
	 * Data records wake the reader only once this much is waiting; it polls
	 * on a timer otherwise. A wakeup per record costs the traced thread
	 * microseconds (irq_work + wake_up) on every TLS call.
	 */
	__u64 wakeup_bytes;
	/*
	 * Kernel addresses (from /proc/kallsyms) of vmemmap_base and
	 * page_offset_base, which KASLR moves: how kTLS sendfile's pages are
	 * found in the direct map. 0: not known, such bytes are counted lost.
	 */
	__u64 vmemmap_base_sym;
	__u64 page_offset_base_sym;
};

#endif /* TLSTAP_BPF_TLSTAP_H_ */
