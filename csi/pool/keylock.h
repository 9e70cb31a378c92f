/* keylock.h - serialize operations per key (a volume name or ID): a second
 * operation on a key waits until the first one has finished, operations on
 * different keys run in parallel.
 */
#ifndef VP_CSI_POOL_KEYLOCK_H
#define VP_CSI_POOL_KEYLOCK_H

#include <pthread.h>
#include <stddef.h>

#define VP_KEYLOCK_SLOTS 64  /* keys held at once; more wait for a free slot */
#define VP_KEYLOCK_KEY_MAX 160

struct vp_keylock {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char held[VP_KEYLOCK_SLOTS][VP_KEYLOCK_KEY_MAX];  /* "" = free slot */
};

void vp_keylock_init(struct vp_keylock *kl);
void vp_keylock_destroy(struct vp_keylock *kl);

/* Take key (truncated to VP_KEYLOCK_KEY_MAX - 1 bytes), waiting while another
 * thread holds it. */
void vp_keylock_acquire(struct vp_keylock *kl, const char *key);
void vp_keylock_release(struct vp_keylock *kl, const char *key);

#endif
