# Allocation-free encoders for everything a podium sends while it runs (hb, buzz, ack, hello,
# sync, fault): they write into a caller's bytearray exactly the bytes codec.encode would
# produce for the same message (the firmware tests compare both under MicroPython). The
# presence messages and hello's constant tail are made once, at start-up (podium.startup): a
# podium never encodes through the codec, so the tables of what it sends stay off its heap.
from micropython import const

MAX = const(224)  # hb, buzz, ack with a 32-character id and U53 fields fit this (hello: longer)

_V = b'{"v":1,"t":"'  # every message starts so, then its kind and this boot's id and b
_SEQ = b',"seq":'
_PT = b',"pt":'
_EP = b',"ep":'
_CS = b',"cs":'
_RSSI = b',"rssi":'
_RST = b',"rst":'
_FP = b',"fp":'
_NP = b',"np":'
_END = b"}"
_N = b',"n":'
_T1 = b',"t1":'
_PREV = b',"prev":['
_CODE = b',"code":"'
_N_AFTER_STR = b'","n":'
_STR_END = b'"}'


def put(buf, i: int, b: bytes) -> int:
    n = i + len(b)
    buf[i:n] = b  # slice assignment copies in place
    return n


def put_int(buf, i: int, v: int) -> int:
    """Write a non-negative integer in decimal at buf[i]; returns the index after it."""
    if v <= 0:
        buf[i] = 48
        return i + 1
    n = 0
    t = v
    while t:
        t //= 10
        n += 1
    end = i + n
    while v:
        end -= 1
        buf[end] = 48 + v % 10
        v //= 10
    return i + n


class UpWriter:
    """Encoders for one podium boot: the constant head of each message is built once."""

    def __init__(self, pid: str, boot: int, hello_tail: bytes = b"}") -> None:
        # Field order is the codec's wire order: v, t, id, b, seq, then the kind's own fields;
        # id and b are the same in every message of a boot (one head for all kinds).
        self._idb = ('","id":"' + pid + '","b":' + str(boot)).encode()
        # what follows pt in this boot's hello (hw, board, fw, cap): startup.hello_tail()
        self._hello_tail = hello_tail

    def _head(self, buf, off: int, kind: bytes) -> int:
        return put(buf, put(buf, put(buf, off, _V), kind), self._idb)

    def hello(self, buf, off: int, seq: int, pt: int) -> int:
        i = self._head(buf, off, b"hello")
        i = put_int(buf, put(buf, i, _SEQ), seq)
        i = put_int(buf, put(buf, i, _PT), pt)
        return put(buf, i, self._hello_tail)

    # Each writes its message at buf[off:] and returns the index after it.
    def hb(self, buf, off: int, seq: int, pt: int, ep: int, rssi, rst: int) -> int:
        i = self._head(buf, off, b"hb")
        i = put_int(buf, put(buf, i, _SEQ), seq)
        i = put_int(buf, put(buf, i, _PT), pt)
        i = put_int(buf, put(buf, i, _EP), ep)
        if rssi is not None:
            i = put(buf, i, _RSSI)
            if rssi < 0:
                buf[i] = 45  # "-"
                i += 1
            i = put_int(buf, i, -rssi if rssi < 0 else rssi)
        if rst:
            i = put_int(buf, put(buf, i, _RST), rst)
        return put(buf, i, _END)

    def sync(self, buf, off: int, n: int, t1: int, prev) -> int:
        i = self._head(buf, off, b"sync")
        i = put_int(buf, put(buf, i, _N), n)
        i = put_int(buf, put(buf, i, _T1), t1)
        if prev is not None:
            i = put(buf, i, _PREV)
            for k in range(5):
                if k:
                    buf[i] = 44  # ","
                    i += 1
                i = put_int(buf, i, prev[k])
            buf[i] = 93  # "]"
            i += 1
        return put(buf, i, _END)

    def fault(self, buf, off: int, seq: int, pt: int, code: str, n: int) -> int:
        # code is one of the codec's fault codes (plain ASCII, nothing to escape)
        i = self._head(buf, off, b"fault")
        i = put_int(buf, put(buf, i, _SEQ), seq)
        i = put_int(buf, put(buf, i, _PT), pt)
        i = put(buf, i, _CODE)
        for c in code:
            buf[i] = ord(c)
            i += 1
        if n:
            return put(buf, put_int(buf, put(buf, i, _N_AFTER_STR), n), _END)
        return put(buf, i, _STR_END)

    def buzz(self, buf, off: int, seq: int, pt: int, ep: int) -> int:
        i = self._head(buf, off, b"buzz")
        i = put_int(buf, put(buf, i, _SEQ), seq)
        i = put_int(buf, put(buf, i, _PT), pt)
        i = put_int(buf, put(buf, i, _EP), ep)
        return put(buf, i, _END)

    def ack(self, buf, off: int, seq: int, pt: int, cs: int, ep: int, fp: int, np: int) -> int:
        i = self._head(buf, off, b"ack")
        i = put_int(buf, put(buf, i, _SEQ), seq)
        i = put_int(buf, put(buf, i, _PT), pt)
        i = put_int(buf, put(buf, i, _CS), cs)
        i = put_int(buf, put(buf, i, _EP), ep)
        if np:
            i = put_int(buf, put(buf, i, _FP), fp)
        i = put_int(buf, put(buf, i, _NP), np)
        return put(buf, i, _END)
