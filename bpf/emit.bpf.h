/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sends a finished TLS call's plaintext to user space: every byte, in chunks
 * of at most TLSTAP_CHUNK_MAX, each ring record reserved at the smallest size
 * class that holds its chunk. Losses are counted per cause, never silent.
 */
#ifndef TLSTAP_BPF_EMIT_BPF_H_
#define TLSTAP_BPF_EMIT_BPF_H_

#include <bpf/bpf_core_read.h>
#include "maps.bpf.h"

static __always_inline __u64 ringbuf_wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= tlstap_cfg.wakeup_bytes ?
		       BPF_RB_FORCE_WAKEUP :
		       BPF_RB_NO_WAKEUP;
}

/*
 * bpf_ringbuf_reserve() needs a constant size, so each size class is its own
 * call site. Classes step by a quarter octave: at most 25 % of a record is
 * slack, and a 60-byte write takes a 64-byte slot, not 32 KiB.
 */
static __always_inline long emit_chunk_sized(struct emit_ctx *ctx, __u64 off, __u64 n,
					     const __u64 cap)
{
	struct tlstap_data_record *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e) + cap, 0);
	if (!e) {
		stat_add(TLSTAP_STAT_LOST_RINGBUF_BYTES, ctx->hdr.call_len - ctx->seg_off - off);
		stat_add(TLSTAP_STAT_LOST_RINGBUF_CALLS, 1);
		ctx->stopped = 1;
		return 1; /* stop: the rest of the call cannot fit either */
	}
	__builtin_memcpy(&e->hdr, &ctx->hdr, sizeof(e->hdr));
	e->hdr.call_offset = ctx->seg_off + off;
	e->hdr.data_len = n;
	barrier_var(n);
	if (n > cap)
		n = cap;
	if (ctx->kernel ? bpf_probe_read_kernel(e + 1, n, (const void *)(ctx->buf + off)) :
			  bpf_probe_read_user(e + 1, n, (const void *)(ctx->buf + off))) {
		bpf_ringbuf_discard(e, 0);
		stat_add(TLSTAP_STAT_LOST_FAULT_BYTES, n);
		stat_add(TLSTAP_STAT_LOST_FAULT_RECORDS, 1);
		return 0; /* the next chunk may be readable */
	}
	/*
	 * The thread's name: here, not in the header on the caller's stack,
	 * which 6.1 counts; and after the copy, not between the bound on n
	 * and the copy, where the call made clang keep n on the stack and 6.1
	 * read it back without its bound (R1 min value is outside of the
	 * allowed memory range).
	 */
	bpf_get_current_comm(e->thread, sizeof(e->thread));
	bpf_ringbuf_submit(e, ringbuf_wakeup_flag());
	return 0;
}

#define EMIT_CLASS(cap) \
	if (n <= (cap)) \
		return emit_chunk_sized(ctx, off, n, (cap));
#define EMIT_OCTAVE(base)                   \
	EMIT_CLASS((base) + (base) / 4)     \
	EMIT_CLASS((base) + (base) / 2)     \
	EMIT_CLASS((base) + 3 * (base) / 4) \
	EMIT_CLASS(2 * (base))

static __always_inline long emit_chunk(__u32 i, struct emit_ctx *ctx)
{
	__u64 off = (__u64)i * TLSTAP_CHUNK_MAX;
	__u64 left, n; /* 64-bit: a 32-bit copy would lose the verifier's bounds */

	if (off >= ctx->seg_len)
		return 1;
	left = ctx->seg_len - off;
	n = left > TLSTAP_CHUNK_MAX ? TLSTAP_CHUNK_MAX : left;

	EMIT_CLASS(16)
	EMIT_CLASS(32)
	EMIT_CLASS(48)
	EMIT_CLASS(64)
	EMIT_OCTAVE(64)
	EMIT_OCTAVE(128)
	EMIT_OCTAVE(256)
	EMIT_OCTAVE(512)
	EMIT_OCTAVE(1024)
	EMIT_OCTAVE(2048)
	EMIT_OCTAVE(4096)
	EMIT_OCTAVE(8192)
	EMIT_OCTAVE(16384) /* ends at 32 KiB == TLSTAP_CHUNK_MAX */
	return 1;
}

/*
 * The calling thread's emit context. The loop callbacks look it up rather
 * than take it as bpf_loop's context: that must point at the stack, and
 * emit_thread_call (a global function) has the context in map memory.
 */
static __always_inline struct emit_ctx *thread_emit_ctx(void)
{
	struct thread_calls *t = thread_calls_get(false);

	return t ? &t->emit : NULL;
}

/*
 * Chunk i of the thread's current segment. Global like emit_thread_call,
 * and for the same reason: its 52 size classes are checked once, not at
 * each of the places a segment is sent from.
 */
int emit_thread_chunk(__u32 i);

#ifdef TLSTAP_DEFINE_EMIT
__noinline int emit_thread_chunk(__u32 i)
{
	struct emit_ctx *ctx = thread_emit_ctx();

	return ctx ? emit_chunk(i, ctx) : 1;
}
#endif

static long emit_chunk_cb(__u32 i, void *unused)
{
	return emit_thread_chunk(i) ? 1 : 0; /* a callback returns 0 or 1 */
}

/* bpf_loop's ceiling; bytes beyond it (256 GiB into a call) are counted lost. */
#define TLSTAP_MAX_CHUNKS (1 << 23)

static __always_inline void emit_segment(struct emit_ctx *ctx)
{
	__u64 chunks = (ctx->seg_len + TLSTAP_CHUNK_MAX - 1) / TLSTAP_CHUNK_MAX;

	if (chunks == 1) {
		emit_thread_chunk(0); /* most calls: no loop helper */
		return;
	}
	if (chunks > TLSTAP_MAX_CHUNKS) {
		stat_add(TLSTAP_STAT_LOST_CHUNK_LIMIT_BYTES,
			 ctx->seg_len - (__u64)TLSTAP_MAX_CHUNKS * TLSTAP_CHUNK_MAX);
		chunks = TLSTAP_MAX_CHUNKS;
	}
	bpf_loop(chunks, emit_chunk_cb, NULL, 0);
}

/* NSPR's PRIOVec (prio.h): { char *iov_base; int iov_len; } */
struct pr_iovec {
	__u64 base;
	__s32 len;
	__s32 pad;
};

/* The kernel's struct iovec: { void __user *iov_base; size_t iov_len; } */
struct kernel_iovec {
	__u64 base;
	__u64 len;
};

/* NSPR refuses more (PR_MAX_IOVECTOR_SIZE) */
#define TLSTAP_MAX_IOV 16
/* The kernel refuses more (UIO_MAXIOV) */
#define TLSTAP_MAX_KERNEL_IOV 1024

/*
 * The kernel's direct-map address of a struct page (x86-64: every page is
 * mapped at page_offset_base + pfn * 4096; both bases move with KASLR, so
 * user space passes where the kernel keeps them). 0 when not known.
 */
static __always_inline __u64 page_address(__u64 page)
{
#if defined(__TARGET_ARCH_x86)
	__u64 vmemmap = 0, direct_map = 0;

	if (!tlstap_cfg.vmemmap_base_sym || !tlstap_cfg.page_offset_base_sym)
		return 0;
	if (bpf_probe_read_kernel(&vmemmap, sizeof(vmemmap), (void *)tlstap_cfg.vmemmap_base_sym) ||
	    bpf_probe_read_kernel(&direct_map, sizeof(direct_map),
				  (void *)tlstap_cfg.page_offset_base_sym) ||
	    page < vmemmap)
		return 0;
	return direct_map + (page - vmemmap) / bpf_core_type_size(struct page) * 4096;
#else
	return 0;
#endif
}

/* A vector entry cannot be read: the rest of the call is counted lost. */
static __always_inline long lose_rest_of_call(struct emit_ctx *ctx)
{
	stat_add(TLSTAP_STAT_LOST_FAULT_BYTES, ctx->hdr.call_len - ctx->seg_off);
	stat_add(TLSTAP_STAT_LOST_FAULT_RECORDS, 1);
	return 1;
}

/* Emits len bytes at ctx->buf, the next segment of the call (cut at its end). */
static __always_inline long emit_vector_segment(struct emit_ctx *ctx, __u64 len)
{
	__u64 left = ctx->hdr.call_len - ctx->seg_off;

	ctx->seg_len = len < left ? len : left;
	if (!ctx->seg_len)
		return 0;
	/* always the loop: a direct call here multiplies the verifier's paths */
	bpf_loop((ctx->seg_len + TLSTAP_CHUNK_MAX - 1) / TLSTAP_CHUNK_MAX, emit_chunk_cb, NULL, 0);
	ctx->seg_off += ctx->seg_len;
	return 0;
}

/*
 * Sends the call the thread's emit context describes (its header and
 * source filled in by the probe). A global function, defined once in
 * emit.bpf.c: the verifier checks it on its own, once per program, instead
 * of once for every path of the probe that leads to it; this made loading
 * several times faster, on every kernel.
 */
int emit_thread_call(void);

#ifdef TLSTAP_DEFINE_EMIT
/* One PRIOVec entry of a PR_Writev call. */
static long emit_nspr_iov_entry(__u32 i, void *unused)
{
	struct emit_ctx *ctx = thread_emit_ctx();
	struct pr_iovec v;

	if (!ctx || i >= ctx->src.count || ctx->stopped || ctx->seg_off >= ctx->hdr.call_len)
		return 1;
	if (bpf_probe_read_user(&v, sizeof(v), (const void *)(ctx->src.buf + i * sizeof(v))))
		return lose_rest_of_call(ctx);
	if (v.len <= 0)
		return 0;
	ctx->buf = v.base;
	return emit_vector_segment(ctx, (__u64)v.len);
}

/*
 * One entry of a kernel iov_iter's vector (struct iovec of process buffers,
 * or struct bio_vec of pages) or of a pipe's ring (struct pipe_buffer). The
 * iterator's position inside its first entry (src.skip) is skipped once.
 */
static long emit_kernel_vector_entry(__u32 i, void *unused)
{
	struct emit_ctx *ctx = thread_emit_ctx();
	__u64 len, skip;

	if (!ctx || i >= ctx->src.count || ctx->stopped || ctx->seg_off >= ctx->hdr.call_len)
		return 1;
	if (ctx->src.segs == EMIT_KERNEL_IOV) {
		struct kernel_iovec v;

		if (bpf_probe_read_kernel(&v, sizeof(v),
					  (const void *)(ctx->src.buf + i * sizeof(v))))
			return lose_rest_of_call(ctx);
		ctx->buf = v.base;
		len = v.len;
		ctx->kernel = 0;
	} else {
		/* a page: a bio_vec's (sendfile) or a pipe buffer's (splice) */
		struct page *page;
		__u64 base, offset;

		if (ctx->src.segs == EMIT_KERNEL_PIPE) {
			struct pipe_buffer *pb = (struct pipe_buffer *)ctx->src.buf +
						 ((ctx->src.ring_first + i) & ctx->src.ring_mask);

			page = BPF_CORE_READ(pb, page);
			offset = BPF_CORE_READ(pb, offset);
			len = BPF_CORE_READ(pb, len);
		} else {
			struct bio_vec *bv = (struct bio_vec *)ctx->src.buf + i;

			page = BPF_CORE_READ(bv, bv_page);
			offset = BPF_CORE_READ(bv, bv_offset);
			len = BPF_CORE_READ(bv, bv_len);
		}
		base = page_address((__u64)page);
		if (!base)
			return lose_rest_of_call(ctx);
		ctx->buf = base + offset;
		ctx->kernel = 1;
	}
	skip = ctx->src.skip < len ? ctx->src.skip : len;
	ctx->src.skip = 0;
	ctx->buf += skip;
	return emit_vector_segment(ctx, len - skip);
}

/* global (not static): the point of it */
__noinline int emit_thread_call(void)
{
	struct emit_ctx *ctx = thread_emit_ctx();
	struct tlstap_stats *s = stats_get();

	if (!ctx)
		return 0;
	if (s) {
		s->v[TLSTAP_STAT_CALLS] += 1;
		s->v[TLSTAP_STAT_CALL_BYTES] += ctx->hdr.call_len;
	}
	ctx->seg_off = 0;
	ctx->stopped = 0;
	if (ctx->src.segs == EMIT_BUFFER || ctx->src.segs == EMIT_KERNEL_BUFFER) {
		ctx->buf = ctx->src.buf;
		ctx->kernel = ctx->src.segs == EMIT_KERNEL_BUFFER;
		ctx->seg_len = ctx->hdr.call_len;
		emit_segment(ctx);
		return 0;
	}
	if (ctx->src.segs == EMIT_NSPR_IOV)
		bpf_loop(TLSTAP_MAX_IOV, emit_nspr_iov_entry, NULL, 0);
	else
		bpf_loop(TLSTAP_MAX_KERNEL_IOV, emit_kernel_vector_entry, NULL, 0);
	return 0;
}
#endif /* TLSTAP_DEFINE_EMIT */

#endif /* TLSTAP_BPF_EMIT_BPF_H_ */
