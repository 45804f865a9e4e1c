#!/usr/bin/env python3
"""confd's BIRD 1.x configuration, as calico-node v3.28 renders it, rewritten for stock BIRD 2.

Calico's BIRD is a fork of 1.6 with one addition, the route attribute krt_tunnel: set in the kernel
export filter (confd's bird_ipam.cfg.template, calico_kernel_programming), it makes BIRD write a
block's route through tunl0, which is how IPIP routes reach the kernel in v3.28 (felix only keeps
tunl0). Stock BIRD 1.6 has no such attribute. Stock BIRD 2 can write the same route with standard
attributes: the interface set to tunl0, onlink, the BGP gateway kept.

This rewrites the files confd rendered (never Calico's templates), so stock BIRD 2 runs them:
- every protocol and bgp template gets an ipv4 channel holding its channel options (import,
  export, gateway, add paths, next hop, limits), as BIRD 2 wants them;
- `krt_tunnel = "X";` becomes: for a route learned by BGP, the interface X, onlink, and the BGP
  next hop (the peer node) as gateway, which is the route Calico's fork writes (`BLOCK via PEER
  dev tunl0 onlink`); `krt_tunnel = "";` (no tunnel) becomes an empty statement; the filter
  declares calico_gw instead;
- the kernel protocol keeps BIRD 1.x's behaviour where BIRD 2 changed it: routes go to the kernel
  with no metric (BIRD 2's default is 32) and device routes are not exported (1.x's `device
  routes` is off unless set; BIRD 2 has no such switch, so the kernel's filter rejects them);
- includes name the rewritten files (BIRD 2 reads them relative to the including file).
What it does not know (a top-level statement other than those confd writes) is an error naming
it: a partial rewrite would let a mode pass on a configuration BIRD never ran. BIRD 2's own parser
then checks the result (bird -p), and its error is this script's.

usage: bird2-from-confd.py SRC_DIR DST_DIR [BIRD2]   (bird.cfg, bird_aggr.cfg, bird_ipam.cfg)
"""
import os
import re
import subprocess
import sys

FILES = ("bird.cfg", "bird_aggr.cfg", "bird_ipam.cfg")
# BIRD 2 channel options (doc: "Channel options"; bgp: gateway, add paths, next hop).
CHANNEL = re.compile(
    r"^(import|export|receive limit|import limit|export limit|import keep filtered|gateway|add paths|next hop)\b"
)
KNOWN_TOP = re.compile(r"^(router id|include|function|filter|protocol|template)\b")


class Unknown(Exception):
    pass


def strip_comments(text):
    """Drops `# ...` to the end of its line, except inside a string."""
    out, in_str, i = [], False, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            in_str = not in_str
        if c == "#" and not in_str:
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def split_items(text):
    """Top-level items: a statement up to `;`, or a header with its braced body (and an optional `;`)."""
    items, depth, start, in_str = [], 0, 0, False
    for i, c in enumerate(text):
        if c == '"':
            in_str = not in_str
        if in_str:
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                raise Unknown("unbalanced '}'")
            if depth == 0:
                rest = text[i + 1 :].lstrip()
                # `export filter { ... };` inside a body ends with `;`: it belongs to the item.
                if not rest.startswith(";"):
                    items.append(text[start : i + 1].strip())
                    start = i + 1
        elif c == ";" and depth == 0:
            # `filter NAME TYPE VAR; { ... }`: a filter's local declarations come before its body.
            if text[start:i].lstrip().startswith("filter "):
                continue
            items.append(text[start : i + 1].strip())
            start = i + 1
    if depth != 0:
        raise Unknown("unbalanced '{'")
    tail = text[start:].strip()
    if tail:
        raise Unknown(f"unterminated: {tail[:60]}")
    return [x for x in items if x and x != ";"]


def body_of(item):
    """The header before the first `{` and the statements inside the outer braces."""
    open_at = item.index("{")
    close_at = item.rindex("}")
    return item[:open_at].strip(), item[open_at + 1 : close_at]


def channel_block(stmts):
    return "  ipv4 {\n" + "".join(f"    {s};\n" for s in stmts) + "  };\n" if stmts else ""


def protocol(item):
    header, body = body_of(item)
    words = header.split()
    kind = words[1] if len(words) > 1 else ""
    stmts = [x[:-1].rstrip() if x.endswith(";") else x for x in split_items(body)]
    proto = [s for s in stmts if not CHANNEL.match(s)]
    chan = [s for s in stmts if CHANNEL.match(s)]
    if kind == "kernel":
        exports = [s for s in chan if s.startswith("export")]
        if exports != [f"export filter {KERNEL_FILTER}"]:
            raise Unknown(f"protocol kernel exports {exports or 'nothing'}, not filter {KERNEL_FILTER}")
        proto.append("metric 0")
    out = f"{header} {{\n" + "".join(f"  {s};\n" for s in proto)
    if kind in ("kernel", "bgp"):
        out += channel_block(chan)
    elif kind in ("direct", "static"):
        if chan:
            raise Unknown(f"channel options in protocol {kind}: {chan[0][:60]}")
        out += "  ipv4;\n"
    elif kind == "device":
        if chan:
            raise Unknown(f"channel options in protocol device: {chan[0][:60]}")
    else:
        raise Unknown(f"protocol {kind or '?'}: not one confd's templates write")
    return out + "}\n"


TUNNEL = re.compile(r'krt_tunnel\s*=\s*"([^"]*)"\s*;')
KERNEL_FILTER = "calico_kernel_programming"


def tunnel(m):
    dev = m.group(1)
    if not dev:
        # No tunnel: nothing to set, but a statement all the same (CrossSubnet writes `then krt_tunnel = ""; else`).
        return "{ }"
    return (
        f'if defined(bgp_next_hop) then {{ calico_gw = bgp_next_hop; ifname = "{dev}"; onlink = true; gw = calico_gw; }}'
    )


def filter_item(item):
    header, _ = body_of(item)
    # The one declaration stock BIRD 1.6 needed (ci/ensure.sh adds it to the template) becomes ours.
    fixed = re.sub(r"\bstring\s+krt_tunnel\s*;", "ip calico_gw;", item, count=1)
    if "ip calico_gw;" not in fixed:
        fixed = fixed.replace(header, f"{header} ip calico_gw;", 1)
    fixed = TUNNEL.sub(tunnel, fixed)
    if header.split()[1] == KERNEL_FILTER:
        # BIRD 1.x's kernel protocol never exported device routes (its `device routes` is off).
        at = fixed.index("{") + 1
        fixed = fixed[:at] + "\n  if source = RTS_DEVICE then reject;" + fixed[at:]
    return fixed + "\n"


def translate(text):
    out = []
    for item in split_items(strip_comments(text)):
        if not KNOWN_TOP.match(item):
            raise Unknown(f"not a statement confd writes for BIRD 2 to run: {item.splitlines()[0][:60]}")
        if item.startswith(("protocol", "template")):
            out.append(protocol(item))
        elif item.startswith("filter"):
            out.append(filter_item(item))
        elif item.startswith("include"):
            name = re.fullmatch(r'include\s+"([^"/]+)"\s*;', item)
            if not name or name.group(1) not in FILES:
                raise Unknown(f"an include of a file confd does not render: {item[:60]}")
            # BIRD 2 reads an include relative to the including file: the rewritten one beside it.
            out.append(f'include "{name.group(1)}";\n')
        else:
            if "krt_tunnel" in item:
                item = TUNNEL.sub(tunnel, item)
            out.append(item + "\n")
    return "# Rewritten for BIRD 2 by cnilab (harness/program/bird2-from-confd.py) from confd's rendering\n" + "".join(out)


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    src, dst = argv[1], argv[2]
    bird = argv[3] if len(argv) == 4 else "bird"
    os.makedirs(dst, mode=0o700, exist_ok=True)
    written = []
    try:
        for f in FILES:
            with open(os.path.join(src, f), encoding="utf-8") as fh:
                text = translate(fh.read())
            # confd's reload_cmd may run this while the lab does: each run writes its own temporaries.
            tmp = os.path.join(dst, f".{f}.{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            written.append((tmp, os.path.join(dst, f)))
    except (Unknown, ValueError, OSError) as e:
        print(f"bird2-from-confd: {f}: {e}", file=sys.stderr)
        return 1
    # All three in place at once, then BIRD 2's own parser: a file it refuses fails here, loudly.
    for tmp, final in written:
        os.replace(tmp, final)
    check = subprocess.run([bird, "-p", "-c", os.path.join(dst, "bird.cfg")], capture_output=True, text=True)
    if check.returncode != 0:
        print(f"bird2-from-confd: BIRD 2 refuses the rewrite: {(check.stderr or check.stdout).strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
