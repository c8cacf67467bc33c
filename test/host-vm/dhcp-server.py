#!/usr/bin/env python3
"""A DHCPv4 server small enough to read, for the host suite's renewal test (test/host): it runs in a
network namespace of the guest, on the far end of a veth pair, so its packets cross the guest's
firewall like a LAN's DHCP server's would.

It hands out one address with a short lease, so the guest's DHCP client (systemd-networkd) renews
within seconds. It answers DISCOVER and the first REQUEST (broadcast, from networkd's raw socket,
which no firewall sees) and a renewal's REQUEST (unicast from the client's bound address: the
exchange that goes through the firewall both ways). It ignores a rebinding REQUEST (broadcast, again
from the raw socket): the lease can only be extended through the firewall. One line per event on
standard output: offer, ack selecting, ack renewing <ciaddr>, ignored rebinding.

    dhcp-server.py IFNAME SERVER_ADDR CLIENT_ADDR LEASE_SECONDS
"""
import socket
import struct
import sys

ifname, server, client, lease = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
IP_PKTINFO = getattr(socket, 'IP_PKTINFO', 8)
MAGIC = b'\x63\x82\x53\x63'

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
s.bind(('0.0.0.0', 67))


def options(data):
    out, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        out[data[i]] = data[i + 2:i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    return out


def reply(req, kind, ciaddr):
    opts = bytes([53, 1, kind]) + bytes([54, 4]) + socket.inet_aton(server) + bytes([51, 4]) + struct.pack('!I', lease)
    opts += bytes([58, 4]) + struct.pack('!I', lease // 2) + bytes([59, 4]) + struct.pack('!I', lease * 7 // 8)
    opts += bytes([1, 4]) + socket.inet_aton('255.255.255.0') + b'\xff'
    head = struct.pack('!BBBB', 2, 1, 6, 0) + req[4:8] + b'\x00\x00' + req[10:12] + ciaddr + socket.inet_aton(client)
    return head + b'\x00' * 8 + req[28:44] + b'\x00' * 192 + MAGIC + opts


while True:
    data, anc, _, _ = s.recvmsg(2048, socket.CMSG_SPACE(12))
    if len(data) < 240 or data[0] != 1 or data[236:240] != MAGIC:
        continue
    dst = next((socket.inet_ntoa(d[8:12]) for level, kind, d in anc if level == socket.IPPROTO_IP and kind == IP_PKTINFO), '?')
    kind = options(data).get(53, b'\x00')[0]
    ciaddr = data[12:16]
    if kind == 1:
        s.sendto(reply(data, 2, b'\x00' * 4), ('255.255.255.255', 68))
        print('offer', flush=True)
    elif kind == 3 and ciaddr == b'\x00' * 4:
        s.sendto(reply(data, 5, b'\x00' * 4), ('255.255.255.255', 68))
        print('ack selecting', flush=True)
    elif kind == 3 and dst == server:
        s.sendto(reply(data, 5, ciaddr), (socket.inet_ntoa(ciaddr), 68))
        print('ack renewing', socket.inet_ntoa(ciaddr), flush=True)
    elif kind == 3:
        print('ignored rebinding', flush=True)
