// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel-side hooks shared by every user-space TLS hook family:
 *  - the "nested socket I/O" correlation: the first socket read/write a
 *    thread makes while inside a TLS call names that call's socket and fd;
 *  - BoringSSL's TLS 1.3 handshake secrets, read at the socket writes of
 *    its SSL_do_handshake (the state holding them dies with that call);
 *  - file mappings and execs, so user space can attach to libraries that
 *    appear after start (new processes, dlopen);
 *  - cleanup of per-process session state when processes exit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "calls.bpf.h"
#include "sock.bpf.h"
#include "syscalls.bpf.h"

/* The first socket I/O of a TLS call names its socket, and its fd if a syscall did it. */
static __always_inline void note_call_socket(struct call_frame *call, struct sock *sk, int fd)
{
	call->sk = (__u64)sk;
	call->fd = fd;
}

/*
 * Where the kernel has them (6.3+), the socket I/O tracepoints: they fire
 * only for socket reads and writes, with the socket at hand, so syscalls in
 * general (and every process on the host) pay nothing.
 */
/*
 * Socket I/O of a thread that made TLS calls, between its calls: for sessions
 * whose calls make no socket I/O themselves (a custom BIO, as in node), the
 * socket the thread read last, and the one a write of a session goes out on.
 */
static __always_inline void note_io_between_calls(struct thread_calls *t, struct sock *sk, int fd,
						  bool send)
{
	t->recent_sk = (__u64)sk;
	t->recent_fd = fd;
	if (send && t->pending_conn) {
		struct conn_key key = { .tgid = bpf_get_current_pid_tgid() >> 32,
					.conn = t->pending_conn };
		struct conn_state *st = bpf_map_lookup_elem(&conns, &key);

		if (st && (!st->sk || st->inferred) && st->sk != (__u64)sk)
			conn_state_set_sock(st, (__u64)sk, fd, 1);
		t->pending_conn = 0;
	}
}

/*
 * BoringSSL's TLS 1.3 handshake traffic secrets. They live in its
 * handshake state (ssl->s3->hs), which SSL_do_handshake frees before it
 * returns, so they are read during that call, at the thread's socket writes
 * (on_socket_io and sys_enter below): the client writes its Finished, and the server its first
 * encrypted flight, with both secrets in place. Earlier writes find them
 * zero (not derived yet) or the version not TLS 1.3, and send nothing.
 * Once per session and thread: the client random sent last is kept.
 */
static __noinline void ssl_handshake_keys_send(struct thread_calls *t)
{
	__u32 file = t->handshake_file;
	const struct tlstap_ssl_offsets *o = bpf_map_lookup_elem(&ssl_key_offsets, &file);
	struct tlstap_keys_tls13_final *k;
	struct tlstap_keys_event *e;
	__u64 ssl = t->handshake_ssl, base = 0, hs = 0, random[4], *server;
	__u32 version = 0;
	long err = 0;

	if (!o || !o->valid || o->handshake_ptr == TLSTAP_NO_OFFSET)
		return;
	if (read_u32_field(ssl, o->version_ptr, o->version, o->version_bytes, &version) ||
	    version != o->tls13_version)
		return;
	if (secrets_base(ssl, o, &base) ||
	    bpf_probe_read_user(&hs, sizeof(hs), (const void *)(base + o->handshake_ptr)) || !hs ||
	    bpf_probe_read_user(random, sizeof(random), (const void *)(base + o->client_random)))
		return;
	if (!(random[0] | random[1] | random[2] | random[3]) ||
	    (random[0] == t->handshake_random[0] && random[1] == t->handshake_random[1] &&
	     random[2] == t->handshake_random[2] && random[3] == t->handshake_random[3]))
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e) + sizeof(*k), 0);
	if (!e) {
		stat_add(TLSTAP_STAT_LOST_KEYS_RINGBUF, 1);
		return;
	}
	k = (void *)(e + 1);
	k->hash_len = 0;
	k->pad = 0;
	err |= read_secret_field(k->client_hs_secret, hs, o->client_hs_secret);
	err |= read_secret_field(k->server_hs_secret, hs, o->server_hs_secret);
	__builtin_memset(k->client_app_secret, 0, TLSTAP_SECRET_FIELD);
	__builtin_memset(k->server_app_secret, 0, TLSTAP_SECRET_FIELD);
	__builtin_memset(k->exporter_secret, 0, TLSTAP_SECRET_FIELD);
	server = (__u64 *)k->server_hs_secret;
	if (err || !(server[0] | server[1] | server[2] | server[3])) {
		bpf_ringbuf_discard(e, 0);
		if (err)
			stat_add(TLSTAP_STAT_LOST_KEYS_FAULT, 1);
		return;
	}
	keys_event_submit(e, bpf_get_current_pid_tgid(), t->handshake_lib,
			  TLSTAP_KEYS_FINAL_HANDSHAKE, TLSTAP_TLS13_VERSION, random, 0);
	t->handshake_random[0] = random[0];
	t->handshake_random[1] = random[1];
	t->handshake_random[2] = random[2];
	t->handshake_random[3] = random[3];
}

static __always_inline int on_socket_io(struct sock *sk, bool send)
{
	struct thread_calls *t = thread_calls_get(false); /* threads that made TLS calls */
	struct call_frame *call;

	if (!t)
		return 0;
	if (send && t->handshake_ssl)
		ssl_handshake_keys_send(t);
	if (t->depth) {
		call = top_frame(t);
		if (call && !call->sk)
			note_call_socket(call, sk, current_socket_fd());
		return 0;
	}
	note_io_between_calls(t, sk, current_socket_fd(), send);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send, struct sock *sk, int ret, int flags)
{
	return on_socket_io(sk, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv, struct sock *sk, int ret, int flags)
{
	return on_socket_io(sk, false);
}

/* Older kernels: every syscall entry, and a walk from the fd to its socket. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	struct thread_calls *t;
	struct call_frame *call;
	struct sock *sk;
	int fd;

	if (!is_socket_io_syscall(id))
		return 0;
	t = thread_calls_get(false); /* threads that made TLS calls */
	if (!t)
		return 0;
	if (t->handshake_ssl && is_send_syscall(id))
		ssl_handshake_keys_send(t);
	call = top_frame(t);
	if (call && call->sk)
		return 0;
	fd = PT_REGS_PARM1_SYSCALL(regs);
	sk = sock_from_fd(fd);
	if (!sk)
		return 0;
	if (call)
		note_call_socket(call, sk, fd);
	else if (!t->depth)
		note_io_between_calls(t, sk, fd, is_send_syscall(id));
	return 0;
}

/* The kernel's flag (include/linux/sched/signal.h) on a pid namespace's init. */
#define TLSTAP_SIGNAL_UNKILLABLE 0x00000040
#define TLSTAP_SIGSTOP 19

/*
 * --hold-new: stops the current process until user space has attached to
 * the file it is mapping (it continues it). The stop takes effect as the
 * mmap or exec returns, before any instruction of the new code runs.
 */
static __always_inline __u32 hold_process(__u32 tgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 now = bpf_ktime_get_ns();

	if (!tlstap_cfg.hold_new)
		return TLSTAP_HOLD_NONE;
	if (BPF_CORE_READ(task, real_parent, tgid) == tlstap_cfg.self_tgid)
		return TLSTAP_HOLD_OWN_CHILD;
	if (BPF_CORE_READ(task, signal, flags) & TLSTAP_SIGNAL_UNKILLABLE)
		return TLSTAP_HOLD_INIT;
	if (bpf_map_update_elem(&held_pids, &tgid, &now, BPF_ANY))
		return TLSTAP_HOLD_FAILED;
	if (bpf_send_signal(TLSTAP_SIGSTOP)) {
		bpf_map_delete_elem(&held_pids, &tgid);
		return TLSTAP_HOLD_FAILED;
	}
	return TLSTAP_HOLD_STOPPED;
}

/* Tells user space about a file, once per file while tlstap runs. */
static __always_inline void notify_file(struct file *file, __u32 tgid, int fd)
{
	struct tlstap_file_mapped *ev;
	struct file_key key = {};
	struct inode *inode;
	__u8 one = 1;

	inode = BPF_CORE_READ(file, f_inode);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	if (bpf_map_update_elem(&seen_files, &key, &one, BPF_NOEXIST))
		return; /* reported before */

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		stat_add(TLSTAP_STAT_LOST_NOTIFY, 1);
		bpf_map_delete_elem(&seen_files, &key); /* report it next time */
		return;
	}
	ev->type = TLSTAP_RECORD_FILE_MAPPED;
	ev->pid = tgid;
	ev->dev = key.dev;
	ev->ino = key.ino;
	ev->fd = fd;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->hold = hold_process(tgid); /* only with an event that will tell user space */
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP); /* attach before its first call */
}

/*
 * A private file mapping placed by the kernel (not MAP_FIXED): how the
 * dynamic linker maps a library's first segment, before the executable one.
 */
SEC("tp_btf/vm_unmapped_area")
int BPF_PROG(vm_unmapped_area, unsigned long addr, struct vm_unmapped_area_info *info)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pt_regs *regs = current_user_regs();
	struct file *file;
	int fd;

	if (syscall_nr(regs) != NR_mmap)
		return 0;
	fd = (int)PT_REGS_PARM5_SYSCALL(regs);
	if (fd < 0 || (PT_REGS_PARM4_SYSCALL(regs) & TLSTAP_MAP_TYPE) != TLSTAP_MAP_PRIVATE)
		return 0;
	if (!should_trace(pid_tgid))
		return 0;
	file = fd_to_file(fd);
	if (file)
		notify_file(file, pid_tgid >> 32, fd);
	return 0;
}

/* A new program: its executable may carry a TLS library of its own. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	/* a new program: what was learned of the old one's NSS no longer holds */
	bpf_map_delete_elem(&nss_procs, &tgid);
	if (should_trace(pid_tgid))
		notify_file(bprm->file, tgid, TLSTAP_MAPPED_EXE);
	return 0;
}

static long forget_conn(struct bpf_map *map, struct conn_key *key, struct conn_state *val,
			__u32 *tgid)
{
	if (key->tgid == *tgid) {
		conn_end_send(key->tgid, val);
		bpf_map_delete_elem(map, key);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct task_struct *task;
	__u32 *sessions;

	/* (active_calls is task storage: the kernel frees it with the thread.) */
	/* The last thread of the process is gone: forget its sessions. */
	task = bpf_get_current_task_btf();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&nss_procs, &tgid);
	bpf_map_delete_elem(&held_pids, &tgid); /* killed while held */
	sessions = bpf_map_lookup_elem(&procs_with_conns, &tgid);
	if (!sessions)
		return 0;
	/* sessions closed with SSL_free are gone already */
	if (*sessions)
		bpf_for_each_map_elem(&conns, forget_conn, &tgid, 0);
	bpf_map_delete_elem(&procs_with_conns, &tgid);
	return 0;
}
