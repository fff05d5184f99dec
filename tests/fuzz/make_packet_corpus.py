#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpus of fuzz-packet: small valid packets, one per file.

The hex packets were captured on a tun device from the Linux kernel's own
stack (the same captures as tests/unit/test_packet.c); the IPv6 one with
extension headers and the IPv4 one with header options are built here.
Run from anywhere: python3 tests/fuzz/make_packet_corpus.py
"""
import os
import struct

CAPTURES = {
    'ipv4-tcp-syn': '4500003cc0ec4000400661bf0a00020f0a000202b0b8ad21d99394be00000000a002ffc8'
                    '85ea00000204ffc80402080a154cceab000000000103030a',
    'ipv4-tcp-data': '45000038c0ee4000400661c10a00020f0a000202b0b8ad21d99394bf000003e95018ffc8'
                     'e7e600006b65726e656c2e616c6c2e6c6f61640a',
    'ipv6-tcp-syn': '60033d6100280640fd000002000000000000000000000015fd00000200000000000000000000'
                    '0002cbc4005044ab8a0200000000a002ffb4420d00000204ffb40402080a678f0fcc00000000'
                    '0103030a',
    'ipv4-udp-dns': '45000034ad634000401175440a00020f0a00020394700035002067761234010000010000000000'
                    '000370637002696f0000010001',
    'ipv6-udp': '60033dc100141140fd000002000000000000000000000015fd00000200000000000000000000000'
                '3a56714e900140b0c68656c6c6f2c20776f726c64',
    'ipv4-icmp-unreach': '45c0003c81bb00004001e0350a00020f0a0002020303152b000000004500002000070000'
                         '401162b60a0002020a00020f9c400009000c6cab70696e67',
}


def csum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def ipv6_ext_tcp():
    """Hop-by-hop, destination options and routing headers, then a TCP ACK with data."""
    src = bytes.fromhex('fd000002000000000000000000000015')
    dst = bytes.fromhex('20010db8000000000000000000000001')
    ext = bytes([60, 0, 1, 4, 0, 0, 0, 0, 43, 0, 1, 4, 0, 0, 0, 0, 6, 0, 4, 0, 0, 0, 0, 0])
    tcp = struct.pack('!HHIIBBHHH', 33333, 443, 1, 2, 5 << 4, 0x18, 512, 0, 0) + b'GET / HTTP/1.0\r\n'
    pseudo = src + dst + struct.pack('!I', len(tcp)) + b'\0\0\0\x06'
    tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
    return struct.pack('!IHBB', 6 << 28, len(ext) + len(tcp), 0, 64) + src + dst + ext + tcp


def ipv4_options_udp():
    """IPv4 with a 4-byte options field (IHL 6), UDP without a checksum."""
    udp = struct.pack('!HHHH', 5353, 53, 8 + 4, 0) + b'seed'
    ip = struct.pack('!BBHHHBBH4s4s', 0x46, 0, 24 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes([10, 0, 2, 15]), bytes([10, 0, 2, 3])) + bytes([1, 1, 1, 0])
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return ip + udp


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'packet')
    os.makedirs(out, exist_ok=True)
    seeds = {name: bytes.fromhex(text) for name, text in CAPTURES.items()}
    seeds['ipv6-ext-tcp'] = ipv6_ext_tcp()
    seeds['ipv4-options-udp'] = ipv4_options_udp()
    for name, data in seeds.items():
        assert len(data) < 200, name
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
