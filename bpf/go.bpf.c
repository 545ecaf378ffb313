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

	emit_tls_call(pid_tgid, call.lib, call.dir, &src, n, flags, sock, st);
	return 0;
}
