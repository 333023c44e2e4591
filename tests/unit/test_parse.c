// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The monitor's parser and counters, run for real with BPF_PROG_RUN: one
 * fixture per parse path, well-formed and malformed, each with the verdict,
 * the frame's bytes, the counters and the flow it must leave behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <linux/if_ether.h>
#include "netprobe/abi.h"
#include "bpf_fixture.h"
#include "../lib/pktbuild.h"

#define NONE (-1)

struct parse_case {
	const char *name;
	struct pkt_spec spec;
	/* Breaks the good frame; returns the new length. */
	size_t (*mutate)(uint8_t *frame, size_t len, const struct pkt_spec *s);
	int malformed;	/* enum netprobe_malformed */
	int l3_counter; /* NETPROBE_HC_*_PACKETS or NONE */
	int l4_counter; /* NETPROBE_HC_*_PACKETS or NONE */
	bool fragment;
	bool vlan;
	bool flow; /* a flow entry must exist */
	uint16_t flow_sport, flow_dport;
};

#define V4 .family = 4, .src = "10.0.0.1", .dst = "10.0.0.2"
#define V6 .family = 6, .src = "fd00::1", .dst = "fd00::2"

static size_t truncate_to_l3_plus(uint8_t *f, size_t len, const struct pkt_spec *s, size_t n)
{
	(void)f;
	(void)len;
	return pkt_l3_offset(s) + n;
}

static size_t cut_ipv4_header(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	return truncate_to_l3_plus(f, len, s, 12);
}

static size_t cut_ipv6_header(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	return truncate_to_l3_plus(f, len, s, 30);
}

static size_t ihl_three(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	f[pkt_l3_offset(s)] = 0x43;
	return len;
}

static size_t ihl_fifteen(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	/* Claims 60 bytes of header and 68 in all, in a frame that holds 28. */
	f[pkt_l3_offset(s)] = 0x4f;
	f[pkt_l3_offset(s) + 3] = 68;
	(void)len;
	return pkt_l3_offset(s) + 28;
}

static size_t ipv4_version_six(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	f[pkt_l3_offset(s)] = 0x65;
	return len;
}

static size_t ipv4_tot_len_beyond_frame(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	f[pkt_l3_offset(s) + 2] = 0x05; /* 1280+ bytes in a short frame */
	return len;
}

static size_t ipv4_tot_len_below_header(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	f[pkt_l3_offset(s) + 2] = 0;
	f[pkt_l3_offset(s) + 3] = 12;
	return len;
}

static size_t ipv6_payload_beyond_frame(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	f[pkt_l3_offset(s) + 4] = 0x10;
	return len;
}

/* Keeps n bytes of the L4 header; the IP length fields shrink with the frame. */
static size_t cut_l4(uint8_t *f, const struct pkt_spec *s, size_t n)
{
	size_t l3 = s->family == 4 ? 20 + 4 * s->ipv4_option_words : 40 + 8 * s->ipv6_ext_count;
	size_t ip_len_field = s->family == 4 ? l3 + n : l3 - 40 + n;
	uint8_t *len_field = f + pkt_l3_offset(s) + (s->family == 4 ? 2 : 4);

	len_field[0] = ip_len_field >> 8;
	len_field[1] = ip_len_field & 0xff;
	return pkt_l3_offset(s) + l3 + n;
}

static size_t cut_l4_to_10(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	(void)len;
	return cut_l4(f, s, 10);
}

static size_t cut_l4_to_2(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	(void)len;
	return cut_l4(f, s, 2);
}

static size_t tcp_doff_three(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	f[pkt_l3_offset(s) + 20 + 12] = 3 << 4;
	return len;
}

static size_t tcp_doff_fifteen(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	f[pkt_l3_offset(s) + 20 + 12] = 15 << 4; /* 60 bytes of header, 20 present */
	return len;
}

static size_t ipv6_ext_len_beyond(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	f[pkt_l3_offset(s) + 40 + 1] = 200; /* hop-by-hop header claims 1608 bytes */
	return len;
}

/* Sets the IP length field (IPv4 total length, IPv6 payload length); the frame stays as it is. */
static size_t set_ip_len(uint8_t *f, size_t len, const struct pkt_spec *s, uint16_t v)
{
	uint8_t *field = f + pkt_l3_offset(s) + (s->family == 4 ? 2 : 4);

	field[0] = v >> 8;
	field[1] = v & 0xff;
	return len;
}

/* The IP length ends at the IP header: the UDP header lies in what follows (padding). */
static size_t ip_len_header_only(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	return set_ip_len(f, len, s, s->family == 4 ? 20 : 0);
}

static size_t ip_len_zero(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	return set_ip_len(f, len, s, 0);
}

/* The IP length ends 10 bytes into the TCP header, which the frame holds whole. */
static size_t ip_len_cuts_tcp(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	return set_ip_len(f, len, s, s->family == 4 ? 30 : 10);
}

/* The payload length ends inside the hop-by-hop header. */
static size_t ip_len_cuts_ext(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	return set_ip_len(f, len, s, 4);
}

static size_t cut_l4_to_6(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	(void)len;
	return cut_l4(f, s, 6);
}

static size_t vlan_tag_cut(uint8_t *f, size_t len, const struct pkt_spec *s)
{
	(void)f;
	(void)len;
	(void)s;
	return 16; /* 802.1Q TPID and half a tag */
}

/* One row per case reads best as a table. */
// clang-format off
static const struct parse_case cases[] = {
	/* Well-formed: every family, L4 protocol and header chain netprobe parses. */
	{ "ipv4 tcp syn", { V4, .proto = IPPROTO_TCP, .sport = 40000, .dport = 80, .tcp_flags = 0x02 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_TCP_PACKETS, false, false, true, 40000, 80 },
	{ "ipv4 udp", { V4, .proto = IPPROTO_UDP, .sport = 5353, .dport = 53, .payload = 100 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_UDP_PACKETS, false, false, true, 5353, 53 },
	{ "ipv4 icmp echo", { V4, .proto = IPPROTO_ICMP, .icmp_type = 8, .payload = 56 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_ICMP_PACKETS, false, false, true, 0, 0x0800 },
	{ "ipv4 options then udp", { V4, .proto = IPPROTO_UDP, .sport = 1, .dport = 2,
				     .ipv4_option_words = 3, .payload = 10 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_UDP_PACKETS, false, false, true, 1, 2 },
	{ "ipv4 first fragment", { V4, .proto = IPPROTO_UDP, .sport = 7, .dport = 9,
				   .ipv4_frag = 0x2000, .payload = 64 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_UDP_PACKETS, true, false, true, 7, 9 },
	{ "ipv4 later fragment", { V4, .proto = IPPROTO_UDP, .sport = 7, .dport = 9,
				   .ipv4_frag = 0x0010, .payload = 64 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_UDP_PACKETS, true, false, true, 0, 0 },
	{ "ipv4 gre (other l4)", { V4, .proto = 47, .payload = 20 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_OTHER_L4_PACKETS, false, false, true, 0, 0 },
	{ "ipv4 udp in ethernet padding", { V4, .proto = IPPROTO_UDP, .sport = 3, .dport = 4 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_UDP_PACKETS, false, false, true, 3, 4 },
	{ "ipv6 tcp", { V6, .proto = IPPROTO_TCP, .sport = 443, .dport = 50000, .tcp_flags = 0x12 },
	  NULL, 0, NETPROBE_HC_IPV6_PACKETS, NETPROBE_HC_TCP_PACKETS, false, false, true, 443, 50000 },
	{ "ipv6 icmpv6 echo", { V6, .proto = IPPROTO_ICMPV6, .icmp_type = 128 },
	  NULL, 0, NETPROBE_HC_IPV6_PACKETS, NETPROBE_HC_ICMPV6_PACKETS, false, false, true, 0, 0x8000 },
	{ "ipv6 hop-by-hop, routing, dstopts, udp",
	  { V6, .proto = IPPROTO_UDP, .sport = 10, .dport = 20, .ipv6_ext_count = 3,
	    .ipv6_ext = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS } },
	  NULL, 0, NETPROBE_HC_IPV6_PACKETS, NETPROBE_HC_UDP_PACKETS, false, false, true, 10, 20 },
	{ "ipv6 first fragment udp",
	  { V6, .proto = IPPROTO_UDP, .sport = 11, .dport = 22, .ipv6_ext_count = 1,
	    .ipv6_ext = { IPPROTO_FRAGMENT }, .ipv6_frag = 1, .payload = 40 },
	  NULL, 0, NETPROBE_HC_IPV6_PACKETS, NETPROBE_HC_UDP_PACKETS, true, false, true, 11, 22 },
	{ "ipv6 later fragment",
	  { V6, .proto = IPPROTO_UDP, .sport = 11, .dport = 22, .ipv6_ext_count = 1,
	    .ipv6_ext = { IPPROTO_FRAGMENT }, .ipv6_frag = 185 << 3, .payload = 40 },
	  NULL, 0, NETPROBE_HC_IPV6_PACKETS, NETPROBE_HC_UDP_PACKETS, true, false, true, 0, 0 },
	{ "ipv6 six extension headers (the most parsed)",
	  { V6, .proto = IPPROTO_TCP, .sport = 5, .dport = 6, .ipv6_ext_count = 6,
	    .ipv6_ext = { IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS,
			  IPPROTO_ROUTING, IPPROTO_DSTOPTS } },
	  NULL, 0, NETPROBE_HC_IPV6_PACKETS, NETPROBE_HC_TCP_PACKETS, false, false, true, 5, 6 },
	{ "802.1q ipv4 udp", { V4, .vlan_tags = 1, .vlan_id = { 100 }, .proto = IPPROTO_UDP,
			       .sport = 1000, .dport = 2000, .payload = 30 },
	  NULL, 0, NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_UDP_PACKETS, false, true, true, 1000, 2000 },
	{ "q-in-q ipv6 udp", { V6, .vlan_tags = 2, .vlan_tpid = { 0x88a8, 0x8100 },
			       .vlan_id = { 10, 20 }, .proto = IPPROTO_UDP, .sport = 1, .dport = 2 },
	  NULL, 0, NETPROBE_HC_IPV6_PACKETS, NETPROBE_HC_UDP_PACKETS, false, true, true, 1, 2 },
	{ "arp (other l3)", { .ethertype = ETH_P_ARP, .payload = 28 },
	  NULL, 0, NETPROBE_HC_OTHER_L3_PACKETS, NONE, false, false, false, 0, 0 },

	/* Malformed: counted with the reason, passed, never turned into a flow. */
	{ "vlan tag cut short", { V4, .vlan_tags = 1, .proto = IPPROTO_UDP }, vlan_tag_cut,
	  NETPROBE_MALFORMED_L2_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "three vlan tags", { V4, .vlan_tags = 3, .proto = IPPROTO_UDP }, NULL,
	  NETPROBE_MALFORMED_VLAN_TOO_DEEP, NONE, NONE, false, true, false, 0, 0 },
	{ "ipv4 header cut short", { V4, .proto = IPPROTO_UDP }, cut_ipv4_header,
	  NETPROBE_MALFORMED_L3_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv4 ihl 3", { V4, .proto = IPPROTO_UDP, .payload = 20 }, ihl_three,
	  NETPROBE_MALFORMED_IP_BAD_HEADER, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv4 ihl 15 past the end", { V4, .proto = IPPROTO_UDP }, ihl_fifteen,
	  NETPROBE_MALFORMED_L3_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv4 ethertype, version 6", { V4, .proto = IPPROTO_UDP }, ipv4_version_six,
	  NETPROBE_MALFORMED_IP_BAD_HEADER, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv4 total length past the frame", { V4, .proto = IPPROTO_UDP },
	  ipv4_tot_len_beyond_frame, NETPROBE_MALFORMED_L3_TRUNCATED, NONE, NONE, false, false,
	  false, 0, 0 },
	{ "ipv4 total length below the header", { V4, .proto = IPPROTO_UDP },
	  ipv4_tot_len_below_header, NETPROBE_MALFORMED_IP_BAD_HEADER, NONE, NONE, false, false,
	  false, 0, 0 },
	{ "ipv6 header cut short", { V6, .proto = IPPROTO_UDP }, cut_ipv6_header,
	  NETPROBE_MALFORMED_L3_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv6 payload length past the frame", { V6, .proto = IPPROTO_UDP },
	  ipv6_payload_beyond_frame, NETPROBE_MALFORMED_L3_TRUNCATED, NONE, NONE, false, false,
	  false, 0, 0 },
	{ "ipv6 seven extension headers",
	  { V6, .proto = IPPROTO_UDP, .ipv6_ext_count = 7,
	    .ipv6_ext = { IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS,
			  IPPROTO_DSTOPTS, IPPROTO_DSTOPTS, IPPROTO_DSTOPTS } },
	  NULL, NETPROBE_MALFORMED_IPV6_EXT_CHAIN, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv6 extension header past the end",
	  { V6, .proto = IPPROTO_UDP, .ipv6_ext_count = 1, .ipv6_ext = { IPPROTO_HOPOPTS } },
	  ipv6_ext_len_beyond, NETPROBE_MALFORMED_IPV6_EXT_CHAIN, NONE, NONE, false, false, false,
	  0, 0 },
	{ "tcp header cut to 10 bytes", { V4, .proto = IPPROTO_TCP }, cut_l4_to_10,
	  NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "tcp data offset 3", { V4, .proto = IPPROTO_TCP, .payload = 8 }, tcp_doff_three,
	  NETPROBE_MALFORMED_TCP_BAD_HEADER, NONE, NONE, false, false, false, 0, 0 },
	{ "tcp data offset 15 past the end", { V4, .proto = IPPROTO_TCP }, tcp_doff_fifteen,
	  NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "udp header cut short (ipv6)", { V6, .proto = IPPROTO_UDP }, cut_l4_to_2,
	  NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "icmp cut to 2 bytes", { V4, .proto = IPPROTO_ICMP, .icmp_type = 8 }, cut_l4_to_2,
	  NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "icmp header of 6 bytes (it has 8)", { V4, .proto = IPPROTO_ICMP, .icmp_type = 8 },
	  cut_l4_to_6, NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "icmpv6 header of 6 bytes", { V6, .proto = IPPROTO_ICMPV6, .icmp_type = 128 },
	  cut_l4_to_6, NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },

	/*
	 * Headers past the IP length are not the packet's, though the frame holds
	 * them (Ethernet padding, or a length that lies): the kernel cuts them off.
	 */
	{ "ipv4 udp header in the padding past the total length",
	  { V4, .proto = IPPROTO_UDP, .sport = 3, .dport = 4 }, ip_len_header_only,
	  NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv4 tcp header past the total length",
	  { V4, .proto = IPPROTO_TCP, .payload = 30 }, ip_len_cuts_tcp,
	  NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv4 total length 0 in a frame under 64 KiB",
	  { V4, .proto = IPPROTO_UDP, .payload = 30 }, ip_len_zero,
	  NETPROBE_MALFORMED_IP_BAD_HEADER, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv6 payload length 0 in a frame under 64 KiB (no jumbogram)",
	  { V6, .proto = IPPROTO_TCP, .payload = 30 }, ip_len_zero,
	  NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv6 tcp header past the payload length",
	  { V6, .proto = IPPROTO_TCP, .payload = 30 }, ip_len_cuts_tcp,
	  NETPROBE_MALFORMED_L4_TRUNCATED, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv6 later fragment whose fragment header is past the payload length",
	  { V6, .proto = IPPROTO_UDP, .ipv6_ext_count = 1, .ipv6_ext = { IPPROTO_FRAGMENT },
	    .ipv6_frag = 185 << 3, .payload = 40 }, ip_len_cuts_ext,
	  NETPROBE_MALFORMED_IPV6_EXT_CHAIN, NONE, NONE, false, false, false, 0, 0 },
	{ "ipv6 extension header past the payload length",
	  { V6, .proto = IPPROTO_UDP, .payload = 30, .ipv6_ext_count = 1,
	    .ipv6_ext = { IPPROTO_HOPOPTS } }, ip_len_cuts_ext,
	  NETPROBE_MALFORMED_IPV6_EXT_CHAIN, NONE, NONE, false, false, false, 0, 0 },
};
// clang-format on

static struct bpf_fixture *fx;

static int group_setup(void **state)
{
	(void)state;
	fx = fx_load();
	return fx ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	fx_free(fx);
	return 0;
}

static size_t build_case(const struct parse_case *c, uint8_t *frame)
{
	size_t len = pkt_build(&c->spec, frame, PKT_MAX);

	assert_true(len > 0);
	if (c->mutate)
		len = c->mutate(frame, len, &c->spec);
	/* BPF_PROG_RUN needs a whole Ethernet header; pad as a NIC would. */
	if (len < 60 && !c->mutate) {
		memset(frame + len, 0, 60 - len);
		len = 60;
	}
	return len;
}

static void check_case(const struct parse_case *c)
{
	uint8_t frame[PKT_MAX], out[PKT_MAX];
	__u32 out_len = sizeof(out);
	struct netprobe_counters cnt = {};
	struct netprobe_flow_key key;
	struct netprobe_flow_stats st;
	size_t len = build_case(c, frame);
	const struct netprobe_hook_counters *h;

	fx_reset(fx);
	print_message("  case: %s (%zu bytes)\n", c->name, len);
	assert_int_equal(fx_run(fx->skel->progs.netprobe_xdp, frame, len, out, &out_len), XDP_PASS);
	/* The monitor never touches the frame. */
	assert_int_equal(out_len, len);
	assert_memory_equal(out, frame, len);

	assert_int_equal(fx_counters(fx, &cnt), 0);
	h = &cnt.hook[NETPROBE_HOOK_XDP];
	assert_int_equal(h->v[NETPROBE_HC_PACKETS], 1);
	assert_int_equal(h->v[NETPROBE_HC_BYTES], len);
	assert_int_equal(cnt.xdp_action[XDP_PASS], 1);
	assert_int_equal(h->v[NETPROBE_HC_VLAN_PACKETS], c->vlan);
	assert_int_equal(h->v[NETPROBE_HC_MALFORMED], c->malformed != 0);
	for (int r = 1; r < NETPROBE_MALFORMED_MAX; r++)
		assert_int_equal(h->malformed[r - 1], r == c->malformed);
	for (int i = NETPROBE_HC_IPV4_PACKETS; i <= NETPROBE_HC_OTHER_L4_BYTES; i += 2) {
		bool expect = i == c->l3_counter || i == c->l4_counter;

		assert_int_equal(h->v[i], expect ? 1 : 0);
		assert_int_equal(h->v[i + 1], expect ? len : 0);
	}
	assert_int_equal(h->v[NETPROBE_HC_FRAGMENTS], c->fragment);
	assert_int_equal(h->v[NETPROBE_HC_FLOW_UPDATE_FAILED], 0);
	/* XDP never counts in the TC hooks. */
	assert_int_equal(cnt.hook[NETPROBE_HOOK_TC_EGRESS].v[NETPROBE_HC_PACKETS], 0);

	assert_int_equal(fx_flows(fx, &key, &st), c->flow ? 1 : 0);
	if (!c->flow)
		return;
	assert_int_equal(ntohs(key.src_port), c->flow_sport);
	assert_int_equal(ntohs(key.dst_port), c->flow_dport);
	assert_int_equal(key.proto, c->spec.proto);
	assert_int_equal(key.family, c->spec.family);
	assert_int_equal(key.direction, NETPROBE_DIR_INGRESS);
	assert_int_equal(key.ifindex, FX_IFINDEX);
	assert_int_equal(key.slot, FX_SLOT);
	assert_int_equal(st.packets, 1);
	assert_int_equal(st.bytes, len);
	assert_int_equal(st.tcp_flags, c->spec.tcp_flags);
	assert_true(st.first_seen > 0 && st.first_seen == st.last_seen);

	uint8_t want_src[16] = {}, want_dst[16] = {};

	inet_pton(c->spec.family == 4 ? AF_INET : AF_INET6, c->spec.src, want_src);
	inet_pton(c->spec.family == 4 ? AF_INET : AF_INET6, c->spec.dst, want_dst);
	assert_memory_equal(key.src_addr, want_src, 16);
	assert_memory_equal(key.dst_addr, want_dst, 16);
}

static void test_parse_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

/* Packets of one flow add up; TCP flags are OR-ed; last_seen moves on. */
static void test_flow_accumulates(void **state)
{
	struct pkt_spec syn = {V4, .proto = IPPROTO_TCP, .sport = 1234, .dport = 80,
			       .tcp_flags = 0x02};
	struct pkt_spec ack = syn;
	uint8_t f1[PKT_MAX], f2[PKT_MAX];
	struct netprobe_flow_key key;
	struct netprobe_flow_stats st;
	size_t l1, l2;

	(void)state;
	ack.tcp_flags = 0x10;
	ack.payload = 1000;
	l1 = pkt_build(&syn, f1, sizeof(f1));
	l2 = pkt_build(&ack, f2, sizeof(f2));
	fx_reset(fx);
	assert_int_equal(fx_run(fx->skel->progs.netprobe_xdp, f1, l1, NULL, NULL), XDP_PASS);
	for (int i = 0; i < 9; i++)
		assert_int_equal(fx_run(fx->skel->progs.netprobe_xdp, f2, l2, NULL, NULL),
				 XDP_PASS);
	assert_int_equal(fx_flows(fx, &key, &st), 1);
	assert_int_equal(st.packets, 10);
	assert_int_equal(st.bytes, l1 + 9 * l2);
	assert_int_equal(st.tcp_flags, 0x12);
	assert_true(st.last_seen >= st.first_seen);
}

/* TC egress counts TX and records egress flows; TC ingress counts but leaves flows to XDP. */
static void test_tc_hooks(void **state)
{
	struct pkt_spec s = {V6, .proto = IPPROTO_UDP, .sport = 9, .dport = 10, .payload = 200};
	uint8_t frame[PKT_MAX];
	struct netprobe_counters cnt = {};
	struct netprobe_flow_key key;
	struct netprobe_flow_stats st;
	size_t len = pkt_build(&s, frame, sizeof(frame));

	(void)state;
	fx_reset(fx);
	/* TC_ACT_UNSPEC: netprobe passes the packet on to whatever comes next. */
	assert_int_equal(fx_run(fx->skel->progs.netprobe_tc_ingress, frame, len, NULL, NULL), -1);
	assert_int_equal(fx_flows(fx, NULL, NULL), 0);
	assert_int_equal(fx_run(fx->skel->progs.netprobe_tc_egress, frame, len, NULL, NULL), -1);
	assert_int_equal(fx_run(fx->skel->progs.netprobe_tc_egress, frame, len, NULL, NULL), -1);
	assert_int_equal(fx_counters(fx, &cnt), 0);
	assert_int_equal(cnt.hook[NETPROBE_HOOK_TC_INGRESS].v[NETPROBE_HC_PACKETS], 1);
	assert_int_equal(cnt.hook[NETPROBE_HOOK_TC_INGRESS].v[NETPROBE_HC_BYTES], len);
	assert_int_equal(cnt.hook[NETPROBE_HOOK_TC_EGRESS].v[NETPROBE_HC_PACKETS], 2);
	assert_int_equal(cnt.hook[NETPROBE_HOOK_TC_EGRESS].v[NETPROBE_HC_BYTES], 2 * len);
	assert_int_equal(cnt.hook[NETPROBE_HOOK_TC_EGRESS].v[NETPROBE_HC_IPV6_PACKETS], 2);
	assert_int_equal(cnt.hook[NETPROBE_HOOK_TC_EGRESS].v[NETPROBE_HC_UDP_PACKETS], 2);
	assert_int_equal(cnt.hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_PACKETS], 0);
	assert_int_equal(fx_flows(fx, &key, &st), 1);
	assert_int_equal(key.direction, NETPROBE_DIR_EGRESS);
	assert_int_equal(st.packets, 2);
	assert_int_equal(st.bytes, 2 * len);
}

/*
 * A zero IP length says "longer than the field can say" (BIG TCP's packets,
 * jumbograms): TC and generic XDP meet those, over 64 KiB. In a shorter
 * frame it is a lie, in TC as in XDP (BPF_PROG_RUN takes no 64 KiB frame).
 */
static void test_zero_length_is_a_lie_below_64k(void **state)
{
	struct pkt_spec v4 = {V4, .proto = IPPROTO_TCP, .sport = 1, .dport = 2, .payload = 100};
	struct pkt_spec v6 = {V6, .proto = IPPROTO_TCP, .sport = 1, .dport = 2, .payload = 100};
	struct netprobe_counters cnt = {};
	uint8_t f4[PKT_MAX], f6[PKT_MAX];
	size_t l4 = ip_len_zero(f4, pkt_build(&v4, f4, sizeof(f4)), &v4);
	size_t l6 = ip_len_zero(f6, pkt_build(&v6, f6, sizeof(f6)), &v6);
	const struct netprobe_hook_counters *h = &cnt.hook[NETPROBE_HOOK_TC_EGRESS];

	(void)state;
	fx_reset(fx);
	assert_int_equal(fx_run(fx->skel->progs.netprobe_tc_egress, f4, l4, NULL, NULL), -1);
	assert_int_equal(fx_run(fx->skel->progs.netprobe_tc_egress, f6, l6, NULL, NULL), -1);
	assert_int_equal(fx_counters(fx, &cnt), 0);
	assert_int_equal(h->v[NETPROBE_HC_MALFORMED], 2);
	assert_int_equal(h->malformed[NETPROBE_MALFORMED_IP_BAD_HEADER - 1], 1);
	assert_int_equal(h->malformed[NETPROBE_MALFORMED_L4_TRUNCATED - 1], 1);
	assert_int_equal(fx_flows(fx, NULL, NULL), 0);
}

/* Directions of one 5-tuple are separate flows. */
static void test_directions_are_separate_flows(void **state)
{
	struct pkt_spec s = {V4, .proto = IPPROTO_UDP, .sport = 1, .dport = 2};
	uint8_t frame[PKT_MAX];
	size_t len = pkt_build(&s, frame, sizeof(frame));

	(void)state;
	memset(frame + len, 0, 60 - len);
	fx_reset(fx);
	fx_run(fx->skel->progs.netprobe_xdp, frame, 60, NULL, NULL);
	fx_run(fx->skel->progs.netprobe_tc_egress, frame, 60, NULL, NULL);
	assert_int_equal(fx_flows(fx, NULL, NULL), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fixtures),
		cmocka_unit_test(test_flow_accumulates),
		cmocka_unit_test(test_tc_hooks),
		cmocka_unit_test(test_zero_length_is_a_lie_below_64k),
		cmocka_unit_test(test_directions_are_separate_flows),
	};

	return cmocka_run_group_tests_name("datapath", tests, group_setup, group_teardown);
}
