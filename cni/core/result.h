/* result.h - the CNI result in one in-memory model (spec 1.1 fields), read
 * from and written to every supported version (0.3.0, 0.3.1, 0.4.0, 1.0.0,
 * 1.1.0).
 */
#ifndef VP_CNI_RESULT_H
#define VP_CNI_RESULT_H

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/inet.h"

struct vp_cni_interface {
	char name[IFNAMSIZ];
	char mac[VP_MAC_STRLEN];   /* "" when unknown */
	unsigned mtu;              /* 0: omit */
	char *sandbox;             /* netns path, NULL for host interfaces */
	char *socket_path;         /* NULL: omit */
	char *pci_id;              /* NULL: omit */
};

struct vp_cni_ip {
	struct vp_prefix address;  /* address with its subnet's prefix length */
	struct vp_ip gateway;      /* family 0: none */
	int interface;             /* index into interfaces, -1: none */
};

struct vp_cni_route {
	struct vp_prefix dst;
	struct vp_ip gw;           /* family 0: none */
	unsigned mtu, advmss, priority, table;  /* 0: omit */
	int scope;                 /* -1: omit */
};

struct vp_cni_result {
	struct vp_cni_interface *interfaces;
	size_t n_interfaces;
	struct vp_cni_ip *ips;
	size_t n_ips;
	struct vp_cni_route *routes;
	size_t n_routes;
	json_t *dns;               /* {nameservers, domain, search, options} or NULL */
};

/* Parse a result of any supported version (for prevResult and IPAM
 * output).  On failure *out is left empty; err has code 6 or 7. */
int vp_cni_result_parse(const json_t *json, const char *version, struct vp_cni_result *out,
			struct vp_error *err) VP_MUST_CHECK;

/* Render in version (one of vp_cni_versions); a new reference, NULL on ENOMEM.
 * Fields the version lacks are dropped. */
json_t *vp_cni_result_to_json(const struct vp_cni_result *res, const char *version);

/* Append; each returns the new element's index or -ENOMEM.  Strings are copied. */
int vp_cni_result_add_interface(struct vp_cni_result *res, const char *name, const char *mac,
				const char *sandbox) VP_MUST_CHECK;
int vp_cni_result_add_ip(struct vp_cni_result *res, const struct vp_cni_ip *ip) VP_MUST_CHECK;
int vp_cni_result_add_route(struct vp_cni_result *res, const struct vp_cni_route *r) VP_MUST_CHECK;

/* Deep copy src into an empty dst. */
int vp_cni_result_copy(struct vp_cni_result *dst, const struct vp_cni_result *src) VP_MUST_CHECK;

/* Index of the interface named name in sandbox (NULL: any), or -1. */
int vp_cni_result_find_interface(const struct vp_cni_result *res, const char *name,
				 const char *sandbox);

/* Free the contents and leave res empty; accepts an empty result. */
void vp_cni_result_clear(struct vp_cni_result *res);

#endif
