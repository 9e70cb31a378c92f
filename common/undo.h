/* undo.h - a list of compensating actions, run in reverse on failure.
 *
 * A multi-step operation (a CNI ADD) pushes the undo of each step as soon as
 * the step succeeds; if a later step fails, vp_undo_run() unwinds everything
 * so nothing is left half-done.  On success vp_undo_forget() drops the list.
 */
#ifndef VP_COMMON_UNDO_H
#define VP_COMMON_UNDO_H

#include <stddef.h>

#include "common/error.h"

/* An undo step: fn(arg) where arg is a private copy of the data pushed. */
typedef void (*vp_undo_fn)(void *arg);

struct vp_undo_step;

struct vp_undo {
	struct vp_undo_step *top;
};

#define VP_UNDO_INIT { NULL }

/* Push fn with a copy of arg[0..len) (len may be 0).  -ENOMEM leaves the list
 * unchanged; callers should undo the step they just did themselves. */
int vp_undo_push(struct vp_undo *u, vp_undo_fn fn, const void *arg, size_t len) VP_MUST_CHECK;

/* Run every step, newest first, and empty the list. */
void vp_undo_run(struct vp_undo *u);

/* Empty the list without running anything (the operation succeeded). */
void vp_undo_forget(struct vp_undo *u);

#endif
