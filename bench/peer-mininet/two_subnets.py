#!/usr/bin/env python3
# The peer side of bench/peer-mininet: mininet 2.3.0 (Debian's package) builds the two-subnet shape
# cnilab builds (hosts split over two LinuxBridge switches, a router joining them, no controller),
# pings every ordered pair once (net.pingAll: one pair after another), and tears it down through
# its own API (net.stop; never `mn -c`, which kills processes by name). Prints one JSON line of
# timings in seconds. Names carry a "cnmn" prefix so nothing here is mistaken for anyone else's.
import json
import sys
import time

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.node import Node
from mininet.nodelib import LinuxBridge
from mininet.topo import Topo


class Router(Node):
    def config(self, **params):
        super().config(**params)
        self.cmd('sysctl -qw net.ipv4.ip_forward=1')


class TwoSubnets(Topo):
    def build(self, hosts=6):
        r = self.addNode('cnmnr0', cls=Router, ip='10.0.1.1/24')
        sa = self.addSwitch('cnmns1', cls=LinuxBridge)
        sb = self.addSwitch('cnmns2', cls=LinuxBridge)
        self.addLink(sa, r, intfName2='cnmnr0-eth1', params2={'ip': '10.0.1.1/24'})
        self.addLink(sb, r, intfName2='cnmnr0-eth2', params2={'ip': '10.0.2.1/24'})
        half = (hosts + 1) // 2
        for i in range(hosts):
            net, k = (1, i + 10) if i < half else (2, i - half + 10)
            h = self.addHost('cnmnh%d' % (i + 1), ip='10.0.%d.%d/24' % (net, k), defaultRoute='via 10.0.%d.1' % net)
            self.addLink(h, sa if net == 1 else sb)


def main():
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    setLogLevel('error')
    t0 = time.monotonic()
    net = Mininet(topo=TwoSubnets(hosts=hosts), switch=LinuxBridge, controller=None, autoSetMacs=True, waitConnected=False)
    net.start()
    t1 = time.monotonic()
    try:
        # The router answers too, so pingAll covers hosts and router; count only host pairs below.
        hs = [h for h in net.hosts if h.name.startswith('cnmnh')]
        loss = net.ping(hosts=hs, timeout='1')
        t2 = time.monotonic()
    finally:
        net.stop()
    t3 = time.monotonic()
    print(json.dumps({'hosts': hosts, 'pairs': len(hs) * (len(hs) - 1), 'lossPercent': loss,
                      'build': t1 - t0, 'probe': t2 - t1, 'teardown': t3 - t2}))


if __name__ == '__main__':
    main()
