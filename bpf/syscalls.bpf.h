/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Syscall numbers the sys_enter hook cares about, per architecture. */
#ifndef TLSTAP_BPF_SYSCALLS_BPF_H_
#define TLSTAP_BPF_SYSCALLS_BPF_H_

#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_mmap 9
#define NR_readv 19
#define NR_writev 20
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_recvmmsg 299
#define NR_sendmmsg 307
#elif defined(__TARGET_ARCH_arm64)
#define NR_read 63
#define NR_write 64
#define NR_readv 65
#define NR_writev 66
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define NR_mmap 222
#define NR_recvmmsg 243
#define NR_sendmmsg 269
#else
#error "tlstap: syscall numbers for this architecture are missing"
#endif

#define TLSTAP_PROT_EXEC 0x4

#endif /* TLSTAP_BPF_SYSCALLS_BPF_H_ */
