/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* From a file descriptor of the current task to its socket's addresses. */
#ifndef TLSTAP_BPF_SOCK_BPF_H_
#define TLSTAP_BPF_SOCK_BPF_H_

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "maps.bpf.h"

#define TLSTAP_AF_UNIX 1
#define TLSTAP_AF_INET 2
#define TLSTAP_AF_INET6 10
#define TLSTAP_S_IFMT 00170000
#define TLSTAP_S_IFSOCK 0140000

static __always_inline struct file *fd_to_file(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (fd < 0 || !fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

/* Fills everything but out->fd. */
static __always_inline void read_sock_addrs(struct sock *sk, struct sock_info *out)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(out->laddr, 0, sizeof(out->laddr));
	__builtin_memset(out->raddr, 0, sizeof(out->raddr));
	out->lport = 0;
	out->rport = 0;
	out->family = family;
	if (family == TLSTAP_AF_INET) {
		bpf_core_read(out->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(out->raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == TLSTAP_AF_INET6) {
		bpf_core_read(out->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(out->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		return;
	}
	out->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	out->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

/* The struct sock behind fd of the current task, or NULL if fd is no socket. */
static __always_inline struct sock *sock_from_fd(int fd)
{
	struct file *file = fd_to_file(fd);
	struct socket *sock;

	if (!file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & TLSTAP_S_IFMT) != TLSTAP_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

#endif /* TLSTAP_BPF_SOCK_BPF_H_ */
