/* internal.h - what pool.c shares with reconcile.c (not for other users). */
#ifndef VP_CSI_POOL_INTERNAL_H
#define VP_CSI_POOL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "csi/pool/pool.h"

/* The files of one volume in DIR/volumes. */
enum vp_pool_file { F_RECORD, F_IMAGE, F_NEW, F_DEL };

int vp_pool_path_of(const struct vp_pool *p, const char *id, enum vp_pool_file k, char *buf,
		    size_t size);
bool vp_pool_exists(const struct vp_pool *p, const char *id, enum vp_pool_file k);
int vp_pool_fsync_dir(const char *dir, struct vp_error *err);
int vp_pool_move(struct vp_pool *p, const char *id, enum vp_pool_file a, enum vp_pool_file b,
		 struct vp_error *err);
int vp_pool_unlink_kind(struct vp_pool *p, const char *id, enum vp_pool_file k,
			struct vp_error *err);
int vp_pool_finish_delete(struct vp_pool *p, const char *id, struct vp_error *err);
/* The table: callers hold p->lock. */
int vp_pool_table_insert(struct vp_pool *p, const struct vp_volume *v);
void vp_pool_table_remove(struct vp_pool *p, const char *id);

#endif
