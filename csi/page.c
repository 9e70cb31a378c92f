/* page.c - the paging ListVolumes and ListSnapshots share: max_entries and
 * starting_token checked, one page of the pool's records read, and the
 * token of the page after it.
 */
#include <stdlib.h>
#include <string.h>

#include "csi/pool/name.h"
#include "csi/service.h"

int csi_page_check(const char *prefix, int32_t max_entries, const char *starting_token,
		   struct vp_grpc_reply *r)
{
	if (max_entries < 0) {
		csi_fail(r, VP_GRPC_INVALID_ARGUMENT, "max_entries is negative");
		return r->code;
	}
	/* Tokens are the ID the next page starts at. */
	if (*starting_token && (!vp_pool_is_id(starting_token) ||
				strncmp(starting_token, prefix, strlen(prefix)))) {
		csi_fail(r, VP_GRPC_ABORTED, "starting_token is not a token of this driver");
		return r->code;
	}
	return VP_GRPC_OK;
}

int csi_page_read(struct csi_ctx *ctx, const char *prefix, const char *source,
		  int32_t max_entries, const char *starting_token, struct csi_page *pg,
		  struct vp_grpc_reply *r)
{
	pg->items = NULL;
	if (csi_page_check(prefix, max_entries, starting_token, r))
		return r->code;
	if (vp_pool_list(ctx->pool, prefix, source, starting_token, (size_t)max_entries,
			 &pg->items, &pg->n, pg->next)) {
		csi_fail(r, VP_GRPC_INTERNAL, "out of memory listing the pool's %s records", prefix);
		return r->code;
	}
	return VP_GRPC_OK;
}
