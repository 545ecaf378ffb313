// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Packets for -w FILE.pcapng: TC programs on the chosen interfaces copy each
 * IPv4/IPv6 TCP packet (after the --port filter) whole into the packets
 * ring, with the time, interface, direction and socket cookie. They never
 * change or drop a packet: every path returns TLSTAP_TC_NEXT. Which
 * packets belong to traced processes is decided in user space, from the
 * connections the TLS probes report.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.bpf.h"

/*
 * TCX_NEXT with tcx links; TC_ACT_UNSPEC (the same -1) with cls_bpf in
 * direct-action mode: either way the next program runs and the packet goes
 * on as if tlstap were not there.
 */
#define TLSTAP_TC_NEXT (-1)

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_NUM 6

/* A separate ring: a flood of packets cannot starve the TLS events. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized from user space */
} packets SEC(".maps");

/* ifindex -> where its IP header starts; filled for the chosen interfaces */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct tlstap_iface);
} capture_ifaces SEC(".maps");

/* --port: TCP ports (host byte order) whose packets are copied, either end */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u8);
} capture_ports SEC(".maps");

struct packet_scratch {
	struct tlstap_packet_event hdr;
	__u8 data[TLSTAP_PACKET_MAX];
};

/*
 * Built here, then copied into the ring at its used size (reserve needs a
 * constant size). One slot per CPU, indexed by CPU: a per-CPU array's values
 * are limited to 32 KiB. TC programs run with bottom halves off, one at a
 * time per CPU, so the CPU's slot is not shared.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* resized from user space: possible CPUs */
	__type(key, __u32);
	__type(value, struct packet_scratch);
} packet_scratch SEC(".maps");

/* Like the events ring: the reader polls; woken only when the ring fills. */
static __always_inline __u64 packets_wakeup_flag(void)
{
	return bpf_ringbuf_query(&packets, BPF_RB_AVAIL_DATA) >= tlstap_cfg.wakeup_bytes ?
		       BPF_RB_FORCE_WAKEUP :
		       BPF_RB_NO_WAKEUP;
}

/* The TCP ports of the packet, or false when it is not IPv4/IPv6 TCP. */
static __always_inline bool tcp_ports(struct __sk_buff *skb, __u32 l3, __u16 *sport, __u16 *dport)
{
	__u32 tcp_off;
	__u16 ports[2];
	__u8 byte0;

	if (bpf_skb_load_bytes(skb, l3, &byte0, 1))
		return false;
	if (byte0 >> 4 == 4) {
		__u8 proto;

		if (bpf_skb_load_bytes(skb, l3 + 9, &proto, 1) || proto != IPPROTO_TCP_NUM)
			return false;
		tcp_off = l3 + (byte0 & 0xf) * 4;
	} else if (byte0 >> 4 == 6) {
		__u8 next;

		/* extension headers before TCP are not followed: not taken */
		if (bpf_skb_load_bytes(skb, l3 + 6, &next, 1) || next != IPPROTO_TCP_NUM)
			return false;
		tcp_off = l3 + 40;
	} else {
		return false;
	}
	if (bpf_skb_load_bytes(skb, tcp_off, ports, sizeof(ports)))
		return false;
	*sport = bpf_ntohs(ports[0]);
	*dport = bpf_ntohs(ports[1]);
	return true;
}

static __always_inline int take_packet(struct __sk_buff *skb, __u8 dir)
{
	__u32 ifindex = skb->ifindex, cpu, len, n;
	struct packet_scratch *s;
	struct tlstap_iface *iface;
	__u16 sport, dport;

	iface = bpf_map_lookup_elem(&capture_ifaces, &ifindex);
	if (!iface)
		return TLSTAP_TC_NEXT;
	if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6))
		return TLSTAP_TC_NEXT;
	if (!tcp_ports(skb, iface->l3_offset & 0xff, &sport, &dport))
		return TLSTAP_TC_NEXT;
	if (tlstap_cfg.filter_ports && !bpf_map_lookup_elem(&capture_ports, &sport) &&
	    !bpf_map_lookup_elem(&capture_ports, &dport))
		return TLSTAP_TC_NEXT;

	cpu = bpf_get_smp_processor_id();
	s = bpf_map_lookup_elem(&packet_scratch, &cpu);
	if (!s)
		return TLSTAP_TC_NEXT;
	len = skb->len;
	n = len;
	if (n > TLSTAP_PACKET_MAX) {
		n = TLSTAP_PACKET_MAX;
		stat_add(TLSTAP_STAT_PACKETS_TRUNCATED, 1);
	}
	if (n < 1)
		return TLSTAP_TC_NEXT;
	/*
	 * The same n (1 to TLSTAP_PACKET_MAX, a power of two) in a form whose
	 * bounds every verifier sees on the register it is passed in: 6.1's
	 * does not carry a "!= 0" test over to a copy of the register.
	 */
	n = ((n - 1) & (TLSTAP_PACKET_MAX - 1)) + 1;
	if (bpf_skb_load_bytes(skb, 0, s->data, n)) {
		stat_add(TLSTAP_STAT_LOST_PACKETS_READ, 1);
		return TLSTAP_TC_NEXT;
	}
	s->hdr.type = TLSTAP_RECORD_PACKET;
	s->hdr.ifindex = ifindex;
	s->hdr.ts_ns = bpf_ktime_get_ns();
	s->hdr.sock_cookie = bpf_get_socket_cookie(skb);
	s->hdr.wire_len = len;
	s->hdr.captured = n;
	s->hdr.dir = dir;
	if (bpf_ringbuf_output(&packets, s, sizeof(s->hdr) + n, packets_wakeup_flag())) {
		stat_add(TLSTAP_STAT_LOST_PACKETS_RINGBUF, 1);
		return TLSTAP_TC_NEXT;
	}
	stat_add(TLSTAP_STAT_PACKETS, 1);
	return TLSTAP_TC_NEXT;
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	return take_packet(skb, TLSTAP_DIR_TX);
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return take_packet(skb, TLSTAP_DIR_RX);
}
