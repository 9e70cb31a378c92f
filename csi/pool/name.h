/* name.h - what a CSI request may use as a volume name, ID or parameter.
 *
 * Names come from the CO and never become paths (IDs are generated), but
 * they are still checked here, at the one choke point, so no name, ID or
 * parameter can ever address something outside the pool: no "/", no "..",
 * no NUL or other control character, valid UTF-8, at most 128 bytes.
 */
#ifndef VP_CSI_POOL_NAME_H
#define VP_CSI_POOL_NAME_H

#include <stdbool.h>

#include "common/error.h"

#define VP_POOL_NAME_MAX 128  /* bytes; the CSI spec's limit for strings */
#define VP_POOL_ID_HEX 16     /* random hex digits after the prefix */
#define VP_POOL_ID_SIZE 24    /* "vol-" + 16 hex + NUL fits */
#define VP_VOLUME_ID_PREFIX "vol-"
#define VP_SNAPSHOT_ID_PREFIX "snap-"

/* A CSI name (CreateVolume's name): 0, or -EINVAL with err saying why. */
int vp_pool_check_name(const char *name, struct vp_error *err) VP_MUST_CHECK;

/* Whether id has the exact form of a volume ID ("vol-" + 16 lowercase hex),
 * a snapshot ID ("snap-" + 16 lowercase hex), or either. */
bool vp_pool_is_volume_id(const char *id);
bool vp_pool_is_snapshot_id(const char *id);
bool vp_pool_is_id(const char *id);

/* Fill id (VP_POOL_ID_SIZE bytes) with a new random ID after prefix. */
int vp_pool_new_id(char *id, const char *prefix, struct vp_error *err) VP_MUST_CHECK;

/* Whether text is valid UTF-8 without the characters the CSI spec bans in
 * names (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+007F-U+009F). */
bool vp_pool_utf8_ok(const char *text);

#endif
