/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel TLS (kTLS): what a hook on the tls module's functions does at
 * their entry and return, whichever way it is attached: kprobes/kretprobes
 * (ktls.bpf.c) or fentry/fexit (ktls_fentry.bpf.c, where the kernel has BPF
 * trampolines and the module's BTF).
 */
#ifndef TLSTAP_BPF_KTLS_BPF_H_
#define TLSTAP_BPF_KTLS_BPF_H_

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "calls.bpf.h"
#include "sock.bpf.h"
#include "syscalls.bpf.h"

#define TLSTAP_MSG_PEEK 2
#define TLSTAP_SOL_TLS 282
#define TLSTAP_TLS_SET_RECORD_TYPE 1
#define TLSTAP_TLS_GET_RECORD_TYPE 2
#define TLSTAP_RECORD_APPLICATION_DATA 23

/* struct cmsghdr and its first data byte, the TLS record type */
struct tls_cmsg {
	__u64 len;
	__s32 level;
	__s32 type;
	__u8 record_type;
};

/* CMSG_LEN(1): what a program passes for one record-type message */
#define TLS_CMSG_LEN (__builtin_offsetof(struct tls_cmsg, record_type) + 1)

/*
 * Whether a control message says the bytes are not application data: a
 * library sends and receives its own handshake messages and alerts
 * (Finished, NewSessionTicket, close_notify) through the kTLS socket as
 * records of another type. Those are TLS's, not the program's plaintext.
 */
static __always_inline bool not_application_data(const struct tls_cmsg *c, int type)
{
	return c->level == TLSTAP_SOL_TLS && c->type == type &&
	       c->record_type != TLSTAP_RECORD_APPLICATION_DATA;
}

/* Linux before 6.4 named the iovec array iov (now __iov). */
struct iov_iter___pre_6_4 {
	const struct iovec *iov;
} __attribute__((preserve_access_index));

/* Where an iov_iter's bytes lie, as they are at the call's entry. */
static __always_inline void read_iov_iter(struct iov_iter *it, struct emit_src *src)
{
	__u8 type = BPF_CORE_READ(it, iter_type);

	src->skip = BPF_CORE_READ(it, iov_offset);
	src->count = BPF_CORE_READ(it, nr_segs);
	if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) &&
	    type == bpf_core_enum_value(enum iter_type, ITER_UBUF)) {
		/* one user buffer (6.0+: write, send, a single-entry sendmsg) */
		src->segs = EMIT_BUFFER;
		src->buf = (__u64)BPF_CORE_READ(it, ubuf) + src->skip;
		src->skip = 0;
		return;
	}
	if (type == bpf_core_enum_value(enum iter_type, ITER_IOVEC)) {
		src->segs = EMIT_KERNEL_IOV;
		if (bpf_core_field_exists(it->__iov))
			src->buf = (__u64)BPF_CORE_READ(it, __iov);
		else
			src->buf = (__u64)BPF_CORE_READ((struct iov_iter___pre_6_4 *)it, iov);
		return;
	}
	if (type == bpf_core_enum_value(enum iter_type, ITER_BVEC)) {
		src->segs = EMIT_KERNEL_BVEC; /* pages: sendfile, splice (6.5+) */
		src->buf = (__u64)BPF_CORE_READ(it, bvec);
		return;
	}
	src->segs = EMIT_UNREADABLE; /* kvec (the kernel's own users), xarray, ... */
}

/*
 * A library TLS call of this thread that is really in progress (its entry is
 * further up the user stack than the syscall we are in), or NULL.
 */
static __always_inline struct call_frame *library_call_in_progress(struct thread_calls *t)
{
	struct call_frame *f = top_frame(t);

	if (!f || PT_REGS_SP(current_user_regs()) >= f->entry_sp)
		return NULL;
	return f;
}

/*
 * Remembers a kTLS call until its return: its socket, where its bytes lie,
 * and (recvmsg) the program's control buffer, where the kernel writes the
 * record type.
 */
static __always_inline void ktls_enter(struct sock *sk, const struct emit_src *src, __u64 control,
				       __u64 controllen, __u8 dir)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct thread_calls *t;
	struct call_frame *lib;

	if (!should_trace(pid_tgid))
		return;
	t = thread_calls_get(true);
	if (!t) {
		stat_add(TLSTAP_STAT_LOST_NO_ENTRY_CALLS, 1);
		return;
	}
	lib = library_call_in_progress(t);
	if (lib) {
		lib->ktls = 1; /* its event reports these bytes */
		t->ktls.active = 0;
		return;
	}
	t->ktls.sk = (__u64)sk;
	/*
	 * Field by field: clang 14 dropped the stores of sk and of this struct,
	 * copied whole, in ktls_sendpage_enter (the return then read a stale
	 * iov_iter's bytes: 6.1's wrong sendfile bytes).
	 */
	t->ktls.src.buf = src->buf;
	t->ktls.src.skip = src->skip;
	t->ktls.src.count = src->count;
	t->ktls.src.segs = src->segs;
	t->ktls.src.ring_first = src->ring_first;
	t->ktls.control = control;
	t->ktls.controllen = controllen;
	t->ktls.dir = dir;
	t->ktls.active = 1;
}

static __always_inline void ktls_enter_msg(struct sock *sk, struct msghdr *msg, __u8 dir)
{
	struct emit_src src = {};
	__u64 control = (__u64)BPF_CORE_READ(msg, msg_control);
	__u64 controllen = BPF_CORE_READ(msg, msg_controllen);

	/* sendmsg: the control messages were copied into the kernel already */
	if (dir == TLSTAP_DIR_TX && controllen >= TLS_CMSG_LEN) {
		struct tls_cmsg c = {};

		bpf_probe_read_kernel(&c, sizeof(c), (const void *)control);
		if (not_application_data(&c, TLSTAP_TLS_SET_RECORD_TYPE))
			return;
	}
	read_iov_iter(&msg->msg_iter, &src);
	if (dir == TLSTAP_DIR_TX)
		control = controllen = 0; /* only a receive's buffer is read at the return */
	ktls_enter(sk, &src, control, controllen, dir);
}

/* recvmsg: the record type the kernel wrote into the program's control buffer */
static __always_inline bool received_application_data(const struct ktls_call *call)
{
	struct tls_cmsg c = {};

	if (!call->control || call->controllen < TLS_CMSG_LEN)
		return true; /* no buffer: the kernel returns only application data */
	if (bpf_probe_read_user(&c, sizeof(c), (const void *)call->control))
		return true;
	return !not_application_data(&c, TLSTAP_TLS_GET_RECORD_TYPE);
}

/* The fd the current syscall names, if it is sk's. */
static __always_inline int fd_of_current_syscall(__u64 sk)
{
	struct pt_regs *regs = current_user_regs();
	int fd = current_socket_fd();

	if (fd >= 0)
		return (__u64)sock_from_fd(fd) == sk ? fd : -1;
	if (syscall_nr(regs) != NR_splice)
		return -1;
	/* splice(fd_in, off_in, fd_out, ...): the socket is one end, the pipe the other */
	fd = (int)PT_REGS_PARM1_SYSCALL(regs);
	if ((__u64)sock_from_fd(fd) == sk)
		return fd;
	fd = (int)PT_REGS_PARM3_SYSCALL(regs);
	return (__u64)sock_from_fd(fd) == sk ? fd : -1;
}

/*
 * A splice's bytes: the pipe buffers between the pipe's head at the entry
 * (src->ring_first) and its head now. False if they cannot be told apart (a
 * kernel before 5.5, with no head, or more than the ring holds).
 */
static __always_inline bool pipe_buffers_added(struct emit_src *src)
{
	struct pipe_inode_info *pipe = (struct pipe_inode_info *)src->buf;
	__u32 head, ring;

	if (!bpf_core_field_exists(pipe->head))
		return false;
	head = BPF_CORE_READ(pipe, head);
	ring = BPF_CORE_READ(pipe, ring_size);
	if (!ring || (ring & (ring - 1)) || head - src->ring_first > ring)
		return false;
	src->count = head - src->ring_first;
	src->ring_mask = ring - 1;
	src->skip = 0;
	src->buf = (__u64)BPF_CORE_READ(pipe, bufs);
	return true;
}

/*
 * v as a number the verifier knows nothing of. The returns pass an int's
 * value (sign-extended), which the verifier then knows to fit 32 bits; with
 * that, 6.12's verifier gave up on ktls_call_exit (a million instructions
 * explored in the emitter), while as a register of unknown value, what a
 * kretprobe reading a long gets, it verifies on 6.1 and 6.12 alike.
 */
static __always_inline long unbounded(long v)
{
	long out = 0;

	bpf_probe_read_kernel(&out, sizeof(out), &v);
	return out;
}

static __always_inline void ktls_exit(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct thread_calls *t = thread_calls_get(false);
	struct sock_info *sock = NULL, unremembered = {};
	struct conn_state *st;
	struct ktls_call call;
	int fd;

	if (!t || !t->ktls.active)
		return;
	call = t->ktls;
	t->ktls.active = 0;
	ret = unbounded(ret);
	if (ret <= 0)
		return;
	if (call.dir == TLSTAP_DIR_RX && !received_application_data(&call))
		return;
	if (call.src.segs == EMIT_KERNEL_PIPE && !pipe_buffers_added(&call.src)) {
		stat_add(TLSTAP_STAT_CALLS, 1);
		stat_add(TLSTAP_STAT_CALL_BYTES, ret);
		stat_add(TLSTAP_STAT_LOST_KTLS_SPLICE_BYTES, ret);
		stat_add(TLSTAP_STAT_LOST_KTLS_SPLICE_CALLS, 1);
		return;
	}
	if (call.src.segs == EMIT_UNREADABLE) {
		stat_add(TLSTAP_STAT_CALLS, 1);
		stat_add(TLSTAP_STAT_CALL_BYTES, ret);
		stat_add(TLSTAP_STAT_LOST_KTLS_UNREADABLE_BYTES, ret);
		stat_add(TLSTAP_STAT_LOST_KTLS_UNREADABLE_CALLS, 1);
		return;
	}
	fd = fd_of_current_syscall(call.sk);
	st = conn_state_get(pid_tgid >> 32, call.sk);
	if (st) {
		if (st->sk != call.sk || st->sock.fd != fd)
			conn_state_set_sock(st, call.sk, fd, 0);
		sock = &st->sock;
	} else {
		read_sock_addrs((struct sock *)call.sk, &unremembered);
		unremembered.fd = fd;
		sock = &unremembered;
	}
	emit_tls_call(t, pid_tgid, TLSTAP_LIB_KTLS, call.dir, &call.src, ret,
		      fd >= 0 ? TLSTAP_F_FD_FROM_SYSCALL : TLSTAP_F_SOCK_KERNEL, sock, st);
}

/* sendpage (before 6.5): one page's bytes, read through the direct map at the return */
static __always_inline void ktls_enter_page(struct sock *sk, struct page *page, int offset)
{
	struct emit_src src = { .segs = EMIT_KERNEL_BUFFER };
	__u64 base = page_address((__u64)page);

	if (!base)
		src.segs = EMIT_UNREADABLE; /* counted at the return */
	src.buf = base + offset;
	ktls_enter(sk, &src, 0, 0, TLSTAP_DIR_TX);
}

/* splice from a kTLS socket: the pipe's head now; the return reads what follows it */
static __always_inline void ktls_enter_splice(struct socket *sock, struct pipe_inode_info *pipe)
{
	struct emit_src src = { .segs = EMIT_KERNEL_PIPE, .buf = (__u64)pipe };

	if (bpf_core_field_exists(pipe->head))
		src.ring_first = BPF_CORE_READ(pipe, head);
	ktls_enter(BPF_CORE_READ(sock, sk), &src, 0, 0, TLSTAP_DIR_RX);
}

#endif /* TLSTAP_BPF_KTLS_BPF_H_ */
