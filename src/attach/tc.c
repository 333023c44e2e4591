// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What libbpf's bpf_tc_* cannot say: whether anyone else's filters sit on a clsact hook. */
#include <errno.h>
#include <time.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include "attach/attach.h"

/*
 * A dump answers with each classifier instance's head (handle 0: "filter
 * pref 49152 bpf chain 0") and then its filters: only these count.
 */
static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type == RTM_NEWTFILTER && mnl_nlmsg_get_payload_len(nlh) >= sizeof(*tcm) &&
	    tcm->tcm_handle)
		(*(int *)data)++;
	return MNL_CB_OK;
}

int np_tc_filter_count(unsigned int ifindex, __u32 parent)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	struct nlmsghdr *nlh;
	struct tcmsg *tcm;
	unsigned int seq = time(NULL), portid;
	int count = 0, ret;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETTFILTER;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = parent;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	do {
		ret = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (ret <= 0)
			break;
		ret = mnl_cb_run(buf, ret, seq, portid, count_cb, &count);
	} while (ret > MNL_CB_STOP);
	ret = ret < 0 ? -errno : count;
out:
	mnl_socket_close(nl);
	return ret;
}
