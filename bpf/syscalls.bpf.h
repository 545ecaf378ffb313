/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The syscall the current task is in, from its saved user registers:
 * numbers the hooks care about, per architecture, and how to read them.
 */
#ifndef TLSTAP_BPF_SYSCALLS_BPF_H_
#define TLSTAP_BPF_SYSCALLS_BPF_H_

#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_mmap 9
#define NR_readv 19
#define NR_writev 20
#define NR_sendfile 40
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_splice 275
#define NR_recvmmsg 299
#define NR_sendmmsg 307
#elif defined(__TARGET_ARCH_arm64)
#define NR_read 63
#define NR_write 64
#define NR_readv 65
#define NR_writev 66
#define NR_sendfile 71
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define NR_mmap 222
#define NR_splice 76
#define NR_recvmmsg 243
#define NR_sendmmsg 269
#else
#error "tlstap: syscall numbers for this architecture are missing"
#endif

#define TLSTAP_PROT_EXEC 0x4
#define TLSTAP_MAP_TYPE 0x0f
#define TLSTAP_MAP_PRIVATE 0x02

/* The registers the current task entered the kernel with. */
static __always_inline struct pt_regs *current_user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* The number of the syscall in progress (meaningless outside one). */
static __always_inline long syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return regs->orig_ax;
#else
	return regs->syscallno;
#endif
}

/* Syscalls whose first argument is the socket they read or write (sendfile: out_fd). */
static __always_inline bool is_socket_io_syscall(long nr)
{
	switch (nr) {
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
	case NR_sendfile:
		return true;
	default:
		return false;
	}
}

/* Socket I/O syscalls that send. */
static __always_inline bool is_send_syscall(long nr)
{
	switch (nr) {
	case NR_write:
	case NR_writev:
	case NR_sendto:
	case NR_sendmsg:
	case NR_sendmmsg:
	case NR_sendfile:
		return true;
	default:
		return false;
	}
}

/* The fd the current syscall reads or writes, if it is one that names it. */
static __always_inline int current_socket_fd(void)
{
	struct pt_regs *regs = current_user_regs();

	if (!is_socket_io_syscall(syscall_nr(regs)))
		return -1; /* io_uring, splice, ... */
	return (int)PT_REGS_PARM1_SYSCALL(regs);
}

#endif /* TLSTAP_BPF_SYSCALLS_BPF_H_ */
