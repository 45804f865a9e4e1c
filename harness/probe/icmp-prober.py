#!/usr/bin/env python3
# cnilab's prober: one long-lived process that pings from many network namespaces at once.
#
# Why not a ping per pair: a process per pair (nsenter + ping) costs ~10 ms of CPU each, and 3,540
# pairs keep two cores busy for 15 s. Here one process holds a raw ICMP socket in each source
# namespace (setns, socket, setns back: a socket stays in the namespace it was made in) and sends
# every pair's echo requests together, so probing costs packets, not processes.
#
# Protocol: one JSON request per stdin line, one JSON answer per stdout line. A request is a round:
#   {"sources": {KEY: NETNS_FILE}, "probes": [{"src": KEY, "dst": IP, "payload": HEX, "count": N}],
#    "intervalMs": I, "deadlineMs": D}
# Every probe sends N echo requests I ms apart (all probes interleaved), carrying its payload (the
# marker the captures are judged by), and waits up to D ms after its last one. The answer lists,
# per probe, {"sent", "received", "rttsMs"} or {"error"}: a socket that could not be opened or a
# probe that sent nothing is an error, never "unreachable". Sockets are closed at the end of each
# round, so a namespace deleted between rounds is never held alive here. EOF on stdin: exit.
#
# The other request ends a round on the captures: {"marks": [{"netns": FILE, "iface": NAME,
# "payload": HEX}]} sends one frame of ethertype 0x88B5 (IEEE 802 local experimental: nothing in a lab
# speaks it, and the decoder never reads it as traffic) out of each interface, through a packet socket
# made in that namespace. It answers {"marked": [null | "why not"]}, one per mark.
import json
import os
import select
import socket
import struct
import sys
import time

# Run isolated (python3 -I): harness/node, where the shared setns lives, is added by hand.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), '..', 'node'))
from netns_enter import enter, here, setns  # noqa: E402

SO_TIMESTAMPNS = 35  # <asm-generic/socket.h>; Python 3.11's socket module does not name it
ECHO_REQUEST, ECHO_REPLY = 8, 0
HOME = here()


def open_socket(path):
    enter(path)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    finally:
        setns(HOME)
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s


def words(b):
    if len(b) % 2:
        b += b'\0'
    return sum(struct.unpack('!%dH' % (len(b) // 2), b))


def echo(ident, seq, payload, payload_sum):
    s = (ECHO_REQUEST << 8) + ident + seq + payload_sum
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return struct.pack('!BBHHH', ECHO_REQUEST, 0, ~s & 0xFFFF, ident, seq) + payload


_last = [0, 0]


def next_base(count):
    # Strictly after the previous round's idents; the same pair gets the same ident again only
    # after 65.5 s, past conntrack's 30 s for ICMP.
    base = max(time.monotonic_ns() // 1_000_000, _last[0] + _last[1])
    _last[0], _last[1] = base, count
    return base


def run_round(req):
    interval = req.get('intervalMs', 10) / 1000
    deadline = req['deadlineMs'] / 1000
    probes = req['probes']
    results = [{'sent': 0, 'received': 0, 'rttsMs': []} for _ in probes]
    socks, errors = {}, {}
    for key, path in req['sources'].items():
        try:
            socks[key] = open_socket(path)
        except OSError as e:
            errors[key] = 'cannot open an ICMP socket in %s: %s' % (path, e.strerror or e)
    by_fd = {s.fileno(): key for key, s in socks.items()}
    # (source key, ident, seq) -> (probe index, send time in ns). Idents are unique within a source
    # in a round, and never repeat for a pair within a minute: conntrack keys ICMP flows by them,
    # and a flow a previous check left (with the NAT binding of the mode before a switch) must not
    # catch this round's echoes. ping got that from its pid; here the base is the clock in ms.
    waiting = {}
    per_source = {}
    plan = []
    base = next_base(len(probes))
    for i, p in enumerate(probes):
        if p['src'] in errors:
            results[i] = {'error': errors[p['src']]}
            continue
        ident = base + per_source.get(p['src'], 0)
        per_source[p['src']] = per_source.get(p['src'], 0) + 1
        payload = bytes.fromhex(p['payload'])
        plan.append((i, p['src'], ident & 0xFFFF, p['dst'], payload, words(payload), p.get('count', 3)))
    count = max((x[6] for x in plan), default=0)
    ep = select.epoll()
    for fd in by_fd:
        ep.register(fd, select.EPOLLIN)
    ends = {}
    start = time.monotonic()

    def drain(fd):
        key = by_fd[fd]
        s = socks[key]
        while True:
            try:
                data, anc, _flags, addr = s.recvmsg(2048, 64)
            except BlockingIOError:
                return
            ihl = (data[0] & 15) * 4
            if len(data) < ihl + 8 or data[ihl] != ECHO_REPLY:
                continue
            ident, seq = struct.unpack_from('!HH', data, ihl + 4)
            hit = waiting.pop((key, ident, seq), None)
            if hit is None:
                continue
            i, sent_ns, dst = hit
            if addr[0] != dst:
                continue
            rx = time.time_ns()
            for level, kind, val in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(val) >= 16:
                    sec, nsec = struct.unpack_from('@qq', val)
                    rx = sec * 1_000_000_000 + nsec
            r = results[i]
            r['received'] += 1
            r['rttsMs'].append(round(max(0, rx - sent_ns) / 1e6, 4))

    def poll(timeout):
        for fd, _ev in ep.poll(max(0.0, timeout)):
            drain(fd)

    for k in range(count):
        # Packet k of every probe, interleaved; between bursts the replies are read so no socket
        # buffer fills, and the next burst waits for its slot.
        slot = start + k * interval
        poll(slot - time.monotonic())
        for n, (i, key, ident, dst, payload, psum, c) in enumerate(plan):
            if k >= c:
                continue
            seq = k
            pkt = echo(ident, seq, payload, psum)
            for _try in range(50):
                try:
                    sent_ns = time.time_ns()
                    socks[key].sendto(pkt, (dst, 0))
                    waiting[(key, ident, seq)] = (i, sent_ns, dst)
                    results[i]['sent'] += 1
                    break
                except (BlockingIOError, InterruptedError):
                    poll(0.001)
                except OSError as e:
                    results[i].setdefault('sendError', e.strerror or str(e))
                    break
            ends[i] = time.monotonic() + deadline
            if n % 64 == 63:
                poll(0)
    last = max(ends.values(), default=time.monotonic())
    while waiting and time.monotonic() < last:
        poll(min(0.05, last - time.monotonic()))
    ep.close()
    for s in socks.values():
        s.close()
    for i, r in enumerate(results):
        if 'error' in r:
            continue
        if r['sent'] == 0:
            results[i] = {'error': 'sent no packet to %s: %s' % (probes[i]['dst'], r.get('sendError', 'nothing sent'))}
    return results


ETH_P_END = 0x88B5
BROADCAST = b'\xff' * 6
# A locally administered source address: the frame is ours, never a node's.
SOURCE = bytes.fromhex('02c111ab0e0d')


def send_marks(req):
    out = []
    for m in req['marks']:
        try:
            enter(m['netns'])
            try:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            finally:
                setns(HOME)
            with s:
                # The name resolves in the socket's own namespace.
                s.bind((m['iface'], 0))
                s.send(BROADCAST + SOURCE + struct.pack('!H', ETH_P_END) + bytes.fromhex(m['payload']))
            out.append(None)
        except OSError as e:
            out.append('cannot send the end marker out of %s in %s: %s' % (m['iface'], m['netns'], e.strerror or e))
    return out


def answer(req):
    if 'marks' in req:
        return {'marked': send_marks(req)}
    return {'results': run_round(req)}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = answer(json.loads(line))
        except Exception as e:  # a broken request answers with its error; the prober goes on
            out = {'error': '%s: %s' % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(out, separators=(',', ':')) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
