# Update mode (SPEC 3.10, docs/firmware.md): one boot that acts on the firmware commands the
# app queued (podium.fwreq wrote fw/req and restarted), with the link and this code only: no
# app, lights or button, so it fits a 96 KB heap. An update fetches the signed,
# content-addressed release over HTTP into a staging folder, checks it and switches to it
# atomically; a rollback and the host's confirmation (fwgood) change the pointer. Each reports
# on the podium's fwst topic, then the podium restarts (firmware/relboot.py runs this module:
# into the new release on trial, the same one, or the previous one).
import asyncio
import hashlib
import json
import os
import sys
from binascii import hexlify, unhexlify

from buzzline_protocol import fwupdate, messages  # noqa: F401  (fwupdate: its kinds)
from relboot import FW, pointer, save

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are never evaluated
    pass

CHUNK = 512  # bytes read from the socket at a time: no file is ever whole in RAM
TRIES = 40  # attempts per file while the server is away (a host restart), 0.5..2 s apart
TIMEOUT_MS = 5000  # no byte for this long: the link is dead, resume on a new connection
SETTLE_MS = 5000  # at the end, how long the reports may take to be acknowledged
_report: Any = None  # podium.startup.report, set by main() (its module is dropped after start-up)


class UpdateError(Exception):
    def __init__(self, err: str) -> None:
        super().__init__(err)
        self.err = err


def _lib(app) -> str:
    # the running release's files: its folder, or the flashed tree (/lib on a board)
    lib = app.local["rel"].get("lib")
    if lib:
        return lib
    for p in sys.path:
        if p.endswith("lib"):
            return p
    return "lib"


def _exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mkdirs(path: str) -> None:
    cur = ""
    for part in path.split("/"):
        cur = cur + part + "/" if cur or part else "/"
        if part and not _exists(cur):
            os.mkdir(cur)


def _rmtree(path: str) -> None:
    if not _exists(path):
        return
    for entry in os.ilistdir(path):
        child = path + "/" + entry[0]
        if entry[1] == 0x4000:
            _rmtree(child)
        else:
            os.remove(child)
    os.rmdir(path)


def _hash_file(path: str, h, buf: bytearray) -> int:
    n = 0
    with open(path, "rb") as f:
        while True:
            got = f.readinto(buf)
            if not got:
                return n
            h.update(buf if got == len(buf) else buf[:got])
            n += got


class _Hmac:
    # HMAC-SHA256 (RFC 2104) fed as the manifest streams in; MicroPython has no hmac module.
    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key + bytes(64 - len(key))
        self._outer = bytes(b ^ 0x5C for b in key)
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))

    def update(self, data) -> None:
        self._inner.update(data)

    def hexdigest(self) -> str:
        return hexlify(hashlib.sha256(self._outer + self._inner.digest()).digest()).decode()


class _Both:
    # the manifest's SHA-256 (its name) and its HMAC, fed by one stream
    def __init__(self, key: bytes) -> None:
        self.h = hashlib.sha256()
        self.mac = _Hmac(key)

    def update(self, data) -> None:
        self.h.update(data)
        self.mac.update(data)


class _Null:
    def update(self, data) -> None:
        pass


def _patch(old: str, patch: str, out_path: str, h) -> None:
    # A patch line "=I,J" copies lines I..J-1 of the old manifest; any other line is new.
    with open(old) as o, open(patch) as p, open(out_path, "w") as out:
        n = 0
        for line in p:
            if line[0] == "=":
                i, j = line[1:].split(",")
                while n < int(j):
                    text = o.readline()
                    if not text:
                        raise ValueError("patch beyond the old manifest")
                    if n >= int(i):
                        out.write(text)
                        h.update(text.encode())
                    n += 1
            else:
                out.write(line)
                h.update(line.encode())


def _split(url: str):
    # http://HOST:PORT/PATH -> (host, port, path)
    if url[:7] != "http://":
        raise UpdateError("http")
    rest = url[7:]
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    host, _, port = hostport.partition(":")
    return host, int(port) if port else 80, path


class Update:
    """One update: manifest, then each file, staged and hashed as it arrives, then the switch."""

    def __init__(self, app, msg: dict) -> None:
        self.app = app
        self.msg = msg
        self.man = msg["man"]
        self.rel = self.man[:16]
        self.ver = msg["ver"]
        self.fw = FW
        self.stage = self.fw + "stage/"
        self.got = 0  # bytes fetched over HTTP
        self.buf = bytearray(CHUNK)
        self._pct = -1
        self.hold = app.local.get("ota_hold", "")  # tests: stop at this step (then SIGKILL)
        self.pace = app.local.get("ota_pace_ms", 0)  # tests: a pause per chunk, so a fault lands mid-file

    def report(self, step: str, pct=None, err=None) -> None:
        _report(self.app, step, self.ver, self.rel, pct, err, self.got)

    async def _hold(self, where: str) -> None:
        if self.hold == where:
            print("update: holding at", where)
            while True:
                await asyncio.sleep_ms(1000)

    async def _get(self, path: str, out, off: int, h) -> int:
        """GET url+path from byte off into the open file out, feeding h; returns bytes read."""
        host, port, base = _split(self.msg["url"])
        print("update: GET", path, "from byte", off)
        r, w = await asyncio.open_connection(host, port)
        n = 0
        try:
            q = "GET " + base + path + "?p=" + self.app.pid + " HTTP/1.0\r\nHost: " + host + "\r\n"
            if off:
                q += "Range: bytes=" + str(off) + "-\r\n"
            w.write((q + "\r\n").encode())
            await w.drain()
            line: bytes = await asyncio.wait_for_ms(r.readline(), TIMEOUT_MS)
            status = line.split()
            if len(status) < 2 or status[1] not in (b"200", b"206") or (off and status[1] != b"206"):
                raise UpdateError("http")
            while (await asyncio.wait_for_ms(r.readline(), TIMEOUT_MS)) not in (b"\r\n", b""):
                pass
            while True:
                chunk: bytes = await asyncio.wait_for_ms(r.read(CHUNK), TIMEOUT_MS)
                if not chunk:
                    return n
                out.write(chunk)
                h.update(chunk)
                n += len(chunk)
                self.got += len(chunk)
                if self.pace:
                    await asyncio.sleep_ms(self.pace)
                if self.hold == "fetch" and path[1] == "f" and n > CHUNK:
                    out.flush()
                    await self._hold("fetch")
        finally:
            w.close()
            await w.wait_closed()

    async def _retry(self, attempt: int, e) -> None:
        if isinstance(e, UpdateError) and e.err != "http":
            raise e
        if attempt == TRIES - 1:
            raise UpdateError("http")
        print("update: retrying after", repr(e))
        await asyncio.sleep_ms(500 if attempt < 4 else 2000)

    async def _fetch(self, sha: str, dest: str, size: int) -> str:
        """Fetch a file into dest until it holds size bytes, resuming what is staged; its SHA-256."""
        for attempt in range(TRIES):
            h = hashlib.sha256()
            have = _hash_file(dest, h, self.buf) if _exists(dest) else 0
            if have > size:
                os.remove(dest)
                continue
            if have == size:
                return hexlify(h.digest()).decode()
            try:
                with open(dest, "ab") as out:
                    await self._get("/f/" + sha, out, have, h)
            except (OSError, UpdateError, asyncio.TimeoutError) as e:
                await self._retry(attempt, e)
        raise UpdateError("http")

    async def _manifest(self) -> str:
        key = self.app.local.get("fwkey")
        if not key:
            raise UpdateError("nokey")
        path = self.stage + "manifest"
        rel = self.app.local["rel"]
        if rel["cur"] and rel.get("man"):
            # only the lines that changed since the running release's manifest (a few hundred
            # bytes for a one-module change), checked against the signed digest like a whole one
            old = self.fw + "r/" + rel["cur"] + "/manifest"
            both = _Both(unhexlify(key))
            try:
                with open(self.stage + "patch", "wb") as out:
                    await self._get("/p/" + rel["man"] + "/" + self.man, out, 0, _Null())
                _patch(old, self.stage + "patch", path, both)
                if hexlify(both.h.digest()).decode() == self.man:
                    if both.mac.hexdigest() != self.msg["sig"]:
                        raise UpdateError("sig")
                    return path
            except (OSError, ValueError, UpdateError, asyncio.TimeoutError) as e:
                if isinstance(e, UpdateError) and e.err == "sig":
                    raise
                print("update: no manifest patch:", repr(e))
        mac = _Hmac(unhexlify(key))
        h = hashlib.sha256()
        for attempt in range(TRIES):
            both = _Both(unhexlify(key))
            try:
                with open(path, "wb") as out:  # small: fetched whole each time
                    await self._get("/m/" + self.man, out, 0, both)
                h, mac = both.h, both.mac
                break
            except (OSError, UpdateError, asyncio.TimeoutError) as e:
                await self._retry(attempt, e)
        if hexlify(h.digest()).decode() != self.man:
            raise UpdateError("man")
        if mac.hexdigest() != self.msg["sig"]:
            raise UpdateError("sig")
        return path

    def _entries(self, path: str):
        # the manifest, one file per line (docs/firmware.md): header, files, "]}"
        with open(path) as f:
            head = f.readline()
            try:
                info = json.loads(head.strip() + "]}")
            except ValueError:
                raise UpdateError("man")
            yield info
            for line in f:
                line = line.strip()
                if line == "]}" or not line:
                    continue
                try:
                    e = json.loads(line[:-1] if line[-1] == "," else line)
                except ValueError:
                    raise UpdateError("man")
                yield e

    async def run(self) -> None:
        fw = self.fw
        ptr = pointer(fw)
        _mkdirs(self.stage[:-1])
        _mkdirs(fw + "r")
        if _exists(self.stage + "for"):
            with open(self.stage + "for") as f:
                staged_for = f.read()
        else:
            staged_for = ""
        if staged_for != self.man:  # a staging folder left by another update: start clean
            _rmtree(self.stage[:-1])
            _mkdirs(self.stage[:-1])
            with open(self.stage + "for", "w") as f:
                f.write(self.man)
        for entry in os.ilistdir(fw + "r"):  # keep the running and the previous release only
            if entry[0] not in (ptr["cur"], ptr.get("prev", "")):
                _rmtree(fw + "r/" + entry[0])
        self.report("fetch", 0)
        mpath = await self._manifest()
        info = None
        total = 0
        for e in self._entries(mpath):
            if info is None:
                info = e
                if info.get("board") != self.app.board.name:
                    raise UpdateError("board")
                if info.get("version") != self.ver:
                    raise UpdateError("man")
            else:
                total += e[1]
        done = 0
        lib = _lib(self.app)
        first = True
        for e in self._entries(mpath):
            if first:
                first = False
                continue
            rel_path, size, sha = e[0], e[1], e[2]
            if rel_path[:4] != "lib/" or ".." in rel_path:
                raise UpdateError("man")
            dest = self.stage + rel_path
            _mkdirs(dest[: dest.rfind("/")])
            if not _exists(dest) and self._same(lib + rel_path[3:], size, sha):
                self._copy(lib + rel_path[3:], dest)  # unchanged: from the running release
            digest = await self._fetch(sha, dest, size)
            if digest != sha:
                os.remove(dest)
                raise UpdateError("hash")
            done += size
            pct = done * 100 // total if total else 100
            if pct >= self._pct + 10 or pct == 100:
                self._pct = pct
                self.report("fetch", pct)
        await self._hold("staged")
        await self.switch(ptr)

    def _same(self, path: str, size: int, sha: str) -> bool:
        try:
            if os.stat(path)[6] != size:
                return False
            h = hashlib.sha256()
            _hash_file(path, h, self.buf)
            return hexlify(h.digest()).decode() == sha
        except OSError:
            return False

    def _copy(self, src: str, dest: str) -> None:
        with open(src, "rb") as i, open(dest + ".tmp", "wb") as o:
            while True:
                n = i.readinto(self.buf)
                if not n:
                    break
                o.write(self.buf if n == len(self.buf) else self.buf[:n])
        os.rename(dest + ".tmp", dest)

    async def switch(self, ptr: dict) -> None:
        fw = self.fw
        dest = fw + "r/" + self.rel
        if self.rel == ptr["cur"]:
            raise UpdateError("busy")  # already running it
        _rmtree(dest)
        os.remove(self.stage + "for")  # the staging mark: the release folder holds its files only
        os.rename(self.stage[:-1], dest)
        await self._hold("renamed")
        try:
            os.remove(fw + "boots")
        except OSError:
            pass
        new = {"cur": self.rel, "man": self.man, "ver": self.ver, "good": 0}
        new["prev"] = ptr["cur"]
        new["pver"] = ptr["ver"]
        new["pman"] = ptr.get("man", "")
        if self.hold == "pointer":
            with open(fw + "cur.tmp", "w") as f:
                json.dump(new, f)
            await self._hold("pointer")
        save(fw + "cur", new)
        self.report("switch", 100)


def decode(payload):
    """A command on podium/ID/fw, or None (rejected, printed)."""
    try:
        msg = messages.decode(payload)
        if msg["t"] not in ("update", "rollback", "fwgood"):  # topics.check_kind, without it
            raise messages.ProtocolError(messages.R_TOPIC, msg["t"] + " not allowed on fw")
        return msg
    except messages.ProtocolError as e:
        print("update: rejected", str(e))
        return None


class Mode:
    """What update mode runs on: the podium's id, the boot that asked (its fwst reports carry
    that boot's b, the one the host knows), its settings and its link (fw commands only)."""

    def __init__(self, local: dict, board, req: dict) -> None:
        self.local = local
        self.board = board
        self.pid = local.get("id") or board.unique_id()
        self.boot = req["b"]
        self.cmds = req["cmds"]
        self.man = ""  # the update being run
        self.mqtt: Any = None  # its link, made by main() (it needs on_msg)

    def busy(self, msg) -> None:
        # a command while another one is acted on: refused (the same update again: nothing)
        if msg is None or msg["t"] == "fwgood" or (msg["t"] == "update" and msg["man"] == self.man):
            return
        _report(self, "failed", msg.get("ver"), msg.get("man", "")[:16] or None, None, "busy")

    def outcome(self, step: str, ver, rel, err=None) -> None:
        # The end of a command is reported by the app that runs next (podium.startup.start, at
        # each boot until the next command): a "good" sent from here would tell the host the
        # podium is done while it is still restarting, and a push sent then would be lost.
        save(FW + "said", [step, ver, rel, err])

    def on_msg(self, topic: str, payload: bytes, retained: bool) -> None:
        self.busy(decode(payload))

    def rollback(self) -> None:
        ptr = pointer(FW)
        if not ptr["cur"]:
            self.outcome("failed", None, None, "noprev")
            return
        back = {"cur": ptr.get("prev", ""), "ver": ptr.get("pver", ""), "man": ptr.get("pman", ""), "good": 1}
        back["prev"] = ptr["cur"]
        back["pver"] = ptr["ver"]
        back["pman"] = ptr.get("man", "")
        save(FW + "cur", back)
        self.outcome("rolledback", ptr.get("pver", ""), ptr.get("prev", "") or None)

    def good(self, man: str) -> None:
        # the host saw the release on trial connect, say hello and its clock become trusted
        ptr = pointer(FW)
        if ptr["good"] or ptr.get("man") != man:
            return
        ptr["good"] = 1
        save(FW + "cur", ptr)
        try:
            os.remove(FW + "boots")
        except OSError:
            pass
        self.outcome("good", ptr["ver"], ptr["cur"])

    async def act(self, msg: dict) -> None:
        kind = msg["t"]
        if kind == "fwgood":
            self.good(msg["man"])
        elif kind == "rollback":
            self.rollback()
        else:
            self.man = msg["man"]
            u = Update(self, msg)
            try:
                await u.run()
            except UpdateError as e:
                print("update: failed", e.err)
                self.outcome("failed", u.ver, u.rel, e.err)
            except OSError as e:
                print("update: failed", repr(e))
                self.outcome("failed", u.ver, u.rel, "io")

    async def run(self) -> None:
        link = asyncio.create_task(self.mqtt.run())
        try:
            os.remove(FW + "said")  # the last command's outcome: a new one is under way
        except OSError:
            pass
        first = None
        for text in self.cmds:  # the first command is acted on, any other one is refused
            msg = decode(text)
            if first is None and msg is not None:
                first = msg
            else:
                self.busy(msg)
        if first is not None:
            await self.act(first)
        for _ in range(SETTLE_MS // 50):  # the reports out and acknowledged, then restart
            if self.mqtt.up and not self.mqtt.pending():
                break
            await asyncio.sleep_ms(50)
        await self.mqtt.disconnect()
        link.cancel()


def main(path: str, rel: dict) -> None:
    """Update mode (firmware/relboot.py calls it when fw/req exists); returns to be restarted."""
    global _report
    with open(FW + "req") as f:
        req = json.load(f)
    os.remove(FW + "req")  # one update-mode boot per request: a power cut boots the app again
    from podium import drop, startup

    _report = startup.report
    local = startup.load_local(path)
    local["rel"] = rel
    board = startup.load_board(local)
    startup.make_room()
    m = Mode(local, board, req)
    topic = "buzzline/" + local["studio"] + "/podium/" + m.pid + "/fw"
    m.mqtt = startup.link(local, "bz-" + m.pid, None, None, ((topic, 1),), m.on_msg, None, board.net_up)
    del startup
    drop("podium.startup")
    drop("podium.config")
    print("update: mode on", rel["cur"] or "the flashed release", "for", len(m.cmds), "command(s)")
    asyncio.run(m.run())
