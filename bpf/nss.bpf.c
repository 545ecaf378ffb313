// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * NSS plaintext, at NSPR's I/O entry points: PR_Write, PR_Writev, PR_Send,
 * PR_Read, PR_Recv (libnspr4). They serve every NSPR descriptor, files and
 * pipes too, so a call is traced only when the descriptor's layer stack
 * holds NSS's SSL layer: SSL_ImportFD pushes it with PR_PushIOLayer, which
 * keeps the program's PRFileDesc* on top of the stack.
 *
 * The SSL layer's identity is a number NSPR hands out at run time
 * (PR_GetUniqueIdentity("SSL")), learned per process: from SSL_ImportFD's
 * return, or, for a process whose SSL sockets predate tlstap, from the
 * first layer whose write method lies in a libssl3 file (bpf_find_vma).
 * PR_Close ends a session.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "calls.bpf.h"

/* NSPR's PRFileDesc (prio.h), unchanged since NSPR 4.0 */
struct pr_file_desc {
	__u64 methods; /* const PRIOMethods * */
	__u64 secret;
	__u64 lower;
	__u64 higher;
	__u64 dtor;
	__s32 identity; /* PRDescIdentity; 0 is NSPR's own bottom layer */
	__s32 pad;
};

/* PRIOMethods: { PRDescType file_type; close; read; write; ... } */
#define PR_IO_METHODS_WRITE 24
/* PR_Recv's PR_MSG_PEEK: the bytes stay to be read again */
#define PR_MSG_PEEK 0x2
/* layers looked at below the program's descriptor */
#define NSS_MAX_LAYERS 4

struct vma_probe {
	bool in_libssl3;
};

static long vma_in_libssl3(struct task_struct *task, struct vm_area_struct *vma,
			   struct vma_probe *probe)
{
	struct file_key key = {};
	struct inode *inode;

	if (!vma->vm_file)
		return 0;
	inode = BPF_CORE_READ(vma, vm_file, f_inode);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	probe->in_libssl3 = bpf_map_lookup_elem(&nss_ssl_files, &key) != NULL;
	return 0;
}

/*
 * Whether a layer whose identity is not known yet is NSS's SSL layer: its
 * write method is code in libssl3. Learns the answer for the process.
 */
static __always_inline bool layer_is_ssl(__u32 tgid, struct nss_proc *p, struct pr_file_desc *d)
{
	struct nss_proc learned = {};
	struct vma_probe probe = {};
	__u64 write = 0;
	__u32 bit = d->identity < 32 ? 1u << d->identity : 0;

	if (p && (p->not_ssl & bit))
		return false;
	if (bpf_probe_read_user(&write, sizeof(write),
				(const void *)(d->methods + PR_IO_METHODS_WRITE)) ||
	    !write)
		return false;
	if (bpf_find_vma(bpf_get_current_task_btf(), write, vma_in_libssl3, &probe, 0)) {
		stat_add(TLSTAP_STAT_LOST_NSS_UNCHECKED_CALLS, 1);
		return false; /* busy: ask again at the next call */
	}
	if (probe.in_libssl3) {
		learned.ssl_identity = d->identity;
		bpf_map_update_elem(&nss_procs, &tgid, &learned, BPF_ANY);
		return true;
	}
	if (!bit)
		return false;
	if (p) {
		p->not_ssl |= bit; /* a cache: a lost race costs one more check */
	} else {
		learned.not_ssl = bit;
		bpf_map_update_elem(&nss_procs, &tgid, &learned, BPF_NOEXIST);
	}
	return false;
}

/* Whether the descriptor a program passed to NSPR carries NSS's SSL layer. */
static __always_inline bool nss_is_ssl(__u64 fd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct pr_file_desc d;
	struct nss_proc *p;

	if (!should_trace(pid_tgid))
		return false;
	p = bpf_map_lookup_elem(&nss_procs, &tgid);
	for (int i = 0; i < NSS_MAX_LAYERS && fd; i++) {
		if (bpf_probe_read_user(&d, sizeof(d), (const void *)fd))
			return false;
		/* a layer above SSL's (a program's own) passes the bytes down */
		if (d.identity > 0) {
			if (p && p->ssl_identity) {
				if (d.identity == p->ssl_identity)
					return true;
			} else if (layer_is_ssl(tgid, p, &d)) {
				return true;
			}
		}
		fd = d.lower;
	}
	return false;
}

SEC("uprobe")
int BPF_KPROBE(nspr_write_enter, void *fd, const void *buf, int amount)
{
	if (!nss_is_ssl((__u64)fd))
		return 0;
	return tls_call_enter(ctx, (__u64)fd, (__u64)buf, 0, TLSTAP_DIR_TX);
}

SEC("uprobe")
int BPF_KPROBE(nspr_writev_enter, void *fd, const void *iov, int iov_size)
{
	if (iov_size <= 0 || !nss_is_ssl((__u64)fd))
		return 0;
	return tls_call_enter_iov(ctx, (__u64)fd, (__u64)iov, 0, TLSTAP_DIR_TX, iov_size);
}

SEC("uprobe")
int BPF_KPROBE(nspr_read_enter, void *fd, void *buf, int amount)
{
	if (!nss_is_ssl((__u64)fd))
		return 0;
	return tls_call_enter(ctx, (__u64)fd, (__u64)buf, 0, TLSTAP_DIR_RX);
}

/* PR_Send(fd, buf, amount, flags, timeout): PR_Write's arguments come first */
SEC("uprobe")
int BPF_KPROBE(nspr_recv_enter, void *fd, void *buf, int amount, int flags)
{
	if ((flags & PR_MSG_PEEK) || !nss_is_ssl((__u64)fd))
		return 0;
	return tls_call_enter(ctx, (__u64)fd, (__u64)buf, 0, TLSTAP_DIR_RX);
}

/*
 * Every PR_* call returns here, traced or not: only the return of the call
 * that pushed the innermost frame ends it. A call on a plain descriptor made
 * inside a traced one returns deeper in the stack than that frame's entry.
 */
SEC("uretprobe")
int BPF_KRETPROBE(nspr_call_exit, int ret)
{
	struct thread_calls *t = thread_calls_get(false);
	struct call_frame *f = t ? top_frame(t) : NULL;

	if (!f || PT_REGS_SP(ctx) < f->entry_sp)
		return 0;
	return tls_call_exit(ret, 0);
}

SEC("uprobe")
int BPF_KPROBE(nspr_close_enter, void *fd)
{
	conn_state_forget((__u64)fd);
	return 0;
}

/* SSL_ImportFD(model, fd) returns fd with the SSL layer on top: its identity. */
SEC("uretprobe")
int BPF_KRETPROBE(nss_import_fd_exit, void *fd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct nss_proc learned = {};
	struct pr_file_desc d;

	if (!fd || !should_trace(pid_tgid))
		return 0;
	if (bpf_probe_read_user(&d, sizeof(d), fd) || d.identity <= 0)
		return 0;
	learned.ssl_identity = d.identity;
	bpf_map_update_elem(&nss_procs, &tgid, &learned, BPF_ANY);
	return 0;
}
