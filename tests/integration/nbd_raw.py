"""nbd_raw.py - a raw NBD client for vblkd's integration scripts that need
to misbehave (stall in the handshake, never read replies, go silent), which
libnbd clients cannot be made to do.  Import it with the scripts' directory
on sys.path; it speaks fixed newstyle with NO_ZEROES and simple replies."""
import socket
import struct

REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
OPT_MAGIC = b"IHAVEOPT"
OPT_GO = 7
REP_ACK = 1
INFO_EXPORT = 0
CMD_READ, CMD_WRITE, CMD_DISC = 0, 1, 2


class Closed(Exception):
    """The server closed the connection."""


class Client:
    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)

    def recvn(self, n):
        b = bytearray()
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise Closed("closed after %d of %d bytes" % (len(b), n))
            b += c
        return bytes(b)

    def greet(self):
        """Read the greeting and send the client flags (the handshake then
        waits for the first option)."""
        g = self.recvn(18)
        assert g[:16] == b"NBDMAGICIHAVEOPT", g
        self.s.sendall(struct.pack(">I", 3))          # FIXED_NEWSTYLE | NO_ZEROES

    def go(self, name):
        """NBD_OPT_GO for export name: returns (size, transmission flags)."""
        n = name.encode()
        data = struct.pack(">I", len(n)) + n + struct.pack(">H", 0)
        self.s.sendall(OPT_MAGIC + struct.pack(">II", OPT_GO, len(data)) + data)
        size = flags = None
        while True:
            _, _, typ, ln = struct.unpack(">QIII", self.recvn(20))
            body = self.recvn(ln)
            if typ & (1 << 31):
                raise RuntimeError("GO refused: %#x" % typ)
            if typ == REP_ACK:
                return size, flags
            if struct.unpack(">H", body[:2])[0] == INFO_EXPORT:
                size, flags = struct.unpack(">QH", body[2:12])

    def handshake(self, name):
        self.greet()
        return self.go(name)

    def request(self, cmd, handle, offset, length, data=b""):
        self.s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, cmd, handle, offset, length) + data)

    def reply(self, length=0):
        """One simple reply: (error, handle, data of length bytes if no error)."""
        magic, err, handle = struct.unpack(">IIQ", self.recvn(16))
        assert magic == SIMPLE_REPLY_MAGIC, hex(magic)
        return err, handle, (self.recvn(length) if length and not err else b"")

    def read(self, handle, offset, length):
        self.request(CMD_READ, handle, offset, length)
        return self.reply(length)

    def write(self, handle, offset, data):
        self.request(CMD_WRITE, handle, offset, len(data), data)
        return self.reply()[0]
