"""faultfs - a FUSE filesystem (python3-fuse) whose one file fails I/O on demand.

usage: faultfs.py BACKING MOUNTPOINT

MOUNTPOINT shows three files:
  disk   BACKING's bytes, read and written through to it (an fd opened
         before the mount, so BACKING may be covered by a bind mount of
         disk afterwards) unless the mode says otherwise;
  ctl    write a mode to it: "ok", "eio-read" (a read of the first MiB
         fails with EIO), "eio-read START END" (a read reaching into bytes
         START to END fails), "eio-write" (every write fails with EIO);
  stats  JSON counts of the reads and writes disk was asked for, and of
         those that failed.
The mode starts as "ok".  The test talks to the server only through ctl and
stats; it runs in the foreground, single-threaded, until unmounted.
"""
import errno
import json
import os
import stat
import sys

import fuse

fuse.fuse_python_api = (0, 2)

MIB = 1 << 20


class FaultFS(fuse.Fuse):
    def __init__(self, backing, *args, **kw):
        super().__init__(*args, **kw)
        self.fd = os.open(backing, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.mode = "ok"
        self.fault = (0, MIB)  # the bytes eio-read fails
        self.counts = {"reads": 0, "read_errors": 0, "writes": 0, "write_errors": 0}

    def stats_bytes(self):
        return json.dumps(dict(self.counts, mode=self.mode, fault=self.fault)).encode()

    def getattr(self, path):
        st = fuse.Stat()
        st.st_uid, st.st_gid = os.getuid(), os.getgid()
        if path == "/":
            st.st_mode, st.st_nlink = stat.S_IFDIR | 0o755, 2
            return st
        sizes = {"/disk": self.size, "/ctl": 0, "/stats": len(self.stats_bytes())}
        if path not in sizes:
            return -errno.ENOENT
        st.st_mode, st.st_nlink, st.st_size = stat.S_IFREG | 0o600, 1, sizes[path]
        return st

    def readdir(self, path, offset):
        for name in (".", "..", "disk", "ctl", "stats"):
            yield fuse.Direntry(name)

    def open(self, path, flags):
        if path not in ("/disk", "/ctl", "/stats"):
            return -errno.ENOENT
        # ctl and stats are never served from the page cache.
        return None if path == "/disk" else fuse.FuseFileInfo(direct_io=True)

    def read(self, path, size, offset):
        if path == "/stats":
            return self.stats_bytes()[offset:offset + size]
        if path != "/disk":
            return -errno.EINVAL
        self.counts["reads"] += 1
        if self.mode == "eio-read" and offset < self.fault[1] and offset + size > self.fault[0]:
            self.counts["read_errors"] += 1
            return -errno.EIO
        return os.pread(self.fd, size, offset)

    def write(self, path, buf, offset):
        if path == "/ctl":
            return self.set_mode(bytes(buf).decode().split(), len(buf))
        if path != "/disk":
            return -errno.EINVAL
        self.counts["writes"] += 1
        if self.mode == "eio-write":
            self.counts["write_errors"] += 1
            return -errno.EIO
        return os.pwrite(self.fd, buf, offset)

    def set_mode(self, words, written):
        if words in (["ok"], ["eio-read"], ["eio-write"]):
            self.mode, self.fault = words[0], (0, MIB)
        elif len(words) == 3 and words[0] == "eio-read" and all(w.isdigit() for w in words[1:]):
            self.mode, self.fault = words[0], (int(words[1]), int(words[2]))
        else:
            return -errno.EINVAL
        return written

    def truncate(self, path, size):
        return 0 if path == "/ctl" else -errno.EINVAL

    def fsync(self, path, datasync):
        if path == "/disk":
            os.fsync(self.fd)
        return 0

    def flush(self, path):
        return 0

    def release(self, path, flags):
        return 0


def main():
    backing, mountpoint = sys.argv[1:3]
    server = FaultFS(backing, version="faultfs", usage=__doc__)
    server.multithreaded = False
    server.parse([mountpoint, "-f", "-o", "fsname=faultfs,subtype=faultfs"],
                 errex=1)
    server.main()


if __name__ == "__main__":
    main()
