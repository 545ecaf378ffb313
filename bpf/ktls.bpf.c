// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Kernel TLS (kTLS): plaintext that programs hand to the kernel's TLS layer
 * (setsockopt SOL_TLS) is read where it crosses it, on the tls module's
 * functions. tlstap hooks them once the module is loaded: with fentry/fexit
 * (ktls_fentry.bpf.c) where the kernel allows, else with the kprobes here.
 *
 *  - tls_sw_sendmsg / tls_device_sendmsg: write, send, sendmsg (and, 6.5+,
 *    sendfile and splice, as pages); the bytes are the program's, read at
 *    the return from the msghdr's iov_iter as it was at entry.
 *  - tls_sw_sendpage / tls_device_sendpage (before 6.5): sendfile's pages,
 *    read through the direct map at the return.
 *  - tls_sw_recvmsg: read, recv, recvmsg; the decrypted bytes, in the
 *    program's buffers by the return.
 *  - tls_sw_splice_read: splice from the socket into a pipe; the decrypted
 *    bytes are in the pipe buffers the call added, read through the direct
 *    map at the return.
 *
 * A library call (SSL_write on a kTLS socket) already reports its bytes:
 * the kernel call inside it only marks that event (TLSTAP_F_KTLS), so every
 * byte is reported once.
 */
#include "vmlinux.h"
#include "ktls.bpf.h"

SEC("kprobe")
int BPF_KPROBE(ktls_sendmsg_enter, struct sock *sk, struct msghdr *msg)
{
	ktls_enter_msg(sk, msg, TLSTAP_DIR_TX);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(ktls_recvmsg_enter, struct sock *sk, struct msghdr *msg, size_t len, int flags)
{
	if (flags & TLSTAP_MSG_PEEK)
		return 0; /* the bytes are read again, without MSG_PEEK */
	ktls_enter_msg(sk, msg, TLSTAP_DIR_RX);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(ktls_sendpage_enter, struct sock *sk, struct page *page, int offset)
{
	ktls_enter_page(sk, page, offset);
	return 0;
}

/*
 * One return program for every kTLS call that returns an int (all but
 * splice): the entry recorded what it was. An int, not a long: the upper
 * half of the register is not the function's (-EAGAIN would read as 4 GiB).
 */
SEC("kretprobe")
int BPF_KRETPROBE(ktls_call_exit, int ret)
{
	ktls_exit(ret);
	return 0;
}

/* tls_sw_splice_read returns a ssize_t. */
SEC("kretprobe")
int BPF_KRETPROBE(ktls_splice_read_exit, long ret)
{
	ktls_exit(ret);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(ktls_splice_read_enter, struct socket *sock, loff_t *ppos,
	       struct pipe_inode_info *pipe)
{
	ktls_enter_splice(sock, pipe);
	return 0;
}

/* The socket is closing: a later socket at the same address starts afresh. */
SEC("kprobe")
int BPF_KPROBE(ktls_close_enter, struct sock *sk)
{
	conn_state_forget((__u64)sk);
	return 0;
}
