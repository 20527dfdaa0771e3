# Firmware update over the studio network (SPEC 3.10, docs/firmware.md): fetch a signed,
# content-addressed release over HTTP into a staging folder, check it, switch to it atomically.
# Loaded only when an update command or a release on trial needs it: not on the armed path.
import asyncio
import hashlib
import json
import os
import sys
from binascii import hexlify, unhexlify

from buzzline_protocol import fwupdate, messages  # noqa: F401  (fwupdate: its kinds)

CHUNK = 512  # bytes read from the socket at a time: no file is ever whole in RAM
TRIES = 40  # attempts per file while the server is away (a host restart), 0.5..2 s apart
TIMEOUT_MS = 5000  # no byte for this long: the link is dead, resume on a new connection
_task = None  # the running update
_man = ""  # its manifest digest


class UpdateError(Exception):
    def __init__(self, err: str) -> None:
        super().__init__(err)
        self.err = err


def _fw(app) -> str:
    # where firmware/main.py reads the release pointer: the working folder (a board's root; the
    # unix port runs in its podium's folder)
    return "fw/"


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


def _save(path: str, obj) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.rename(path + ".tmp", path)  # the switch: one rename, the old pointer or the new


def _pointer(fw: str) -> dict:
    try:
        with open(fw + "cur") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"cur": "", "ver": "", "good": 1}


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
        self.fw = _fw(app)
        self.stage = self.fw + "stage/"
        self.got = 0  # bytes fetched over HTTP
        self.buf = bytearray(CHUNK)
        self._pct = -1
        self.hold = app.local.get("ota_hold", "")  # tests: stop at this step (then SIGKILL)

    def report(self, step: str, pct=None, err=None) -> None:
        report(self.app, step, self.ver, self.rel, pct, err, self.got)

    async def _hold(self, where: str) -> None:
        if self.hold == where:
            print("update: holding at", where)
            while True:
                await asyncio.sleep_ms(1000)

    async def _get(self, path: str, out, off: int, h) -> int:
        """GET url+path from byte off into the open file out, feeding h; returns bytes read."""
        host, port, base = _split(self.msg["url"])
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
        ptr = _pointer(fw)
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
        _save(fw + "cur", new)
        self.report("switch", 100)
        restart(self.app)


def reset() -> None:
    # start again: a board resets; the unix port exits with status 3 and its supervisor
    # (firmware/tools/unixpodium.py, or the shell loop in docs/firmware.md) starts it again
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        sys.exit(3)


def restart(app) -> None:
    # firmware/main.py starts the podium again (a board resets), on the new pointer
    async def later() -> None:
        await asyncio.sleep_ms(300)  # the report and its PUBACK first
        app.local["rel"]["reboot"] = 1
        app.stop()

    app._restart_task = asyncio.create_task(later())


def report(app, step: str, ver, rel, pct=None, err=None, got=None) -> None:
    msg = {"v": 1, "t": "fwst", "id": app.pid, "b": app.boot, "step": step}
    if pct is not None:
        msg["pct"] = pct
    if ver:
        msg["ver"] = ver
    if rel:
        msg["rel"] = rel
    if err is not None:
        msg["err"] = err
    if got is not None:
        msg["got"] = got
    # json, not the codec's encoder: a podium does not load it (the host decodes either)
    topic = "buzzline/" + app.local["studio"] + "/podium/" + app.pid + "/fwst"
    app.mqtt.publish(topic, json.dumps(msg).encode(), 1, True)


async def _run(u: Update) -> None:
    global _task
    try:
        await u.run()
    except UpdateError as e:
        print("update: failed", e.err)
        u.report("failed", None, e.err)
    except OSError as e:
        print("update: failed", repr(e))
        u.report("failed", None, "io")
    _task = None


def _rollback(app) -> None:
    fw = _fw(app)
    ptr = _pointer(fw)
    if not ptr["cur"]:
        report(app, "failed", None, None, None, "noprev")
        return
    back = {"cur": ptr.get("prev", ""), "ver": ptr.get("pver", ""), "man": ptr.get("pman", ""), "good": 1}
    back["prev"] = ptr["cur"]
    back["pver"] = ptr["ver"]
    back["pman"] = ptr.get("man", "")
    _save(fw + "cur", back)
    report(app, "rolledback", ptr.get("pver", ""), ptr.get("prev", "") or None)
    restart(app)


def _good(app, man: str) -> None:
    rel = app.local["rel"]
    if rel["good"] or rel.get("man") != man:
        return
    fw = _fw(app)
    ptr = _pointer(fw)
    if ptr["cur"] != rel["cur"]:
        return
    ptr["good"] = 1
    _save(fw + "cur", ptr)
    try:
        os.remove(fw + "boots")
    except OSError:
        pass
    rel["good"] = 1
    report(app, "good", rel["ver"], rel["cur"])


def handle(app, payload) -> None:
    """A message on podium/ID/fw, or None: the app came up on a release on trial or after one
    that failed."""
    global _task, _man
    rel = app.local["rel"]
    if payload is None:
        if not rel["good"]:
            report(app, "trial", rel["ver"], rel["cur"])
        elif "bad" in rel:
            report(app, "rolledback", rel["bver"], rel["bad"], None, rel.get("err", "boot"))
        return
    try:
        msg = messages.decode(payload)
        if msg["t"] not in ("update", "rollback", "fwgood"):  # topics.check_kind, without it
            raise messages.ProtocolError(messages.R_TOPIC, msg["t"] + " not allowed on fw")
    except messages.ProtocolError as e:
        print("update: rejected", str(e))
        return
    kind = msg["t"]
    if kind == "fwgood":
        _good(app, msg["man"])
    elif app.armed:
        report(app, "failed", msg.get("ver"), None, None, "armed")
    elif _task is not None:
        if kind != "update" or msg["man"] != _man:
            report(app, "failed", msg.get("ver"), msg.get("man", "")[:16] or None, None, "busy")
    elif kind == "rollback":
        _rollback(app)
    else:
        _man = msg["man"]
        _task = asyncio.create_task(_run(Update(app, msg)))


start = handle
