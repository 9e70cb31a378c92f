/* ctrl.c - ublk control commands on /dev/ublk-control (see ctrl.h). */
#include "vblk/ublk/ctrl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vblk/ring_restrict.h"
#include "vblk/ublk/desc.h"

#define CTRL_PATH "/dev/ublk-control"

/* Run one control command and return its result (0 or -errno). */
static int ctrl_cmd(struct vp_ublk_ctrl *c, unsigned nr, const struct ublksrv_ctrl_cmd *cmd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, 2 * sizeof(*sqe)); /* SQE128: the command spills into the second half */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = c->fd;
	sqe->cmd_op = vp_ublk_cmd_op(nr, sizeof(*cmd), c->ioctl_encode);
	memcpy(sqe->cmd, cmd, sizeof(*cmd));
	ret = io_uring_submit(&c->ring);
	if (ret < 0)
		return ret;
	do
		ret = io_uring_wait_cqe(&c->ring, &cqe);
	while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	return ret;
}

/* A command for the added device (or for none: dev_id -1). */
static struct ublksrv_ctrl_cmd dev_cmd(const struct vp_ublk_ctrl *c, void *buf, uint16_t len)
{
	return (struct ublksrv_ctrl_cmd){
		.dev_id = c->added ? c->dev_id : UINT32_MAX,
		.queue_id = UINT16_MAX,
		.addr = (uint64_t)(uintptr_t)buf,
		.len = len,
	};
}

/* -ENODEV with the message for a kernel without ublk. */
static int no_ublk(struct vp_error *err)
{
	return vp_error_code(err, 0, ENODEV, "ublk: " CTRL_PATH " not found: this kernel has no ublk "
			     "(CONFIG_BLK_DEV_UBLK)");
}

int vp_ublk_ctrl_available(struct vp_error *err)
{
	if (access(CTRL_PATH, F_OK) == 0)
		return 0;
	return errno == ENOENT ? no_ublk(err) : vp_error_set(err, errno, "ublk: " CTRL_PATH);
}

int vp_ublk_ctrl_open(struct vp_ublk_ctrl *c, struct vp_error *err)
{
	struct ublksrv_ctrl_cmd cmd;
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = open(CTRL_PATH, O_RDWR | O_CLOEXEC);
	if (c->fd < 0 && errno == ENOENT)
		return no_ublk(err);
	if (c->fd < 0)
		return vp_error_set(err, errno, "ublk: open " CTRL_PATH);
	ret = io_uring_queue_init(4, &c->ring, IORING_SETUP_SQE128 | IORING_SETUP_R_DISABLED);
	if (ret) {
		close(c->fd);
		c->fd = -1;
		return vp_error_set(err, -ret, "ublk: io_uring with SQE128");
	}
	/* Control commands only: the ring of a device added at run time is
	 * made inside the sandbox, where an SQE must not bypass seccomp. */
	ret = vp_ring_restrict_uring_cmd(&c->ring);
	if (ret) {
		io_uring_queue_exit(&c->ring);
		close(c->fd);
		c->fd = -1;
		return vp_error_set(err, -ret, "ublk: restrict the control ring");
	}
	c->ioctl_encode = true;
	cmd = dev_cmd(c, &c->features, sizeof(c->features));
	if (ctrl_cmd(c, VP_UBLK_CMD_GET_FEATURES, &cmd)) {
		c->ioctl_encode = false;
		c->features = 0;
	}
	return 0;
}

int vp_ublk_ctrl_add(struct vp_ublk_ctrl *c, struct ublksrv_ctrl_dev_info *info, struct vp_error *err)
{
	struct ublksrv_ctrl_cmd cmd = dev_cmd(c, info, sizeof(*info));
	int ret;

	info->dev_id = UINT32_MAX;
	ret = ctrl_cmd(c, UBLK_CMD_ADD_DEV, &cmd);
	if (ret)
		return vp_error_set(err, -ret, "ublk: ADD_DEV (queues=%u depth=%u)", info->nr_hw_queues,
				    info->queue_depth);
	c->dev_id = info->dev_id;
	c->added = true;
	return 0;
}

int vp_ublk_ctrl_set_params(struct vp_ublk_ctrl *c, struct ublk_params *params, struct vp_error *err)
{
	struct ublksrv_ctrl_cmd cmd = dev_cmd(c, params, (uint16_t)params->len);
	int ret = ctrl_cmd(c, UBLK_CMD_SET_PARAMS, &cmd);

	return ret ? vp_error_set(err, -ret, "ublk: SET_PARAMS for ublk%u", c->dev_id) : 0;
}

int vp_ublk_ctrl_start(struct vp_ublk_ctrl *c, struct vp_error *err)
{
	struct ublksrv_ctrl_cmd cmd = dev_cmd(c, NULL, 0);
	int ret;

	cmd.data[0] = (uint64_t)getpid();
	ret = ctrl_cmd(c, UBLK_CMD_START_DEV, &cmd);
	return ret ? vp_error_set(err, -ret, "ublk: START_DEV for ublk%u", c->dev_id) : 0;
}

int vp_ublk_ctrl_stop(struct vp_ublk_ctrl *c)
{
	struct ublksrv_ctrl_cmd cmd = dev_cmd(c, NULL, 0);

	return c->added ? ctrl_cmd(c, UBLK_CMD_STOP_DEV, &cmd) : 0;
}

void vp_ublk_ctrl_close(struct vp_ublk_ctrl *c)
{
	struct ublksrv_ctrl_cmd cmd = dev_cmd(c, NULL, 0);

	if (c->fd <= 0)
		return;
	if (c->added)
		(void)ctrl_cmd(c, UBLK_CMD_DEL_DEV, &cmd);
	c->added = false;
	io_uring_queue_exit(&c->ring);
	close(c->fd);
	c->fd = -1;
}
