/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The life of one user-space TLS call, shared by every library hook:
 * entry remembers (session, buffer) per thread; the socket I/O made inside
 * the call names its socket and fd (sock.bpf.c); the return emits the bytes
 * the call really transferred, attributed to the session's socket.
 */
#ifndef TLSTAP_BPF_CALLS_BPF_H_
#define TLSTAP_BPF_CALLS_BPF_H_

#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"
#include "emit.bpf.h"
#include "sock.bpf.h"
#include "keys.bpf.h"

/* iov_count > 0: buf is an array of that many NSPR PRIOVec (PR_Writev). */
static __always_inline int tls_call_enter_iov(struct pt_regs *ctx, __u64 conn, __u64 buf,
					      __u64 len_out, __u8 dir, __u32 iov_count)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 sp = PT_REGS_SP(ctx);
	struct thread_calls *t;
	struct call_frame *f;

	if (!should_trace(pid_tgid))
		return 0;
	t = thread_calls_get(true);
	if (!t) {
		stat_add(TLSTAP_STAT_LOST_NO_ENTRY_CALLS, 1);
		return 0;
	}
	/* frames at or above this stack level never saw their return (longjmp, ...) */
	for (int i = 0; i < TLSTAP_MAX_FRAMES; i++) {
		f = top_frame(t);
		if (!f || sp < f->entry_sp)
			break;
		t->depth--;
		stat_add(TLSTAP_STAT_STALE_ENTRIES, 1);
	}
	f = top_frame(t);
	if (f) {
		stat_add(TLSTAP_STAT_NESTED_CALLS, 1);
		if (f->conn == conn && f->buf == buf && f->dir == dir) {
			f->wrapped++; /* a wrapper's inner call: the same bytes */
			return 0;
		}
		if (t->depth == TLSTAP_MAX_FRAMES) {
			f->untracked++;
			stat_add(TLSTAP_STAT_LOST_TOO_DEEP_CALLS, 1);
			return 0;
		}
	}
	f = &t->frames[t->depth & (TLSTAP_MAX_FRAMES - 1)];
	f->conn = conn;
	f->buf = buf;
	f->len_out = len_out;
	f->iov_count = iov_count;
	f->entry_sp = sp;
	f->sk = 0;
	f->fd = -1;
	f->dir = dir;
	f->lib = TLSTAP_COOKIE_LIB(bpf_get_attach_cookie(ctx));
	f->wrapped = 0;
	f->untracked = 0;
	f->ktls = 0;
	t->depth++;
	return 0;
}

static __always_inline int tls_call_enter(struct pt_regs *ctx, __u64 conn, __u64 buf, __u64 len_out,
					  __u8 dir)
{
	return tls_call_enter_iov(ctx, conn, buf, len_out, dir, 0);
}

static __always_inline void proc_conns_add(__u32 tgid, int delta)
{
	__u32 *n = bpf_map_lookup_elem(&procs_with_conns, &tgid);
	__u32 one = 1;

	if (n)
		__sync_fetch_and_add(n, delta);
	else if (delta > 0)
		bpf_map_update_elem(&procs_with_conns, &tgid, &one, BPF_NOEXIST);
}

static __always_inline struct conn_state *conn_state_get(__u32 tgid, __u64 conn)
{
	struct conn_key key = { .tgid = tgid, .conn = conn };
	struct conn_state *st = bpf_map_lookup_elem(&conns, &key);
	struct conn_state fresh = {};

	if (st)
		return st;
	fresh.conn_id = __sync_fetch_and_add(&next_conn_id, 1) + 1;
	fresh.sock.fd = -1;
	if (!bpf_map_update_elem(&conns, &key, &fresh, BPF_NOEXIST))
		proc_conns_add(tgid, 1);
	return bpf_map_lookup_elem(&conns, &key);
}

/* The session's socket is now sk (fd may be -1: not known). */
static __always_inline void conn_state_set_sock(struct conn_state *st, __u64 sk, int fd,
						__u32 inferred)
{
	read_sock_addrs((struct sock *)sk, &st->sock);
	st->sk = sk;
	st->sock.fd = fd;
	st->inferred = inferred;
}

/*
 * Tells user space that session st of process tgid ended, if it carried
 * data, so its last message is finished now rather than when the
 * connection has been idle long enough.
 */
static __always_inline void conn_end_send(__u32 tgid, const struct conn_state *st)
{
	struct tlstap_conn_end e = {
		.type = TLSTAP_RECORD_CONN_END,
		.pid = tgid,
		.conn_id = st->conn_id,
	};

	if (tlstap_cfg.keys_only || (!st->pos[0] && !st->pos[1]))
		return;
	e.ts_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&events, &e, sizeof(e), ringbuf_wakeup_flag()))
		stat_add(TLSTAP_STAT_LOST_CONN_ENDS, 1);
}

/*
 * The session pointer now leads to another socket: the session was freed
 * (Go's garbage collector says nothing) and a new one took its address.
 */
static __always_inline void conn_state_restart(struct conn_state *st)
{
	conn_end_send(bpf_get_current_pid_tgid() >> 32, st);
	st->conn_id = __sync_fetch_and_add(&next_conn_id, 1) + 1;
	st->pos[0] = 0;
	st->pos[1] = 0;
}

/* The session is freed: a later session at the same address starts afresh. */
static __always_inline void conn_state_forget(__u64 conn)
{
	struct conn_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .conn = conn };
	struct conn_state *st = bpf_map_lookup_elem(&conns, &key);

	if (!st)
		return;
	/* sent first: the value is not ours once deleted */
	conn_end_send(key.tgid, st);
	if (!bpf_map_delete_elem(&conns, &key))
		proc_conns_add(key.tgid, -1);
}

/*
 * Emits the plaintext of a finished call: its first len bytes at src, moved
 * by process pid_tgid through session st (NULL when it could not be
 * stored), on the socket sock (NULL when unknown) found as flags says. t is
 * the thread's storage (NULL when there is none: the call is counted, and
 * counted lost).
 */
static __always_inline void emit_tls_call(struct thread_calls *t, __u64 pid_tgid, __u8 lib,
					  __u8 dir, const struct emit_src *src, __u64 len,
					  __u8 flags, const struct sock_info *sock,
					  struct conn_state *st)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tlstap_data_event *h;
	struct emit_ctx *ectx;

	if (!t) {
		stat_add(TLSTAP_STAT_CALLS, 1);
		stat_add(TLSTAP_STAT_CALL_BYTES, len);
		stat_add(TLSTAP_STAT_LOST_NO_ENTRY_CALLS, 1);
		return;
	}
	ectx = &t->emit;
	__builtin_memset(ectx, 0, sizeof(*ectx));
	h = &ectx->hdr;
	/* who: read from the task itself, cheaper than the helpers */
	h->type = TLSTAP_RECORD_DATA;
	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	h->call_len = len;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->uid = task->cred->uid.val;
	h->lib = lib;
	h->dir = dir;
	h->flags = flags;
	/* the process's name; each record reads its thread's own (emit.bpf.h) */
	__builtin_memcpy(h->comm, task->group_leader->comm, sizeof(h->comm));
	if (sock) {
		h->fd = sock->fd;
		h->family = sock->family;
		h->lport = sock->lport;
		h->rport = sock->rport;
		__builtin_memcpy(h->laddr, sock->laddr, sizeof(h->laddr));
		__builtin_memcpy(h->raddr, sock->raddr, sizeof(h->raddr));
	} else {
		h->fd = -1;
	}
	if (st) {
		h->conn_id = st->conn_id;
		h->stream_pos = __sync_fetch_and_add(&st->pos[dir == TLSTAP_DIR_RX], len);
	}
	ectx->src = *src;
	emit_thread_call();
}

/*
 * At the call's return. ret is the call's return value: the byte count, or
 * for *_ex calls 1 on success with the count at len_out. Anything else
 * (errors, WANT_READ/WANT_WRITE) transferred nothing and emits nothing, so a
 * retried write is reported once, when it succeeds. key_file: the OpenSSL
 * file's slot in ssl_key_offsets (0: no secrets from this library).
 */
static __always_inline int tls_call_exit(long ret, __u32 key_file)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct thread_calls *t = thread_calls_get(false);
	struct call_frame *call;
	struct sock_info *sock = NULL;
	struct emit_src *src;
	struct conn_state *st;
	__u64 len = 0;
	__u8 flags = 0;

	if (!t)
		return 0;
	call = top_frame(t);
	if (!call)
		return 0;
	if (call->untracked) {
		call->untracked--;
		return 0;
	}
	if (call->wrapped) {
		call->wrapped--;
		return 0;
	}
	if (call->len_out) {
		if (ret == 1)
			bpf_probe_read_user(&len, sizeof(len), (const void *)call->len_out);
	} else if (ret > 0) {
		len = ret;
	}
	if (!len)
		goto out;

	/*
	 * Which connection: the socket the call used; else the session's last
	 * one; else (a session behind a custom BIO, seen for the first time) the
	 * socket the thread used last, which for a read is the one its
	 * ciphertext just came from.
	 */
	st = conn_state_get(pid_tgid >> 32, call->conn);
	/* data moved: the handshake is done and its secrets are in place */
	if (key_file && st)
		ssl_keys_send_if_new(pid_tgid, call->lib, call->conn, st, key_file);
	if (tlstap_cfg.keys_only)
		goto out;
	if (call->sk) {
		flags = TLSTAP_F_FD_FROM_SYSCALL;
		if (!st) {
			read_sock_addrs((struct sock *)call->sk, &t->exit_sock);
			t->exit_sock.fd = call->fd;
			sock = &t->exit_sock;
		} else {
			if (st->sk != call->sk)
				conn_state_set_sock(st, call->sk, call->fd, 0);
			else if (call->fd >= 0)
				st->sock.fd = call->fd; /* (the same socket under a dup'd fd) */
			st->inferred = 0;
			sock = &st->sock;
		}
	} else if (st) {
		if (!st->sk && t->recent_sk)
			conn_state_set_sock(st, t->recent_sk, t->recent_fd, 1);
		if (st->sk) {
			flags = st->inferred ? TLSTAP_F_FD_THREAD : TLSTAP_F_FD_CACHED;
			sock = &st->sock;
		}
		/* its ciphertext goes out after the call: that send names the socket */
		if (call->dir == TLSTAP_DIR_TX && (!st->sk || st->inferred))
			t->pending_conn = call->conn;
	}
	if (call->ktls) /* the kernel's TLS layer carried them too: this event is both */
		flags |= TLSTAP_F_KTLS;
	src = &t->exit_src;
	__builtin_memset(src, 0, sizeof(*src));
	src->buf = call->buf;
	if (call->iov_count) {
		src->segs = EMIT_NSPR_IOV;
		src->count = call->iov_count;
	}
	emit_tls_call(t, pid_tgid, call->lib, call->dir, src, len, flags, sock, st);
out:
	t->depth--;
	return 0;
}

#endif /* TLSTAP_BPF_CALLS_BPF_H_ */
