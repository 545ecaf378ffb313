// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go crypto/tls plaintext: (*tls.Conn).Write and (*tls.Conn).Read of Go
 * 1.17+ programs on x86-64, whose register ABI passes the receiver in RAX,
 * the []byte's data in RBX (its length in RCX) and returns the byte count in
 * RAX, with the current goroutine's runtime.g in R14 throughout.
 *
 * There is no uretprobe: it would replace the return address on the
 * goroutine's stack, which Go copies elsewhere when the stack grows. User
 * space probes every RET instruction of the two functions instead.
 *
 * With keys requested, also the entry of (*tls.Config).writeKeyLog, which
 * crypto/tls calls with every secret it derives (returning at once when the
 * program set no KeyLogWriter): each call is one key log line.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "calls.bpf.h"

/*
 * Where the socket is, in layouts unchanged since Go 1.9: a tls.Conn starts
 * with its net.Conn, an interface {itab, data}; data is a *net.TCPConn (or
 * *net.UnixConn), whose first word is its *netFD; a netFD starts with a
 * poll.FD, whose 16-byte fdMutex is followed by Sysfd.
 */
#define GO_TLS_CONN_NET_CONN_DATA 8
#define GO_NETFD_SYSFD 16

/* The descriptor under a *tls.Conn, or -1. */
static __always_inline int go_conn_fd(__u64 conn)
{
	__u64 data = 0, netfd = 0;
	__s64 fd = -1;

	if (bpf_probe_read_user(&data, sizeof(data), (void *)(conn + GO_TLS_CONN_NET_CONN_DATA)) ||
	    !data)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)data) || !netfd)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(netfd + GO_NETFD_SYSFD)))
		return -1;
	return fd >= 0 && fd < (1 << 30) ? (int)fd : -1;
}

static __always_inline int go_call_enter(struct pt_regs *ctx, __u8 dir)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct go_call_key key = { .tgid = pid_tgid >> 32, .g = ctx->r14 };
	struct go_call call = {
		.conn = ctx->ax,
		.buf = ctx->bx,
		.dir = dir,
		.lib = bpf_get_attach_cookie(ctx),
	};

	if (!should_trace(pid_tgid))
		return 0;
	/* (a call that must grow its stack first enters twice: same values) */
	if (bpf_map_update_elem(&go_calls, &key, &call, BPF_ANY))
		stat_add(TLSTAP_STAT_LOST_NO_ENTRY_CALLS, 1);
	return 0;
}

SEC("uprobe")
int go_write_enter(struct pt_regs *ctx)
{
	return go_call_enter(ctx, TLSTAP_DIR_TX);
}

SEC("uprobe")
int go_read_enter(struct pt_regs *ctx)
{
	return go_call_enter(ctx, TLSTAP_DIR_RX);
}

/* At each RET of Write and Read: RAX holds n, the bytes transferred. */
SEC("uprobe")
int go_call_exit(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct go_call_key key = { .tgid = pid_tgid >> 32, .g = ctx->r14 };
	struct sock_info *sock = NULL, unremembered = {};
	struct conn_state *st;
	struct go_call *entry, call;
	long n = (long)ctx->ax;
	struct sock *sk;
	__u8 flags = 0;
	int fd;

	entry = bpf_map_lookup_elem(&go_calls, &key);
	if (!entry)
		return 0;
	call = *entry;
	bpf_map_delete_elem(&go_calls, &key);
	if (n <= 0)
		return 0;

	fd = go_conn_fd(call.conn);
	sk = fd >= 0 ? sock_from_fd(fd) : NULL;
	st = conn_state_get(key.tgid, call.conn);
	if (sk) {
		flags = TLSTAP_F_FD_FROM_CONN;
		if (st) {
			if (st->sk && st->sk != (__u64)sk)
				conn_state_restart(st);
			if (st->sk != (__u64)sk || st->sock.fd != fd)
				conn_state_set_sock(st, (__u64)sk, fd, 0);
			sock = &st->sock;
		} else {
			read_sock_addrs(sk, &unremembered);
			unremembered.fd = fd;
			sock = &unremembered;
		}
	} else if (st && st->sk) {
		flags = TLSTAP_F_FD_CACHED; /* (closed under us: the last one known) */
		sock = &st->sock;
	}
	struct emit_src src = { .buf = call.buf };

	/* Go threads make no library calls: their storage is made here */
	emit_tls_call(thread_calls_get(true), pid_tgid, call.lib, call.dir, &src, n, flags, sock,
		      st);
	return 0;
}

/* Bytes of a Go string or slice to read into a field of `field` bytes. */
static __always_inline __u32 go_read_len(__u64 len, __u32 field)
{
	__u32 n = len < field ? (__u32)len : field;

	barrier_var(n);
	return n <= field ? n : 0;
}

/*
 * crypto/tls.(*Config).writeKeyLog(label string, clientRandom, secret
 * []byte), register ABI: the receiver in RAX, label's data and length in
 * RBX and RCX, clientRandom's in RDI and RSI (capacity R8), secret's in R9
 * and R10 (capacity R11). A call that must grow its stack first enters
 * twice with the same values; user space writes each line once.
 */
SEC("uprobe")
int go_keylog_enter(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 label_len = ctx->cx, random_len = ctx->si, secret_len = ctx->r10;
	struct tlstap_logged_secret *e;
	struct task_struct *task;
	__u32 n;
	long err = 0;

	if (!should_trace(pid_tgid))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_add(TLSTAP_STAT_LOST_KEYS_RINGBUF, 1);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	n = go_read_len(label_len, TLSTAP_LABEL_FIELD);
	if (n && bpf_probe_read_user(e->label, n, (const void *)ctx->bx))
		e->label_addr = ctx->bx; /* a constant not paged in yet: read later */
	if (random_len == sizeof(e->client_random))
		err |= bpf_probe_read_user(e->client_random, sizeof(e->client_random),
					   (const void *)ctx->di);
	n = go_read_len(secret_len, TLSTAP_SECRET_FIELD);
	if (n)
		err |= bpf_probe_read_user(e->secret, n, (const void *)ctx->r9);
	if (err) {
		bpf_ringbuf_discard(e, 0);
		stat_add(TLSTAP_STAT_LOST_KEYS_FAULT, 1);
		return 0;
	}
	task = bpf_get_current_task_btf();
	e->type = TLSTAP_RECORD_LOGGED_SECRET;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->ts_ns = bpf_ktime_get_ns();
	e->lib = TLSTAP_COOKIE_LIB(bpf_get_attach_cookie(ctx));
	e->label_len = label_len < 0xffffffff ? label_len : 0xffffffff;
	e->random_len = random_len < 0xffffffff ? random_len : 0xffffffff;
	e->secret_len = secret_len < 0xffffffff ? secret_len : 0xffffffff;
	__builtin_memcpy(e->comm, task->group_leader->comm, sizeof(e->comm)); /* the process's */
	/* rare and small, and a key log reader waits for it: wake the reader */
	bpf_ringbuf_submit(e, 0);
	return 0;
}
