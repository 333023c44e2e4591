// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: addresses, prefixes and services (netprobe_cidr_parse, netprobe_lb_service_parse): print and parse back
/*
 * Addresses, prefixes and services as an operator (or a list file, or a
 * config) writes them: netprobe_cidr_parse and netprobe_lb_service_parse.
 * What parses prints back, and the printed form parses to the same value.
 */
#include <netprobe/netprobe.h>
#include "fuzz.h"

static void cidr_round_trip(const char *text)
{
	struct netprobe_cidr c, again;
	char buf[80];

	if (netprobe_cidr_parse(text, &c))
		return;
	FUZZ_CHECK(c.family == NETPROBE_FAMILY_IPV4 || c.family == NETPROBE_FAMILY_IPV6,
		   "'%s': family %u", text, c.family);
	FUZZ_CHECK(c.prefix_len <= (c.family == NETPROBE_FAMILY_IPV4 ? 32 : 128), "'%s': /%u", text,
		   c.prefix_len);
	/* IPv4 fills the first four bytes and nothing after them. */
	if (c.family == NETPROBE_FAMILY_IPV4)
		for (int i = 4; i < 16; i++)
			FUZZ_CHECK(!c.addr[i], "'%s': byte %d of an IPv4 address is set", text, i);
	netprobe_cidr_str(&c, buf, sizeof(buf));
	FUZZ_CHECK(netprobe_cidr_parse(buf, &again) == 0, "'%s' printed as '%s', which is refused",
		   text, buf);
	FUZZ_CHECK(!memcmp(&c, &again, sizeof(c)), "'%s' printed as '%s', which means another",
		   text, buf);
}

static void service_round_trip(const char *text)
{
	struct netprobe_lb_service s, again;
	char buf[80];

	if (netprobe_lb_service_parse(text, &s))
		return;
	FUZZ_CHECK(s.port != 0, "'%s': port 0", text);
	FUZZ_CHECK(s.proto == 6 || s.proto == 17, "'%s': protocol %u", text, s.proto);
	netprobe_lb_service_str(&s, buf, sizeof(buf));
	FUZZ_CHECK(netprobe_lb_service_parse(buf, &again) == 0,
		   "'%s' printed as '%s', which is refused", text, buf);
	FUZZ_CHECK(!memcmp(&s, &again, sizeof(s)), "'%s' printed as '%s', which means another",
		   text, buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);

	cidr_round_trip(text);
	service_round_trip(text);
	free(text);
	return 0;
}
