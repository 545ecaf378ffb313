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

static __always_inline int tls_call_enter(struct pt_regs *ctx, __u64 conn, __u64 buf,
					  __u64 len_out, __u8 dir)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 sp = PT_REGS_SP(ctx);
	struct active_call *cur;

	if (!should_trace(pid_tgid))
		return 0;
	cur = active_call_get(true);
	if (!cur) {
		stat_add(TLSTAP_STAT_LOST_NO_ENTRY_CALLS, 1);
		return 0;
	}
	if (cur->active) {
		if (sp < cur->entry_sp) {
			/* called from inside another TLS call: the outer one reports */
			cur->depth++;
			stat_add(TLSTAP_STAT_NESTED_CALLS, 1);
			return 0;
		}
		stat_add(TLSTAP_STAT_STALE_ENTRIES, 1);
	}
	cur->conn = conn;
	cur->buf = buf;
	cur->len_out = len_out;
	cur->entry_sp = sp;
	cur->depth = 0;
	cur->dir = dir;
	cur->lib = bpf_get_attach_cookie(ctx);
	cur->sk = 0;
	cur->fd = -1;
	cur->active = 1;
	return 0;
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

/* The session is freed: a later session at the same address starts afresh. */
static __always_inline void conn_state_forget(__u64 conn)
{
	struct conn_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .conn = conn };

	if (!bpf_map_delete_elem(&conns, &key))
		proc_conns_add(key.tgid, -1);
}

/*
 * At the call's return. ret is the call's return value: the byte count, or
 * for *_ex calls 1 on success with the count at len_out. Anything else
 * (errors, WANT_READ/WANT_WRITE) transferred nothing and emits nothing, so a
 * retried write is reported once, when it succeeds.
 */
static __always_inline int tls_call_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct active_call *call = active_call_get(false);
	struct task_struct *task = bpf_get_current_task_btf();
	struct tlstap_data_event *h;
	struct emit_ctx ectx = {};
	struct sock_info *sock = NULL, unremembered = {};
	struct conn_state *st;
	__u64 len = 0;

	if (!call || !call->active)
		return 0;
	if (call->depth) {
		call->depth--;
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

	/* who: read from the task itself, cheaper than the helpers */
	h = &ectx.hdr;
	h->type = TLSTAP_RECORD_DATA;
	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	h->call_len = len;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->uid = task->cred->uid.val;
	h->lib = call->lib;
	h->dir = call->dir;
	__builtin_memcpy(h->comm, task->comm, sizeof(h->comm));
	ectx.buf = call->buf;

	/* which connection: the socket the call used, else the session's last one */
	st = conn_state_get(h->pid, call->conn);
	if (call->sk) {
		h->flags = TLSTAP_F_FD_FROM_SYSCALL;
		if (!st) {
			read_sock_addrs((struct sock *)call->sk, &unremembered);
			unremembered.fd = call->fd;
			sock = &unremembered;
		} else {
			if (st->sk != call->sk) {
				read_sock_addrs((struct sock *)call->sk, &st->sock);
				st->sk = call->sk;
				st->sock.fd = call->fd;
			} else if (call->fd >= 0) {
				st->sock.fd = call->fd; /* (the same socket under a dup'd fd) */
			}
			sock = &st->sock;
		}
	} else if (st && st->sk) {
		h->flags = TLSTAP_F_FD_CACHED;
		sock = &st->sock;
	}
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
		h->stream_pos = __sync_fetch_and_add(&st->pos[h->dir == TLSTAP_DIR_RX], len);
	}
	emit_call(&ectx);
out:
	call->active = 0;
	return 0;
}

#endif /* TLSTAP_BPF_CALLS_BPF_H_ */
