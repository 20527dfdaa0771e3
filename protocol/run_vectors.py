# Runs protocol/vectors/*.json against the codec. The same file runs under CPython
# and the MicroPython unix port; any failing vector makes the exit status 1.
#   python protocol/run_vectors.py     micropython protocol/run_vectors.py
import json
import os
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE)

from buzzline_protocol import codec, upstream, viewer  # noqa: E402, F401  (registers their kinds)


def _wire(case):
    if "wire_hex" in case:
        h = case["wire_hex"]
        return bytes(int(h[i : i + 2], 16) for i in range(0, len(h), 2))
    w = case["wire"]
    if "pad" in case:
        # oversize cases: the wire with a padding field of n characters spliced in before the last brace
        w = w[:-1] + ',"pad":"' + "x" * case["pad"] + '"}'
    return w.encode()


def _same(a, b):
    if len(a) != len(b):
        return False
    for k in a:
        if k not in b or a[k] != b[k]:
            return False
    return True


def run_file(path, report):
    with open(path) as f:
        doc = json.load(f)
    kind = doc["kind"]
    for case in doc.get("valid", []):
        name = kind + "/" + case["name"]
        wire = case["wire"].encode()
        # decode_only: the wire is not what encode makes (e.g. it carries an unknown field)
        if not case.get("decode_only"):
            try:
                got = codec.encode(case["msg"])
            except codec.ProtocolError as e:
                report(name + " encode", "raised " + str(e))
                continue
            if got != wire:
                report(name + " encode", "got " + repr(got))
                continue
        try:
            back = codec.decode(wire)
        except codec.ProtocolError as e:
            report(name + " decode", "raised " + str(e))
            continue
        expect = case.get("decoded", case["msg"])
        full = {"v": codec.VERSION}
        for k in expect:
            full[k] = expect[k]
        if not _same(back, full):
            report(name + " decode", "got " + repr(back))
            continue
        report(name, None)
    for case in doc.get("invalid", []):
        name = kind + "/" + case["name"]
        try:
            got = codec.decode(_wire(case))
            report(name, "decoded, expected " + case["reason"] + ": " + repr(got))
        except codec.ProtocolError as e:
            if e.reason != case["reason"]:
                report(name, "reason " + e.reason + ", expected " + case["reason"])
            else:
                report(name, None)
    for case in doc.get("encode_invalid", []):
        name = kind + "/" + case["name"] + " (encode)"
        try:
            got = codec.encode(case["msg"])
            report(name, "encoded, expected " + case["reason"])
        except codec.ProtocolError as e:
            if e.reason != case["reason"]:
                report(name, "reason " + e.reason + ", expected " + case["reason"])
            else:
                report(name, None)


def main(argv):
    verbose = "-v" in argv
    vdir = _HERE + "/vectors"
    files = [vdir + "/" + n for n in sorted(os.listdir(vdir)) if n.endswith(".json")]
    counts = [0, 0]
    kinds = []

    def report(name, failure):
        if failure is None:
            counts[0] += 1
            if verbose:
                print("ok   " + name)
        else:
            counts[1] += 1
            print("FAIL " + name + ": " + failure)

    for path in files:
        run_file(path, report)
        kinds.append(path.rsplit("/", 1)[-1][:-5])
    missing = [k for k in codec.KINDS if k not in kinds]
    for k in missing:
        counts[1] += 1
        print("FAIL no vectors for kind " + k)
    impl = sys.implementation.name
    print("protocol vectors under " + impl + ": " + str(len(files)) + " files")
    print(str(counts[0]) + " passed, " + str(counts[1]) + " failed")
    return 1 if counts[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
