/* undo.c - compensating actions run newest-first when an operation fails. */
#include "common/undo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct vp_undo_step {
	struct vp_undo_step *next;
	vp_undo_fn fn;
	max_align_t arg[];      /* copy of the caller's argument, suitably aligned */
};

int vp_undo_push(struct vp_undo *u, vp_undo_fn fn, const void *arg, size_t len)
{
	struct vp_undo_step *step = malloc(sizeof(*step) + len);

	if (!step)
		return -ENOMEM;
	step->fn = fn;
	if (len)
		memcpy(step->arg, arg, len);
	step->next = u->top;
	u->top = step;
	return 0;
}

void vp_undo_run(struct vp_undo *u)
{
	while (u->top) {
		struct vp_undo_step *step = u->top;

		u->top = step->next;
		step->fn(step->arg);
		free(step);
	}
}

void vp_undo_forget(struct vp_undo *u)
{
	while (u->top) {
		struct vp_undo_step *step = u->top;

		u->top = step->next;
		free(step);
	}
}
