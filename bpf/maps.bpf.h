/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps and configuration shared by every hook family. Exactly one object
 * (maps.bpf.c) defines TLSTAP_DEFINE_MAPS; the others see extern
 * declarations that the BPF static linker resolves to those definitions.
 */
#ifndef TLSTAP_BPF_MAPS_BPF_H_
#define TLSTAP_BPF_MAPS_BPF_H_

#include "tlstap.h"

#ifdef TLSTAP_DEFINE_MAPS
#define TLSTAP_MAP
#else
#define TLSTAP_MAP extern
#endif

/* Where a socket fd leads: filled from the kernel socket with CO-RE reads. */
struct sock_info {
	__s32 fd; /* -1 when not known */
	__u8 family;
	__u8 pad[3];
	__u16 lport;
	__u16 rport;
	__u8 laddr[16];
	__u8 raddr[16];
};

/*
 * Where a call's plaintext lies: one buffer, or a vector of buffers whose
 * entries are read one by one, each a segment of the call.
 */
enum emit_segs {
	EMIT_BUFFER = 0, /* one buffer in the traced process */
	EMIT_KERNEL_BUFFER, /* one buffer in kernel memory (kTLS sendpage's page) */
	EMIT_NSPR_IOV, /* NSPR PRIOVec array in the process (PR_Writev) */
	EMIT_KERNEL_IOV, /* kernel struct iovec array of process buffers (kTLS) */
	EMIT_KERNEL_BVEC, /* kernel struct bio_vec array of pages (kTLS sendfile/splice) */
	EMIT_KERNEL_PIPE, /* a pipe's ring of struct pipe_buffer (kTLS splice out of a socket) */
	EMIT_UNREADABLE, /* nowhere tlstap can read: the call's bytes are counted lost */
};

/* The source of a call's bytes, as its hook found it. */
struct emit_src {
	__u64 buf; /* EMIT_BUFFER, EMIT_KERNEL_BUFFER: the bytes; else the vector */
	__u64 skip; /* bytes of the first entry already consumed (iov_iter.iov_offset) */
	__u32 count; /* entries in the vector */
	/* EMIT_KERNEL_PIPE: the first slot of the ring to read and the ring size - 1 */
	__u32 ring_first;
	__u32 ring_mask;
	__u8 segs; /* enum emit_segs */
	__u8 pad[3];
};

/* A finished call's plaintext on its way out (emit.bpf.h). */
struct emit_ctx {
	struct tlstap_data_event hdr;
	__u64 buf; /* address of the current segment */
	__u64 seg_off;
	__u64 seg_len;
	struct emit_src src;
	__u32 stopped; /* the ring is full: the rest of the call is counted lost */
	__u32 kernel; /* the current segment is kernel memory */
};

/* TLS calls nested on one thread that are tracked (a power of two) */
#define TLSTAP_MAX_FRAMES 4

/* One TLS call in progress, from its entry to its return. */
struct call_frame {
	__u64 conn; /* the library's session pointer (SSL*, ...) */
	__u64 buf; /* plaintext buffer in the traced process */
	__u64 len_out; /* *_ex calls: where the byte count is written; else 0 */
	__u32 iov_count; /* buf is an NSPR PRIOVec array of this many entries (PR_Writev); else 0 */
	__u8 ktls; /* the kernel's TLS layer (kTLS) carried the call's bytes */
	__u8 pad[3];
	__u64 entry_sp; /* stack pointer at entry: tells nesting from leftovers */
	__u64 sk; /* struct sock * of the first socket I/O inside the call */
	__s32 fd; /* that I/O's fd, if it came from a syscall naming it; else -1 */
	__u8 dir;
	__u8 lib;
	/* calls inside this one still to return: wrappers of it (same session,
	 * buffer and direction: this frame reports them), and calls beyond
	 * TLSTAP_MAX_FRAMES (counted lost) */
	__u8 wrapped;
	__u8 untracked;
};

/*
 * The TLS calls in progress on one thread, innermost last. A call made from
 * inside another (node writes from a callback run inside SSL_read) is a
 * frame of its own and reported on its own.
 */
struct thread_calls {
	struct call_frame frames[TLSTAP_MAX_FRAMES];
	__u32 depth; /* frames in use */
	/*
	 * Between calls: the socket this thread last read or wrote, and the
	 * session of its last write that made no socket I/O (its ciphertext
	 * goes out after it returns): for sessions behind a custom BIO.
	 */
	__s32 recent_fd;
	__u64 recent_sk;
	__u64 pending_conn;
	/* The kTLS call in progress (tls_sw_sendmsg, ...), from entry to return. */
	struct ktls_call {
		__u64 sk; /* struct sock * the call was handed */
		struct emit_src src; /* where its bytes lie: the iov_iter at entry */
		__u64 control; /* recvmsg: the program's control buffer (its record type lands there) */
		__u64 controllen; /* its length at entry */
		__u8 dir;
		__u8 active;
		__u8 pad[6];
	} ktls;
	/*
	 * A library call's return builds its event's socket and source here, not
	 * on its stack: that probe's frame, the emitter's loop callbacks and the
	 * key reader share 512 bytes of stack, which 6.1's verifier counts
	 * without overlap.
	 */
	struct sock_info exit_sock;
	struct emit_src exit_src;
	/*
	 * The BoringSSL SSL_do_handshake in progress (0: none), with its
	 * file's key slot; and the client random whose handshake secrets this
	 * thread sent last (keys.bpf.h ssl_handshake_keys_send).
	 */
	__u64 handshake_ssl;
	__u32 handshake_file;
	__u8 handshake_lib;
	__u8 handshake_pad[3];
	__u64 handshake_random[4];
	/* The call being sent: built by a probe, read by emit_thread_call. */
	struct emit_ctx emit;
};

struct conn_key {
	__u32 tgid;
	__u32 pad;
	__u64 conn;
};

/* What tlstap remembers of a TLS session between calls. */
struct conn_state {
	__u64 conn_id;
	__u64 pos[2]; /* bytes seen so far, tx and rx */
	__u64 sk; /* the session's socket, 0 until one is seen; sock describes it */
	__u32 inferred; /* sk came from the thread's I/O next to a call (TLSTAP_F_FD_THREAD) */
	struct sock_info sock;
	__u64 client_random[4]; /* of the session whose secrets were sent; 0 if none */
};

struct file_key {
	__u64 dev;
	__u64 ino;
};

TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized from user space */
} events SEC(".maps");

TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tlstap_stats);
} stats SEC(".maps");

/*
 * thread -> the TLS calls it is inside. Task-local storage: no hashing or
 * bucket lock on the per-call path, and the kernel frees it with the thread,
 * so a thread killed inside SSL_read leaves nothing behind.
 */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_calls);
} active_calls SEC(".maps");

static __always_inline struct thread_calls *thread_calls_get(bool create)
{
	return bpf_task_storage_get(&active_calls, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/*
 * The innermost call in progress, or NULL. (The barrier keeps callers'
 * NULL checks on the pointer: merged into a second depth comparison, they
 * are more than the 6.1 verifier can follow.)
 */
static __always_inline struct call_frame *top_frame(struct thread_calls *t)
{
	struct call_frame *f = NULL;

	if (t->depth && t->depth <= TLSTAP_MAX_FRAMES)
		f = &t->frames[(t->depth - 1) & (TLSTAP_MAX_FRAMES - 1)];
	barrier_var(f);
	return f;
}

/* (process, session pointer) -> session state; LRU bounds what is forgotten */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_state);
} conns SEC(".maps");

/*
 * process -> how many of its sessions conns holds, so its exit walks conns
 * (a whole-map iteration, ~250 us at 64 Ki entries) only when it must
 */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} procs_with_conns SEC(".maps");

/*
 * A Go crypto/tls call in progress. Go moves goroutines between threads
 * (one may park inside Write and resume elsewhere, and the thread runs
 * other goroutines meanwhile), so calls are keyed by goroutine, not thread.
 */
struct go_call_key {
	__u32 tgid;
	__u32 pad;
	__u64 g; /* the goroutine's runtime.g, which Go keeps in R14 */
};

struct go_call {
	__u64 conn; /* *tls.Conn */
	__u64 buf; /* the []byte's data */
	__u8 dir;
	__u8 lib;
	__u8 pad[6];
};

/* LRU: a goroutine that panics out of a call never reaches a return probe */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_call_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");
/* What tlstap learned of one process's NSS: which NSPR layer is SSL. */
struct nss_proc {
	__s32 ssl_identity; /* the SSL layer's PRDescIdentity; 0 until known */
	__u32 not_ssl; /* bit i: layer identity i is known not to be SSL */
};

/* process -> its NSS SSL layer identity; removed at exit and exec */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct nss_proc);
} nss_procs SEC(".maps");

/* NSS libssl3 files (kernel dev encoding, inode), filled by user space */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct file_key);
	__type(value, __u8);
} nss_ssl_files SEC(".maps");

/* OpenSSL files' secret offsets, indexed by TLSTAP_COOKIE_KEY_FILE; filled by user space */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TLSTAP_MAX_KEY_FILES);
	__type(key, __u32);
	__type(value, struct tlstap_ssl_offsets);
} ssl_key_offsets SEC(".maps");

/* --pid filter */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} target_pids SEC(".maps");

/* --comm filter: command names, zero-padded to TLSTAP_COMM_LEN */
struct comm_key {
	char name[TLSTAP_COMM_LEN];
};

TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TLSTAP_MAX_COMMS);
	__type(key, struct comm_key);
	__type(value, __u8);
} target_comms SEC(".maps");

/* files already reported as mapped executable */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct file_key);
	__type(value, __u8);
} seen_files SEC(".maps");

/* --hold-new: processes stopped until their new file is attached: tgid -> ktime */
TLSTAP_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} held_pids SEC(".maps");

#ifdef TLSTAP_DEFINE_MAPS
const volatile struct tlstap_config tlstap_cfg = {};
__u64 next_conn_id = 0;
#else
extern const volatile struct tlstap_config tlstap_cfg;
extern __u64 next_conn_id;
#endif

static __always_inline struct tlstap_stats *stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

static __always_inline void stat_add(__u32 slot, __u64 n)
{
	struct tlstap_stats *s = stats_get();

	if (s && slot < TLSTAP_STAT_COUNT)
		s->v[slot] += n;
}

/* The in-kernel filters: --pid, --uid, --comm, and never tlstap itself. */
static __always_inline bool should_trace(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;

	if (tgid == tlstap_cfg.self_tgid)
		return false;
	if (tlstap_cfg.filter_pids && !bpf_map_lookup_elem(&target_pids, &tgid))
		return false;
	if (tlstap_cfg.filter_uid && (__u32)bpf_get_current_uid_gid() != tlstap_cfg.uid)
		return false;
	if (tlstap_cfg.filter_comm) {
		struct task_struct *task = bpf_get_current_task_btf();
		struct comm_key comm = {};

		/*
		 * The process's name (its thread-group leader's), as ps -o comm
		 * shows it, never the thread's own (prctl PR_SET_NAME: NSS's
		 * "Socket Thread", a runtime's workers). Zero-padded, as the keys.
		 */
		bpf_probe_read_kernel_str(comm.name, sizeof(comm.name), task->group_leader->comm);
		if (!bpf_map_lookup_elem(&target_comms, &comm))
			return false;
	}
	return true;
}

#endif /* TLSTAP_BPF_MAPS_BPF_H_ */
