// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kTLS through BPF trampolines: the same entry and return work as the
 * kprobes of ktls.bpf.c, attached as fentry/fexit where the kernel allows
 * (x86-64 or arm64 trampolines, and the tls module's BTF to name the
 * functions by). They cost less per call than a kprobe's breakpoint.
 *
 * This is an object of its own, loaded when the tls module is there (a
 * fentry program names its function's BTF at load time, and the module
 * usually loads after tlstap, on a program's first kTLS use). It shares
 * every map of the main object, which user space hands it by fd.
 *
 * A function a kernel lacks (tls_sw_sendpage after 6.5, tls_device_* without
 * CONFIG_TLS_DEVICE) has its two programs left unloaded by user space.
 */
#include "vmlinux.h"
#include "ktls.bpf.h"

/*
 * The return value, whatever the function's arguments (Linux 5.17+), of a
 * function returning an int: the register's upper half is not the
 * function's.
 */
static __always_inline int fexit_int(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return (int)ret;
}

/* The same for a function returning a ssize_t. */
static __always_inline long fexit_long(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return (long)ret;
}

/*
 * A typed argument's address as a plain number: the verifier allows no
 * arithmetic on a BTF pointer with an unknown operand, which page_address
 * does. Through the stack, the value is a scalar like a kprobe's register.
 */
static __always_inline struct page *untyped(struct page *typed)
{
	__u64 address = 0;

	bpf_probe_read_kernel(&address, sizeof(address), &typed);
	return (struct page *)address;
}

SEC("fentry/tls_sw_sendmsg")
int BPF_PROG(ktls_fentry_sw_sendmsg, struct sock *sk, struct msghdr *msg)
{
	ktls_enter_msg(sk, msg, TLSTAP_DIR_TX);
	return 0;
}

SEC("fexit/tls_sw_sendmsg")
int BPF_PROG(ktls_fexit_sw_sendmsg)
{
	ktls_exit(fexit_int(ctx));
	return 0;
}

SEC("fentry/tls_device_sendmsg")
int BPF_PROG(ktls_fentry_device_sendmsg, struct sock *sk, struct msghdr *msg)
{
	ktls_enter_msg(sk, msg, TLSTAP_DIR_TX);
	return 0;
}

SEC("fexit/tls_device_sendmsg")
int BPF_PROG(ktls_fexit_device_sendmsg)
{
	ktls_exit(fexit_int(ctx));
	return 0;
}

SEC("fentry/tls_sw_recvmsg")
int BPF_PROG(ktls_fentry_sw_recvmsg, struct sock *sk, struct msghdr *msg, size_t len, int flags)
{
	if (flags & TLSTAP_MSG_PEEK)
		return 0; /* the bytes are read again, without MSG_PEEK */
	ktls_enter_msg(sk, msg, TLSTAP_DIR_RX);
	return 0;
}

SEC("fexit/tls_sw_recvmsg")
int BPF_PROG(ktls_fexit_sw_recvmsg)
{
	ktls_exit(fexit_int(ctx));
	return 0;
}

SEC("fentry/tls_sw_sendpage")
int BPF_PROG(ktls_fentry_sw_sendpage, struct sock *sk, struct page *page, int offset)
{
	ktls_enter_page(sk, untyped(page), offset);
	return 0;
}

SEC("fexit/tls_sw_sendpage")
int BPF_PROG(ktls_fexit_sw_sendpage)
{
	ktls_exit(fexit_int(ctx));
	return 0;
}

SEC("fentry/tls_device_sendpage")
int BPF_PROG(ktls_fentry_device_sendpage, struct sock *sk, struct page *page, int offset)
{
	ktls_enter_page(sk, untyped(page), offset);
	return 0;
}

SEC("fexit/tls_device_sendpage")
int BPF_PROG(ktls_fexit_device_sendpage)
{
	ktls_exit(fexit_int(ctx));
	return 0;
}

SEC("fentry/tls_sw_splice_read")
int BPF_PROG(ktls_fentry_sw_splice_read, struct socket *sock, loff_t *ppos,
	     struct pipe_inode_info *pipe)
{
	ktls_enter_splice(sock, pipe);
	return 0;
}

SEC("fexit/tls_sw_splice_read")
int BPF_PROG(ktls_fexit_sw_splice_read)
{
	ktls_exit(fexit_long(ctx));
	return 0;
}

SEC("fentry/tls_sk_proto_close")
int BPF_PROG(ktls_fentry_sk_proto_close, struct sock *sk)
{
	conn_state_forget((__u64)sk);
	return 0;
}
