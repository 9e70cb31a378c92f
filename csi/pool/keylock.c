/* keylock.c - per-key serialization (keylock.h). */
#include "csi/pool/keylock.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void vp_keylock_init(struct vp_keylock *kl)
{
	memset(kl, 0, sizeof(*kl));
	pthread_mutex_init(&kl->lock, NULL);
	pthread_cond_init(&kl->changed, NULL);
}

void vp_keylock_destroy(struct vp_keylock *kl)
{
	pthread_cond_destroy(&kl->changed);
	pthread_mutex_destroy(&kl->lock);
}

/* Index of key among the held keys, or of a free slot when free_slot; -1 if none. */
static int find(const struct vp_keylock *kl, const char *key, bool free_slot)
{
	for (int i = 0; i < VP_KEYLOCK_SLOTS; i++)
		if (free_slot ? !kl->held[i][0] : !strcmp(kl->held[i], key))
			return i;
	return -1;
}

void vp_keylock_acquire(struct vp_keylock *kl, const char *key)
{
	char k[VP_KEYLOCK_KEY_MAX];
	int slot;

	snprintf(k, sizeof(k), "%s", key);
	pthread_mutex_lock(&kl->lock);
	while (find(kl, k, false) >= 0 || (slot = find(kl, k, true)) < 0)
		pthread_cond_wait(&kl->changed, &kl->lock);
	strcpy(kl->held[slot], k);
	pthread_mutex_unlock(&kl->lock);
}

void vp_keylock_release(struct vp_keylock *kl, const char *key)
{
	char k[VP_KEYLOCK_KEY_MAX];
	int slot;

	snprintf(k, sizeof(k), "%s", key);
	pthread_mutex_lock(&kl->lock);
	slot = find(kl, k, false);
	if (slot >= 0)
		kl->held[slot][0] = '\0';
	pthread_cond_broadcast(&kl->changed);
	pthread_mutex_unlock(&kl->lock);
}
