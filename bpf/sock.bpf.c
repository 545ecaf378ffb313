// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Syscall-side hooks shared by every user-space TLS hook family:
 *  - the "nested syscall" correlation: the first socket read/write a thread
 *    makes while inside a TLS call names that call's fd and addresses;
 *  - executable file mappings, so user space can attach to libraries that
 *    appear after start (new processes, dlopen);
 *  - cleanup of per-process session state when processes exit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"
#include "sock.bpf.h"
#include "syscalls.bpf.h"

static __always_inline int on_socket_syscall(struct pt_regs *regs)
{
	struct active_call *call = active_call_get(false);
	struct sock *sk;
	int fd;

	if (!call || !call->active || call->sock.fd >= 0)
		return 0;
	fd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	if (fd == call->known_fd) {
		call->sock.fd = fd; /* the session's socket: no walk to the sock */
		return 0;
	}
	sk = sock_from_fd(fd);
	if (sk) {
		/* addresses are read at the return, only if the session's socket changed */
		call->sock.fd = fd;
		call->sk = (__u64)sk;
	}
	return 0;
}

static __always_inline int on_mmap(struct pt_regs *regs)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct tlstap_file_mapped *ev;
	struct file_key key = {};
	struct inode *inode;
	struct file *file;
	__u8 one = 1;
	int fd;

	if (!(PT_REGS_PARM3_CORE_SYSCALL(regs) & TLSTAP_PROT_EXEC))
		return 0;
	if (!should_trace(pid_tgid))
		return 0;
	fd = (int)PT_REGS_PARM5_CORE_SYSCALL(regs);
	file = fd_to_file(fd);
	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	if (bpf_map_update_elem(&seen_files, &key, &one, BPF_NOEXIST))
		return 0; /* reported before */

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		stat_add(TLSTAP_STAT_LOST_NOTIFY, 1);
		bpf_map_delete_elem(&seen_files, &key); /* report it next time */
		return 0;
	}
	ev->type = TLSTAP_RECORD_FILE_MAPPED;
	ev->pid = pid_tgid >> 32;
	ev->dev = key.dev;
	ev->ino = key.ino;
	ev->fd = fd;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP); /* attach before its first call */
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	switch (id) {
	case NR_read:
	case NR_write:
	case NR_readv:
	case NR_writev:
	case NR_sendto:
	case NR_recvfrom:
	case NR_sendmsg:
	case NR_recvmsg:
	case NR_sendmmsg:
	case NR_recvmmsg:
		return on_socket_syscall(regs);
	case NR_mmap:
		return on_mmap(regs);
	default:
		return 0;
	}
}

static long forget_conn(struct bpf_map *map, struct conn_key *key, struct conn_state *val,
			__u32 *tgid)
{
	if (key->tgid == *tgid)
		bpf_map_delete_elem(map, key);
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
	sessions = bpf_map_lookup_elem(&procs_with_conns, &tgid);
	if (!sessions)
		return 0;
	/* sessions closed with SSL_free are gone already */
	if (*sessions)
		bpf_for_each_map_elem(&conns, forget_conn, &tgid, 0);
	bpf_map_delete_elem(&procs_with_conns, &tgid);
	return 0;
}
